//! Platforms (`os/architecture[/variant]`) and choosing one image out of an index.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use oci_spec::image::{Arch, Os};

/// A target platform as written on command lines: `linux/amd64`, `linux/arm64/v8`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// [`Platform::from_str`] under a name that reads well as a clap `value_parser` and in
    /// `.map(…)`.
    pub fn parse(text: &str) -> Result<Self> {
        text.parse()
    }

    /// Whether an index entry's platform is this one. A missing variant on either side matches,
    /// except that `arm64` means `v8` as in containerd's matcher.
    pub fn matches(&self, platform: &oci_spec::image::Platform) -> bool {
        let os = os_name(platform.os());
        let arch = arch_name(platform.architecture());
        if os != self.os || arch != self.architecture {
            return false;
        }
        let normalise = |variant: Option<&str>| -> Option<String> {
            match (arch.as_str(), variant) {
                ("arm64", None) => Some("v8".to_owned()),
                (_, v) => v.map(str::to_owned),
            }
        };
        match (
            normalise(self.variant.as_deref()),
            normalise(platform.variant().as_deref()),
        ) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        }
    }
}

impl FromStr for Platform {
    type Err = Error;

    /// `os/architecture[/variant]`, each part of ASCII letters, digits and `_`.
    fn from_str(text: &str) -> Result<Self> {
        let parts: Vec<&str> = text.split('/').collect();
        let valid =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        match parts.as_slice() {
            [os, arch] if valid(os) && valid(arch) => Ok(Platform {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: None,
            }),
            [os, arch, variant] if valid(os) && valid(arch) && valid(variant) => Ok(Platform {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: Some((*variant).to_owned()),
            }),
            _ => Err(Error::Invalid(format!(
                "invalid platform {text:?}: expected os/architecture[/variant], e.g. linux/amd64"
            ))),
        }
    }
}

impl Platform {
    /// `Some("os/arch[/variant]")` of an image config that is not for this platform (a variant
    /// the config leaves out matches), `None` when it is.
    pub fn config_mismatch(&self, config: &serde_json::Value) -> Option<String> {
        let field = |name: &str| config.get(name).and_then(serde_json::Value::as_str);
        let (os, architecture) = (
            field("os").unwrap_or(""),
            field("architecture").unwrap_or(""),
        );
        let variant_differs = matches!(
            (&self.variant, field("variant")),
            (Some(want), Some(have)) if want != have
        );
        if os == self.os && architecture == self.architecture && !variant_differs {
            return None;
        }
        let variant = field("variant")
            .map(|v| format!("/{v}"))
            .unwrap_or_default();
        Some(format!("{os}/{architecture}{variant}"))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// The name oci-spec's `Os` serialises to (`linux`, `windows`, …).
fn os_name(os: &Os) -> String {
    serde_json::to_value(os)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The name oci-spec's `Arch` serialises to (`amd64`, `arm64`, …).
fn arch_name(arch: &Arch) -> String {
    serde_json::to_value(arch)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `os/arch[/variant]` of an index entry, for messages.
pub fn describe(platform: &oci_spec::image::Platform) -> String {
    let mut text = format!(
        "{}/{}",
        os_name(platform.os()),
        arch_name(platform.architecture())
    );
    if let Some(variant) = platform.variant() {
        text.push('/');
        text.push_str(variant);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(json: &str) -> oci_spec::image::Platform {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn parse_and_display() {
        assert_eq!(
            Platform::parse("linux/amd64").unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            Platform::parse("linux/arm64/v8")
                .unwrap()
                .variant
                .as_deref(),
            Some("v8")
        );
        for bad in [
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v8/x",
            "linux/am d64",
        ] {
            assert!(Platform::parse(bad)
                .unwrap_err()
                .to_string()
                .contains("os/architecture"));
        }
    }

    #[test]
    fn matching_normalises_arm64_variant() {
        let amd64 = Platform::parse("linux/amd64").unwrap();
        assert!(amd64.matches(&entry(r#"{"os":"linux","architecture":"amd64"}"#)));
        assert!(!amd64.matches(&entry(r#"{"os":"linux","architecture":"arm64"}"#)));
        let arm64 = Platform::parse("linux/arm64").unwrap();
        assert!(arm64.matches(&entry(
            r#"{"os":"linux","architecture":"arm64","variant":"v8"}"#
        )));
        let v7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(!v7.matches(&entry(
            r#"{"os":"linux","architecture":"arm","variant":"v6"}"#
        )));
        assert_eq!(
            describe(&entry(
                r#"{"os":"linux","architecture":"arm","variant":"v6"}"#
            )),
            "linux/arm/v6"
        );
    }
}
