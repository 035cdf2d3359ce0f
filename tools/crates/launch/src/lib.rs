//! `sematic-launch`'s library: one launch from its checks to exec ([`launch`]), what a launch
//! config says ([`config`]), pushing its images
//! ([`push`]) or checking that the registry holds them ([`presence`]), Sematic's image
//! environment ([`environment`]), the Sematic server the launch script will submit to
//! ([`server`], [`settings`]), and the command line's two halves ([`argv`]). The binary parses
//! flags and runs these steps in order.

pub mod argv;
pub mod config;
pub mod environment;
pub mod error;
pub mod launch;
pub mod presence;
pub mod push;
pub mod server;
pub mod settings;

/// The name every message of the launcher starts with.
pub const PROGRAM: &str = "sematic-launch";

pub use error::{Error, Result};
