//! The docker token protocol: `GET realm?service&scope` (with basic auth when we have a
//! password, anonymous otherwise), or the OAuth2 refresh-token grant for identity tokens.

use std::time::Duration;

use serde::Deserialize;

use super::authorize::{basic_header, Scope};
use super::retry::{retry_on_status, Attempt};
use super::send::{Raw, Wait};
use super::{Body, Client, Registry};
use crate::credentials::{Credentials, Found};
use crate::error::{Context as _, Error, Result, SMALL_BODY_LIMIT};

#[derive(Deserialize)]
struct TokenReply {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

impl Client {
    /// A token for `scope` from `realm`, and how long it lives.
    pub(crate) fn fetch_token(
        &self,
        registry: &Registry,
        realm: &str,
        service: Option<&str>,
        scope: &Scope,
        found: Option<&Found>,
    ) -> Result<(String, Duration)> {
        let scopes = scope.token_scopes();
        let server = strip_query(realm);
        let (status, body) = self
            .retry
            .run(|| {
                let result = match found.map(|f| &f.credentials) {
                    Some(Credentials::IdentityToken(token)) => {
                        let mut form = vec![
                            ("grant_type", "refresh_token"),
                            ("client_id", "rules_sematic"),
                            ("refresh_token", token.as_str()),
                        ];
                        form.extend(service.map(|s| ("service", s)));
                        let joined = scopes.join(" ");
                        form.push(("scope", &joined));
                        let body = encode_form(&form);
                        let raw = Raw {
                            method: "POST",
                            url: realm,
                            headers: &[("Content-Type", "application/x-www-form-urlencoded")],
                            body: Body::Bytes(body.as_bytes()),
                            authorization: None,
                            wait: Wait::Normal,
                        };
                        self.raw(registry, raw)
                    }
                    credentials => {
                        let mut query: Vec<(&str, &str)> = Vec::new();
                        query.extend(service.map(|s| ("service", s)));
                        for scope in &scopes {
                            query.push(("scope", scope));
                        }
                        let basic = match credentials {
                            Some(Credentials::Basic { username, password }) => {
                                query.push(("account", username));
                                Some(basic_header(username, password))
                            }
                            _ => None,
                        };
                        let separator = if realm.contains('?') { '&' } else { '?' };
                        let url = format!("{realm}{separator}{}", encode_form(&query));
                        let raw = Raw {
                            method: "GET",
                            url: &url,
                            headers: &[],
                            body: Body::Empty,
                            authorization: basic.as_deref(),
                            wait: Wait::Normal,
                        };
                        self.raw(registry, raw)
                    }
                };
                let mut response = retry_on_status(result.map_err(Attempt::of)?)?;
                // A body cut short is a broken exchange like any other: try again.
                let body = response
                    .body_mut()
                    .with_config()
                    .limit(SMALL_BODY_LIMIT)
                    .read_to_vec()
                    .map_err(|err| Attempt::Retry(Error::Connection(err), None))?;
                Ok((response.status().as_u16(), body))
            })
            .with_context(|| format!("requesting a token from {server}"))?;
        if status == 401 || status == 403 {
            return Err(Error::Auth(format!(
                "the token server {server} refused {} (HTTP {status})",
                match found {
                    Some(found) => format!("the credentials from {}", found.origin),
                    None => "anonymous access: no credentials found for this registry (docker login, REGISTRY_AUTH_FILE or ~/.docker/config.json)".to_owned(),
                }
            )));
        }
        if status != 200 {
            return Err(Error::Auth(format!(
                "the token server {server} answered HTTP {status}"
            )));
        }
        let reply: TokenReply = serde_json::from_slice(&body)
            .map_err(|_| Error::Auth(format!("the token server {server} sent no JSON token")))?;
        let token = reply
            .token
            .or(reply.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Auth(format!("the token server {server} sent no token")))?;
        // The spec's default lifetime when the server does not say.
        let lifetime = Duration::from_secs(reply.expires_in.unwrap_or(60).max(1));
        Ok((token, lifetime))
    }
}

/// `application/x-www-form-urlencoded` (also used for query strings).
fn encode_form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A URL without its query, for messages (a realm's query may carry parameters we add to).
fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(
            encode_form(&[("scope", "repository:a/b:pull,push"), ("service", "x y")]),
            "scope=repository%3Aa%2Fb%3Apull%2Cpush&service=x%20y"
        );
        assert_eq!(strip_query("http://t/token?x=1"), "http://t/token");
    }
}
