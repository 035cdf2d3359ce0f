//! HTTP to registries, split by concern as go-containerregistry's `remote/transport`:
//! [`tls`] (roots, proxies, connection pools), [`ping`] (scheme and challenge),
//! [`authorize`] (credentials, token cache, scopes), [`bearer`] (the token protocol),
//! [`retry`] (budget, backoff, which failures are transient), [`origin`] (what credentials
//! are scoped to), [`redirect`] (followed by hand), [`challenge`] (`WWW-Authenticate`). This
//! file sends requests.
//!
//! One [`Client`] serves every registry of a run and is cheap to share between threads: it
//! learns each registry's scheme and challenge once and caches bearer tokens per scope.

pub mod authorize;
mod bearer;
pub mod challenge;
pub mod deadline;
pub mod origin;
mod ping;
mod redirect;
pub mod retry;
mod tls;

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sematic_oci_core::reference::Reference;
use ureq::http::{self, Response};

use crate::credentials::CredentialStore;
use crate::error::{Error, HttpError, Result};
use crate::sync::lock;
pub use authorize::Scope;
use authorize::{AuthState, Authorization};
pub use deadline::TransferLimits;
use origin::{same_origin, Origin};
pub(crate) use redirect::resolve as resolve_location;
use redirect::{next_hop, MAX_REDIRECTS};
pub use retry::{retry_after, retry_on_status, Attempt, RetryPolicy};
pub use tls::endpoint_agent;
use tls::{is_certificate_error, Agents, ConnectionSettings};

/// Builds a [`Client`]. Everything about how registries are reached is decided here, before
/// the first request.
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    user_agent: String,
    ca_certs: Vec<PathBuf>,
    limits: TransferLimits,
    retry: RetryPolicy,
    credentials: Option<CredentialStore>,
    insecure: HashSet<String>,
}

impl ClientBuilder {
    /// Defaults: verified TLS with the system roots, the default transfer limits and retry
    /// policy, and the credentials docker and podman would use.
    pub fn new(user_agent: &str) -> Self {
        ClientBuilder {
            user_agent: user_agent.to_owned(),
            ca_certs: Vec::new(),
            limits: TransferLimits::default(),
            retry: RetryPolicy::default(),
            credentials: None,
            insecure: HashSet::new(),
        }
    }

    /// Also trusts the certificates of these PEM files as roots.
    pub fn ca_certs(mut self, files: impl IntoIterator<Item = PathBuf>) -> Self {
        self.ca_certs.extend(files);
        self
    }

    /// The longest wait for a connection, an answer, or any single read or write; the
    /// minimum rate of a body; deadlines follow from both.
    pub fn limits(mut self, limits: TransferLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn credentials(mut self, credentials: CredentialStore) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Lets `registry` (as written in references) use plain HTTP and unverified TLS.
    pub fn insecure_registry(mut self, registry: &str) -> Self {
        self.insecure.insert(registry.to_owned());
        self
    }

    pub fn build(self) -> Result<Client> {
        let agents = Agents::new(&ConnectionSettings {
            user_agent: &self.user_agent,
            ca_certs: &self.ca_certs,
            timeout: self.limits.timeout,
            any_insecure: !self.insecure.is_empty(),
        })?;
        Ok(Client {
            agents,
            limits: self.limits,
            insecure: self.insecure,
            credentials: self
                .credentials
                .unwrap_or_else(CredentialStore::from_env)
                .with_helper_timeout(self.limits.timeout),
            retry: self.retry,
            registries: Mutex::default(),
        })
    }
}

/// Talks to any number of registries.
pub struct Client {
    agents: Agents,
    limits: TransferLimits,
    insecure: HashSet<String>,
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

/// One request to a registry: where, how, and with which access.
#[derive(Clone, Copy)]
pub struct Call<'a> {
    pub registry: &'a Registry,
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub scope: &'a Scope,
    /// Bytes the request or its response moves (a blob's size; 0 for small exchanges),
    /// which size its deadline.
    pub bytes: u64,
}

/// A request body that can be sent again after an authentication retry.
#[derive(Clone, Copy)]
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
}

impl Client {
    pub fn builder(user_agent: &str) -> ClientBuilder {
        ClientBuilder::new(user_agent)
    }

    /// The connected registry of `reference`, probing it on first use.
    pub fn registry(&self, reference: &Reference) -> Result<Arc<Registry>> {
        let mut registries = lock(&self.registries);
        if let Some(found) = registries.get(&reference.registry) {
            return Ok(found.clone());
        }
        let insecure = self.insecure.contains(&reference.registry);
        let registry = Arc::new(self.connect(reference, insecure)?);
        registries.insert(reference.registry.clone(), registry.clone());
        Ok(registry)
    }

    /// Runs `op` until it succeeds, fails for good, or the retry budget is spent.
    pub fn retrying<T>(&self, op: impl FnMut() -> Result<T, Attempt>) -> Result<T> {
        self.retry.run(op)
    }

