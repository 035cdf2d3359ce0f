//! Writing the loadable tarball.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use sematic_oci_core::archive::{Owner, TarWriter};
use sematic_oci_core::canonical::to_canonical_json;
use sematic_oci_core::fsutil::AtomicFile;
use sematic_oci_core::layout::{descriptor_digest, Layout, ResolvedImage, REF_NAME_ANNOTATION};
use sematic_oci_core::media_type::OCI_INDEX;
use sematic_oci_core::platform::Platform;
use sematic_oci_core::reference::Reference;
use sematic_oci_core::Digest;
use serde_json::{json, Value};

use crate::error::{Context, Error, Result};

/// Annotation containerd and Docker (since 25) read to name an image loaded from an OCI
/// archive; `org.opencontainers.image.ref.name` then holds just the tag.
const CONTAINERD_NAME_ANNOTATION: &str = "io.containerd.image.name";
const DIR_MODE: u32 = 0o755;
const FILE_MODE: u32 = 0o644;
const COPY_BUFFER: usize = 1 << 20;

/// A `--repo-tag`: a reference with a tag and no digest, normalised as Docker would
/// (`ubuntu:22.04` → `docker.io/library/ubuntu:22.04`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoTag {
    pub full: String,
    pub tag: String,
}

impl RepoTag {
    pub fn parse(text: &str) -> Result<Self> {
        let reference = Reference::parse(text)?;
        if reference.digest.is_some() {
            return Err(Error::RepoTag(format!(
                "--repo-tag {text:?} has a digest: loaded images are named by repository:tag only"
            )));
        }
        let Some(tag) = reference.tag.clone() else {
            return Err(Error::RepoTag(format!(
                "--repo-tag {text:?} has no tag: write it as registry/repository:tag"
            )));
        };
        Ok(RepoTag {
            full: format!("{}:{tag}", reference.name()),
            tag,
        })
    }
}

/// One blob to copy into the tarball.
struct Blob {
    digest: Digest,
    size: u64,
}

/// Writes the tarball for the image of `layout` (choosing `platform` from an index) to
/// `output`, atomically.
pub fn pack(
    layout: &Path,
    platform: &Platform,
    repo_tags: &[RepoTag],
    output: &Path,
) -> Result<()> {
    let opened = Layout::open(layout)?;
    let image = opened.resolve(platform, None)?;
    let blobs = blobs_of(&opened, &image)?;

    let manifest_path = |digest: &Digest| format!("blobs/sha256/{}", digest.hex());
    let layer_paths: Vec<String> = image
        .manifest
        .layers()
        .iter()
        .map(|layer| descriptor_digest(layer).map(|d| manifest_path(&d)))
        .collect::<Result<_, _>>()?;
    let config_digest = descriptor_digest(image.manifest.config())?;
    let docker_manifest = json!([{
        "Config": manifest_path(&config_digest),
        "RepoTags": repo_tags.iter().map(|t| t.full.as_str()).collect::<Vec<_>>(),
        "Layers": layer_paths,
    }]);
    let index = index_json(&image, repo_tags);

    let mut file = AtomicFile::create(output)?;
    let context = || format!("writing {}", output.display());
    let mut tar = TarWriter::new(BufWriter::with_capacity(COPY_BUFFER, &mut file));
    // Entries in byte order of their names, like every archive we write.
    tar.directory(b"blobs", Owner::root(DIR_MODE))
        .with_context(context)?;
    tar.directory(b"blobs/sha256", Owner::root(DIR_MODE))
        .with_context(context)?;
    for blob in &blobs {
        let path = opened.blob_path(&blob.digest);
        let source = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        tar.file(
            manifest_path(&blob.digest).as_bytes(),
            Owner::root(FILE_MODE),
            blob.size,
            BufReader::with_capacity(COPY_BUFFER, source),
        )
        .with_context(|| format!("copying {} into {}", path.display(), output.display()))?;
    }
    for (name, bytes) in [
        ("index.json", to_canonical_json(&index)?),
        ("manifest.json", to_canonical_json(&docker_manifest)?),
        (
            "oci-layout",
            fs::read(layout.join("oci-layout"))
                .with_context(|| format!("reading {}", layout.join("oci-layout").display()))?,
        ),
    ] {
        tar.file(
            name.as_bytes(),
            Owner::root(FILE_MODE),
            bytes.len() as u64,
            bytes.as_slice(),
        )
        .with_context(context)?;
    }
    tar.finish()
        .with_context(context)?
        .into_inner()
        .map_err(|err| err.into_error())
        .with_context(context)?
        .flush()
        .with_context(context)?;
    Ok(file.commit()?)
}

/// Manifest, config and layers, each once, sorted by digest; every one must be present with
/// its declared size.
fn blobs_of(layout: &Layout, image: &ResolvedImage) -> Result<Vec<Blob>> {
    let mut blobs = vec![
        Blob {
            digest: descriptor_digest(&image.manifest_descriptor)?,
            size: image.manifest_descriptor.size(),
        },
        Blob {
            digest: descriptor_digest(image.manifest.config())?,
            size: image.manifest.config().size(),
        },
    ];
    for layer in image.manifest.layers() {
        let digest = descriptor_digest(layer)?;
        let path = layout.blob_path(&digest);
        let Ok(metadata) = fs::metadata(&path) else {
            let source = image
                .source
                .as_deref()
                .map(|source| format!(" (it lives in {source})"))
                .unwrap_or_default();
            return Err(Error::Incomplete(format!(
                "the image's base is shallow: layer {digest} is not in {}{source}, and a tarball needs every layer: build on a complete base layout (pulled with its layers) or push the image instead",
                layout.root().display()
            )));
        };
        if metadata.len() != layer.size() {
            return Err(Error::Incomplete(format!(
                "{} is {} bytes but the manifest says {}: the layout is damaged, build it again",
                path.display(),
                metadata.len(),
                layer.size()
            )));
        }
        blobs.push(Blob {
            digest,
            size: layer.size(),
        });
    }
    blobs.sort_by(|a, b| a.digest.cmp(&b.digest));
    blobs.dedup_by(|a, b| a.digest == b.digest);
    Ok(blobs)
}

/// index.json naming the image once per tag, as `docker save` does.
fn index_json(image: &ResolvedImage, repo_tags: &[RepoTag]) -> Value {
    let descriptor = &image.manifest_descriptor;
    let manifests: Vec<Value> = repo_tags
        .iter()
        .map(|tag| {
            json!({
                "mediaType": descriptor.media_type().to_string(),
                "digest": descriptor.digest().to_string(),
                "size": descriptor.size(),
                "annotations": {
                    CONTAINERD_NAME_ANNOTATION: tag.full,
                    REF_NAME_ANNOTATION: tag.tag,
                },
            })
        })
        .collect();
    json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_tags_need_a_tag_and_no_digest() {
        let tag = RepoTag::parse("registry.example:5000/ml/app:v1").unwrap();
        assert_eq!(tag.full, "registry.example:5000/ml/app:v1");
        assert_eq!(tag.tag, "v1");
        assert_eq!(
            RepoTag::parse("ubuntu:22.04").unwrap().full,
            "docker.io/library/ubuntu:22.04"
        );
        let err = RepoTag::parse("registry.example/ml/app")
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no tag"), "{err}");
        let digest = format!("r.example/app:v1@sha256:{}", "a".repeat(64));
        assert!(RepoTag::parse(&digest)
            .unwrap_err()
            .to_string()
            .contains("has a digest"));
    }
}
