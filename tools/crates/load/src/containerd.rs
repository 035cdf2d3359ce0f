//! Loading into containerd: `ctr image import` of an OCI archive holding only the blobs the
//! namespace's content store lacks. containerd's importer writes the blobs it is sent and
//! reads the image's other blobs from its store (it walks the manifest there, then unpacks),
//! so the archive needs nothing else; a blob it is sent again is hashed and rewritten, which
//! is what this avoids.
//!
//! The image is imported (and unpacked) under a staging name first, then under its own name,
//! then the staging name is removed. Imported straight under its own name, it would take that
//! name from the previous build before unpacking: the previous image's snapshots (the base
//! layers both share) are then referenced by nothing, and containerd's garbage collector
//! removes them while the unpack counts on them. Either the unpack extracts the shared layers
//! again, or, caught between checking a parent snapshot and building on it, fails with
//! "parent snapshot … does not exist".

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use sematic_oci_core::platform::Platform;
use sematic_oci_core::Digest;
use sematic_tarball::archive::{Archive, Blob, RepoTag, Written};

use crate::command::{feed, on_path, output};
use crate::error::{Error, Result};
use crate::runtime::{Runtime, Summary};

/// A containerd socket and the namespace images go to (`k8s.io` is the one the kubelet's CRI
/// reads).
#[derive(Clone, Debug)]
pub struct Containerd {
    pub address: PathBuf,
    pub namespace: String,
}

impl Containerd {
    fn ctr(&self) -> Command {
        let mut command = Command::new("ctr");
        command
            .arg("--address")
            .arg(&self.address)
            .args(["--namespace", &self.namespace]);
        command
    }

    fn check(&self) -> Result<()> {
        if on_path("ctr").is_none() {
            return Err(Error::Runtime(
                "ctr (containerd's client) is not on PATH: install containerd, or choose --runtime podman or docker".to_owned(),
            ));
        }
        if !self.address.exists() {
            return Err(Error::Runtime(format!(
                "containerd's socket {} does not exist: start containerd, or point --address (or $CONTAINERD_ADDRESS) at its socket",
                self.address.display()
            )));
        }
        Ok(())
    }

    /// The digests of the namespace's content store.
    fn present(&self) -> Result<HashSet<Digest>> {
        Ok(content_list(&output(
            self.ctr().args(["content", "ls", "--quiet"]),
        )?))
    }

    /// Imports the image of `layout` (`platform`'s, from an index) as `image`, sending only
    /// the blobs the store lacks.
    pub fn load(&self, layout: &Path, platform: &Platform, image: &RepoTag) -> Result<Summary> {
        self.check()?;
        let staging = staging_tag(image)?;
        let archive = Archive::open(layout, platform, std::slice::from_ref(&staging))?;
        let present = self.present()?;
        let lacking = |blob: &Blob| !present.contains(&blob.digest);
        archive.require(
            lacking,
            &format!(
                "nor in containerd's namespace {}: build on a base pulled with its layers (layers = \"all\"), or pull the base into that namespace first",
                self.namespace
            ),
        )?;
        let config_platform = config_platform(&archive.image().config_bytes)?;
        let imported = self
            .import(&archive, &config_platform, lacking)
            .and_then(|sent| {
                // Every blob is in the store now: the archive naming the image carries none.
                let named = Archive::open(layout, platform, std::slice::from_ref(image))?;
                self.import(&named, &config_platform, |_| false)?;
                Ok(sent)
            });
        let removed = self.remove(&staging.full);
        let sent = imported?;
        removed?;
        Ok(Summary::new(
            Runtime::Containerd,
            &image.full,
            archive.blobs(),
            sent,
        ))
    }

    /// `ctr image import` of `archive` with the blobs `send` picks, unpacked for `platform`.
    fn import(
        &self,
        archive: &Archive,
        platform: &str,
        send: impl Fn(&Blob) -> bool,
    ) -> Result<Written> {
        let mut import = self.ctr();
        import.args(["image", "import", "--platform", platform, "-"]);
        feed(&mut import, |stdin| Ok(archive.write(stdin, send)?))
    }

    /// Removes the image `name` if it exists (a failed import may have made none).
    fn remove(&self, name: &str) -> Result<()> {
        let listed = output(self.ctr().args(["image", "ls", "--quiet"]))?;
        if listed.lines().any(|line| line.trim() == name) {
            output(self.ctr().args(["image", "rm", name]))?;
        }
        Ok(())
    }
}

/// The name an image of `image`'s repository is staged under while it unpacks: this process's
/// own, so that loads running at once never take each other's.
fn staging_tag(image: &RepoTag) -> Result<RepoTag> {
    let repository = image
        .full
        .strip_suffix(&format!(":{}", image.tag))
        .expect("a RepoTag's full name ends with its tag");
    Ok(RepoTag::parse(&format!(
        "{repository}:sematic-load-staging-{}",
        std::process::id()
    ))?)
}

/// The digests `ctr content ls --quiet` lists, one a line (anything else is skipped).
pub fn content_list(text: &str) -> HashSet<Digest> {
    text.lines()
        .filter_map(|line| Digest::parse(line.trim()).ok())
        .collect()
}

/// `os/architecture[/variant]` of an image config: what containerd unpacks the image for
/// (its own platform otherwise, which an image of another CPU does not match).
pub fn config_platform(config: &[u8]) -> Result<String> {
    let config: serde_json::Value = serde_json::from_slice(config)?;
    let field = |name: &str| {
        config
            .get(name)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let (Some(os), Some(architecture)) = (field("os"), field("architecture")) else {
        return Err(Error::Runtime(
            "the image config has no os and architecture: build the image again".to_owned(),
        ));
    };
    Ok(match field("variant") {
        Some(variant) => format!("{os}/{architecture}/{variant}"),
        None => format!("{os}/{architecture}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_list_keeps_the_digests() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let listed = content_list(&format!("{a}\n  {b}  \n\nnot-a-digest\n"));
        assert_eq!(listed.len(), 2);
        assert!(listed.contains(&Digest::parse(&a).unwrap()));
    }

    #[test]
    fn the_staging_name_is_in_the_image_s_repository() {
        let image = RepoTag::parse("127.0.0.1:5000/ml/app:main_default").unwrap();
        let staging = staging_tag(&image).unwrap();
        let expected = format!(
            "127.0.0.1:5000/ml/app:sematic-load-staging-{}",
            std::process::id()
        );
        assert_eq!(staging.full, expected);
    }

    #[test]
    fn the_platform_comes_from_the_config() {
        let amd64 = br#"{"os":"linux","architecture":"amd64"}"#;
        assert_eq!(config_platform(amd64).unwrap(), "linux/amd64");
        let arm = br#"{"os":"linux","architecture":"arm64","variant":"v8"}"#;
        assert_eq!(config_platform(arm).unwrap(), "linux/arm64/v8");
        assert!(config_platform(b"{}").is_err());
    }
}