    /// Sends a request with the authorization its scope needs, renewing the token once when
    /// the registry answers 401 (tokens expire). Statuses are returned, not turned into
    /// errors.
    pub fn send(&self, call: Call<'_>, body: Body<'_>) -> Result<Response<ureq::Body>> {
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
        retry_on_status(self.send(call, body).map_err(Attempt::of)?)
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
            bytes: 0,
        };
        let mut response = self.attempt(call, Body::Empty)?;
        match response.status().as_u16() {
            200 => Ok(Some(response)),
            404 => Ok(None),
            _ => Err(Attempt::Fail(
                HttpError::from_response(&mut response).into(),
            )),
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
    ) -> Result<Response<ureq::Body>> {
        let mut guarded = self.limits.guard(body, &host_of(call.url));
        let mut body = Some(&mut guarded as &mut dyn Read);
        self.send_with(call, false, |request| {
            let reader = body
                .take()
                .ok_or_else(|| Error::Local("a streamed body cannot be sent twice".to_owned()))?;
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
        ) -> Result<(http::request::Builder, ureq::SendBody<'b>)>,
    ) -> Result<Response<ureq::Body>> {
        let Call {
            registry,
            method,
            url,
            headers,
            scope,
            bytes,
        } = call;
        let mut renewed = false;
        loop {
            let knew_challenge = lock(&registry.auth).challenge.is_some();
            let auth = if same_origin(url, &registry.base) {
                self.authorization(registry, scope)?
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
            let request = builder
                .body(body)
                .map_err(|err| Error::Local(format!("building a request to {url}: {err}")))?;
            let response = self.run(registry, url, request, bytes)?;
            let auth_header = auth.header.as_deref();
            let mut response = self.follow_redirects(
                registry,
                (method, url, headers, bytes),
                auth_header.map(|value| (value, registry.base.as_str())),
                response,
            )?;
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
            return Err(Error::Auth(format!(
                "{refusal}: registry {} denied {} to {whom}",
                registry.name,
                scope.token_scopes().join(" ")
            )));
        }
    }

    /// Follows the redirects a GET or HEAD answered with. `authorization` goes only to the
    /// origin it was issued for; the other headers (`Accept`) go everywhere.
    fn follow_redirects(
        &self,
        registry: &Registry,
        (method, url, headers, bytes): (&str, &str, &[(&str, &str)], u64),
        authorization: Option<(&str, &str)>,
        mut response: Response<ureq::Body>,
    ) -> Result<Response<ureq::Body>> {
        let mut current = url.to_owned();
        for _ in 0..MAX_REDIRECTS {
            let Some(next) = next_hop(method, &current, &response)? else {
                return Ok(response);
            };
            let mut builder = http::Request::builder().method(method).uri(&next);
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            if let Some((value, origin)) = authorization {
                if same_origin(&next, origin) {
                    builder = builder.header("Authorization", value);
                }
            }
            let request = builder
                .body(ureq::SendBody::none())
                .map_err(|err| Error::Local(format!("building a request to {next}: {err}")))?;
            response = self.run(registry, &next, request, bytes)?;
            current = next;
        }
        Err(Error::Content(format!(
            "{url} redirects more than {MAX_REDIRECTS} times"
        )))
    }

    /// Runs one exchange with `url`, within the deadline for moving `bytes`.
    fn run<B: ureq::AsSendBody>(
        &self,
        registry: &Registry,
        url: &str,
        request: http::Request<B>,
        bytes: u64,
    ) -> Result<Response<ureq::Body>> {
        let agent = self.agent(registry, url);
        let request = agent
            .configure_request(request)
            .timeout_global(Some(self.limits.deadline(bytes)))
            .build();
        agent
            .run(request)
            .map_err(|err| self.connection_error(err, url, bytes))
    }

    /// `reader` (a response body), held to the minimum rate.
    pub(crate) fn guard<R: Read>(&self, reader: R, url: &str) -> deadline::RateGuard<R> {
        self.limits.guard(reader, &host_of(url))
    }

    /// A failed exchange with `url` as an [`Error`] naming the host: an untrusted certificate
    /// and a missed deadline are their own kinds.
    fn connection_error(&self, err: ureq::Error, url: &str, bytes: u64) -> Error {
        let host = host_of(url);
        match err {
            err if is_certificate_error(&err) => Error::Certificate {
                message: format!("TLS handshake with {host}"),
                cause: err,
            },
            ureq::Error::Timeout(ureq::Timeout::Global) => Error::TimedOut(format!(
                "{host}: no complete answer within the request's deadline of {} s",
                self.limits.deadline(bytes).as_secs()
            )),
            ureq::Error::Io(io) => Error::io(io),
            err => Error::Connection(err),
        }
    }

    /// The pool for a request to `url`: certificates are verified, except on the very origin
    /// of a registry named insecure (not its token server, not where it redirects to).
    fn agent(&self, registry: &Registry, url: &str) -> &ureq::Agent {
        let loopback = Origin::of(url).is_some_and(|origin| origin.is_loopback());
        let relaxed = registry.insecure && same_origin(url, &registry.base);
        self.agents.pick(loopback, !relaxed)
    }

    /// A request without the registry's authentication (the probe and the token server).
    fn raw(
        &self,
        registry: &Registry,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        authorization: Option<&str>,
    ) -> Result<Response<ureq::Body>> {
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
        let request = builder
            .body(body)
            .map_err(|err| Error::Local(format!("building a request to {url}: {err}")))?;
        let response = self.run(registry, url, request, 0)?;
        self.follow_redirects(
            registry,
            (method, url, headers, 0),
            authorization.map(|value| (value, url)),
            response,
        )
    }
}

impl Registry {
    /// The URL of an API path (`/v2/...`) on this registry.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// `host:port` of `url`, for messages.
fn host_of(url: &str) -> String {
    Origin::of(url).map_or_else(|| url.to_owned(), |o| format!("{}:{}", o.host, o.port))
}
