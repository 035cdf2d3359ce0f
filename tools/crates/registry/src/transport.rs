//! HTTP to registries: TLS policy, scheme detection, authentication and retries.
//!
//! One [`Client`] serves every registry of a run: it keeps one pooled agent for verified TLS
//! and one for registries the user marked insecure, learns each registry's scheme and auth
//! challenge once (`GET /v2/`), and caches bearer tokens per scope.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use sematic_oci_core::reference::Reference;
use serde::Deserialize;
use ureq::http::{self, Response};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use crate::auth::{CredentialStore, Credentials, Found};
use crate::challenge::{self, Challenge};
use crate::retry::{is_transient_status, parse_retry_after, RetryPolicy};

/// Error bodies and token responses are small; never buffer more than this of one.
const SMALL_BODY_LIMIT: u64 = 1 << 20;

/// How a [`Client`] connects.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Extra PEM files whose certificates are trusted as roots (`--ca-cert`).
    pub ca_certs: Vec<PathBuf>,
    /// Longest wait for a connection or for any single read or write to make progress.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub credentials: CredentialStore,
    /// Sent as `User-Agent`.
    pub user_agent: String,
}

impl ClientOptions {
    pub fn new(user_agent: &str) -> Self {
        ClientOptions {
            ca_certs: Vec::new(),
            timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            credentials: CredentialStore::from_env(),
            user_agent: user_agent.to_owned(),
        }
    }
}

/// Talks to any number of registries; cheap to share between threads.
pub struct Client {
    /// Indexed by [`Client::agent`]: (verified TLS?, through the environment's proxy?).
    agents: [ureq::Agent; 4],
    insecure: Mutex<HashSet<String>>,
    credentials: CredentialStore,
    pub(crate) retry: RetryPolicy,
    registries: Mutex<HashMap<String, Arc<Registry>>>,
}

/// One registry, connected: its base URL and authentication state.
pub struct Registry {
    /// As the user wrote it (`127.0.0.1:5000`, `docker.io`).
    pub name: String,
    /// `https://host[:port]` or `http://host[:port]`.
    base: String,
    insecure: bool,
    auth: Mutex<AuthState>,
}

#[derive(Default)]
struct AuthState {
    challenge: Option<Challenge>,
    /// Credentials looked up per repository (podman keys can be per namespace).
    credentials: HashMap<String, Option<Found>>,
    tokens: HashMap<String, (String, Instant)>,
}

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

    fn token_scopes(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(repo, actions)| format!("repository:{repo}:{actions}"))
            .collect()
    }

    fn repository(&self) -> &str {
        self.0.first().map_or("", |(repo, _)| repo.as_str())
    }
}

/// One request to a registry: where, how, and with which access.
#[derive(Clone, Copy)]
pub struct Call<'a> {
    pub registry: &'a Registry,
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub scope: &'a Scope,
}

/// A request body that can be sent again after an authentication retry.
#[derive(Clone, Copy)]
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
}

/// The outcome of one try of an operation, for [`Client::retrying`].
pub enum Attempt {
    /// Worth trying again, after the registry's `Retry-After` if it sent one.
    Retry(anyhow::Error, Option<Duration>),
    Fail(anyhow::Error),
}

impl From<anyhow::Error> for Attempt {
    fn from(err: anyhow::Error) -> Self {
        Attempt::Fail(err)
    }
}

