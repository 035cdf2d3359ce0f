//! Uploading a blob. Small blobs go in one `PUT`; big ones in `PATCH` requests of a sixteenth
//! of the blob (at least 16 MiB) which, when the connection breaks, resume from the offset the
//! registry reports for the upload session (`GET` on its latest location answers `Range: 0-N`)
//! instead of sending everything again. A registry that refuses a monolithic `PUT` (or a proxy
//! that resets it) gets 16 MiB chunks.
//!
//! A registry that kept part of a broken request (docker-registry does; a proxy buffering
//! request bodies, as nginx does by default, forwards nothing) no longer matches the session
//! state in its own locations and answers 404: the upload then starts over.

use std::io::Read;

use sematic_oci_core::digest::HashingReader;
use sematic_oci_core::Digest;
use ureq::http::Response;

use crate::blobs::{check_digest_header, head_blob, location, BlobReader};
use crate::error::{status_error, Error, HttpError, Result};
use crate::progress::Transfer;
use crate::transport::retry::is_transient_status;
use crate::transport::{retry_after, Attempt, Body, Call, Client, Registry, Scope};

/// Blobs this big go in `PATCH` chunks, which can resume; smaller ones cost fewer requests as
/// a monolithic `PUT`, and little to send again.
const RESUMABLE_FROM: u64 = 64 << 20;

/// The smallest `PATCH` of a resumable upload, and the size of every `PATCH` when a registry
/// refuses monolithic uploads. Each chunk is streamed, so this bounds request count, not
/// memory.
const CHUNK_SIZE: u64 = 16 << 20;

/// A resumable upload goes in this many `PATCH` requests (of at least [`CHUNK_SIZE`]): a broken
/// connection costs at most that fraction of the blob again, while every request costs the
/// registry a session resume (docker-registry reloads its hash state).
const RESUMABLE_CHUNKS: u64 = 16;

/// A monolithic upload whose connection dies this many times switches to chunks: a proxy with
/// a body-size limit often resets the connection instead of answering 413.
const MONOLITHIC_TRANSPORT_FAILURES: u32 = 3;

/// A blob to upload.
pub struct Upload<'a> {
    pub digest: &'a Digest,
    pub size: u64,
    /// An upload session the registry already opened (it declined a mount); used first.
    pub session: Option<String>,
    /// Where the bytes sent are counted.
    pub transfer: &'a Transfer,
}

/// The blob's content from `offset` on; called again for every attempt.
pub type OpenAt<'a> = dyn FnMut(u64) -> Result<BlobReader, Attempt> + 'a;

/// How the bytes go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Monolithic,
    /// `PATCH` requests of at most this many bytes, then an empty `PUT`.
    Patches(u64),
}

/// An upload session and how many bytes of the blob the registry holds in it.
struct Session {
    location: String,
    offset: u64,
}

