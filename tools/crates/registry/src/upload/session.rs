//! Upload sessions: opening one, sending a blob in `PATCH` chunks, and asking the registry how
//! much of an interrupted one it holds. Every `Location` is resolved against the URL that
//! answered with it (a session may live on another origin than the registry's API), and a
//! registry's report of what it holds is believed only when it is a prefix of what was sent.

use std::io::Read;

use sematic_oci_core::Digest;
use ureq::http::Response;

use crate::blobs::location;
use crate::error::{status_error, Error, Result};
use crate::transport::{resolve_location, Attempt, Body, Call, Client, Registry, Scope};

use super::CHUNK_SIZE;

/// An upload session and how many bytes of the blob the registry holds in it.
pub(super) struct Session {
    pub location: String,
    pub offset: u64,
    /// The end of the furthest `PATCH` begun in this session: the registry cannot hold more.
    sent: u64,
}

impl Session {
    pub fn new(location: String) -> Self {
        Session {
            location,
            offset: 0,
            sent: 0,
        }
    }
}

impl Client {
    /// Opens an upload session in `repository`: its location.
    pub(super) fn start_upload(
        &self,
        registry: &Registry,
        repository: &str,
        scope: &Scope,
    ) -> Result<String, Attempt> {
        let url = registry.url(&format!("/v2/{repository}/blobs/uploads/"));
        let mut response = self.attempt(
            Call {
                registry,
                method: "POST",
                url: &url,
                headers: &[],
                scope,
                bytes: 0,
            },
            Body::Empty,
        )?;
        match response.status().as_u16() {
            202 => location(&url, &response),
            // An expired token on a streamed request comes back as 401; renew and retry.
            401 => Err(Attempt::Retry(status_error(&mut response), None)),
            _ => Err(Attempt::Fail(
                status_error(&mut response).context("opening an upload session"),
            )),
        }
    }

    /// Streams the rest of the blob from `session.offset` in `PATCH` requests of at most
    /// [`CHUNK_SIZE`] bytes, then closes the upload with `PUT ?digest=`. `session` follows what the
    /// registry acknowledged, so a broken connection can resume from there.
    pub(super) fn send_patches(
        &self,
        registry: &Registry,
        session: &mut Session,
        (digest, size): (&Digest, u64),
        reader: &mut dyn Read,
        scope: &Scope,
    ) -> Result<Response<ureq::Body>> {
        while session.offset < size {
            let length = CHUNK_SIZE.min(size - session.offset);
            let end = session.offset + length;
            session.sent = session.sent.max(end);
            let range = format!("{}-{}", session.offset, end - 1);
            let mut part = (&mut *reader).take(length);
            let call = Call {
                registry,
                method: "PATCH",
                url: &session.location,
                headers: &[
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Range", &range),
                ],
                scope,
                bytes: length,
            };
            let response = self.send_stream(call, &mut part, length)?;
            if response.status() != 202 {
                return Ok(response);
            }
            if let Some(next) = header(&response, "Location") {
                session.location = resolve_location(&session.location, next);
            }
            session.offset = end;
        }
        let url = with_digest(&session.location, digest);
        let call = Call {
            registry,
            method: "PUT",
            url: &url,
            headers: &[],
            scope,
            bytes: 0,
        };
        self.send(call, Body::Empty)
    }

    /// Asks the registry how much of an interrupted upload it holds. `None`: the session is
    /// gone, start a new one. A report of more than was sent fails the attempt.
    pub(super) fn resume_point(
        &self,
        registry: &Registry,
        session: Session,
        scope: &Scope,
    ) -> Result<Option<Session>, Attempt> {
        let call = Call {
            registry,
            method: "GET",
            url: &session.location,
            headers: &[],
            scope,
            bytes: 0,
        };
        let response = self.attempt(call, Body::Empty)?;
        if response.status() != 204 {
            return Ok(None);
        }
        let Some(range) = header(&response, "Range") else {
            return Ok(None);
        };
        let offset = held_bytes(range)
            .filter(|&held| held <= session.sent)
            .ok_or_else(|| {
                Attempt::Retry(
                    Error::Content(format!(
                        "the registry sent an impossible Range {range:?} for an upload it was sent {} bytes of; starting a new upload",
                        session.sent
                    )),
                    None,
                )
            })?;
        let location = header(&response, "Location").map_or(session.location.clone(), |next| {
            resolve_location(&session.location, next)
        });
        Ok(Some(Session {
            location,
            offset,
            sent: session.sent,
        }))
    }
}

fn header<'r>(response: &'r Response<ureq::Body>, name: &str) -> Option<&'r str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The bytes an upload holds, from its status `Range` (`0-N`: N + 1 bytes); `None` for a value
/// that cannot be one. `0-0` is taken as empty; if it really held one byte, the next `PATCH`
/// is refused (416) and a new session starts.
fn held_bytes(range: &str) -> Option<u64> {
    let end = range
        .trim()
        .trim_start_matches("bytes=")
        .strip_prefix("0-")?;
    match end.parse::<u64>().ok()? {
        0 => Some(0),
        end => end.checked_add(1),
    }
}

pub(super) fn with_digest(location: &str, digest: &Digest) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}digest={digest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_appended_to_upload_locations() {
        let digest = Digest::of_bytes(b"");
        assert_eq!(
            with_digest("http://r/v2/a/blobs/uploads/u?_state=x", &digest),
            format!("http://r/v2/a/blobs/uploads/u?_state=x&digest={digest}")
        );
        assert_eq!(
            with_digest("/v2/a/blobs/uploads/u", &digest),
            format!("/v2/a/blobs/uploads/u?digest={digest}")
        );
    }

    #[test]
    fn upload_status_ranges() {
        assert_eq!(held_bytes("0-1048575"), Some(1 << 20));
        assert_eq!(held_bytes("bytes=0-9"), Some(10));
        assert_eq!(held_bytes("0-0"), Some(0));
        assert_eq!(held_bytes("0-18446744073709551615"), None);
        assert_eq!(held_bytes("0-99999999999999999999"), None);
        assert_eq!(held_bytes("5-9"), None);
        assert_eq!(held_bytes("junk"), None);
    }
}
