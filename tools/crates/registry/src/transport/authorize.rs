//! What a request carries to authenticate. Per registry: the challenge its `GET /v2/` (or a
//! later 401) answered with, the credentials found for each repository, and bearer tokens per
//! scope, renewed a little before they expire.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use ureq::http::Response;

use super::challenge::{self, Challenge};
use super::origin::Origin;
use super::{Client, Registry};
use crate::credentials::{Credentials, Found};
use crate::error::{Context as _, Error, Result};
use crate::sync::lock;

/// The access a request needs, as token scopes: `(repository, actions)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope(Vec<(String, &'static str)>);

impl Scope {
    pub fn pull(repository: &str) -> Self {
        Scope(vec![(repository.to_owned(), "pull")])
    }

    pub fn push(repository: &str) -> Self {
        Scope(vec![(repository.to_owned(), "pull,push")])
    }

    /// Push to `repository` and read `source` (a cross-repository mount needs both).
    pub fn push_and_pull(repository: &str, source: &str) -> Self {
        Scope(vec![
            (repository.to_owned(), "pull,push"),
            (source.to_owned(), "pull"),
        ])
    }

    pub(crate) fn token_scopes(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(repo, actions)| format!("repository:{repo}:{actions}"))
            .collect()
    }

    fn key(&self) -> String {
        self.token_scopes().join(" ")
    }

    /// The repository credentials are looked up for (the one written to).
    fn repository(&self) -> &str {
        self.0.first().map_or("", |(repo, _)| repo.as_str())
    }
}

/// A registry's authentication state.
#[derive(Default)]
pub(crate) struct AuthState {
    pub challenge: Option<Challenge>,
    /// Credentials looked up per repository (podman keys can be per namespace).
    credentials: HashMap<String, Option<Found>>,
    tokens: HashMap<String, (String, Instant)>,
}

/// What a request carries to authenticate.
#[derive(Default)]
pub(crate) struct Authorization {
    /// The `Authorization` header value, if any.
    pub header: Option<String>,
    /// Obtained for this very request (a refusal of it is final), not taken from the cache.
    pub fresh: bool,
    /// Where the credentials came from, for messages.
    pub origin: Option<String>,
}

impl Client {
    /// The `Authorization` for `scope` on `registry`, fetching a token when needed.
    pub(crate) fn authorization(
        &self,
        registry: &Registry,
        scope: &Scope,
    ) -> Result<Authorization> {
        let mut auth = lock(&registry.auth);
        let Some(challenge) = auth.challenge.clone() else {
            return Ok(Authorization::default());
        };
        let repository = scope.repository().to_owned();
        if !auth.credentials.contains_key(&repository) {
            let found = self.credentials.find(&registry.name, &repository)?;
            auth.credentials.insert(repository.clone(), found);
        }
        let found = auth.credentials.get(&repository).cloned().flatten();
        let origin = found.as_ref().map(|f| f.origin.clone());
        if let Some(Credentials::RegistryToken(token)) = found.as_ref().map(|f| &f.credentials) {
            return Ok(Authorization {
                header: Some(format!("Bearer {token}")),
                fresh: true,
                origin,
            });
        }
        match challenge {
            Challenge::Basic => Ok(match found.map(|f| f.credentials) {
                Some(Credentials::Basic { username, password }) => Authorization {
                    header: Some(basic_header(&username, &password)),
                    fresh: true,
                    origin,
                },
                // An identity token is meaningless without a token server.
                Some(Credentials::IdentityToken(_) | Credentials::RegistryToken(_)) | None => {
                    Authorization::default()
                }
            }),
            Challenge::Bearer { realm, service } => {
                if let Some((token, expires)) = auth.tokens.get(&scope.key()) {
                    if Instant::now() < *expires {
                        return Ok(Authorization {
                            header: Some(format!("Bearer {token}")),
                            fresh: false,
                            origin,
                        });
                    }
                }
                check_realm(registry, &realm)?;
                let (token, lifetime) = self
                    .fetch_token(registry, &realm, service.as_deref(), scope, found.as_ref())
                    .with_context(|| format!("authenticating to registry {}", registry.name))?;
                // Renew a little early so a token does not expire between check and use.
                let expires = Instant::now() + lifetime.saturating_sub(Duration::from_secs(5));
                auth.tokens.insert(scope.key(), (token.clone(), expires));
                Ok(Authorization {
                    header: Some(format!("Bearer {token}")),
                    fresh: true,
                    origin,
                })
            }
        }
    }

    /// Drops the cached token for `scope` after a 401 and records the challenge the 401
    /// carried. Returns whether a token was dropped.
    pub(crate) fn forget_token(
        &self,
        registry: &Registry,
        scope: &Scope,
        response: &Response<ureq::Body>,
    ) -> bool {
        let mut auth = lock(&registry.auth);
        if let Some(challenge) = challenge_of(response) {
            auth.challenge = Some(challenge);
        }
        auth.tokens.remove(&scope.key()).is_some()
    }
}

/// A token realm gets the credentials: it must be https, unless it is on a loopback host or
/// on the host of a registry named insecure.
fn check_realm(registry: &Registry, realm: &str) -> Result<()> {
    let Some(origin) = Origin::of(realm) else {
        return Err(Error::Auth(format!(
            "registry {} names a token server that is not an http(s) URL: {realm:?}",
            registry.name
        )));
    };
    let registry_host = Origin::of(&registry.base).map(|o| o.host);
    if origin.scheme == "https"
        || origin.is_loopback()
        || (registry.insecure && registry_host.as_deref() == Some(origin.host.as_str()))
    {
        return Ok(());
    }
    Err(Error::Auth(format!(
        "registry {} names the plain-HTTP token server {realm}: refusing to send credentials to it in cleartext (only a token server on the host of a registry named insecure, or on loopback, may use http)",
        registry.name
    )))
}

/// The first challenge of a response we understand.
pub(crate) fn challenge_of(response: &Response<ureq::Body>) -> Option<Challenge> {
    response
        .headers()
        .get_all("WWW-Authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(challenge::parse)
}

pub(crate) fn basic_header(username: &str, password: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_for_mounts_include_pull_on_the_source() {
        assert_eq!(
            Scope::push_and_pull("app/x", "base/python").token_scopes(),
            vec!["repository:app/x:pull,push", "repository:base/python:pull"]
        );
    }
}