impl Client {
    /// Uploads a blob whose content comes from `open`.
    pub fn upload_blob(
        &self,
        registry: &Registry,
        repository: &str,
        upload: Upload<'_>,
        open: &mut OpenAt<'_>,
    ) -> Result<()> {
        let Upload {
            digest,
            size,
            session,
            transfer,
        } = upload;
        let scope = Scope::push(repository);
        let head_url = registry.url(&format!("/v2/{repository}/blobs/{digest}"));
        let mut mode = if size >= RESUMABLE_FROM {
            Mode::Patches(CHUNK_SIZE.max(size.div_ceil(RESUMABLE_CHUNKS)))
        } else {
            Mode::Monolithic
        };
        let mut session = session.map(|location| Session {
            location,
            offset: 0,
        });
        // Whether `session` may hold bytes of an interrupted attempt (ask the registry how many).
        let mut interrupted = false;
        let mut transport_failures = 0;
        let mut first = true;
        self.retrying(|| {
            // A failed attempt may still have completed on the registry's side (the
            // connection dropped before its 201 reached us).
            if !std::mem::replace(&mut first, false)
                && head_blob(self, registry, &head_url, &scope)?
            {
                return Ok(());
            }
            let resumed = match session.take() {
                Some(known) if interrupted => self.resume_point(registry, known, &scope)?,
                other => other,
            };
            let mut current = match resumed {
                Some(current) => current,
                None => Session {
                    location: start_upload(self, registry, repository, &scope)?,
                    offset: 0,
                },
            };
            transfer.restart_at(current.offset);
            let mut reader = HashingReader::new(transfer.reader(open(current.offset)?));
            let result = match mode {
                Mode::Monolithic => {
                    let url = with_digest(&current.location, digest);
                    let call = Call {
                        registry,
                        method: "PUT",
                        url: &url,
                        headers: &[("Content-Type", "application/octet-stream")],
                        scope: &scope,
                        bytes: size,
                    };
                    self.send_stream(call, &mut reader, size)
                }
                Mode::Patches(chunk) => self.send_patches(
                    registry,
                    &mut current,
                    (digest, size, chunk),
                    &mut reader,
                    &scope,
                ),
            };
            let resumed_from = current.offset;
            let mut response = match result {
                Ok(response) => response,
                Err(err) => {
                    transport_failures += 1;
                    if mode == Mode::Monolithic
                        && transport_failures >= MONOLITHIC_TRANSPORT_FAILURES
                    {
                        mode = Mode::Patches(CHUNK_SIZE);
                    }
                    if let Mode::Patches(_) = mode {
                        session = Some(current);
                        interrupted = true;
                    }
                    return Err(Attempt::of(err));
                }
            };
            let status = response.status().as_u16();
            if status == 201 || status == 204 {
                return check_digest_header(&response, digest).map_err(Attempt::Fail);
            }
            let rejection = HttpError::from_response(&mut response);
            let code = rejection.code.clone();
            let err = Error::from(rejection);
            // The session stays usable after a refusal worth retrying, except for the two
            // refusals that say the session (or what is in it) is wrong.
            if let Mode::Patches(_) = mode {
                session = Some(current);
                interrupted = true;
            }
            match status {
                401 => Err(Attempt::Retry(err, None)),
                400 if code.as_deref() == Some("DIGEST_INVALID") => {
                    session = None;
                    let (actual, read) = reader.finish();
                    if resumed_from > 0 {
                        Err(Attempt::Retry(err, None))
                    } else if read == size && &actual != digest {
                        Err(Attempt::Fail(Error::Content(format!(
                            "the source content hashes to {actual}, not {digest}"
                        ))))
                    } else if read != size {
                        Err(Attempt::Retry(
                            Error::Content(format!(
                                "the source ended after {read} of {size} bytes"
                            )),
                            None,
                        ))
                    } else {
                        Err(Attempt::Retry(err, None))
                    }
                }
                404 | 416 => {
                    // BLOB_UPLOAD_UNKNOWN, or a range the session does not continue.
                    session = None;
                    Err(Attempt::Retry(err, None))
                }
                400 | 405 | 413 | 501 if mode == Mode::Monolithic => {
                    mode = Mode::Patches(CHUNK_SIZE);
                    session = None;
                    Err(Attempt::Retry(
                        err.context("the registry refused a monolithic upload; retrying in chunks"),
                        None,
                    ))
                }
                _ if is_transient_status(status) => {
                    Err(Attempt::Retry(err, retry_after(&response)))
                }
                _ => Err(Attempt::Fail(err)),
            }
        })
    }

    /// Streams the rest of the blob from `session.offset` in `PATCH` requests of at most
    /// `chunk` bytes, then closes the upload with `PUT ?digest=`. `session` follows what the
    /// registry acknowledged, so a broken connection can resume from there.
    fn send_patches(
        &self,
        registry: &Registry,
        session: &mut Session,
        (digest, size, chunk): (&Digest, u64, u64),
        reader: &mut dyn Read,
        scope: &Scope,
    ) -> Result<Response<ureq::Body>> {
        while session.offset < size {
            let length = chunk.min(size - session.offset);
            let range = format!("{}-{}", session.offset, session.offset + length - 1);
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
            if let Some(next) = response
                .headers()
                .get("Location")
                .and_then(|v| v.to_str().ok())
            {
                session.location = registry.resolve_location(next);
            }
            session.offset += length;
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
    /// gone (or says something unusable), start a new one.
    fn resume_point(
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
        let held = response
            .headers()
            .get("Range")
            .and_then(|v| v.to_str().ok())
            .and_then(held_bytes);
        let location = response
            .headers()
            .get("Location")
            .and_then(|v| v.to_str().ok())
            .map_or(session.location, |next| registry.resolve_location(next));
        Ok(held.map(|offset| Session { location, offset }))
    }
}

/// The bytes an upload holds, from its status `Range` (`0-N`: N + 1 bytes). `0-0` is taken as
/// empty; if it really held one byte, the next `PATCH` is refused (416) and a new session
/// starts.
fn held_bytes(range: &str) -> Option<u64> {
    let end = range
        .trim()
        .trim_start_matches("bytes=")
        .strip_prefix("0-")?;
    let end: u64 = end.parse().ok()?;
    Some(if end == 0 { 0 } else { end + 1 })
}

fn start_upload(
    client: &Client,
    registry: &Registry,
    repository: &str,
    scope: &Scope,
) -> Result<String, Attempt> {
    let url = registry.url(&format!("/v2/{repository}/blobs/uploads/"));
    let mut response = client.attempt(
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
        202 => location(registry, &response),
        // An expired token on a streamed request comes back as 401; renew and retry.
        401 => Err(Attempt::Retry(status_error(&mut response), None)),
        _ => Err(Attempt::Fail(
            status_error(&mut response).context("opening an upload session"),
        )),
    }
}

fn with_digest(location: &str, digest: &Digest) -> String {
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
        assert_eq!(held_bytes("5-9"), None);
        assert_eq!(held_bytes("junk"), None);
    }
}
