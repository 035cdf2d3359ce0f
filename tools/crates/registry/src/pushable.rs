//! What pushing a layout puts in a registry: the blobs of its images (each once, from the
//! layout or, for a shallow layout, from the source repository it names) and its manifests in
//! the order they must be pushed.
//!
//! A layout holds one image manifest, or one image index whose images (manifests and configs)
//! are all in the layout; the index is pushed after its images, and tags point at it.

use std::path::{Path, PathBuf};

use crate::error::{Context as _, Error, Result};
use oci_spec::image::{Descriptor, ImageIndex};
use sematic_oci_core::layout::{descriptor_digest, Layout, ResolvedImage, SOURCE_ANNOTATION};
use sematic_oci_core::media_type::{classify_manifest, ManifestKind};
use sematic_oci_core::platform::{describe, Platform};
use sematic_oci_core::reference::Reference;
use sematic_oci_core::Digest;

/// Where the bytes of a blob come from.
#[derive(Clone, Debug)]
pub(crate) enum Origin {
    File(PathBuf),
    /// Absent from a shallow layout: in this repository (mount or stream).
    Source(Reference),
}

#[derive(Clone, Debug)]
pub(crate) struct Blob {
    pub digest: Digest,
    pub size: u64,
    pub origin: Origin,
}

/// A manifest or index, byte for byte as the layout has it.
#[derive(Clone, Debug)]
pub(crate) struct ManifestBytes {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Clone, Debug)]
pub(crate) struct Pushable {
    /// Every blob the manifests reference (configs and layers), each once.
    pub blobs: Vec<Blob>,
    /// An index's image manifests in its order, then the layout's own manifest (the last one
    /// is the one pushed last and tagged).
    pub manifests: Vec<ManifestBytes>,
}

impl Pushable {
    /// The manifest (or index) the layout's `index.json` names.
    pub fn top(&self) -> &ManifestBytes {
        self.manifests
            .last()
            .expect("a pushable layout has at least one manifest")
    }
}

/// Reads the layout at `path` and checks that every blob can be found.
pub(crate) fn read_pushable(path: &Path) -> Result<Pushable> {
    let layout = Layout::open(path).map_err(Error::local)?;
    let index = layout.index().map_err(Error::local)?;
    let entry = match index.manifests().as_slice() {
        [entry] => entry.clone(),
        entries => {
            return Err(Error::Local(format!(
                "{} lists {} entries in its index.json: push a layout holding one image or one image index",
                path.display(),
                entries.len()
            )))
        }
    };
    let source = entry
        .annotations()
        .as_ref()
        .and_then(|a| a.get(SOURCE_ANNOTATION))
        .map(|s| {
            Reference::parse_repository(s)
                .map_err(Error::local)
                .with_context(|| format!("the source annotation of {}", path.display()))
        })
        .transpose()?;
    let kind = classify_manifest(entry.media_type().as_ref())
        .map_err(Error::local)
        .with_context(|| format!("the index.json entry of {}", path.display()))?;
    let (images, mut manifests) = match kind {
        ManifestKind::Image(_) => (
            vec![layout.read_image(entry.clone()).map_err(Error::local)?],
            Vec::new(),
        ),
        ManifestKind::Index(_) => read_index_images(&layout, &entry)?,
    };
    manifests.push(ManifestBytes {
        digest: descriptor_digest(&entry).map_err(Error::local)?,
        media_type: entry.media_type().to_string(),
        bytes: layout.read_blob(&entry).map_err(Error::local)?,
    });
    let mut blobs: Vec<Blob> = Vec::new();
    for image in &images {
        let manifest = &image.manifest;
        for descriptor in std::iter::once(manifest.config()).chain(manifest.layers()) {
            let digest = descriptor_digest(descriptor).map_err(Error::local)?;
            if blobs.iter().any(|b| b.digest == digest) {
                continue;
            }
            let origin = local_blob(&layout, &digest, descriptor.size())?
                .map(Origin::File)
                .or_else(|| source.clone().map(Origin::Source))
                .ok_or_else(|| {
                    Error::Local(format!(
                        "blob {digest} is missing from layout {} and its index.json names no source repository ({SOURCE_ANNOTATION} annotation) to take it from",
                        path.display(),
                    ))
                })?;
            blobs.push(Blob {
                digest,
                size: descriptor.size(),
                origin,
            });
        }
    }
    Ok(Pushable { blobs, manifests })
}

/// The images an index lists (every one must be in the layout, with its config) and their
/// manifests in index order.
fn read_index_images(
    layout: &Layout,
    entry: &Descriptor,
) -> Result<(Vec<ResolvedImage>, Vec<ManifestBytes>)> {
    let bytes = layout.read_blob(entry).map_err(Error::local)?;
    let index: ImageIndex = serde_json::from_slice(&bytes).map_err(|err| {
        Error::Local(format!(
            "blob {} is not a valid image index: {err}",
            entry.digest()
        ))
    })?;
    let mut images = Vec::new();
    let mut manifests = Vec::new();
    for child in index.manifests() {
        let platform = child.platform().as_ref().map(describe);
        let name = format!(
            "image {} ({}) of index {}",
            child.digest(),
            platform.as_deref().unwrap_or("no platform"),
            entry.digest()
        );
        let image = layout
            .read_image(child.clone())
            .map_err(Error::local)
            .with_context(|| name.clone())?;
        if let Some(platform) = &platform {
            let config: serde_json::Value =
                serde_json::from_slice(&image.config_bytes).map_err(|err| {
                    Error::Local(format!("{name}: the config is not valid JSON: {err}"))
                })?;
            let platform = Platform::parse(platform).map_err(Error::local)?;
            if let Some(found) = platform.config_mismatch(&config) {
                return Err(Error::Local(format!("{name}: its config is for {found}")));
            }
        }
        manifests.push(ManifestBytes {
            digest: descriptor_digest(child).map_err(Error::local)?,
            media_type: child.media_type().to_string(),
            bytes: image.manifest_bytes.clone(),
        });
        images.push(image);
    }
    if images.is_empty() {
        return Err(Error::Local(format!(
            "image index {} lists no image",
            entry.digest()
        )));
    }
    Ok((images, manifests))
}

