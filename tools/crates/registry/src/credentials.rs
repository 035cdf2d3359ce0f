//! Registry credentials, found where `docker push` and `podman push` find them.
//!
//! Sources, first match wins: a Bazel credential helper when one is configured
//! ([`crate::bazel_helper`]); `$REGISTRY_AUTH_FILE`; `$DOCKER_CONFIG/config.json` (else
//! `~/.docker/config.json`); `$XDG_RUNTIME_DIR/containers/auth.json`;
//! `~/.config/containers/auth.json`. In each file `credHelpers` (per registry) beats
//! `credsStore` (default helper), which beats `auths`. A file that does not exist is skipped.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use serde::Deserialize;

use crate::{bazel_helper, helper_process};

/// What to authenticate with. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token server.
    IdentityToken(String),
    /// A registry access token, sent as `Authorization: Bearer` as it is.
    RegistryToken(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credentials::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
            Credentials::RegistryToken(_) => f.write_str("RegistryToken(<redacted>)"),
        }
    }
}

/// Credentials and a human description of where they came from (for error messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub credentials: Credentials,
    pub origin: String,
}

/// Where credentials are looked for: a Bazel credential helper, if one is configured, then the
/// credential files in order.
#[derive(Clone, Debug)]
pub struct CredentialStore {
    bazel_helper: Option<PathBuf>,
    files: Vec<PathBuf>,
    /// How long a credential helper may take to answer.
    helper_timeout: Duration,
}

/// Long enough for a helper that unlocks a keychain or calls a cloud API.
const HELPER_TIMEOUT: Duration = Duration::from_secs(60);

