//! OCI image layouts on disk: reading one (choosing the image and platform) and writing one.
//!
//! A layout written by rules_sematic may be *sparse*: base-image layer blobs that were never
//! downloaded are absent, and the `index.json` entry names, in [`SOURCE_ANNOTATION`], the
//! repository they can be fetched from when the image is pushed.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};

use crate::canonical::to_canonical_json;
use crate::digest::Digest;
use crate::fsutil::{link_or_copy, write_atomic};
use crate::media_type::{classify_manifest, Family, ManifestKind};
use crate::platform::{describe, Platform};

pub const LAYOUT_FILE: &str = "oci-layout";
pub const INDEX_FILE: &str = "index.json";
const LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Annotation on an `index.json` entry: `registry/repository` holding the blobs a sparse
/// layout lacks.
pub const SOURCE_ANNOTATION: &str = "dev.rules-sematic.source";
/// The standard annotation tools such as skopeo and umoci use to name an image in a layout.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// Manifests and configs are small; anything bigger than this is not one.
const MAX_JSON_BLOB: u64 = 16 << 20;

/// A descriptor with just media type, digest and size.
pub fn descriptor(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
    Descriptor::new(MediaType::from(media_type), size, oci_digest(digest))
}

/// Our digest as oci-spec's type.
pub fn oci_digest(digest: &Digest) -> oci_spec::image::Digest {
    digest
        .to_string()
        .parse()
        .expect("a validated sha256 digest is a valid oci-spec digest")
}

/// The digest of a descriptor, validated as sha256.
pub fn descriptor_digest(descriptor: &Descriptor) -> Result<Digest> {
    Digest::parse(descriptor.digest().as_ref())
}

/// An image layout directory opened for reading.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

/// One image of a layout, with its manifest and config read and verified.
#[derive(Clone, Debug)]
pub struct ResolvedImage {
    pub family: Family,
    /// Descriptor of the image manifest (after choosing a platform from an index).
    pub manifest_descriptor: Descriptor,
    pub manifest_bytes: Vec<u8>,
    pub manifest: ImageManifest,
    pub config_bytes: Vec<u8>,
    /// `registry/repository` that holds blobs missing from a sparse layout.
    pub source: Option<String>,
    /// When the layout's entry was an index: its digest and the platform chosen from it.
    pub chosen_from_index: Option<(Digest, String)>,
}

