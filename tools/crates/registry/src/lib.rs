//! An OCI distribution client for the rules_sematic tools.
//!
//! Blocking HTTP (ureq, rustls) used from a bounded pool of threads; every blob is streamed
//! with a fixed buffer, so memory stays flat whatever the layer size. Modules:
//! [`auth`] (credential files and helpers), [`challenge`] (`WWW-Authenticate`),
//! [`transport`] (TLS policy, scheme detection, tokens), [`retry`] (backoff),
//! [`blobs`], [`manifests`], [`progress`], [`pool`] (bounded parallelism), [`push`]
//! (pushing image layouts) and [`pull`] (fetching one into a layout).

pub mod auth;
pub mod blobs;
pub mod challenge;
pub mod cli;
pub mod manifests;
pub mod pool;
pub mod progress;
pub mod pull;
pub mod push;
mod pushable;
pub mod retry;
pub mod transport;

pub use transport::{Client, ClientOptions};
