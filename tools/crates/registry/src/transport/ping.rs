//! Meeting a registry: `GET /v2/` finds the scheme it speaks (`https`, or plain `http` for a
//! loopback or insecure registry without TLS) and the authentication challenge it wants.

use std::sync::Mutex;

use sematic_oci_core::reference::Reference;

use super::authorize::challenge_of;
use super::origin::{check_numeric_host, is_loopback};
use super::retry::{retry_on_status, Attempt};
use super::send::{Raw, Wait};
use super::{Body, Client, Registry};
use crate::error::{status_error, Context as _, Error, Phase, Result};
use crate::sync::lock;

impl Client {
    /// Probes the registry of `reference`.
    pub(crate) fn connect(&self, reference: &Reference, insecure: bool) -> Result<Registry> {
        let host = reference.api_host();
        check_numeric_host(host).map_err(Error::Local)?;
        let plain_allowed = insecure || is_loopback(host);
        let name = &reference.registry;
        if !plain_allowed {
            return self
                .probe(
                    name,
                    &format!("https://{host}"),
                    insecure,
                    self.retry.attempts,
                )
                .map_err(|err| {
                    if speaks_plain_http(&err) {
                        err.context(format!("registry {name} answers in plain HTTP, not TLS: if it is a plain-HTTP registry, set insecure_repository = True on the pipeline (insecure = True on a push target, --insecure on the command line)"))
                    } else {
                        err.context(format!("connecting to registry {name}"))
                    }
                });
        }
        // One quick TLS probe: a plain-HTTP server answers it with garbage at once.
        match self.probe(name, &format!("https://{host}"), insecure, 1) {
            Ok(registry) => Ok(registry),
            Err(err) => {
                if let Error::Certificate { cause, .. } = err.root() {
                    // rustls (like browsers) refuses a CA certificate presented as the server's
                    // own, which `openssl req -x509` makes by default; say so, since --ca-cert
                    // with that very file cannot help.
                    let hint = if cause.to_string().contains("CaUsedAsEndEntity") {
                        "the server presents a CA certificate as its own; give it a server certificate issued by that CA, or pass --insecure"
                    } else {
                        "trust its CA with ca_certs = [\"ca.pem\"] on the pipeline or push target (--ca-cert FILE on the command line), or skip verification with insecure_repository = True (--insecure)"
                    };
                    return Err(err).with_context(|| {
                        format!(
                            "connecting to registry {name}: its TLS certificate is not trusted ({hint}); not falling back to plain HTTP"
                        )
                    });
                }
                self.probe(
                    name,
                    &format!("http://{host}"),
                    insecure,
                    self.retry.attempts,
                )
                .with_context(|| {
                    format!("connecting to registry {name} (https: {err}; then plain http)")
                })
            }
        }
    }

    /// `GET base/v2/`: the registry at `base` if it answers like one.
    fn probe(&self, name: &str, base: &str, insecure: bool, attempts: u32) -> Result<Registry> {
        let registry = Registry {
            name: name.to_owned(),
            base: base.to_owned(),
            insecure,
            auth: Mutex::default(),
        };
        let url = format!("{base}/v2/");
        let probe = Raw {
            method: "GET",
            url: &url,
            headers: &[],
            body: Body::Empty,
            authorization: None,
            wait: Wait::Brief,
        };
        let mut response = self.retry.with_attempts(attempts).run(|| {
            let response = self.raw(&registry, probe).map_err(|err| match err.root() {
                // A server that accepts connections but does not answer its version check
                // will not answer it by waiting longer.
                Error::TimedOut {
                    phase: Phase::Answer,
                    ..
                } => Attempt::RetryQuick(err),
                _ => Attempt::of(err),
            })?;
            retry_on_status(response)
        })?;
        match response.status().as_u16() {
            200 => {}
            401 => lock(&registry.auth).challenge = challenge_of(&response),
            // Not the registry API (or a TLS server answering a plain request): using it
            // anyway would only fail later, less clearly.
            _ => {
                return Err(status_error(&mut response))
                    .with_context(|| format!("{url} is not an OCI distribution API endpoint"))
            }
        }
        Ok(registry)
    }
}

/// Whether a TLS attempt failed because the server answered in plain HTTP (rustls reads the
/// HTTP status line as a record of an unknown content type).
fn speaks_plain_http(err: &Error) -> bool {
    let text = err.root().to_string();
    text.contains("InvalidContentType") || text.contains("corrupt message")
}
