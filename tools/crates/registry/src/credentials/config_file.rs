//! Docker's and podman's credential files (`config.json`, `auth.json`): per registry,
//! `credHelpers` beats `credsStore` (the default helper), which beats `auths`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::docker_helper;
use super::secret::{Credentials, Found};
use crate::error::{Error, Result};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

impl ConfigFile {
    /// Parses the file at `path`; `None` when it does not exist.
    pub(super) fn read(path: &Path) -> Result<Option<ConfigFile>> {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(Error::Local(format!("reading {}: {err}", path.display())));
            }
        };
        serde_json::from_slice(&text).map(Some).map_err(|err| {
            Error::Local(format!(
                "{} is not a valid docker/podman auth file: {err}",
                path.display()
            ))
        })
    }

    /// The credentials this file (at `file`) holds for `registry/repository`.
    pub(super) fn lookup(
        &self,
        registry: &str,
        repository: &str,
        file: &Path,
        helper_timeout: Duration,
    ) -> Result<Option<Found>> {
        let host = normalize_host(registry);
        let helper = self
            .cred_helpers
            .iter()
            .find(|(key, _)| normalize_host(key_host(key)) == host)
            .map(|(_, helper)| helper)
            .or(self.creds_store.as_ref());
        if let Some(helper) = helper {
            let server = server_url(registry);
            if let Some(credentials) = docker_helper::get(helper, &server, helper_timeout)? {
                return Ok(Some(Found {
                    credentials,
                    origin: format!(
                        "docker-credential-{helper} (configured in {})",
                        file.display()
                    ),
                }));
            }
        }
        let Some((key, entry)) = best_auth_entry(&self.auths, registry, repository) else {
            return Ok(None);
        };
        let origin = format!("{} (entry {key:?})", file.display());
        let credentials = entry
            .credentials()
            .map_err(|err| err.context(format!("in {origin}")))?;
        Ok(credentials.map(|credentials| Found {
            credentials,
            origin,
        }))
    }
}

impl AuthEntry {
    fn credentials(&self) -> Result<Option<Credentials>> {
        if let Some(token) = self.identitytoken.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credentials::IdentityToken(token.clone())));
        }
        if let (Some(username), Some(password)) = (&self.username, &self.password) {
            if !username.is_empty() {
                return Ok(Some(Credentials::Basic {
                    username: username.clone(),
                    password: password.clone(),
                }));
            }
        }
        let Some(auth) = self.auth.as_ref().filter(|a| !a.is_empty()) else {
            return Ok(None);
        };
        match Credentials::from_basic(auth) {
            Some(credentials) => Ok(Some(credentials)),
            None => Err(Error::Local(
                "the \"auth\" field is not base64 of username:password".to_owned(),
            )),
        }
    }
}

/// Picks the `auths` entry for `registry/repository`. Docker keys name a host, possibly as
/// a URL (`https://host/v1/`); podman also allows `host/namespace` keys, of which the
/// longest matching one wins over the bare host.
fn best_auth_entry<'a>(
    auths: &'a BTreeMap<String, AuthEntry>,
    registry: &str,
    repository: &str,
) -> Option<(&'a String, &'a AuthEntry)> {
    let host = normalize_host(registry);
    let mut best: Option<(usize, (&String, &AuthEntry))> = None;
    for (key, entry) in auths {
        let has_scheme = key.starts_with("http://") || key.starts_with("https://");
        let bare = key
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let (key_host, path) = bare.split_once('/').unwrap_or((bare, ""));
        if normalize_host(key_host) != host {
            continue;
        }
        // A URL key's path (`/v1/`) is docker's API version, not a namespace.
        let specificity = if has_scheme || path.is_empty() {
            0
        } else if repository == path || repository.starts_with(&format!("{path}/")) {
            path.len()
        } else {
            continue;
        };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, (key, entry)));
        }
    }
    best.map(|(_, found)| found)
}

/// The host part of a `credHelpers` key (which docker also lets users write as a URL).
fn key_host(key: &str) -> &str {
    let bare = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    bare.split('/').next().unwrap_or(bare)
}

/// Docker Hub has several names; they all share one set of credentials.
fn normalize_host(host: &str) -> String {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "index.docker.io".to_owned()
        }
        other => other.to_ascii_lowercase(),
    }
}

/// The server URL docker hands to credential helpers.
fn server_url(registry: &str) -> String {
    if normalize_host(registry) == "index.docker.io" {
        "https://index.docker.io/v1/".to_owned()
    } else {
        registry.to_owned()
    }
}