impl Client {
    pub fn new(options: ClientOptions) -> Result<Self> {
        let mut roots: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|der| Certificate::from_der(der.as_ref()).to_owned())
            .collect();
        // The system bundle (or $SSL_CERT_FILE) carries the roots an administrator added.
        let system = std::env::var_os("SSL_CERT_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/etc/ssl/certs/ca-certificates.crt"));
        if system.is_file() {
            roots.extend(read_pem_certs(&system)?);
        }
        for file in &options.ca_certs {
            let certs = read_pem_certs(file)?;
            if certs.is_empty() {
                bail!("--ca-cert {}: no PEM certificate in it", file.display());
            }
            roots.extend(certs);
        }
        let agent = |tls: &TlsConfig, proxied: bool| {
            let builder = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .user_agent(options.user_agent.as_str())
                .tls_config(tls.clone())
                .max_redirects(5)
                // Blob downloads may be redirected to storage on another host, which must
                // never see the registry credentials.
                .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
                .timeout_connect(Some(options.timeout.min(Duration::from_secs(15))))
                .timeout_recv_response(Some(options.timeout))
                .timeout_per_read(Some(options.timeout))
                .timeout_per_write(Some(options.timeout))
                .max_idle_connections_per_host(16);
            // $HTTPS_PROXY and friends apply, except to loopback hosts (as in Go's and
            // curl's handling), which a proxy elsewhere could not reach anyway.
            let builder = if proxied {
                builder
            } else {
                builder.proxy(None)
            };
            builder.build().new_agent()
        };
        let verified = TlsConfig::builder()
            .root_certs(RootCerts::from(roots))
            .build();
        let unverified = TlsConfig::builder().disable_verification(true).build();
        Ok(Client {
            agents: [
                agent(&verified, true),
                agent(&verified, false),
                agent(&unverified, true),
                agent(&unverified, false),
            ],
            insecure: Mutex::default(),
            credentials: options.credentials,
            retry: options.retry,
            registries: Mutex::default(),
        })
    }

    /// Lets `registry` use plain HTTP and unverified TLS (`--insecure`). Call before the
    /// first request to it.
    pub fn allow_insecure(&self, registry: &str) {
        lock(&self.insecure).insert(registry.to_owned());
    }

    /// The connected registry of `reference`, probing it on first use.
    pub fn registry(&self, reference: &Reference) -> Result<Arc<Registry>> {
        let mut registries = lock(&self.registries);
        if let Some(found) = registries.get(&reference.registry) {
            return Ok(found.clone());
        }
        let insecure = lock(&self.insecure).contains(&reference.registry);
        let registry = Arc::new(self.connect(reference, insecure)?);
        registries.insert(reference.registry.clone(), registry.clone());
        Ok(registry)
    }

    /// Finds the scheme (`https`, or `http` for loopback and insecure registries whose server
    /// does not speak TLS) and the authentication challenge from `GET /v2/`.
    fn connect(&self, reference: &Reference, insecure: bool) -> Result<Registry> {
        let host = reference.api_host();
        let plain_allowed = insecure || is_loopback(host);
        let probe = |scheme: &str, attempts: u32| -> Result<Registry> {
            let registry = Registry {
                name: reference.registry.clone(),
                base: format!("{scheme}://{host}"),
                insecure,
                auth: Mutex::default(),
            };
            let url = format!("{}/v2/", registry.base);
            let response = self.retrying_n(attempts, || {
                let response = self
                    .raw(&registry, "GET", &url, &[], Body::Empty, None)
                    .map_err(classify_transport)?;
                retry_on_status(response)
            })?;
            let mut response = response;
            match response.status().as_u16() {
                200 => {}
                401 => lock(&registry.auth).challenge = challenge_of(&response),
                // Not the registry API (or a TLS server answering a plain request): using it
                // anyway would only fail later, less clearly.
                _ => {
                    return Err(status_error(&mut response)
                        .context(format!("{url} is not an OCI distribution API endpoint")))
                }
            }
            Ok(registry)
        };
        let attempts = self.retry.attempts;
        if !plain_allowed {
            return probe("https", attempts)
                .with_context(|| format!("connecting to registry {}", reference.registry));
        }
        // One quick TLS probe: a plain-HTTP server answers it with garbage at once.
        match probe("https", 1) {
            Ok(registry) => Ok(registry),
            Err(err) if is_certificate_error(&err) => {
                // rustls (like browsers) refuses a CA certificate presented as the server's
                // own, which `openssl req -x509` makes by default; say so, since --ca-cert
                // with that very file cannot help.
                let hint = if format!("{err:#}").contains("CaUsedAsEndEntity") {
                    "the server presents a CA certificate as its own; give it a server certificate issued by that CA, or pass --insecure"
                } else {
                    "pass --ca-cert FILE, or --insecure to skip verification"
                };
                Err(err).with_context(|| {
                    format!(
                        "connecting to registry {}: its TLS certificate is not trusted ({hint}); not falling back to plain HTTP",
                        reference.registry
                    )
                })
            }
            Err(tls_err) => probe("http", attempts).with_context(|| {
                format!(
                    "connecting to registry {} (https: {tls_err:#}; then plain http)",
                    reference.registry
                )
            }),
        }
    }

    /// Runs `op` until it succeeds, fails for good, or the retry budget is spent.
    pub fn retrying<T>(&self, op: impl FnMut() -> Result<T, Attempt>) -> Result<T> {
        self.retrying_n(self.retry.attempts, op)
    }

    fn retrying_n<T>(
        &self,
        attempts: u32,
        mut op: impl FnMut() -> Result<T, Attempt>,
    ) -> Result<T> {
        let mut attempt = 1;
        loop {
            match op() {
                Ok(value) => return Ok(value),
                Err(Attempt::Fail(err)) => return Err(err),
                Err(Attempt::Retry(err, retry_after)) => {
                    if attempt >= attempts {
                        return Err(err.context(format!("giving up after {attempt} attempts")));
                    }
                    std::thread::sleep(self.retry.delay(attempt, retry_after));
                    attempt += 1;
                }
            }
        }
    }

    /// Sends a request with the authorization its scope needs, renewing the token once when
    /// the registry answers 401 (tokens expire). Statuses are returned, not turned into
    /// errors.
    pub fn send(
        &self,
        call: Call<'_>,
        body: Body<'_>,
    ) -> Result<Response<ureq::Body>, ureq::Error> {
        let method = call.method;
        self.send_with(call, true, |request| {
            Ok(match body {
                Body::Empty if matches!(method, "PUT" | "POST" | "PATCH") => (
                    request.header("Content-Length", "0"),
                    ureq::SendBody::none(),
                ),
                Body::Empty => (request, ureq::SendBody::none()),
                Body::Bytes(bytes) => (
                    request.header("Content-Length", bytes.len().to_string()),
                    ureq::SendBody::from_owned_reader(std::io::Cursor::new(bytes.to_vec())),
                ),
            })
        })
    }

    /// One try of [`Client::send`], with transport errors and transient statuses turned into
    /// [`Attempt::Retry`] for [`Client::retrying`].
    pub fn attempt(&self, call: Call<'_>, body: Body<'_>) -> Result<Response<ureq::Body>, Attempt> {
        retry_on_status(self.send(call, body).map_err(classify_transport)?)
    }

    /// One `HEAD` try: the response when the registry has the object (200), `None` when it
    /// does not (404); any other status fails.
    pub fn head(
        &self,
        registry: &Registry,
        url: &str,
        headers: &[(&str, &str)],
        scope: &Scope,
    ) -> Result<Option<Response<ureq::Body>>, Attempt> {
        let call = Call {
            registry,
            method: "HEAD",
            url,
            headers,
            scope,
        };
        let mut response = self.attempt(call, Body::Empty)?;
        match response.status().as_u16() {
            200 => Ok(Some(response)),
            404 => Ok(None),
            _ => Err(Attempt::Fail(status_error(&mut response))),
        }
    }

    /// Sends a request whose body is streamed from `body` (exactly `length` bytes). A 401 is
    /// returned to the caller after invalidating the token: the stream cannot be replayed,
    /// so the caller restarts the upload.
    pub fn send_stream(
        &self,
        call: Call<'_>,
        body: &mut dyn Read,
        length: u64,
    ) -> Result<Response<ureq::Body>, ureq::Error> {
        let mut body = Some(body);
        self.send_with(call, false, |request| {
            let reader = body.take().ok_or_else(|| {
                ureq::Error::Io(std::io::Error::other(
                    "a streamed body cannot be sent twice",
                ))
            })?;
            Ok((
                request.header("Content-Length", length.to_string()),
                ureq::SendBody::from_reader(reader),
            ))
        })
    }

    fn send_with<'b>(
        &self,
        call: Call<'_>,
        replayable: bool,
        mut make: impl FnMut(
            http::request::Builder,
        )
            -> Result<(http::request::Builder, ureq::SendBody<'b>), ureq::Error>,
    ) -> Result<Response<ureq::Body>, ureq::Error> {
        let Call {
            registry,
            method,
            url,
            headers,
            scope,
        } = call;
        let mut renewed = false;
        loop {
            let knew_challenge = lock(&registry.auth).challenge.is_some();
            let auth = if same_origin(url, &registry.base) {
                self.authorization(registry, scope)
                    .map_err(|err| ureq::Error::Io(std::io::Error::other(AuthFailure(err))))?
            } else {
                Authorization::default()
            };
            let mut builder = http::Request::builder().method(method).uri(url);
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            if let Some(value) = &auth.header {
                builder = builder.header("Authorization", value.as_str());
            }
            let (builder, body) = make(builder)?;
            let request = builder.body(body).map_err(ureq::Error::Http)?;
            let mut response = self.agent(registry, url).run(request)?;
            if response.status() != 401 {
                return Ok(response);
            }
            // Worth one more try: a cached token that has expired, or a challenge we only
            // just learned. Anything else would repeat the same refusal.
            let had_token = self.forget_token(registry, scope, &response);
            let learned = !knew_challenge && lock(&registry.auth).challenge.is_some();
            if !renewed && ((had_token && !auth.fresh) || learned) {
                if !replayable {
                    // The stream is spent; the caller restarts the upload.
                    return Ok(response);
                }
                renewed = true;
                continue;
            }
            let refusal = HttpError::from_response(&mut response);
            let whom = match &auth.origin {
                Some(origin) => format!("the credentials from {origin}"),
                None => "anonymous access: no credentials found for it (docker login, $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, ~/.docker/config.json or podman's auth.json)".to_owned(),
            };
            return Err(ureq::Error::Io(std::io::Error::other(AuthFailure(
                anyhow!(
                    "{refusal}: registry {} denied {} to {whom}",
                    registry.name,
                    scope.token_scopes().join(" ")
                ),
            ))));
        }
    }

    fn agent(&self, registry: &Registry, url: &str) -> &ureq::Agent {
        let host = url
            .split_once("://")
            .map_or(url, |(_, rest)| rest)
            .split(['/', '?'])
            .next()
            .unwrap_or_default();
        let direct = usize::from(is_loopback(host));
        &self.agents[2 * usize::from(registry.insecure) + direct]
    }

    /// A request without authentication (the probe and the token server).
    fn raw(
        &self,
        registry: &Registry,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        authorization: Option<&str>,
    ) -> Result<Response<ureq::Body>, ureq::Error> {
        let mut builder = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        if let Some(value) = authorization {
            builder = builder.header("Authorization", value);
        }
        let body = match body {
            Body::Empty => Vec::new(),
            Body::Bytes(bytes) => bytes.to_vec(),
        };
        if method == "POST" {
            builder = builder.header("Content-Length", body.len().to_string());
        }
        let request = builder.body(body).map_err(ureq::Error::Http)?;
        self.agent(registry, url).run(request)
    }

    /// Drops the cached token for `scope` after a 401 and records the challenge the 401
    /// carried. Returns whether a token was dropped.
    fn forget_token(
        &self,
        registry: &Registry,
        scope: &Scope,
        response: &Response<ureq::Body>,
    ) -> bool {
        let mut auth = lock(&registry.auth);
        if let Some(challenge) = challenge_of(response) {
            auth.challenge = Some(challenge);
        }
        auth.tokens
            .remove(&scope.token_scopes().join(" "))
            .is_some()
    }

    /// The `Authorization` value for `scope`, fetching a token when needed.
    fn authorization(&self, registry: &Registry, scope: &Scope) -> Result<Authorization> {
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
        match challenge {
            Challenge::Basic => Ok(match found.map(|f| f.credentials) {
                Some(Credentials::Basic { username, password }) => Authorization {
                    header: Some(basic_header(&username, &password)),
                    fresh: true,
                    origin,
                },
                // An identity token is meaningless without a token server.
                Some(Credentials::IdentityToken(_)) | None => Authorization::default(),
            }),
            Challenge::Bearer { realm, service } => {
                let key = scope.token_scopes().join(" ");
                if let Some((token, expires)) = auth.tokens.get(&key) {
                    if Instant::now() < *expires {
                        return Ok(Authorization {
                            header: Some(format!("Bearer {token}")),
                            fresh: false,
                            origin,
                        });
                    }
                }
                let (token, lifetime) = self
                    .fetch_token(registry, &realm, service.as_deref(), scope, found.as_ref())
                    .with_context(|| format!("authenticating to registry {}", registry.name))?;
                // Renew a little early so a token does not expire between check and use.
                let expires = Instant::now() + lifetime.saturating_sub(Duration::from_secs(5));
                auth.tokens.insert(key, (token.clone(), expires));
                Ok(Authorization {
                    header: Some(format!("Bearer {token}")),
                    fresh: true,
                    origin,
                })
            }
        }
    }

    /// The docker token protocol: `GET realm?service&scope` (basic auth when we have a
    /// password), or the OAuth2 refresh-token grant for identity tokens.
    fn fetch_token(
        &self,
        registry: &Registry,
        realm: &str,
        service: Option<&str>,
        scope: &Scope,
        found: Option<&Found>,
    ) -> Result<(String, Duration)> {
        let realm_origin = Registry {
            name: realm.to_owned(),
            base: String::new(),
            insecure: registry.insecure,
            auth: Mutex::default(),
        };
        let scopes = scope.token_scopes();
        let response = self
            .retrying(|| {
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
                        self.raw(
                            &realm_origin,
                            "POST",
                            realm,
                            &[("Content-Type", "application/x-www-form-urlencoded")],
                            Body::Bytes(body.as_bytes()),
                            None,
                        )
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
                        self.raw(
                            &realm_origin,
                            "GET",
                            &url,
                            &[],
                            Body::Empty,
                            basic.as_deref(),
                        )
                    }
                };
                retry_on_status(result.map_err(classify_transport)?)
            })
            .with_context(|| format!("requesting a token from {}", strip_query(realm)))?;
        let status = response.status().as_u16();
        let mut response = response;
        if status == 401 || status == 403 {
            bail!(
                "the token server {} refused {} (HTTP {status})",
                strip_query(realm),
                match found {
                    Some(found) => format!("the credentials from {}", found.origin),
                    None => "anonymous access: no credentials found for this registry (docker login, REGISTRY_AUTH_FILE or ~/.docker/config.json)".to_owned(),
                }
            );
        }
        if status != 200 {
            bail!(
                "the token server {} answered HTTP {status}",
                strip_query(realm)
            );
        }
        #[derive(Deserialize)]
        struct TokenReply {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(SMALL_BODY_LIMIT)
            .read_to_vec()
            .with_context(|| format!("reading the token from {}", strip_query(realm)))?;
        let reply: TokenReply = serde_json::from_slice(&body).with_context(|| {
            format!("the token server {} sent no JSON token", strip_query(realm))
        })?;
        let token = reply
            .token
            .or(reply.access_token)
            .filter(|t| !t.is_empty())
            .with_context(|| format!("the token server {} sent no token", strip_query(realm)))?;
        // The spec's default lifetime when the server does not say.
        let lifetime = Duration::from_secs(reply.expires_in.unwrap_or(60).max(1));
        Ok((token, lifetime))
    }
}

