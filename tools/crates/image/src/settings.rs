//! SETTINGS.json: what the Starlark rule asks to change in the base image's config.
//!
//! ```json
//! {"entrypoint": ["/usr/bin/python3", "/app/pkg/bin"], "cmd": null,
//!  "env": {"PATH": "/sematic/bin:$PATH"}, "workdir": "/app/pkg/bin.runfiles/_main",
//!  "user": null, "labels": {}, "layer_history": ["rules_sematic: interpreter", …]}
//! ```
//!
//! `null` (or a missing key) keeps the base's value.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::error::{Context, Error, Result};
use serde::Deserialize;

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Replaces the base entrypoint, and clears the base `Cmd` unless `cmd` is also given.
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    /// Values may use `$VAR` / `${VAR}`, expanded against the base image's environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    /// Added to (and overriding) the base's labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// One history comment per `--layer`, in order.
    #[serde(default)]
    pub layer_history: Vec<String>,
}

impl Settings {
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let settings: Settings = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not valid image settings", path.display()))?;
        for name in settings.env.keys() {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(Error::Arguments(format!(
                    "{}: environment variable name {name:?} is invalid: names are non-empty and contain no '='",
                    path.display(),
                )));
            }
        }
        Ok(settings)
    }
}
