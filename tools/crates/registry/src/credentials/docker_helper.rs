//! Docker's credential helpers: `docker-credential-<name> get` reads the server on stdin and
//! prints `{"Username": …, "Secret": …}`.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::helper_process::run_helper;
use super::secret::Credentials;
use crate::error::{Error, Result};

#[derive(Deserialize)]
struct Reply {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs `docker-credential-<helper> get` for `server`. "Not found" is `None`; the helper's
/// output is never echoed because it may hold the secret.
pub(super) fn get(helper: &str, server: &str, timeout: Duration) -> Result<Option<Credentials>> {
    let program = format!("docker-credential-{helper}");
    let name = format!("{program} (for {server})");
    let output = run_helper(
        Path::new(&program),
        &["get"],
        server.as_bytes(),
        timeout,
        &name,
    )?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stdout).to_ascii_lowercase()
            + &String::from_utf8_lossy(&output.stderr).to_ascii_lowercase();
        if said.contains("not found") {
            return Ok(None);
        }
        return Err(Error::Local(format!(
            "credential helper {name} failed ({})",
            output.status
        )));
    }
    let reply: Reply = serde_json::from_slice(&output.stdout).map_err(|_| {
        Error::Local(format!(
            "credential helper {name} did not print the expected JSON"
        ))
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
