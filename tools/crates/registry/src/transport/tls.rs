//! Connection set-up: the TLS roots every verified connection trusts, proxies, timeouts, and
//! the connection pools (agents) requests go through.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::transport::DefaultConnector;

use super::deadline::TransferLimits;
use super::dns::NamingResolver;
use crate::error::{Error, Result};

/// How connections are made.
pub(crate) struct ConnectionSettings<'a> {
    pub user_agent: &'a str,
    /// Extra PEM files whose certificates are trusted as roots (`--ca-cert`).
    pub ca_certs: &'a [PathBuf],
    /// How long connecting, an answer, and any single read or write may take.
    pub limits: &'a TransferLimits,
    /// Whether any registry skips certificate verification (so an unverified pool is built).
    pub any_insecure: bool,
}

/// The connection pools: verified TLS for every registry, unverified only when a registry was
/// named insecure. Each comes through the environment's proxy, and direct for loopback hosts.
pub(crate) struct Agents {
    verified: Pools,
    unverified: Option<Pools>,
}

struct Pools {
    proxied: ureq::Agent,
    direct: ureq::Agent,
}

impl Agents {
    pub fn new(settings: &ConnectionSettings<'_>) -> Result<Self> {
        let verified = TlsConfig::builder()
            .root_certs(RootCerts::from(trusted_roots(settings.ca_certs)?))
            .build();
        let unverified = settings
            .any_insecure
            .then(|| TlsConfig::builder().disable_verification(true).build());
        Ok(Agents {
            verified: Pools::new(&verified, settings),
            unverified: unverified.map(|tls| Pools::new(&tls, settings)),
        })
    }

    /// The pool for a request to `host`, verifying certificates unless `verify` is false.
    pub fn pick(&self, host_is_loopback: bool, verify: bool) -> &ureq::Agent {
        let pools = match (&self.unverified, verify) {
            (Some(unverified), false) => unverified,
            _ => &self.verified,
        };
        if host_is_loopback {
            &pools.direct
        } else {
            &pools.proxied
        }
    }
}

impl Pools {
    fn new(tls: &TlsConfig, settings: &ConnectionSettings<'_>) -> Self {
        let agent = |proxied: bool| {
            let builder = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .user_agent(settings.user_agent)
                .tls_config(tls.clone())
                // Redirects are followed by hand (redirect.rs), to keep credentials on their
                // origin.
                .max_redirects(0)
                .timeout_resolve(Some(settings.limits.connect()))
                .timeout_connect(Some(settings.limits.connect()))
                .timeout_recv_response(Some(settings.limits.timeout))
                .timeout_per_read(Some(settings.limits.timeout))
                .timeout_per_write(Some(settings.limits.timeout))
                .max_idle_connections_per_host(16);
            // $HTTPS_PROXY and friends apply, except to loopback hosts (as in Go's and
            // curl's handling), which a proxy elsewhere could not reach anyway.
            let builder = if proxied {
                builder
            } else {
                builder.proxy(None)
            };
            ureq::Agent::with_parts(
                builder.build(),
                DefaultConnector::default(),
                NamingResolver::default(),
            )
        };
        Pools {
            proxied: agent(true),
            direct: agent(false),
        }
    }
}

/// An agent for an HTTP(S) endpoint that is not a registry, such as the Sematic server the
/// launcher checks before pushing: verified TLS with the roots registry connections trust
/// (without `--ca-cert`s: those are a registry's), `timeout` to connect and to get the
/// answer, redirects followed, error statuses returned as responses; through the
/// environment's proxy unless the host is `loopback`.
pub fn endpoint_agent(user_agent: &str, timeout: Duration, loopback: bool) -> Result<ureq::Agent> {
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::from(trusted_roots(&[])?))
        .build();
    let builder = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(user_agent)
        .tls_config(tls)
        .timeout_connect(Some(timeout))
        .timeout_global(Some(timeout));
    let builder = if loopback {
        builder.proxy(None)
    } else {
        builder
    };
    Ok(builder.build().new_agent())
}

/// The web roots, the system bundle ($SSL_CERT_FILE, else Debian's bundle: it carries the
/// roots an administrator added) and the `--ca-cert` files.
fn trusted_roots(ca_certs: &[PathBuf]) -> Result<Vec<Certificate<'static>>> {
    let mut roots: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    let system = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/ssl/certs/ca-certificates.crt"));
    if system.is_file() {
        roots.extend(read_pem_certs(&system)?);
    }
    for file in ca_certs {
        let certs = read_pem_certs(file)?;
        if certs.is_empty() {
            return Err(Error::Local(format!(
                "--ca-cert {}: no PEM certificate in it",
                file.display()
            )));
        }
        roots.extend(certs);
    }
    Ok(roots)
}

fn read_pem_certs(path: &Path) -> Result<Vec<Certificate<'static>>> {
    let bytes = std::fs::read(path)
        .map_err(|err| Error::Local(format!("reading {}: {err}", path.display())))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&bytes) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(err) => {
                return Err(Error::Local(format!(
                    "parsing PEM file {}: {err}",
                    path.display()
                )))
            }
        }
    }
    Ok(certs)
}

/// Whether a failed request failed because the server's certificate was not trusted (as
/// opposed to the server not speaking TLS at all).
pub(crate) fn is_certificate_error(err: &ureq::Error) -> bool {
    let rustls_error = match err {
        ureq::Error::Io(io) => io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()),
        ureq::Error::Rustls(error) => Some(error),
        _ => None,
    };
    matches!(
        rustls_error,
        Some(rustls::Error::InvalidCertificate(_) | rustls::Error::InvalidCertRevocationList(_))
    )
}
