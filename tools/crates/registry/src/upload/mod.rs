//! Uploading a blob. Small blobs go in one `PUT`; big ones in `PATCH` requests of 16 MiB
//! which, when the connection breaks, resume from the offset the registry reports for the
//! upload session (`GET` on its latest location answers `Range: 0-N`) instead of sending
//! everything again ([`session`]): a cut costs at most the chunk in flight. A registry that
//! refuses a monolithic `PUT` (or a proxy that resets it) gets the same chunks.
//!
//! The content is checked against its digest as it goes out ([`verified`]): a local blob that
//! is not what its digest names fails the upload at once, before its last bytes are sent.
//!
//! A registry that kept part of a broken request (docker-registry does; a proxy buffering
//! request bodies, as nginx does by default, forwards nothing) no longer matches the session
//! state in its own locations and answers 404: the upload then starts over.

mod session;
mod verified;

use std::fmt;
use std::path::Path;

use sematic_oci_core::Digest;

use crate::blobs::{check_digest_header, head_blob, BlobReader};
use crate::error::{Error, HttpError, Result};
use crate::progress::Transfer;
use crate::transport::retry::is_transient_status;
use crate::transport::{retry_after, Attempt, Call, Client, Registry, Scope};
use session::{with_digest, Session};
use verified::{Problem, Verified};

/// Blobs this big go in `PATCH` chunks, which can resume; smaller ones cost fewer requests as
/// a monolithic `PUT`, and little to send again.
const RESUMABLE_FROM: u64 = 64 << 20;

/// The size of every `PATCH` (the last one's rest): what a broken connection costs again.
/// Each `PATCH` waits for the answer to the one before (the next goes to the location it
/// returns), so the connection idles one round trip per chunk: a tenth of a lone stream's
/// rate at 50 ms (BENCHMARKS.md (m)), mostly hidden when other blobs share the link. Each
/// chunk is streamed, so this bounds what is resent and the request count, not memory.
const CHUNK_SIZE: u64 = 16 << 20;

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
    pub source: Source<'a>,
}

/// Where the bytes of an upload come from.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// A file of this machine: content that is not what its digest names fails at once.
    File(&'a Path),
    /// Another registry (`registry/repository`): such content is fetched again, within the
    /// retry budget (it may have been garbled on the way).
    Registry(&'a str),
}

impl fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "the local blob {}", path.display()),
            Source::Registry(name) => write!(f, "the blob streamed from {name}"),
        }
    }
}

/// The blob's content from its first byte; called again for every attempt.
pub type Open<'a> = dyn FnMut() -> Result<BlobReader, Attempt> + 'a;

/// How the bytes go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Monolithic,
    /// `PATCH` requests of [`CHUNK_SIZE`], then an empty `PUT`.
    Patches,
}

impl Client {
    /// Uploads a blob whose content comes from `open`.
    pub fn upload_blob(
        &self,
        registry: &Registry,
        repository: &str,
        upload: Upload<'_>,
        open: &mut Open<'_>,
    ) -> Result<()> {
        let Upload {
            digest,
            size,
            session,
            transfer,
            source,
        } = upload;
        let scope = Scope::push(repository);
        let head_url = registry.url(&format!("/v2/{repository}/blobs/{digest}"));
        let mut mode = if size >= RESUMABLE_FROM {
            Mode::Patches
        } else {
            Mode::Monolithic
        };
        let mut session = session.map(Session::new);
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
                None => Session::new(self.start_upload(registry, repository, &scope)?),
            };
            let mut content = Verified::new(open()?, digest, size);
            let skipped = content.skip(current.offset);
            transfer.restart_at(current.offset);
            let mut reader = transfer.reader(&mut content);
            let result = skipped.map_err(Error::io).and_then(|()| match mode {
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
                Mode::Patches => {
                    self.send_patches(registry, &mut current, (digest, size), &mut reader, &scope)
                }
            });
            if let Some(problem) = content.problem() {
                return Err(content_error(source, problem, digest, size));
            }
            let mut response = match result {
                Ok(response) => response,
                Err(err) => {
                    transport_failures += 1;
                    if mode == Mode::Monolithic
                        && transport_failures >= MONOLITHIC_TRANSPORT_FAILURES
                    {
                        mode = Mode::Patches;
                    }
                    if mode == Mode::Patches {
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
            // The session stays usable after a refusal worth retrying, except for the
            // refusals that say the session (or what is in it) is wrong.
            if mode == Mode::Patches {
                session = Some(current);
                interrupted = true;
            }
            match status {
                401 => Err(Attempt::Retry(err, None)),
                // The content was verified as it went out: what the registry got differs
                // from what was sent, so send it again in a new session.
                400 if code.as_deref() == Some("DIGEST_INVALID") => {
                    session = None;
                    Err(Attempt::Retry(err, None))
                }
                404 | 416 => {
                    // BLOB_UPLOAD_UNKNOWN, or a range the session does not continue.
                    session = None;
                    Err(Attempt::Retry(err, None))
                }
                400 | 405 | 413 | 501 if mode == Mode::Monolithic => {
                    mode = Mode::Patches;
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
}

/// Content that is not what its digest names: final for a local file, worth fetching again
/// from a registry.
fn content_error(source: Source<'_>, problem: &Problem, digest: &Digest, size: u64) -> Attempt {
    let text = match problem {
        Problem::Hash(actual) => format!("{source} hashes to {actual}, not {digest}"),
        Problem::Short(read) => format!("{source} ended after {read} of {size} bytes"),
    };
    match source {
        Source::File(_) => Attempt::Fail(Error::Local(text)),
        Source::Registry(_) => Attempt::Retry(Error::Content(text), None),
    }
}