impl Registry {
    /// The URL of an API path (`/v2/...`) on this registry.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Resolves a `Location` header (absolute, or relative to the registry).
    pub fn resolve_location(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            format!("{}/{location}", self.base)
        }
    }
}

/// What a request carries to authenticate.
#[derive(Default)]
struct Authorization {
    /// The `Authorization` header value, if any.
    header: Option<String>,
    /// Obtained for this very request (a refusal of it is final), not taken from the cache.
    fresh: bool,
    /// Where the credentials came from, for messages.
    origin: Option<String>,
}

/// Wraps an authentication failure so it survives the trip through `ureq::Error::Io` and is
/// reported as itself, not as a connection problem to retry.
#[derive(Debug)]
struct AuthFailure(anyhow::Error);

impl std::fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for AuthFailure {}

/// Decides whether a transport error is worth retrying. Certificate failures and
/// authentication failures are not; resets, timeouts and refused connections are.
pub fn classify_transport(err: ureq::Error) -> Attempt {
    let retry = match &err {
        ureq::Error::Io(io) => {
            let inner = io.get_ref();
            !(inner.is_some_and(|e| e.is::<AuthFailure>() || e.is::<rustls::Error>()))
        }
        ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed | ureq::Error::Protocol(_) => true,
        _ => false,
    };
    let err = transport_error(err);
    if retry {
        Attempt::Retry(err, None)
    } else {
        Attempt::Fail(err)
    }
}

