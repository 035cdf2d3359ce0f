//! PIECE.json: a compressed run of tar entries without the end-of-archive marker, one
//! distribution's files, built once and concatenated with others into layers by
//! [`crate::assemble`] without being compressed again.
//!
//! ```json
//! {"compression":"gzip","digest":"sha256:…","entries":42,"first":"app/_ext/x/site",
//!  "last":"app/_ext/x/site/x/__init__.py","size":1234,"uncompressedDigest":"sha256:…",
//!  "uncompressedSize":10240}
//! ```
//!
//! `first` and `last` are the names of its first and last entries: pieces are concatenated in
//! name order, and a layer is sorted only if each piece ends before the next begins.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use crate::error::{Context, Result};
use sematic_oci_core::canonical::to_canonical_json;
use sematic_oci_core::fsutil::AtomicFile;
use sematic_oci_core::media_type::Compression;
use sematic_oci_core::Digest;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PieceDescriptor {
    pub compression: Compression,
    pub digest: Digest,
    pub size: u64,
    pub uncompressed_digest: Digest,
    pub uncompressed_size: u64,
    pub entries: u64,
    pub first: String,
    pub last: String,
}

impl PieceDescriptor {
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let descriptor = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a valid piece descriptor", path.display()))?;
        Ok(descriptor)
    }

    /// The descriptor as canonical JSON, in a temporary file next to `path` that the caller
    /// commits once the blob is in place.
    pub fn prepare(&self, path: &Path) -> Result<AtomicFile> {
        let mut file = AtomicFile::create(path)?;
        file.write_all(&to_canonical_json(self)?)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(file)
    }
}