impl CredentialStore {
    /// The files docker and podman would read, from the environment.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let home = var("HOME").map(PathBuf::from);
        let mut files = Vec::new();
        files.extend(var("REGISTRY_AUTH_FILE").map(PathBuf::from));
        match var("DOCKER_CONFIG") {
            Some(dir) => files.push(PathBuf::from(dir).join("config.json")),
            None => files.extend(home.as_ref().map(|h| h.join(".docker/config.json"))),
        }
        files.extend(var("XDG_RUNTIME_DIR").map(|d| PathBuf::from(d).join("containers/auth.json")));
        files.extend(
            home.as_ref()
                .map(|h| h.join(".config/containers/auth.json")),
        );
        CredentialStore::with_files(files)
    }

    pub fn with_files(files: Vec<PathBuf>) -> Self {
        CredentialStore {
            bazel_helper: None,
            files,
            helper_timeout: HELPER_TIMEOUT,
        }
    }

    /// This store, asking the Bazel credential helper `helper` first.
    pub fn with_bazel_helper(self, helper: PathBuf) -> Self {
        CredentialStore {
            bazel_helper: Some(helper),
            ..self
        }
    }

    /// This store, giving credential helpers `timeout` to answer.
    pub fn with_helper_timeout(self, timeout: Duration) -> Self {
        CredentialStore {
            helper_timeout: timeout,
            ..self
        }
    }

    /// Credentials for `repository` (`name/space`) on `registry` (as the user wrote it), or
    /// `None` to go anonymous.
    pub fn find(&self, registry: &str, repository: &str) -> Result<Option<Found>> {
        if let Some(helper) = &self.bazel_helper {
            if let Some(credentials) = bazel_helper::query(helper, registry, self.helper_timeout)? {
                return Ok(Some(Found {
                    credentials,
                    origin: format!("credential helper {}", helper.display()),
                }));
            }
        }
        for file in &self.files {
            let text = match std::fs::read(file) {
                Ok(text) => text,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err).with_context(|| format!("reading {}", file.display())),
            };
            let config: ConfigFile = serde_json::from_slice(&text).with_context(|| {
                format!("{} is not a valid docker/podman auth file", file.display())
            })?;
            if let Some(found) = config.lookup(registry, repository, file, self.helper_timeout)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
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
    fn lookup(
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
            if let Some(credentials) = run_helper(helper, &server_url(registry), helper_timeout)? {
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
            .with_context(|| format!("in {origin}"))?;
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
        // Never show the value: it is the password, merely encoded.
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        match decoded.as_deref().and_then(|d| d.split_once(':')) {
            Some((username, password)) => Ok(Some(Credentials::Basic {
                username: username.to_owned(),
                password: password.to_owned(),
            })),
            None => bail!("the \"auth\" field is not base64 of username:password"),
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

#[derive(Deserialize)]
struct HelperReply {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs `docker-credential-<helper> get`. "Not found" is `None`; the helper's output is
/// never echoed because it may hold the secret.
fn run_helper(helper: &str, server: &str, timeout: Duration) -> Result<Option<Credentials>> {
    let program = format!("docker-credential-{helper}");
    let output = helper_process::run_helper(
        Path::new(&program),
        &["get"],
        server.as_bytes(),
        timeout,
        &format!("{program} (for {server})"),
    )?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stdout).to_ascii_lowercase()
            + &String::from_utf8_lossy(&output.stderr).to_ascii_lowercase();
        if said.contains("credentials not found") || said.contains("not found") {
            return Ok(None);
        }
        bail!(
            "credential helper {program} failed for {server} ({})",
            output.status
        );
    }
    let reply: HelperReply = serde_json::from_slice(&output.stdout).with_context(|| {
        format!("credential helper {program} did not print the expected JSON for {server}")
    })?;
    if reply.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(if reply.username == "<token>" {
        Credentials::IdentityToken(reply.secret)
    } else {
        Credentials::Basic {
            username: reply.username,
            password: reply.secret,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn store_with(json: &str) -> (tempfile::TempDir, CredentialStore) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        fs::write(&file, json).unwrap();
        (dir, CredentialStore::with_files(vec![file]))
    }

    fn basic(username: &str, password: &str) -> Credentials {
        Credentials::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    #[test]
    fn auth_field_username_password_and_identity_token() {
        // "user:pa:ss" — the password may itself contain colons.
        let (_dir, store) = store_with(
            r#"{"auths": {
                "https://reg.example:5000/v1/": {"auth": "dXNlcjpwYTpzcw=="},
                "other.example": {"username": "u", "password": "p"},
                "tok.example": {"auth": "", "identitytoken": "refresh"}
            }}"#,
        );
        let find = |r: &str| store.find(r, "a/b").unwrap().map(|f| f.credentials);
        assert_eq!(find("reg.example:5000"), Some(basic("user", "pa:ss")));
        assert_eq!(find("other.example"), Some(basic("u", "p")));
        assert_eq!(
            find("tok.example"),
            Some(Credentials::IdentityToken("refresh".into()))
        );
        assert_eq!(find("unknown.example"), None);
    }

    #[test]
    fn docker_hub_aliases_share_credentials() {
        let (_dir, store) =
            store_with(r#"{"auths": {"https://index.docker.io/v1/": {"auth": "dTpw"}}}"#);
        for name in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            assert_eq!(
                store
                    .find(name, "library/python")
                    .unwrap()
                    .unwrap()
                    .credentials,
                basic("u", "p")
            );
        }
    }

    #[test]
    fn podman_namespace_keys_prefer_the_most_specific() {
        let (_dir, store) = store_with(
            r#"{"auths": {
                "reg.example": {"auth": "aG9zdDpw"},
                "reg.example/team": {"auth": "dGVhbTpw"},
                "reg.example/team/app": {"auth": "YXBwOnA="}
            }}"#,
        );
        let user = |repo: &str| match store
            .find("reg.example", repo)
            .unwrap()
            .unwrap()
            .credentials
        {
            Credentials::Basic { username, .. } => username,
            other => panic!("{other:?}"),
        };
        assert_eq!(user("team/app"), "app");
        assert_eq!(user("team/other"), "team");
        assert_eq!(user("teamx/app"), "host");
    }

    #[test]
    fn bad_auth_field_is_an_error_that_hides_the_value() {
        let (_dir, store) = store_with(r#"{"auths": {"reg.example": {"auth": "bm9jb2xvbg=="}}}"#);
        let err = format!("{:#}", store.find("reg.example", "a").unwrap_err());
        assert!(err.contains("not base64 of username:password"), "{err}");
        assert!(!err.contains("bm9jb2xvbg"), "{err}");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let text = format!(
            "{:?} {:?}",
            basic("alice", "hunter2"),
            Credentials::IdentityToken("tok3n".into())
        );
        assert!(
            !text.contains("hunter2") && !text.contains("tok3n"),
            "{text}"
        );
    }

    #[test]
    fn missing_files_are_skipped_and_later_files_consulted() {
        let dir = tempfile::tempdir().unwrap();
        let second = dir.path().join("auth.json");
        fs::write(&second, r#"{"auths": {"reg.example": {"auth": "dTpw"}}}"#).unwrap();
        let store = CredentialStore::with_files(vec![dir.path().join("missing.json"), second]);
        assert_eq!(
            store.find("reg.example", "a").unwrap().unwrap().credentials,
            basic("u", "p")
        );
    }

    /// Credential helpers are looked up on PATH; this test owns PATH for its process, so it
    /// runs every helper scenario in one function.
    #[test]
    fn credential_helpers_and_store() {
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-fake");
        fs::write(
            &helper,
            "#!/bin/sh\nread server\ncase \"$server\" in\n\
             helper.example) echo '{\"Username\":\"hu\",\"Secret\":\"hs\"}';;\n\
             token.example) echo '{\"Username\":\"<token>\",\"Secret\":\"rt\"}';;\n\
             *) echo 'credentials not found in native keychain'; exit 1;;\nesac\n",
        )
        .unwrap();
        fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!(
            "{}:{}",
            dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        // SAFETY: no other test in this crate reads or writes PATH concurrently.
        unsafe { std::env::set_var("PATH", path) };
        let (_d1, store) = store_with(
            r#"{"credHelpers": {"helper.example": "fake"},
                "auths": {"helper.example": {"auth": "aWdub3JlZDpw"}}}"#,
        );
        let found = store.find("helper.example", "a").unwrap().unwrap();
        assert_eq!(found.credentials, basic("hu", "hs"));
        assert!(found.origin.contains("docker-credential-fake"));

        let (_d2, store) =
            store_with(r#"{"credsStore": "fake", "auths": {"plain.example": {"auth": "dTpw"}}}"#);
        assert_eq!(
            store
                .find("token.example", "a")
                .unwrap()
                .unwrap()
                .credentials,
            Credentials::IdentityToken("rt".into())
        );
        // Not in the store: fall back to the file's own entries, then to anonymous.
        assert_eq!(
            store
                .find("plain.example", "a")
                .unwrap()
                .unwrap()
                .credentials,
            basic("u", "p")
        );
        assert_eq!(store.find("nowhere.example", "a").unwrap(), None);

        let (_d3, store) = store_with(r#"{"credHelpers": {"x.example": "absent"}}"#);
        let err = format!("{:#}", store.find("x.example", "a").unwrap_err());
        assert!(err.contains("docker-credential-absent"), "{err}");
    }
}
