//! Loading into podman: `podman pull oci:DIR` of a staging layout whose blobs are symbolic
//! links into the image's layout. containers/image asks the storage for each layer before
//! reading it, and a layer it has is not read at all: only new layers are copied (checked by
//! tests/e2e/test_load.py with a corrupted copy of a layer podman has). The pulled image is
//! then tagged, and the name podman gives an `oci:` pull (its directory) removed.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use sematic_oci_core::layout::descriptor_digest;
use sematic_oci_core::Digest;
use sematic_tarball::archive::{Archive, Blob, Written};
use serde_json::json;

use crate::command::{on_path, output};
use crate::error::{Context, Error, Result};
use crate::runtime::{Runtime, Summary};

fn podman() -> Command {
    Command::new("podman")
}

/// Pulls the archive's image into podman's storage as `image`.
pub fn load(archive: &Archive, image: &str) -> Result<Summary> {
    if on_path("podman").is_none() {
        return Err(Error::Runtime(
            "podman is not on PATH: install it, or choose --runtime containerd or docker"
                .to_owned(),
        ));
    }
    let present = layers_in_storage(archive, &stored_diff_ids()?)?;
    let lacking = |blob: &Blob| !present.contains(&blob.digest);
    archive.require(
        lacking,
        "nor in podman's storage: build on a base pulled with its layers (layers = \"all\"), or podman pull the base first",
    )?;
    let staging = Staging::create(archive)?;
    let pulled = output(podman().args(["pull", "--quiet"]).arg(staging.reference()))?;
    let id = pulled.lines().last().unwrap_or_default().trim();
    output(podman().args(["tag", id, image]))?;
    output(podman().args(["untag", id]).arg(staging.pulled_name()))?;
    let sent: Vec<&Blob> = archive.blobs().iter().filter(|b| lacking(b)).collect();
    let sent = Written {
        blobs: sent.len(),
        bytes: sent.iter().map(|blob| blob.size).sum(),
    };
    Ok(Summary::new(Runtime::Podman, image, archive.blobs(), sent))
}

/// The diff IDs of every layer in podman's storage.
fn stored_diff_ids() -> Result<HashSet<Digest>> {
    let ids = output(podman().args(["images", "--all", "--quiet", "--no-trunc"]))?;
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let format = "{{range .RootFS.Layers}}{{println .}}{{end}}";
    let layers = output(
        podman()
            .args(["image", "inspect", "--format", format])
            .args(&ids),
    )?;
    Ok(layers
        .lines()
        .filter_map(|line| Digest::parse(line.trim()).ok())
        .collect())
}

/// The layer blobs of the image whose diff ID is in `stored`: containers/image reuses those
/// instead of reading them.
pub fn layers_in_storage(archive: &Archive, stored: &HashSet<Digest>) -> Result<HashSet<Digest>> {
    let image = archive.image();
    let config: serde_json::Value = serde_json::from_slice(&image.config_bytes)?;
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut present = HashSet::new();
    for (layer, diff_id) in image.manifest.layers().iter().zip(diff_ids) {
        let diff_id = diff_id.as_str().and_then(|text| Digest::parse(text).ok());
        if diff_id.is_some_and(|diff_id| stored.contains(&diff_id)) {
            present.insert(descriptor_digest(layer)?);
        }
    }
    Ok(present)
}

/// A temporary layout holding the image alone (its index.json names only the chosen
/// manifest), its blobs linked to the image's layout; removed when dropped.
struct Staging {
    root: PathBuf,
}

impl Staging {
    fn create(archive: &Archive) -> Result<Self> {
        // podman names an `oci:` pull `localhost/<directory>`, which must be a valid
        // repository name (lower case): the user's TMPDIR may not be.
        let parent = std::env::temp_dir();
        let parent = if is_repository_path(&parent) {
            parent
        } else {
            PathBuf::from("/tmp")
        };
        let root = parent.join(format!("sematic-load-{}", std::process::id()));
        if root.exists() {
            // Left by a killed run whose process ID this one has.
            fs::remove_dir_all(&root).with_context(|| format!("removing {}", root.display()))?;
        }
        let staging = Staging { root };
        let blobs = staging.root.join("blobs/sha256");
        fs::create_dir_all(&blobs).with_context(|| format!("creating {}", blobs.display()))?;
        for blob in archive.blobs() {
            if archive.has(blob)? {
                // Absolute: the layout may have been named relative to the working directory.
                let target = std::path::absolute(archive.blob_path(blob))?;
                symlink(target, blobs.join(blob.digest.hex()))
                    .with_context(|| format!("linking {}", blob.digest))?;
            }
        }
        let index = json!({"schemaVersion": 2, "manifests": [archive.image().manifest_descriptor]});
        for (name, text) in [
            ("index.json", index.to_string()),
            ("oci-layout", r#"{"imageLayoutVersion":"1.0.0"}"#.to_owned()),
        ] {
            let path = staging.root.join(name);
            fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(staging)
    }

    fn reference(&self) -> String {
        format!("oci:{}", self.root.display())
    }

    /// The name podman gives the image it pulls from this directory.
    fn pulled_name(&self) -> String {
        let path = self.root.display().to_string();
        format!("localhost/{}:latest", path.trim_start_matches('/'))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn is_repository_path(path: &Path) -> bool {
    let text = path.to_string_lossy();
    text.starts_with('/')
        && text[1..].split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
                && part
                    .bytes()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lower_case_paths_name_an_image() {
        assert!(is_repository_path(Path::new("/tmp")));
        assert!(is_repository_path(Path::new("/var/tmp/build-1")));
        assert!(!is_repository_path(Path::new("/Users/Me/tmp")));
        assert!(!is_repository_path(Path::new("/tmp/")));
        assert!(!is_repository_path(Path::new("relative")));
    }
}
