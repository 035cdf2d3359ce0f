//! What loading can fail with. Messages name the runtime or input and the fix on one line.

pub use sematic_oci_core::error::Context;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Files, JSON, layouts and descriptors, from the shared primitives.
    #[error(transparent)]
    Core(#[from] sematic_oci_core::Error),
    /// Reading the layout or writing the archive.
    #[error(transparent)]
    Archive(#[from] sematic_tarball::error::Error),
    /// No runtime, or the one asked for is not installed or not running.
    #[error("{0}")]
    Runtime(String),
    /// A runtime command that failed: what it was and the last line it printed.
    #[error("{0}")]
    Command(String),
    /// What was being done when `inner` happened.
    #[error("{context}: {inner}")]
    Context { context: String, inner: Box<Error> },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

sematic_oci_core::contextual_error!(Error, Core);
