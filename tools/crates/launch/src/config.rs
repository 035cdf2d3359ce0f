//! The launch config a launcher target writes (LAUNCH.json), and the push specs it gives.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};
use sematic_cli::stamp::Status;
use sematic_oci_core::reference::Reference;
use sematic_registry::push::ImageSpec;
use serde::Deserialize;

/// LAUNCH.json: the launch script and one entry per image key; paths are relative to the
/// runfiles directory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchConfig {
    pub launch_binary: String,
    pub images: Vec<ImageEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageEntry {
    pub key: String,
    pub layout: String,
    pub repository: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub insecure: bool,
    /// CA certificates (PEM) trusted for this image's registry, relative to the runfiles.
    #[serde(default)]
    pub ca_certs: Vec<String>,
}

impl LaunchConfig {
    /// Reads and parses the config at `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let config = serde_json::from_slice(&text)
            .with_context(|| format!("{} is not a valid launch config", path.display()))?;
        Ok(config)
    }

    /// Validates the config's images and turns them into push specs (label = key), their
    /// tags stamped from `status`.
    pub fn image_specs(&self, runfiles: &Path, status: &Status) -> Result<Vec<ImageSpec>> {
        let mut keys = BTreeSet::new();
        self.images
            .iter()
            .map(|entry| {
                validate_key(&entry.key)?;
                if !keys.insert(entry.key.as_str()) {
                    return Err(Error::Config(format!(
                        "image key {:?} appears twice",
                        entry.key,
                    )));
                }
                // A tag that cannot be stamped is a fault of the launch config, not of a file.
                let tags = status
                    .tags(&entry.tags)
                    .map_err(|err| Error::Config(format!("image {}: {err}", entry.key)))?;
                Ok(ImageSpec {
                    label: entry.key.clone(),
                    layout: runfiles.join(&entry.layout),
                    repository: Reference::parse_repository(&entry.repository)
                        .with_context(|| format!("image {}", entry.key))?,
                    tags,
                })
            })
            .collect()
    }
}

/// The CA files (absolute) the images' registries are trusted with, and the registries
/// (of `specs`, from [`LaunchConfig::image_specs`]) allowed plain HTTP and unverified TLS.
pub fn tls_settings(
    config: &LaunchConfig,
    runfiles: &Path,
    specs: &[ImageSpec],
) -> (Vec<PathBuf>, BTreeSet<String>) {
    let ca_certs = config
        .images
        .iter()
        .flat_map(|entry| entry.ca_certs.iter().map(|cert| runfiles.join(cert)))
        .collect();
    let insecure = specs
        .iter()
        .zip(&config.images)
        .filter(|(_, entry)| entry.insecure)
        .map(|(spec, _)| spec.repository.registry.clone())
        .collect();
    (ca_certs, insecure)
}

/// The launch script must be there to run: checked before anything is pushed.
pub fn check_executable(binary: &Path) -> Result<()> {
    let executable = std::fs::metadata(binary)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false);
    if !executable {
        return Err(Error::Config(format!(
            "the launch script {} is missing or not executable: build the launcher target again",
            binary.display(),
        )));
    }
    Ok(())
}

/// Keys end up in `::KEY##URI` lists that Sematic splits on those separators.
fn validate_key(key: &str) -> Result<()> {
    if key.is_empty()
        || key.contains("::")
        || key.contains("##")
        || key.chars().any(char::is_whitespace)
    {
        return Err(Error::Config(format!(
            "invalid image key {key:?}: it must be non-empty, without whitespace, \"::\" or \"##\"",
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_separators_are_rejected() {
        for bad in ["", "a::b", "a##b", "a b"] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
        validate_key("cuda_12").unwrap();
        validate_key("a:b#c").unwrap();
    }

    #[test]
    fn config_parsing_validates_entries() {
        let config: LaunchConfig = serde_json::from_str(
            r#"{"launch_binary": "_main/x", "images": [
                {"key": "default", "layout": "_main/l", "repository": "127.0.0.1:5000/a/b", "tags": ["t"]},
                {"key": "default", "layout": "_main/m", "repository": "127.0.0.1:5000/a/c"}]}"#,
        )
        .unwrap();
        let err = config
            .image_specs(Path::new("/r"), &Status::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("appears twice"), "{err}");
        assert!(serde_json::from_str::<LaunchConfig>(
            r#"{"launch_binary": "x", "images": [], "extra": 1}"#
        )
        .is_err());
    }
}