/// The manifest (or index) digest a push of the layout at `path` produces.
pub fn layout_digest(path: &Path) -> Result<Digest> {
    Ok(read_pushable(path)?.top().digest.clone())
}

/// The path of a blob the layout has, after checking its size.
fn local_blob(layout: &Layout, digest: &Digest, size: u64) -> Result<Option<PathBuf>> {
    let path = layout.blob_path(digest);
    let metadata = match std::fs::metadata(&path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(Error::Local(format!("reading {}: {err}", path.display())));
        }
    };
    if metadata.len() != size {
        return Err(Error::Local(format!(
            "{} has {} bytes but the manifest says {size}",
            path.display(),
            metadata.len()
        )));
    }
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sematic_oci_core::layout::{descriptor, LayoutWriter};
    use sematic_oci_core::media_type::{OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST};

    /// Writes an image for `arch` whose one layer is `layer` (left out of the layout when
    /// `shallow`); returns its manifest digest and size.
    fn image(writer: &LayoutWriter, arch: &str, layer: &[u8], shallow: bool) -> (Digest, usize) {
        let config = format!(r#"{{"architecture":"{arch}","os":"linux"}}"#);
        let config_digest = writer.put_blob_bytes(config.as_bytes()).unwrap();
        let layer_digest = Digest::of_bytes(layer);
        if !shallow {
            writer.put_blob_bytes(layer).unwrap();
        }
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"{OCI_LAYER_GZIP}","digest":"{layer_digest}","size":{}}}]}}"#,
            config.len(),
            layer.len()
        );
        (
            writer.put_blob_bytes(manifest.as_bytes()).unwrap(),
            manifest.len(),
        )
    }

    /// A layout whose index lists `children` as (manifest, platform architecture).
    fn index_layout(
        dir: &Path,
        build: impl FnOnce(&LayoutWriter) -> Vec<((Digest, usize), &'static str)>,
        source: Option<&str>,
    ) -> Digest {
        let writer = LayoutWriter::create(dir).unwrap();
        let children: Vec<String> = build(&writer)
            .into_iter()
            .map(|((digest, size), arch)| {
                format!(r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{digest}","size":{size},"platform":{{"os":"linux","architecture":"{arch}"}}}}"#)
            })
            .collect();
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
            children.join(",")
        );
        let digest = writer.put_blob_bytes(index.as_bytes()).unwrap();
        let mut entry = descriptor(OCI_INDEX, &digest, index.len() as u64);
        if let Some(source) = source {
            entry.set_annotations(Some(
                [(SOURCE_ANNOTATION.to_owned(), source.to_owned())].into(),
            ));
        }
        writer.finish(vec![entry]).unwrap();
        digest
    }

    #[test]
    fn an_index_is_pushed_after_its_images_with_each_blob_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut images = Vec::new();
        let top = index_layout(
            dir.path(),
            |writer| {
                images = vec![
                    image(writer, "amd64", b"shared", false),
                    image(writer, "arm64", b"shared", false),
                ];
                vec![(images[0].clone(), "amd64"), (images[1].clone(), "arm64")]
            },
            None,
        );
        let pushable = read_pushable(dir.path()).unwrap();
        let order: Vec<&Digest> = pushable.manifests.iter().map(|m| &m.digest).collect();
        assert_eq!(order, vec![&images[0].0, &images[1].0, &top]);
        // Two configs and the one layer both images have.
        assert_eq!(pushable.blobs.len(), 3);
        assert!(pushable
            .blobs
            .iter()
            .all(|b| matches!(b.origin, Origin::File(_))));
        assert_eq!(layout_digest(dir.path()).unwrap(), top);
    }

    #[test]
    fn a_shallow_index_takes_absent_layers_from_its_source() {
        let dir = tempfile::tempdir().unwrap();
        index_layout(
            dir.path(),
            |writer| {
                vec![
                    (image(writer, "amd64", b"base-amd64", true), "amd64"),
                    (image(writer, "arm64", b"base-arm64", true), "arm64"),
                ]
            },
            Some("reg.example/base"),
        );
        let pushable = read_pushable(dir.path()).unwrap();
        let sourced: Vec<&Digest> = pushable
            .blobs
            .iter()
            .filter(|b| matches!(&b.origin, Origin::Source(r) if r.name() == "reg.example/base"))
            .map(|b| &b.digest)
            .collect();
        assert_eq!(
            sourced,
            vec![
                &Digest::of_bytes(b"base-amd64"),
                &Digest::of_bytes(b"base-arm64")
            ]
        );
    }

    #[test]
    fn an_image_listed_for_another_platform_than_its_config_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let top = index_layout(
            dir.path(),
            |writer| vec![(image(writer, "amd64", b"x", false), "arm64")],
            None,
        );
        let err = format!("{:#}", read_pushable(dir.path()).unwrap_err());
        assert!(
            err.starts_with("image sha256:")
                && err.ends_with(&format!(
                    "(linux/arm64) of index {top}: its config is for linux/amd64"
                )),
            "{err}"
        );
    }
}
