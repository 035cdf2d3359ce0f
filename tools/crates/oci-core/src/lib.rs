//! Primitives and formats shared by the rules_sematic tools: digests, media types, canonical
//! JSON, atomic file writes, image layouts, references, platforms, the deterministic tar writer,
//! the layer descriptor, the native code report, and foreign text on one terminal line.

pub mod archive;
pub mod canonical;
pub mod digest;
pub mod error;
pub mod fsutil;
pub mod layer_descriptor;
pub mod layout;
pub mod media_type;
pub mod native_report;
pub mod one_line;
pub mod platform;
pub mod reference;

pub use digest::Digest;
pub use error::{Error, Result};