impl Layout {
    /// Opens `root`, checking that it is an image layout.
    pub fn open(root: &Path) -> Result<Self> {
        let marker = root.join(LAYOUT_FILE);
        if !marker.is_file() || !root.join(INDEX_FILE).is_file() {
            bail!(
                "{} is not an OCI image layout (no {LAYOUT_FILE} and {INDEX_FILE}): point at a directory written by an image rule or `skopeo copy … oci:DIR`",
                root.display()
            );
        }
        Ok(Layout {
            root: root.to_owned(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Reads a small (JSON) blob, checking its size and digest against `descriptor`.
    pub fn read_blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        let digest = descriptor_digest(descriptor)?;
        let path = self.blob_path(&digest);
        if descriptor.size() > MAX_JSON_BLOB {
            bail!(
                "{} is {} bytes, too big for a manifest or config",
                path.display(),
                descriptor.size()
            );
        }
        let bytes = fs::read(&path).with_context(|| {
            format!(
                "reading blob {digest} of layout {}: it is missing",
                self.root.display()
            )
        })?;
        if bytes.len() as u64 != descriptor.size() || Digest::of_bytes(&bytes) != digest {
            bail!(
                "{} does not match its digest {digest} and size {}",
                path.display(),
                descriptor.size()
            );
        }
        Ok(bytes)
    }

    /// The parsed `index.json`.
    pub fn index(&self) -> Result<ImageIndex> {
        let path = self.root.join(INDEX_FILE);
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a valid OCI index", path.display()))
    }

    /// Finds the image to use: the single entry of `index.json` (or the one whose ref name is
    /// `ref_name`), descending into an index to the manifest for `platform`.
    pub fn resolve(&self, platform: &Platform, ref_name: Option<&str>) -> Result<ResolvedImage> {
        let index = self.index()?;
        let entry = self.choose_entry(&index, ref_name)?;
        let source = entry
            .annotations()
            .as_ref()
            .and_then(|a| a.get(SOURCE_ANNOTATION))
            .cloned();
        let mut descriptor = entry.clone();
        let mut chosen_from_index = None;
        let kind = classify_manifest(descriptor.media_type().as_ref())
            .with_context(|| format!("in {}", self.root.join(INDEX_FILE).display()))?;
        if let ManifestKind::Index(_) = kind {
            let bytes = self.read_blob(&descriptor)?;
            let nested: ImageIndex = serde_json::from_slice(&bytes).with_context(|| {
                format!("blob {} is not a valid image index", descriptor.digest())
            })?;
            let chosen = choose_platform(&nested, platform).with_context(|| {
                format!(
                    "image index {} in {}",
                    descriptor.digest(),
                    self.root.display()
                )
            })?;
            chosen_from_index = Some((descriptor_digest(&descriptor)?, platform.to_string()));
            descriptor = chosen;
        }
        Ok(ResolvedImage {
            source,
            chosen_from_index,
            ..self.read_image(descriptor)?
        })
    }

    /// Reads the image manifest `descriptor` names and its config, checking both against
    /// their digests and the manifest's media type against the descriptor's.
    pub fn read_image(&self, descriptor: Descriptor) -> Result<ResolvedImage> {
        let ManifestKind::Image(family) = classify_manifest(descriptor.media_type().as_ref())?
        else {
            bail!(
                "{} is an image index where an image manifest belongs: nested indexes are not supported",
                descriptor.digest()
            );
        };
        let manifest_bytes = self.read_blob(&descriptor)?;
        let manifest: ImageManifest =
            serde_json::from_slice(&manifest_bytes).with_context(|| {
                format!("blob {} is not a valid image manifest", descriptor.digest())
            })?;
        if let Some(inner) = manifest.media_type() {
            if inner.to_string() != descriptor.media_type().to_string() {
                bail!(
                    "manifest {} says its media type is {inner} but is referenced as {}",
                    descriptor.digest(),
                    descriptor.media_type()
                );
            }
        }
        let config_bytes = self.read_blob(manifest.config())?;
        Ok(ResolvedImage {
            family,
            manifest_descriptor: descriptor,
            manifest_bytes,
            manifest,
            config_bytes,
            source: None,
            chosen_from_index: None,
        })
    }

    fn choose_entry<'a>(
        &self,
        index: &'a ImageIndex,
        ref_name: Option<&str>,
    ) -> Result<&'a Descriptor> {
        let entries = index.manifests();
        let ref_of = |d: &Descriptor| {
            d.annotations()
                .as_ref()
                .and_then(|a| a.get(REF_NAME_ANNOTATION))
                .cloned()
        };
        match (ref_name, entries.as_slice()) {
            (_, []) => bail!("{} lists no image", self.root.join(INDEX_FILE).display()),
            (None, [only]) => Ok(only),
            (None, many) => {
                let names: Vec<String> = many
                    .iter()
                    .map(|d| ref_of(d).unwrap_or_else(|| "<unnamed>".into()))
                    .collect();
                bail!(
                    "{} holds {} images ({}): name the one to use",
                    self.root.display(),
                    many.len(),
                    names.join(", ")
                )
            }
            (Some(name), all) => all
                .iter()
                .find(|d| ref_of(d).as_deref() == Some(name))
                .with_context(|| format!("{} has no image named {name:?}", self.root.display())),
        }
    }
}

/// The entry of `index` for `platform`; the error lists what the index offers.
pub fn choose_platform(index: &ImageIndex, platform: &Platform) -> Result<Descriptor> {
    let found = index
        .manifests()
        .iter()
        .find(|d| d.platform().as_ref().is_some_and(|p| platform.matches(p)));
    match found {
        Some(descriptor) => Ok(descriptor.clone()),
        None => {
            let offered: Vec<String> = index
                .manifests()
                .iter()
                .filter_map(|d| d.platform().as_ref().map(describe))
                .collect();
            bail!(
                "has no image for platform {platform}; it offers: {}",
                offered.join(", ")
            )
        }
    }
}

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
            .context("building index.json")?;
        write_atomic(&self.root.join(INDEX_FILE), &to_canonical_json(&index)?)?;
        Ok(Layout { root: self.root })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media_type::{DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
    use std::collections::HashMap;

    fn write_image(writer: &LayoutWriter, media_type: &str) -> Descriptor {
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let config_digest = writer.put_blob_bytes(config).unwrap();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{media_type}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{config_digest}","size":{}}},"layers":[]}}"#,
            config.len()
        );
        let digest = writer.put_blob_bytes(manifest.as_bytes()).unwrap();
        descriptor(media_type, &digest, manifest.len() as u64)
    }

