//! What a launch can fail with before its script runs. Messages name the input and the fix on
//! one line.

pub use sematic_oci_core::error::Context;

use crate::server::ServerError;

/// A launch that cannot happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Files and JSON, from the shared primitives.
    #[error(transparent)]
    Core(#[from] sematic_oci_core::Error),
    /// A push that failed, or an image layout that names no pushable image.
    #[error(transparent)]
    Registry(#[from] sematic_registry::Error),
    /// LAUNCH.json, its tags or its launch script are not what a launch needs.
    #[error("{0}")]
    Config(String),
    /// An image that is not in the registry as built: its push failed (reported as it
    /// happened), or the registry holds another manifest than the layout's.
    #[error("{0}")]
    Push(String),
    /// No Sematic server would take the launch.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// What was being done when `inner` happened.
    #[error("{context}: {inner}")]
    Context { context: String, inner: Box<Error> },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

sematic_oci_core::contextual_error!(Error, Core);
