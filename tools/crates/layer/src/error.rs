//! What building a layer can fail with. Messages name the input and the fix on one line.

pub use sematic_oci_core::error::Context;

/// A layer, piece or assembly that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Files, JSON and the shared formats (descriptors, reports), from the primitives.
    #[error(transparent)]
    Core(#[from] sematic_oci_core::Error),
    /// The manifest's entries: malformed, contradicting each other, or naming sources that are
    /// not what their kind says.
    #[error("{0}")]
    Entries(String),
    /// A root filesystem tar holding what a layer cannot.
    #[error("{0}")]
    Rootfs(String),
    /// Pieces that do not make a layer: another compression, out of order, damaged.
    #[error("{0}")]
    Pieces(String),
    /// What was being done when `inner` happened.
    #[error("{context}: {inner}")]
    Context { context: String, inner: Box<Error> },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

sematic_oci_core::contextual_error!(Error, Core);
