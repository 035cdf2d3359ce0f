//! What writing an image or an index can fail with. Messages name the input and the fix on
//! one line.

pub use sematic_oci_core::error::Context;

/// An image or index that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Files, JSON, layouts and descriptors, from the shared primitives.
    #[error(transparent)]
    Core(#[from] sematic_oci_core::Error),
    /// A command-line value or the settings file is malformed.
    #[error("{0}")]
    Arguments(String),
    /// An env value refers to a variable nobody defines.
    #[error(transparent)]
    Env(#[from] crate::env::UndefinedVariable),
    /// The base image cannot be built on: another platform, damaged, incomplete.
    #[error("{0}")]
    Base(String),
    /// Our layers do not fit the image: too many, or a blob that is not its descriptor's.
    #[error("{0}")]
    Layers(String),
    /// The layers' native code or wheels cannot run on the base.
    #[error("{0}")]
    Native(String),
    /// Images that do not make one index.
    #[error("{0}")]
    Index(String),
    /// What was being done when `inner` happened.
    #[error("{context}: {inner}")]
    Context { context: String, inner: Box<Error> },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

sematic_oci_core::contextual_error!(Error, Core);
