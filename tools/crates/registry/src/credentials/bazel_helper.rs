//! Bazel's credential-helper protocol as a credential source (as rules_img supports it): the
//! helper runs as `HELPER get`, reads `{"uri": "https://REGISTRY"}` on stdin and prints
//! `{"headers": {"Authorization": ["…"]}}`. A `Basic` value is a username and password; a
//! `Bearer` value is a registry access token, sent as it is (never exchanged at a token server).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::helper_process::run_helper;
use super::secret::Credentials;
use crate::error::{Error, Result};

#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    headers: BTreeMap<String, Vec<String>>,
}

/// Asks `helper` for the credentials of `registry`; `None` when it has none (no
/// `Authorization` header). The helper's output is never echoed: it holds the secret.
pub(super) fn query(
    helper: &Path,
    registry: &str,
    timeout: Duration,
) -> Result<Option<Credentials>> {
    let name = format!("{} (for {registry})", helper.display());
    let fail = |problem: &str| Err(Error::Local(format!("credential helper {name} {problem}")));
    let request = serde_json::json!({ "uri": format!("https://{registry}") }).to_string();
    let output = run_helper(helper, &["get"], request.as_bytes(), timeout, &name)?;
    if !output.status.success() {
        return fail(&format!("failed ({})", output.status));
    }
    let Ok(reply) = serde_json::from_slice::<Reply>(&output.stdout) else {
        return fail("did not print {\"headers\": {…}} JSON");
    };
    let authorization = reply
        .headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, values)| values.first());
    let Some(value) = authorization else {
        return Ok(None);
    };
    let (scheme, secret) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("bearer") && !secret.is_empty() {
        return Ok(Some(Credentials::RegistryToken(secret.trim().to_owned())));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        return match Credentials::from_basic(secret) {
            Some(credentials) => Ok(Some(credentials)),
            None => fail("answered a Basic header that is not base64 of username:password"),
        };
    }
    fail("answered an Authorization header that is neither Basic nor Bearer")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn helper(dir: &Path, reply: &str) -> std::path::PathBuf {
        let path = dir.join("helper");
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\n[ \"$1\" = get ] || exit 2\ncat > {}/request.json\necho '{reply}'\n",
                dir.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn basic_bearer_and_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let timeout = Duration::from_secs(10);
        let basic = helper(
            dir.path(),
            r#"{"headers": {"Authorization": ["Basic dTpwOnE="]}}"#,
        );
        assert_eq!(
            query(&basic, "r.example:5000", timeout).unwrap(),
            Some(Credentials::Basic {
                username: "u".into(),
                password: "p:q".into()
            })
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("request.json"))
                .unwrap()
                .trim(),
            r#"{"uri":"https://r.example:5000"}"#
        );
        let bearer = helper(
            dir.path(),
            r#"{"headers": {"authorization": ["Bearer t0k"]}, "expires": "2030-01-01T00:00:00Z"}"#,
        );
        assert_eq!(
            query(&bearer, "r", timeout).unwrap(),
            Some(Credentials::RegistryToken("t0k".into()))
        );
        let none = helper(dir.path(), r#"{"headers": {}}"#);
        assert_eq!(query(&none, "r", timeout).unwrap(), None);
        let odd = helper(
            dir.path(),
            r#"{"headers": {"Authorization": ["Digest x"]}}"#,
        );
        let err = query(&odd, "r", timeout).unwrap_err().to_string();
        assert!(err.ends_with("neither Basic nor Bearer"), "{err}");
    }
}
