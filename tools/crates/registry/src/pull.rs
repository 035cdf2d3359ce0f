//! Pulling an image pinned by digest into an OCI image layout, the counterpart of
//! [`crate::push`]: the manifest (for an index, the index and the manifest of every platform
//! asked for), the configs, and optionally every layer blob.
//!
//! Everything is fetched and verified before the layout is written, in a staged directory
//! that replaces the output only once complete.

use std::path::Path;
use std::sync::Mutex;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use sematic_oci_core::fsutil::StagedDir;
use sematic_oci_core::layout::{
    choose_platform, descriptor, descriptor_digest, LayoutWriter, SOURCE_ANNOTATION,
};
use sematic_oci_core::media_type::{classify_manifest, ManifestKind};
use sematic_oci_core::platform::Platform;
use sematic_oci_core::reference::Reference;
use sematic_oci_core::Digest;

use crate::error::{Context as _, Error, Result};
use crate::manifests::Manifest;
use crate::pool::parallel;
use crate::sync::{into_inner, lock};
use crate::transport::{Client, Registry};

/// Which blobs of the image go into the layout (`--layers` of sematic-pull, with the `clap`
/// feature).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Layers {
    /// Manifests and configs only: the layout is shallow, and a push mounts or streams the
    /// layers from the source repository recorded in its `index.json`.
    Shallow,
    /// Every layer blob too.
    All,
}

/// What to pull, and where to.
pub struct PullSpec<'a> {
    /// `registry/repository@sha256:…` (a tag alongside the digest is ignored).
    pub image: &'a Reference,
    /// At least one; for a single-manifest image, each must be the image's platform.
    pub platforms: &'a [Platform],
    pub layers: Layers,
    /// The layout directory, replaced if it exists.
    pub output: &'a Path,
    /// Layer downloads in parallel.
    pub jobs: usize,
}

/// A pulled image.
#[derive(Clone, Debug)]
pub struct Pulled {
    /// `registry/repository@sha256:…` of the manifest or index pulled.
    pub reference: Reference,
    /// Image manifests in the layout (one per distinct platform image).
    pub images: usize,
    /// Distinct layers of those images.
    pub layers: usize,
}

/// One image manifest of the pull and the platforms it serves.
struct Image {
    manifest: Manifest,
    parsed: ImageManifest,
    platforms: Vec<Platform>,
    /// Listed in an index (as opposed to being the pinned manifest itself).
    from_index: bool,
}

/// Pulls `spec.image` into the layout `spec.output`.
pub fn pull_image(client: &Client, spec: &PullSpec<'_>) -> Result<Pulled> {
    if spec.platforms.is_empty() {
        return Err(Error::Local(
            "no platform to pull: name at least one".to_owned(),
        ));
    }
    let registry = client.registry(spec.image)?;
    let repository = spec.image.repository.as_str();
    let digest = pinned_digest(client, &registry, spec.image)?;
    let reference = spec.image.with_digest(digest.clone());

    let top = client.fetch_manifest(&registry, repository, &digest.to_string())?;
    let images = match classify_manifest(&top.media_type).map_err(Error::content)? {
        ManifestKind::Image(_) => vec![Image {
            parsed: parse_manifest(&top.bytes, &reference)?,
            manifest: top.clone(),
            platforms: spec.platforms.to_vec(),
            from_index: false,
        }],
        ManifestKind::Index(_) => {
            let index: ImageIndex = serde_json::from_slice(&top.bytes).map_err(|err| {
                Error::Content(format!("{reference} is not a valid image index: {err}"))
            })?;
            let mut images: Vec<Image> = Vec::new();
            for (child, platforms) in choose_children(&index, spec.platforms, &reference)? {
                let child_digest = descriptor_digest(&child).map_err(Error::content)?;
                let manifest =
                    client.fetch_manifest(&registry, repository, &child_digest.to_string())?;
                images.push(Image {
                    parsed: parse_manifest(&manifest.bytes, &reference)?,
                    manifest,
                    platforms,
                    from_index: true,
                });
            }
            images
        }
    };

    let mut configs = Vec::new();
    for image in &images {
        let config = image.parsed.config();
        let bytes = client.fetch_small_blob(
            &registry,
            repository,
            &descriptor_digest(config).map_err(Error::content)?,
            config.size(),
        )?;
        check_platforms(&bytes, image, &reference)?;
        configs.push(bytes);
    }

    let staged = StagedDir::create(spec.output).map_err(Error::local)?;
    let writer = LayoutWriter::create(staged.path()).map_err(Error::local)?;
    writer.put_blob_bytes(&top.bytes).map_err(Error::local)?;
    for (image, config) in images.iter().zip(&configs) {
        if image.from_index {
            writer
                .put_blob_bytes(&image.manifest.bytes)
                .map_err(Error::local)?;
        }
        writer.put_blob_bytes(config).map_err(Error::local)?;
    }
    let layers = distinct_layers(&images)?;
    if spec.layers == Layers::All {
        download_layers(client, &registry, repository, &layers, &writer, spec.jobs)?;
    }
    let mut entry = descriptor(&top.media_type, &digest, top.bytes.len() as u64);
    entry.set_annotations(Some(
        [(SOURCE_ANNOTATION.to_owned(), spec.image.name())].into(),
    ));
    writer.finish(vec![entry]).map_err(Error::local)?;
    staged.commit().map_err(Error::local)?;
    Ok(Pulled {
        reference,
        images: images.len(),
        layers: layers.len(),
    })
}

