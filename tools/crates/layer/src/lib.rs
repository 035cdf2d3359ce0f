//! Building reproducible OCI layers: a deterministic parallel gzip, and the two ways `sematic-layer` fills a layer (a Bazel file manifest, or a rootfs tar).

pub mod assemble;
pub mod from_tar;
pub mod gzip;
pub mod manifest;
pub mod piece;
pub mod plan;
pub mod stream;
