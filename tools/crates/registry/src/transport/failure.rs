//! A failed exchange as an [`Error`] naming the host and, when nothing moved, the phase that
//! stalled: connecting (name resolution, TCP, TLS handshake), waiting for the answer, or moving
//! the bytes.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::origin::Origin;
use super::tls::is_certificate_error;
use crate::error::{Error, Phase};

/// The deadlines an exchange ran under.
pub(crate) struct Deadlines {
    /// Name resolution, TCP connection and TLS handshake.
    pub connect: Duration,
    /// From the request sent to the answer's status line.
    pub answer: Duration,
    /// Any single read or write (`--timeout`).
    pub stall: Duration,
    /// The whole exchange.
    pub whole: Duration,
}

/// `err`, from an exchange with `url`, as an [`Error`]: an untrusted certificate and a stall
/// are their own kinds.
pub(crate) fn exchange_error(
    err: ureq::Error,
    url: &str,
    deadlines: &Deadlines,
    loopback: bool,
) -> Error {
    let host = host_of(url);
    let stalled = |phase: Phase, what: String| Error::TimedOut {
        phase,
        text: format!("{host}: {what}"),
    };
    let secs = |duration: Duration| duration.as_secs_f64();
    match err {
        err if is_certificate_error(&err) => Error::Certificate {
            message: format!("TLS handshake with {host}"),
            cause: err,
        },
        ureq::Error::Timeout(timeout) => match timeout {
            ureq::Timeout::Resolve => stalled(
                Phase::Resolve,
                format!(
                    "the host name did not resolve within {:.0} s",
                    secs(deadlines.connect)
                ),
            ),
            ureq::Timeout::Connect => {
                let (phase, what) = connect_phase(url, loopback, deadlines.connect);
                stalled(
                    phase,
                    format!("{what} within {:.0} s", secs(deadlines.connect)),
                )
            }
            ureq::Timeout::RecvResponse => stalled(
                Phase::Answer,
                format!(
                    "connected, but no answer within {:.0} s of sending the request",
                    secs(deadlines.answer)
                ),
            ),
            ureq::Timeout::Global => stalled(
                Phase::Transfer,
                format!(
                    "no complete answer within the request's deadline of {:.0} s",
                    secs(deadlines.whole)
                ),
            ),
            _ => stalled(
                Phase::Transfer,
                format!(
                    "the transfer stalled for {:.0} s (--timeout)",
                    secs(deadlines.stall)
                ),
            ),
        },
        ureq::Error::Io(io) => Error::io(io),
        err => Error::Connection(err),
    }
}

/// Which part of connecting to `url` stalled, and how to say it: without a TCP connection, or
/// in the TLS handshake after one. A direct connection is tried again briefly to tell.
fn connect_phase(url: &str, loopback: bool, within: Duration) -> (Phase, &'static str) {
    if !url.starts_with("https://") {
        return (Phase::Connect, "no TCP connection");
    }
    if !loopback && ureq::Proxy::try_from_env().is_some() {
        return (
            Phase::Connect,
            "no connection through the proxy, or no TLS handshake,",
        );
    }
    let reachable = Origin::of(url)
        .and_then(|origin| {
            let host = origin.host.trim_start_matches('[').trim_end_matches(']');
            (host, origin.port).to_socket_addrs().ok()
        })
        .and_then(|mut addresses| addresses.next())
        .is_some_and(|address| {
            TcpStream::connect_timeout(&address, within.min(Duration::from_secs(2))).is_ok()
        });
    if reachable {
        (
            Phase::TlsHandshake,
            "connected, but the TLS handshake got no answer",
        )
    } else {
        (Phase::Connect, "no TCP connection")
    }
}

/// `host:port` of `url`, for messages.
pub(crate) fn host_of(url: &str) -> String {
    Origin::of(url).map_or_else(|| url.to_owned(), |o| format!("{}:{}", o.host, o.port))
}