/// A transport error as a message (an authentication failure keeps its own text).
fn transport_error(err: ureq::Error) -> anyhow::Error {
    if let ureq::Error::Io(io) = &err {
        if let Some(auth) = io.get_ref().and_then(|e| e.downcast_ref::<AuthFailure>()) {
            return anyhow!("{auth}");
        }
    }
    anyhow!(err)
}

/// Whether the TLS handshake failed because the server's certificate was not trusted (as
/// opposed to the server not speaking TLS at all).
fn is_certificate_error(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let rustls_error = match cause.downcast_ref::<ureq::Error>() {
            Some(ureq::Error::Io(io)) => {
                io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>())
            }
            Some(ureq::Error::Rustls(error)) => Some(error),
            _ => cause.downcast_ref::<rustls::Error>(),
        };
        matches!(
            rustls_error,
            Some(
                rustls::Error::InvalidCertificate(_) | rustls::Error::InvalidCertRevocationList(_)
            )
        )
    })
}

/// Turns a response with a transient status into `Attempt::Retry`, honouring `Retry-After`.
pub fn retry_on_status(
    mut response: Response<ureq::Body>,
) -> Result<Response<ureq::Body>, Attempt> {
    if !is_transient_status(response.status().as_u16()) {
        return Ok(response);
    }
    let after = retry_after(&response);
    Err(Attempt::Retry(status_error(&mut response), after))
}

