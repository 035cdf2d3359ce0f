//! Primitives shared by the rules_sematic tools: digests, media types, canonical JSON, atomic
//! file writes, image layouts, references and platforms.

pub mod canonical;
pub mod cli;
pub mod digest;
pub mod fsutil;
pub mod layout;
pub mod media_type;
pub mod platform;
pub mod reference;

pub use digest::Digest;
