//! What talking to a registry can fail with. Every variant says whose fault it is, so the
//! retry loop decides on the variant, never on message text, and messages stay one line.

use std::fmt;

use serde::Deserialize;
use ureq::http::{Response, StatusCode};

/// Error bodies and token responses are small; never buffer more than this of one.
pub(crate) const SMALL_BODY_LIMIT: u64 = 1 << 20;

/// A failed registry operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry, or a server in front of it, answered with an error status.
    #[error("{0}")]
    Status(HttpError),
    /// No usable credentials, credentials refused, or a token server that cannot be used.
    #[error("{0}")]
    Auth(String),
    /// The connection could not be made or broke: DNS, refused, reset, timed out.
    #[error("{0}")]
    Connection(ureq::Error),
    /// Nothing moved for too long in `phase` of an exchange: a deadline passed, or a body
    /// moved slower than the minimum rate.
    #[error("{text}")]
    TimedOut { phase: Phase, text: String },
    /// The server's TLS certificate is not trusted (never retried, never downgraded).
    #[error("{message}: {cause}")]
    Certificate { message: String, cause: ureq::Error },
    /// The registry sent something other than what it promised: bytes that do not hash to
    /// their digest, a wrong size, malformed JSON, a missing header.
    #[error("{0}")]
    Content(String),
    /// Something on this machine: a file, a credential helper, a bad setting.
    #[error("{0}")]
    Local(String),
    /// Not attempted, because another part of the same run failed first.
    #[error("{0}")]
    Skipped(String),
    /// What was being done when `inner` happened. (The inner error is part of the message,
    /// not a `source()`, so chains print each cause once.)
    #[error("{context}: {inner}")]
    Context { context: String, inner: Box<Error> },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The phase of an exchange with a server that stalled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Resolving the host name.
    Resolve,
    /// Opening the TCP connection (directly, or through a proxy).
    Connect,
    /// The TLS handshake, after the TCP connection was made.
    TlsHandshake,
    /// Waiting for the answer to a request that was sent.
    Answer,
    /// Moving a request's or an answer's bytes.
    Transfer,
}

// No `#[from]` on the variant: that would also make the refusal the error's `source()`, and
// chains (a binary's anyhow `{:#}`) would print it twice.
impl From<HttpError> for Error {
    fn from(err: HttpError) -> Self {
        Error::Status(err)
    }
}

impl Error {
    /// A shared primitive that failed on this machine: a layout, file or setting. An oci-core
    /// error has no `source()`, so its message alone is the whole chain.
    pub fn local(err: sematic_oci_core::Error) -> Self {
        Error::Local(err.to_string())
    }

    /// A registry's content that a shared primitive rejected: a digest, media type or
    /// descriptor that is not what it should be.
    pub fn content(err: sematic_oci_core::Error) -> Self {
        Error::Content(err.to_string())
    }

    /// This error, saying what was being done when it happened.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error::Context {
            context: context.to_string(),
            inner: Box::new(self),
        }
    }

    /// The innermost error, under every [`Error::Context`].
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { inner, .. } => inner.root(),
            other => other,
        }
    }

    /// A failed read or write of a body: a timeout (our rate guard's included) is its own kind.
    pub(crate) fn io(err: std::io::Error) -> Self {
        if err.kind() == std::io::ErrorKind::TimedOut {
            return Error::TimedOut {
                phase: Phase::Transfer,
                text: err.to_string(),
            };
        }
        Error::Connection(ureq::Error::Io(err))
    }

    /// The HTTP status a registry refused with, if that is what happened.
    pub fn status(&self) -> Option<u16> {
        match self.root() {
            Error::Status(err) => Some(err.status),
            _ => None,
        }
    }
}

/// `.context(...)` for results of this crate.
pub trait Context<T> {
    fn context(self, context: impl fmt::Display) -> Result<T>;
    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T>;
}

impl<T> Context<T> for Result<T> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.with_context(|| context)
    }

    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|inner| inner.context(context()))
    }
}

/// A refused request: the HTTP status and the registry's own error code and message.
#[derive(Debug)]
pub struct HttpError {
    pub status: u16,
    /// The first `errors[].code` of the body (`DIGEST_INVALID`, `DENIED`, …).
    pub code: Option<String>,
    text: String,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

    pub(crate) fn new(status: StatusCode, body: &[u8]) -> Self {
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

/// [`HttpError::from_response`] as an [`Error`].
pub fn status_error(response: &mut Response<ureq::Body>) -> Error {
    HttpError::from_response(response).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_errors_name_status_code_and_message() {
        let body = br#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}"#;
        let err = HttpError::new(StatusCode::BAD_REQUEST, body);
        assert_eq!(err.code.as_deref(), Some("DIGEST_INVALID"));
        assert_eq!(
            err.to_string(),
            "HTTP 400 Bad Request (DIGEST_INVALID: provided digest did not match uploaded content)"
        );
        let err = HttpError::new(StatusCode::BAD_GATEWAY, b"<html>");
        assert_eq!(
            (err.code.clone(), err.to_string()),
            (None, "HTTP 502 Bad Gateway".to_owned())
        );
    }

    /// A binary prints an error with every `source()` after it (anyhow's `{:#}`); none of these
    /// has one, so each cause is printed once, inside the message.
    #[test]
    fn chains_print_each_cause_once() {
        use std::error::Error as _;

        let refused = Error::from(HttpError::new(StatusCode::BAD_GATEWAY, b""));
        assert!(refused.source().is_none());
        let wrapped = Error::Content("short".into()).context("reading");
        assert_eq!(wrapped.to_string(), "reading: short");
        assert!(wrapped.source().is_none());
        let local = Error::local(sematic_oci_core::Error::Invalid("bad digest".into()));
        assert_eq!(local.to_string(), "bad digest");
        assert!(local.source().is_none());
    }

    #[test]
    fn context_reads_outside_in_and_keeps_the_root() {
        let err: Result<()> = Err(Error::Content("short body".into()));
        let err = err
            .context("fetching blob b")
            .context("pulling r")
            .unwrap_err();
        assert_eq!(err.to_string(), "pulling r: fetching blob b: short body");
        assert!(matches!(err.root(), Error::Content(_)));
        let refused = Error::from(HttpError::new(StatusCode::NOT_FOUND, b""));
        assert_eq!(
            Err::<(), _>(refused).context("x").unwrap_err().status(),
            Some(404)
        );
    }
}
