//! Writing an image layout.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, MediaType};

use super::{Layout, INDEX_FILE, LAYOUT_FILE};
use crate::canonical::to_canonical_json;
use crate::digest::Digest;
use crate::error::{Context, Error, Result};
use crate::fsutil::{link_or_copy, write_atomic};

const LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Writes an image layout. `index.json` is written last, by [`LayoutWriter::finish`], so a
/// layout interrupted half-way is never mistaken for a complete one.
pub struct LayoutWriter {
    root: PathBuf,
}

impl LayoutWriter {
    pub fn create(root: &Path) -> Result<Self> {
        let blobs = root.join("blobs/sha256");
        fs::create_dir_all(&blobs).with_context(|| format!("creating {}", blobs.display()))?;
        write_atomic(&root.join(LAYOUT_FILE), LAYOUT_CONTENT)?;
        Ok(LayoutWriter {
            root: root.to_owned(),
        })
    }

    /// Where the blob `digest` goes (for writers that stream it there themselves).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Stores an in-memory blob (a manifest or config) and returns its digest.
    pub fn put_blob_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::of_bytes(bytes);
        write_atomic(&self.blob_path(&digest), bytes)?;
        Ok(digest)
    }

    /// Stores the blob at `source`, whose digest the caller already knows (hard link or copy).
    pub fn put_blob_file(&self, source: &Path, digest: &Digest) -> Result<()> {
        link_or_copy(source, &self.blob_path(digest))
    }

    /// Writes `index.json` listing `entries`.
    pub fn finish(self, entries: Vec<Descriptor>) -> Result<Layout> {
        let index = oci_spec::image::ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(entries)
            .build()
            .map_err(|err| Error::Invalid(format!("building index.json: {err}")))?;
        write_atomic(&self.root.join(INDEX_FILE), &to_canonical_json(&index)?)?;
        Ok(Layout { root: self.root })
    }
}
