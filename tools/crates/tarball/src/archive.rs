//! The loadable archive of one image of a layout: an OCI layout (`oci-layout`, `index.json`,
//! `blobs/sha256/…`) plus Docker's `manifest.json`, the combination `docker save` itself writes
//! since Docker 25. Written to any stream, with or without the blobs a runtime already holds.

use std::fs::{self, File};
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use sematic_oci_core::archive::{Owner, TarWriter};
use sematic_oci_core::canonical::to_canonical_json;
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

/// One blob of the image: its manifest, config or a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    pub digest: Digest,
    pub size: u64,
}

/// What [`Archive::write`] put in the stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub blobs: usize,
    pub bytes: u64,
}

/// One image of a layout (chosen by platform from an index), under the names it is loaded as.
pub struct Archive {
    layout: Layout,
    image: ResolvedImage,
    blobs: Vec<Blob>,
    repo_tags: Vec<RepoTag>,
}

impl Archive {
    /// Reads the image's manifest and config; its layers need not be in the layout (a shallow
    /// base): [`Archive::absent`] says which are not.
    pub fn open(layout: &Path, platform: &Platform, repo_tags: &[RepoTag]) -> Result<Self> {
        let layout = Layout::open(layout)?;
        let image = layout.resolve(platform, None)?;
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
            blobs.push(Blob {
                digest: descriptor_digest(layer)?,
                size: layer.size(),
            });
        }
        // Each once, in byte order of their names, like every archive we write.
        blobs.sort_by(|a, b| a.digest.cmp(&b.digest));
        blobs.dedup_by(|a, b| a.digest == b.digest);
        Ok(Archive {
            layout,
            image,
            blobs,
            repo_tags: repo_tags.to_vec(),
        })
    }

    pub fn image(&self) -> &ResolvedImage {
        &self.image
    }

    /// The manifest, config and layers, each once, sorted by digest.
    pub fn blobs(&self) -> &[Blob] {
        &self.blobs
    }

    /// Where `blob` is (or would be) in the layout.
    pub fn blob_path(&self, blob: &Blob) -> PathBuf {
        self.layout.blob_path(&blob.digest)
    }

    /// Whether `blob` is in the layout with its declared size; a file of another size is an
    /// error (a damaged layout), not an absence.
    pub fn has(&self, blob: &Blob) -> Result<bool> {
        let path = self.blob_path(blob);
        let Ok(metadata) = fs::metadata(&path) else {
            return Ok(false);
        };
        if metadata.len() != blob.size {
            return Err(Error::Incomplete(format!(
                "{} is {} bytes but the manifest says {}: the layout is damaged, build it again",
                path.display(),
                metadata.len(),
                blob.size
            )));
        }
        Ok(true)
    }

    /// Fails, naming the first, if a blob `wanted` picks is not in the layout.
    pub fn require(&self, wanted: impl Fn(&Blob) -> bool, fix: &str) -> Result<()> {
        for blob in self.blobs.iter().filter(|blob| wanted(blob)) {
            if !self.has(blob)? {
                let source = self
                    .image
                    .source
                    .as_deref()
                    .map(|source| format!(" (it lives in {source})"))
                    .unwrap_or_default();
                return Err(Error::Incomplete(format!(
                    "the image's base is shallow: layer {} is not in {}{source}, {fix}",
                    blob.digest,
                    self.layout.root().display()
                )));
            }
        }
        Ok(())
    }

    /// Writes the archive to `output` with the blobs `send` picks (all of them for a tarball;
    /// those a runtime lacks to load incrementally): those must be in the layout
    /// ([`Archive::require`]). The names and JSON files are always written.
    pub fn write<W: Write>(&self, output: W, send: impl Fn(&Blob) -> bool) -> Result<Written> {
        let blob_name = |digest: &Digest| format!("blobs/sha256/{}", digest.hex());
        let layer_paths: Vec<String> = self
            .image
            .manifest
            .layers()
            .iter()
            .map(|layer| descriptor_digest(layer).map(|d| blob_name(&d)))
            .collect::<Result<_, _>>()?;
        let config_digest = descriptor_digest(self.image.manifest.config())?;
        let docker_manifest = json!([{
            "Config": blob_name(&config_digest),
            "RepoTags": self.repo_tags.iter().map(|t| t.full.as_str()).collect::<Vec<_>>(),
            "Layers": layer_paths,
        }]);
        let oci_layout = self.layout.root().join("oci-layout");
        let json_files = [
            ("index.json", to_canonical_json(&self.index_json())?),
            ("manifest.json", to_canonical_json(&docker_manifest)?),
            (
                "oci-layout",
                fs::read(&oci_layout)
                    .with_context(|| format!("reading {}", oci_layout.display()))?,
            ),
        ];

        let context = || "writing the archive".to_owned();
        let mut tar = TarWriter::new(output);
        tar.directory(b"blobs", Owner::root(DIR_MODE))
            .with_context(context)?;
        tar.directory(b"blobs/sha256", Owner::root(DIR_MODE))
            .with_context(context)?;
        let mut written = Written::default();
        for blob in self.blobs.iter().filter(|blob| send(blob)) {
            let path = self.blob_path(blob);
            let source =
                File::open(&path).with_context(|| format!("opening {}", path.display()))?;
            tar.file(
                blob_name(&blob.digest).as_bytes(),
                Owner::root(FILE_MODE),
                blob.size,
                BufReader::with_capacity(COPY_BUFFER, source),
            )
            .with_context(|| format!("copying {} into the archive", path.display()))?;
            written.blobs += 1;
            written.bytes += blob.size;
        }
        for (name, bytes) in json_files {
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
            .flush()
            .with_context(context)?;
        Ok(written)
    }

    /// index.json naming the image once per tag, as `docker save` does.
    fn index_json(&self) -> Value {
        let descriptor = &self.image.manifest_descriptor;
        let manifests: Vec<Value> = self
            .repo_tags
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
