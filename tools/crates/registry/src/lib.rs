//! An OCI distribution client for the rules_sematic tools.
//!
//! Blocking HTTP (ureq, rustls) used from a bounded pool of threads; every blob is streamed
//! with a fixed buffer, so memory stays flat whatever the layer size. Modules:
//! [`transport`] (connections, TLS, authentication, retries), [`credentials`] (where
//! credentials are found), [`blobs`], [`upload`], [`manifests`], [`progress`], [`pool`] (bounded
//! parallelism), [`push`] (pushing image layouts) and [`pull`] (fetching one into a layout).
//! Failures are an [`Error`].

pub mod blobs;
pub mod credentials;
pub mod error;
pub mod manifests;
pub mod pool;
pub mod progress;
pub mod pull;
pub mod push;
mod pushable;
mod sync;
pub mod transport;
pub mod upload;

pub use error::{Error, Result};
pub use transport::{Client, ClientBuilder};