    #[test]
    fn round_trip_single_image_with_source_annotation() {
        let dir = tempfile::tempdir().unwrap();
        let writer = LayoutWriter::create(dir.path()).unwrap();
        let mut entry = write_image(&writer, OCI_MANIFEST);
        entry.set_annotations(Some(HashMap::from([(
            SOURCE_ANNOTATION.to_owned(),
            "reg/base".to_owned(),
        )])));
        let layout = writer.finish(vec![entry.clone()]).unwrap();
        let image = layout
            .resolve(&Platform::parse("linux/amd64").unwrap(), None)
            .unwrap();
        assert_eq!(image.family, Family::Oci);
        assert_eq!(image.manifest_descriptor.digest(), entry.digest());
        assert_eq!(image.source.as_deref(), Some("reg/base"));
        assert!(image.chosen_from_index.is_none());
    }

    #[test]
    fn index_entries_choose_the_requested_platform() {
        let dir = tempfile::tempdir().unwrap();
        let writer = LayoutWriter::create(dir.path()).unwrap();
        let image = write_image(&writer, DOCKER_MANIFEST);
        let nested = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{DOCKER_MANIFEST}","digest":"{}","size":{},"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
            image.digest(),
            image.size()
        );
        let digest = writer.put_blob_bytes(nested.as_bytes()).unwrap();
        let layout = writer
            .finish(vec![descriptor(OCI_INDEX, &digest, nested.len() as u64)])
            .unwrap();
        let resolved = layout
            .resolve(&Platform::parse("linux/amd64").unwrap(), None)
            .unwrap();
        assert_eq!(resolved.family, Family::Docker);
        assert_eq!(
            resolved.chosen_from_index,
            Some((digest, "linux/amd64".to_owned()))
        );
        let err = layout
            .resolve(&Platform::parse("linux/arm64").unwrap(), None)
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("offers: linux/amd64"),
            "{err:#}"
        );
    }

    #[test]
    fn tampered_or_unknown_blobs_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let writer = LayoutWriter::create(dir.path()).unwrap();
        let entry = write_image(&writer, "application/vnd.example.unknown+json");
        let layout = writer.finish(vec![entry.clone()]).unwrap();
        let err = layout
            .resolve(&Platform::parse("linux/amd64").unwrap(), None)
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("unsupported manifest media type"),
            "{err:#}"
        );

        let digest = descriptor_digest(&entry).unwrap();
        fs::write(layout.blob_path(&digest), b"{}").unwrap();
        let err = layout.read_blob(&entry).unwrap_err().to_string();
        assert!(err.contains("does not match its digest"), "{err}");
    }

    #[test]
    fn not_a_layout_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Layout::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is not an OCI image layout"), "{err}");
    }
}
