//! HTTP to registries, split by concern as go-containerregistry's `remote/transport`:
//! [`tls`] (roots, proxies, connection pools), [`ping`] (scheme and challenge),
//! [`authorize`] (credentials, token cache, scopes), [`bearer`] (the token protocol),
//! [`retry`] (budget, backoff, which failures are transient), [`origin`] (what credentials
//! are scoped to), [`redirect`] (followed by hand), [`challenge`] (`WWW-Authenticate`),
//! [`deadline`] (how long an exchange may take), [`dns`] (name resolution), [`send`] (the one
//! place requests are built and sent), [`failure`] (what a failed exchange says). This file
//! holds the types.
//!
//! One [`Client`] serves every registry of a run and is cheap to share between threads: it
//! learns each registry's scheme and challenge once and caches bearer tokens per scope.

pub mod authorize;
mod bearer;
pub mod challenge;
pub mod deadline;
mod dns;
mod failure;
pub mod origin;
mod ping;
mod redirect;
pub mod retry;
mod send;
mod tls;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sematic_oci_core::reference::Reference;

use crate::credentials::CredentialStore;
use crate::error::Result;
use crate::sync::lock;
use authorize::AuthState;
pub use authorize::Scope;
pub use deadline::TransferLimits;
pub(crate) use redirect::resolve as resolve_location;
pub use retry::{retry_after, retry_on_status, Attempt, RetryPolicy};
pub use tls::endpoint_agent;
use tls::{Agents, ConnectionSettings};

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
            limits: &self.limits,
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

    /// Runs `op`, an operation on a registry this client has met ([`Client::registry`]), until
    /// it succeeds, fails for good, or the retry budget is spent.
    pub fn retrying<T>(&self, op: impl FnMut() -> Result<T, Attempt>) -> Result<T> {
        self.retry.run_after_contact(op)
    }
}

impl Registry {
    /// The URL of an API path (`/v2/...`) on this registry.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
