//! Registry credentials, found where `docker push` and `podman push` find them.
//!
//! Sources, first match wins: a Bazel credential helper when one is configured
//! ([`bazel_helper`]); `$REGISTRY_AUTH_FILE`; `$DOCKER_CONFIG/config.json` (else
//! `~/.docker/config.json`); `$XDG_RUNTIME_DIR/containers/auth.json`;
//! `~/.config/containers/auth.json`. In each file `credHelpers` (per registry) beats
//! `credsStore` (default helper), which beats `auths` ([`config_file`]). A file that does not
//! exist is skipped. Helpers run under [`helper_process`]'s deadline and output limit.

mod bazel_helper;
mod config_file;
mod docker_helper;
mod helper_process;
mod secret;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Result;
use config_file::ConfigFile;
pub use secret::{Credentials, Found};

/// Where credentials are looked for: a Bazel credential helper, if one is configured, then the
/// credential files in order.
#[derive(Clone, Debug)]
pub struct CredentialStore {
    bazel_helper: Option<PathBuf>,
    files: Vec<PathBuf>,
    /// How long a credential helper may take, from its start until it has exited and its
    /// output is closed.
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

    /// This store, with its relative file paths (from `$REGISTRY_AUTH_FILE`, `$DOCKER_CONFIG`)
    /// taken as relative to `dir` instead of the current directory (`bazel run` starts
    /// programs in their runfiles, away from where the user typed the command).
    pub fn relative_to(self, dir: &Path) -> Self {
        CredentialStore {
            files: self.files.iter().map(|file| dir.join(file)).collect(),
            ..self
        }
    }

    /// This store, asking the Bazel credential helper `helper` first (a path, or a name
    /// looked up on `PATH`; a relative path is relative to the current directory).
    pub fn with_bazel_helper(self, helper: PathBuf) -> Self {
        CredentialStore {
            bazel_helper: Some(helper),
            ..self
        }
    }

    /// This store, giving credential helpers `timeout` for their whole exchange.
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
            let Some(config) = ConfigFile::read(file)? else {
                continue;
            };
            if let Some(found) = config.lookup(registry, repository, file, self.helper_timeout)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
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
