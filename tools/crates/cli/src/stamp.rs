//! Stamped tags: `{KEY}` in a tag is replaced by the value of KEY in Bazel's workspace status
//! files (`stable-status.txt`, `volatile-status.txt`: `KEY VALUE` lines), which push and launch
//! targets pass only under `--stamp`. Expanding at run time keeps every build action (layers,
//! images) independent of the status, so a changing timestamp rebuilds nothing.
//!
//! Unlike the rest of this crate, which only binaries call, stamping is also library code
//! (`sematic-launch` stamps its images' tags), so it returns `sematic-oci-core`'s typed error:
//! a status file that cannot be read, or a tag that is invalid once stamped.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sematic_oci_core::error::{Context, Error, Result};
use sematic_oci_core::reference::validate_tag;

/// Workspace status values.
#[derive(Debug, Default)]
pub struct Status(BTreeMap<String, String>);

impl Status {
    /// Reads the `KEY VALUE` lines of `files` (later files win).
    pub fn read(files: &[PathBuf]) -> Result<Self> {
        let mut values = BTreeMap::new();
        for file in files {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading workspace status file {}", file.display()))?;
            for line in text.lines() {
                let (key, value) = line.split_once(' ').unwrap_or((line, ""));
                if !key.is_empty() {
                    values.insert(key.to_owned(), value.to_owned());
                }
            }
        }
        Ok(Status(values))
    }

    /// `tags` stamped, each checked to be a valid tag.
    pub fn tags(&self, tags: &[String]) -> Result<Vec<String>> {
        tags.iter()
            .map(|tag| {
                let tag = self.expand(tag)?;
                validate_tag(&tag)?;
                Ok(tag)
            })
            .collect()
    }

    /// `tag` with every `{KEY}` replaced by its status value.
    pub fn expand(&self, tag: &str) -> Result<String> {
        let mut out = String::new();
        let mut rest = tag;
        while let Some(start) = rest.find('{') {
            let Some(length) = rest[start..].find('}') else {
                return Err(Error::Invalid(format!(
                    "tag {tag:?} has a '{{' without its '}}'"
                )));
            };
            let key = &rest[start + 1..start + length];
            let Some(value) = self.0.get(key) else {
                if self.0.is_empty() {
                    return Err(Error::Invalid(format!(
                        "tag {tag:?} names the workspace status value {key}, but the build is not stamped: run with --stamp"
                    )));
                }
                return Err(Error::Invalid(format!(
                    "tag {tag:?} names the workspace status value {key}, which the status files lack (keys: {})",
                    self.0.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            };
            out.push_str(&rest[..start]);
            out.push_str(value);
            rest = &rest[start + length + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_expand_from_both_files_and_missing_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let stable = dir.path().join("stable-status.txt");
        let volatile = dir.path().join("volatile-status.txt");
        std::fs::write(&stable, "BUILD_USER ci\nSTABLE_RELEASE 1.2\n").unwrap();
        std::fs::write(&volatile, "BUILD_TIMESTAMP 1700000000\n").unwrap();
        let status = Status::read(&[stable, volatile]).unwrap();
        assert_eq!(
            status
                .expand("v{STABLE_RELEASE}-{BUILD_TIMESTAMP}")
                .unwrap(),
            "v1.2-1700000000"
        );
        assert_eq!(status.expand("plain").unwrap(), "plain");
        let err = status.expand("x-{NOPE}").unwrap_err().to_string();
        assert!(err.contains("status value NOPE, which the status files lack (keys: BUILD_TIMESTAMP, BUILD_USER, STABLE_RELEASE)"), "{err}");
        let err = Status::default()
            .expand("{BUILD_USER}")
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("the build is not stamped: run with --stamp"),
            "{err}"
        );
    }
}