/// The delay a response's `Retry-After` header asks for.
pub fn retry_after(response: &Response<ureq::Body>) -> Option<Duration> {
    response
        .headers()
        .get("Retry-After")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// A refused request: the HTTP status and the registry's own error code and message.
#[derive(Debug)]
pub struct HttpError {
    pub status: u16,
    /// The first `errors[].code` of the body (`DIGEST_INVALID`, `DENIED`, …).
    pub code: Option<String>,
    text: String,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for HttpError {}

impl HttpError {
    /// Reads the (small) error body of `response`.
    pub fn from_response(response: &mut Response<ureq::Body>) -> Self {
        let body = response
            .body_mut()
            .with_config()
            .limit(SMALL_BODY_LIMIT)
            .read_to_vec()
            .unwrap_or_default();
        Self::new(response.status(), &body)
    }

    fn new(status: http::StatusCode, body: &[u8]) -> Self {
        #[derive(Deserialize)]
        struct Errors {
            errors: Vec<ErrorEntry>,
        }
        #[derive(Deserialize)]
        struct ErrorEntry {
            code: Option<String>,
            message: Option<String>,
        }
        let mut text = format!(
            "HTTP {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .trim_end()
        .to_owned();
        let errors = serde_json::from_slice::<Errors>(body)
            .map(|e| e.errors)
            .unwrap_or_default();
        let details: Vec<String> = errors
            .iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e.code.as_deref().unwrap_or("UNKNOWN"),
                    e.message.as_deref().unwrap_or("")
                )
            })
            .collect();
        if !details.is_empty() {
            text = format!("{text} ({})", details.join("; "));
        }
        HttpError {
            status: status.as_u16(),
            code: errors.into_iter().find_map(|e| e.code),
            text,
        }
    }
}

