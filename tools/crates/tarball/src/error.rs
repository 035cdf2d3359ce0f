//! What packing a tarball can fail with. Messages name the input and the fix on one line.

pub use sematic_oci_core::error::Context;

/// A layout that cannot be packed, or a name it cannot be loaded under.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Files, JSON, layouts and descriptors, from the shared primitives.
    #[error(transparent)]
    Core(#[from] sematic_oci_core::Error),
    /// A `--repo-tag` that does not name an image as `docker load` needs it.
    #[error("{0}")]
    RepoTag(String),
    /// A layout without every blob a tarball must hold, or with one of the wrong size.
    #[error("{0}")]
    Incomplete(String),
    /// What was being done when `inner` happened.
    #[error("{context}: {inner}")]
    Context { context: String, inner: Box<Error> },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

sematic_oci_core::contextual_error!(Error, Core);
