//! Reading an image layout: choosing the image (and the platform, from an index) and checking
//! its manifest and config against their digests.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::{descriptor_digest, INDEX_FILE, LAYOUT_FILE, REF_NAME_ANNOTATION, SOURCE_ANNOTATION};
use crate::digest::Digest;
use crate::error::{Context, Error, Result};
use crate::media_type::{classify_manifest, Family, ManifestKind};
use crate::platform::{describe, Platform};

/// Manifests and configs are small; anything bigger than this is not one.
const MAX_JSON_BLOB: u64 = 16 << 20;

/// An image layout directory opened for reading.
#[derive(Clone, Debug)]
pub struct Layout {
    pub(super) root: PathBuf,
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
            return Err(Error::Invalid(format!("{} is not an OCI image layout (no {LAYOUT_FILE} and {INDEX_FILE}): point at a directory written by an image rule or `skopeo copy … oci:DIR`", root.display())));
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
            return Err(Error::Invalid(format!(
                "{} is {} bytes, too big for a manifest or config",
                path.display(),
                descriptor.size()
            )));
        }
        let bytes = fs::read(&path).with_context(|| {
            format!(
                "reading blob {digest} of layout {}: it is missing",
                self.root.display()
            )
        })?;
        if bytes.len() as u64 != descriptor.size() || Digest::of_bytes(&bytes) != digest {
            return Err(Error::Invalid(format!(
                "{} does not match its digest {digest} and size {}",
                path.display(),
                descriptor.size()
            )));
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
            return Err(Error::Invalid(format!("{} is an image index where an image manifest belongs: nested indexes are not supported", descriptor.digest())));
        };
        let manifest_bytes = self.read_blob(&descriptor)?;
        let manifest: ImageManifest =
            serde_json::from_slice(&manifest_bytes).with_context(|| {
                format!("blob {} is not a valid image manifest", descriptor.digest())
            })?;
        if let Some(inner) = manifest.media_type() {
            if inner.to_string() != descriptor.media_type().to_string() {
                return Err(Error::Invalid(format!(
                    "manifest {} says its media type is {inner} but is referenced as {}",
                    descriptor.digest(),
                    descriptor.media_type()
                )));
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
            (_, []) => Err(Error::Invalid(format!(
                "{} lists no image",
                self.root.join(INDEX_FILE).display()
            ))),
            (None, [only]) => Ok(only),
            (None, many) => {
                let names: Vec<String> = many
                    .iter()
                    .map(|d| ref_of(d).unwrap_or_else(|| "<unnamed>".into()))
                    .collect();
                Err(Error::Invalid(format!(
                    "{} holds {} images ({}): name the one to use",
                    self.root.display(),
                    many.len(),
                    names.join(", ")
                )))
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
            Err(Error::Invalid(format!(
                "has no image for platform {platform}; it offers: {}",
                offered.join(", ")
            )))
        }
    }
}
