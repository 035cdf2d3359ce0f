//! Building reproducible OCI layers: a deterministic parallel gzip, the two ways `sematic-layer` fills a layer (a Bazel file manifest, or a rootfs tar), and the facts of the ELF files it writes.

pub mod assemble;
pub mod elf;
pub mod error;
pub mod from_manifest;
pub mod from_tar;
pub mod gzip;
pub mod manifest;
pub mod piece;
pub mod plan;
pub mod sniff;
pub mod stream;
pub mod symlink;

pub use error::{Error, Result};
