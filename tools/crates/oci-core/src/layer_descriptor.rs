//! DESCRIPTOR.json: everything the image step needs to know about a layer, so it never reads
//! the layer's bytes again.
//!
//! ```json
//! {"diffId":"sha256:…","digest":"sha256:…","entries":12,"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":1234,"uncompressedSize":10240}
//! ```
//!
//! An eStargz layer also has `"tocDigest":"sha256:…"`, the digest of its TOC JSON, which the
//! image step writes with `uncompressedSize` as the layer's eStargz annotations.
//!
//! `mediaType` is always an OCI layer type (`…tar`, `…tar+gzip`, `…tar+zstd`); the image step
//! maps it to its base's family. gzip blobs are deflate level 6 from zlib-rs in 1 MiB blocks
//! (see the `gzip` module), zstd blobs are level 3 with a content checksum: changing either
//! changes every digest. `diffId` is the sha256 of the uncompressed tar, `entries` the number
//! of tar entries and `uncompressedSize` the tar's length in bytes.

use std::fs;
use std::path::Path;

use crate::canonical::to_canonical_json;
use crate::error::{Context, Result};
use crate::fsutil::AtomicFile;
use crate::Digest;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LayerDescriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub diff_id: Digest,
    pub entries: u64,
    pub uncompressed_size: u64,
    /// Set for eStargz layers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toc_digest: Option<Digest>,
}

impl LayerDescriptor {
    /// Reads and validates a descriptor file.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a valid layer descriptor", path.display()))
    }

    /// The descriptor as canonical JSON, in a temporary file next to `path` that the caller
    /// commits once the blob is in place.
    pub fn prepare(&self, path: &Path) -> Result<AtomicFile> {
        use std::io::Write as _;
        let mut file = AtomicFile::create(path)?;
        file.write_all(&to_canonical_json(self)?)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(file)
    }
}