/// [`HttpError::from_response`] as an `anyhow::Error`.
pub fn status_error(response: &mut Response<ureq::Body>) -> anyhow::Error {
    HttpError::from_response(response).into()
}

fn challenge_of(response: &Response<ureq::Body>) -> Option<Challenge> {
    response
        .headers()
        .get_all("WWW-Authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(challenge::parse)
}

fn basic_header(username: &str, password: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
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

fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// Whether `url` is on the registry itself (scheme, host and port), so it may carry the
/// registry's credentials.
fn same_origin(url: &str, base: &str) -> bool {
    url.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
}

/// Loopback registries may speak plain HTTP without `--insecure`, as with docker.
pub fn is_loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => {
            name
        }
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if name == "localhost" || name == "::1" {
        return true;
    }
    name.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|ip| ip.is_loopback())
}

fn read_pem_certs(path: &std::path::Path) -> Result<Vec<Certificate<'static>>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&bytes) {
        if let PemItem::Certificate(cert) =
            item.with_context(|| format!("parsing PEM file {}", path.display()))?
        {
            certs.push(cert);
        }
    }
    Ok(certs)
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks aborts the process (panic = "abort"), so a
    // poisoned lock can only be seen in tests; its data is still consistent for our uses.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "127.0.0.1:5000",
            "127.3.2.1",
            "localhost:80",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "10.0.0.1:5000",
            "registry.example",
            "[::2]:5000",
            "localhost.example",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn form_encoding_and_origins() {
        assert_eq!(
            encode_form(&[("scope", "repository:a/b:pull,push"), ("service", "x y")]),
            "scope=repository%3Aa%2Fb%3Apull%2Cpush&service=x%20y"
        );
        assert!(same_origin("https://r:5000/v2/a", "https://r:5000"));
        assert!(!same_origin("https://r:50001/v2/a", "https://r:5000"));
        assert!(!same_origin("http://r:5000/v2/a", "https://r:5000"));
        assert_eq!(strip_query("http://t/token?x=1"), "http://t/token");
    }

    #[test]
    fn scopes_for_mounts_include_pull_on_the_source() {
        assert_eq!(
            Scope::push_and_pull("app/x", "base/python").token_scopes(),
            vec!["repository:app/x:pull,push", "repository:base/python:pull"]
        );
    }

    #[test]
    fn registry_errors_name_status_code_and_message() {
        let body = br#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}"#;
        let err = HttpError::new(http::StatusCode::BAD_REQUEST, body);
        assert_eq!(err.code.as_deref(), Some("DIGEST_INVALID"));
        assert_eq!(
            err.to_string(),
            "HTTP 400 Bad Request (DIGEST_INVALID: provided digest did not match uploaded content)"
        );
        let err = HttpError::new(http::StatusCode::BAD_GATEWAY, b"<html>");
        assert_eq!(
            (err.code.clone(), err.to_string()),
            (None, "HTTP 502 Bad Gateway".to_owned())
        );
    }
}