/// The digest `image` is pinned to; an unpinned reference is refused with the digest its tag
/// resolves to today, ready to paste.
fn pinned_digest(client: &Client, registry: &Registry, image: &Reference) -> Result<Digest> {
    if let Some(digest) = &image.digest {
        return Ok(digest.clone());
    }
    let tag = image.tag.as_deref().unwrap_or("latest");
    let current = client
        .resolve_tag(registry, &image.repository, tag)
        .with_context(|| {
            format!("{image} is not pinned by digest, and resolving its tag failed")
        })?;
    Err(Error::Local(format!(
        "{image} is not pinned by digest: pin it as {}@{current} (what tag {tag} resolves to now)",
        image.name()
    )))
}

/// The index entries for `platforms`, each once, with the platforms it serves. A platform the
/// index lacks fails, naming the ones it has.
fn choose_children(
    index: &ImageIndex,
    platforms: &[Platform],
    reference: &Reference,
) -> Result<Vec<(Descriptor, Vec<Platform>)>> {
    let mut chosen: Vec<(Descriptor, Vec<Platform>)> = Vec::new();
    for platform in platforms {
        let child = choose_platform(index, platform)
            .map_err(Error::content)
            .with_context(|| format!("image index {reference}"))?;
        let kind = classify_manifest(child.media_type().as_ref()).map_err(Error::content)?;
        if let ManifestKind::Index(_) = kind {
            return Err(Error::Content(format!(
                "image index {reference} nests another index for {platform}; not supported"
            )));
        }
        match chosen
            .iter_mut()
            .find(|(d, _)| d.digest() == child.digest())
        {
            Some((_, served)) => served.push(platform.clone()),
            None => chosen.push((child, vec![platform.clone()])),
        }
    }
    Ok(chosen)
}

fn parse_manifest(bytes: &[u8], reference: &Reference) -> Result<ImageManifest> {
    serde_json::from_slice(bytes).map_err(|err| {
        Error::Content(format!(
            "an image manifest of {reference} is not valid: {err}"
        ))
    })
}

/// Every platform an image serves must be the one its config declares.
fn check_platforms(config: &[u8], image: &Image, reference: &Reference) -> Result<()> {
    let value: serde_json::Value = serde_json::from_slice(config)
        .map_err(|err| Error::Content(format!("the image config is not valid JSON: {err}")))?;
    for platform in &image.platforms {
        if let Some(found) = platform.config_mismatch(&value) {
            return Err(Error::Content(if image.from_index {
                format!(
                    "image index {reference} lists manifest {} for {platform}, but its config is for {found}",
                    image.manifest.digest
                )
            } else {
                format!("{reference} is an image for {found}, not {platform}")
            }));
        }
    }
    Ok(())
}

/// The layers of every image, each once, in order of first appearance.
fn distinct_layers(images: &[Image]) -> Result<Vec<(Digest, u64)>> {
    let mut layers: Vec<(Digest, u64)> = Vec::new();
    for layer in images.iter().flat_map(|image| image.parsed.layers()) {
        let digest = descriptor_digest(layer).map_err(Error::content)?;
        if !layers.iter().any(|(d, _)| d == &digest) {
            layers.push((digest, layer.size()));
        }
    }
    Ok(layers)
}

fn download_layers(
    client: &Client,
    registry: &Registry,
    repository: &str,
    layers: &[(Digest, u64)],
    writer: &LayoutWriter,
    jobs: usize,
) -> Result<()> {
    let failures = Mutex::new(Vec::new());
    parallel(jobs, layers, |(digest, size)| {
        let destination = writer.blob_path(digest);
        if let Err(err) = client.download_blob(registry, repository, digest, *size, &destination) {
            lock(&failures).push(err);
        }
    });
    match into_inner(failures).into_iter().next() {
        Some(first) => Err(first),
        None => Ok(()),
    }
}
