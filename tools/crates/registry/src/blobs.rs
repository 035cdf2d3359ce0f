//! Blob transfer: existence checks, cross-repository mounts, streamed uploads (monolithic,
//! with a chunked fallback) and streamed downloads.

use std::io::Read;
use std::path::Path;

use sematic_oci_core::digest::HashingReader;
use sematic_oci_core::fsutil::AtomicFile;
use sematic_oci_core::Digest;
use ureq::http::Response;

use crate::error::{status_error, Context as _, Error, HttpError, Result};
use crate::progress::Transfer;
use crate::transport::retry::is_transient_status;
use crate::transport::{retry_after, Attempt, Body, Call, Client, Registry, Scope};

/// Size of one `PATCH` when a registry refuses monolithic uploads. Each chunk is streamed,
/// so this bounds request count, not memory.
const CHUNK_SIZE: u64 = 16 << 20;

/// An upload whose connection dies this many times switches to chunks: a proxy with a
/// body-size limit often resets the connection instead of answering 413.
const MONOLITHIC_TRANSPORT_FAILURES: u32 = 3;

/// A stream of blob bytes, reopened from the start for every upload attempt.
pub type BlobReader = Box<dyn Read + Send>;

/// A blob to upload.
pub struct Upload<'a> {
    pub digest: &'a Digest,
    pub size: u64,
    /// An upload session the registry already opened (it declined a mount); used first.
    pub session: Option<String>,
    /// Where the bytes sent are counted.
    pub transfer: &'a Transfer,
}

/// Result of asking a registry to mount a blob from another repository.
pub enum Mount {
    Mounted,
    /// The registry declined (it answers 202 and opens an ordinary upload session instead).
    Session(String),
}

impl Client {
    /// Whether `repository` on `registry` already has the blob.
    pub fn blob_exists(
        &self,
        registry: &Registry,
        repository: &str,
        digest: &Digest,
    ) -> Result<bool> {
        let url = registry.url(&format!("/v2/{repository}/blobs/{digest}"));
        let scope = Scope::push(repository);
        self.retrying(|| head_blob(self, registry, &url, &scope))
    }

    /// Asks the registry to link `digest` from `from` into `repository` without a transfer.
    pub fn mount_blob(
        &self,
        registry: &Registry,
        repository: &str,
        digest: &Digest,
        from: &str,
    ) -> Result<Mount> {
        let url = registry.url(&format!(
            "/v2/{repository}/blobs/uploads/?mount={digest}&from={from}"
        ));
        let scope = Scope::push_and_pull(repository, from);
        self.retrying(|| {
            let mut response = self.attempt(
                Call {
                    registry,
                    method: "POST",
                    url: &url,
                    headers: &[],
                    scope: &scope,
                    bytes: 0,
                },
                Body::Empty,
            )?;
            match response.status().as_u16() {
                201 => Ok(Mount::Mounted),
                202 => Ok(Mount::Session(location(registry, &response)?)),
                _ => Err(Attempt::Fail(status_error(&mut response))),
            }
        })
    }

    /// Uploads a blob whose content comes from `open` (called again for every attempt, so a
    /// retry re-reads the source from its start).
    pub fn upload_blob(
        &self,
        registry: &Registry,
        repository: &str,
        upload: Upload<'_>,
        open: &mut dyn FnMut() -> Result<BlobReader, Attempt>,
    ) -> Result<()> {
        let Upload {
            digest,
            size,
            mut session,
            transfer,
        } = upload;
        let scope = Scope::push(repository);
        let head_url = registry.url(&format!("/v2/{repository}/blobs/{digest}"));
        let mut chunked = false;
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
            let location = match session.take() {
                Some(location) => location,
                None => start_upload(self, registry, repository, &scope)?,
            };
            transfer.reset();
            let mut reader = HashingReader::new(transfer.reader(open()?));
            let result = if chunked {
                put_chunked(self, registry, &location, digest, size, &mut reader, &scope)
            } else {
                let url = with_digest(&location, digest);
                let call = Call {
                    registry,
                    method: "PUT",
                    url: &url,
                    headers: &[("Content-Type", "application/octet-stream")],
                    scope: &scope,
                    bytes: size,
                };
                self.send_stream(call, &mut reader, size)
            };
            let mut response = match result {
                Ok(response) => response,
                Err(err) => {
                    transport_failures += 1;
                    if transport_failures >= MONOLITHIC_TRANSPORT_FAILURES {
                        chunked = true;
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
            match status {
                401 => Err(Attempt::Retry(err, None)),
                400 if code.as_deref() == Some("DIGEST_INVALID") => {
                    let (actual, read) = reader.finish();
                    if read == size && &actual != digest {
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
                404 if code.as_deref() == Some("BLOB_UPLOAD_UNKNOWN") => {
                    Err(Attempt::Retry(err, None))
                }
                400 | 405 | 413 | 501 if !chunked => {
                    chunked = true;
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

    /// Opens a streamed download of a blob of `size` bytes (following redirects to storage
    /// hosts). The stream ends after `size` bytes whatever the registry sends, and is held to
    /// the minimum rate.
    pub fn open_blob(
        &self,
        registry: &Registry,
        repository: &str,
        digest: &Digest,
        size: u64,
    ) -> Result<BlobReader, Attempt> {
        let url = registry.url(&format!("/v2/{repository}/blobs/{digest}"));
        let scope = Scope::pull(repository);
        let mut response = self.attempt(
            Call {
                registry,
                method: "GET",
                url: &url,
                headers: &[],
                scope: &scope,
                bytes: size,
            },
            Body::Empty,
        )?;
        if response.status() != 200 {
            return Err(Attempt::Fail(status_error(&mut response).context(format!(
                "reading blob {digest} of {}/{repository}",
                registry.name
            ))));
        }
        let announced = response
            .headers()
            .get("Content-Length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|length| length != size) {
            return Err(Attempt::Retry(
                Error::Content(format!(
                    "the registry announces {} bytes for blob {digest} of {size} bytes",
                    announced.unwrap_or_default()
                )),
                None,
            ));
        }
        let body = response.into_body().into_with_config().limit(size).reader();
        Ok(Box::new(self.guard(body, &url)))
    }

    /// Streams a blob into the file `destination` (atomically), verifying size and digest.
    pub fn download_blob(
        &self,
        registry: &Registry,
        repository: &str,
        digest: &Digest,
        size: u64,
        destination: &Path,
    ) -> Result<()> {
        self.retrying(|| {
            let mut reader =
                HashingReader::new(self.open_blob(registry, repository, digest, size)?);
            let mut file = AtomicFile::create(destination).map_err(Error::local)?;
            std::io::copy(&mut reader, &mut file)
                .map_err(|err| Attempt::Retry(Error::io(err), None))?;
            let (actual, read) = reader.finish();
            if &actual != digest || read != size {
                // Garbled or cut short on the way: the retry budget bounds a lying registry.
                return Err(Attempt::Retry(
                    Error::Content(format!("the registry sent {read} bytes hashing to {actual}, expected {size} bytes with digest {digest}")),
                    None,
                ));
            }
            file.commit().map_err(Error::local)?;
            Ok(())
        })
        .with_context(|| format!("downloading blob {digest} from {}/{repository}", registry.name))
    }

    /// Downloads a small blob (a config) into memory, verifying it.
    pub fn fetch_small_blob(
        &self,
        registry: &Registry,
        repository: &str,
        digest: &Digest,
        size: u64,
    ) -> Result<Vec<u8>> {
        const LIMIT: u64 = 16 << 20;
        if size > LIMIT {
            return Err(Error::Content(format!(
                "blob {digest} is {size} bytes, too big for a config"
            )));
        }
        self.retrying(|| {
            let reader = self.open_blob(registry, repository, digest, size)?;
            let mut bytes = Vec::new();
            reader
                .take(LIMIT + 1)
                .read_to_end(&mut bytes)
                .map_err(|err| Attempt::Retry(Error::io(err), None))?;
            // Other bytes than announced: something in between garbled them, and a second
            // try may get the right ones (the retry budget bounds it).
            verify_bytes(&bytes, digest, size).map_err(|err| Attempt::Retry(err, None))?;
            Ok(bytes)
        })
        .with_context(|| format!("fetching blob {digest} from {}/{repository}", registry.name))
    }
}

/// Checks that `bytes` are the content of `digest` with `size`.
fn verify_bytes(bytes: &[u8], digest: &Digest, size: u64) -> Result<()> {
    let actual = Digest::of_bytes(bytes);
    if &actual != digest || bytes.len() as u64 != size {
        return Err(Error::Content(format!(
            "the registry sent {} bytes hashing to {actual}, expected {size} bytes with digest {digest}",
            bytes.len()
        )));
    }
    Ok(())
}

/// `HEAD` a blob: whether it is present.
fn head_blob(
    client: &Client,
    registry: &Registry,
    url: &str,
    scope: &Scope,
) -> Result<bool, Attempt> {
    Ok(client.head(registry, url, &[], scope)?.is_some())
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

fn put_chunked(
    client: &Client,
    registry: &Registry,
    location: &str,
    digest: &Digest,
    size: u64,
    reader: &mut dyn Read,
    scope: &Scope,
) -> Result<Response<ureq::Body>> {
    let mut location = location.to_owned();
    let mut offset = 0;
    while offset < size {
        let length = CHUNK_SIZE.min(size - offset);
        let range = format!("{offset}-{}", offset + length - 1);
        let mut chunk = (&mut *reader).take(length);
        let call = Call {
            registry,
            method: "PATCH",
            url: &location,
            headers: &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", &range),
            ],
            scope,
            bytes: 0,
        };
        let response = client.send_stream(call, &mut chunk, length)?;
        if response.status() != 202 {
            return Ok(response);
        }
        location = match response
            .headers()
            .get("Location")
            .and_then(|v| v.to_str().ok())
        {
            Some(next) => registry.resolve_location(next),
            None => location,
        };
        offset += length;
    }
    let url = with_digest(&location, digest);
    let call = Call {
        registry,
        method: "PUT",
        url: &url,
        headers: &[],
        scope,
        bytes: 0,
    };
    client.send(call, Body::Empty)
}

fn location(registry: &Registry, response: &Response<ureq::Body>) -> Result<String, Attempt> {
    response
        .headers()
        .get("Location")
        .and_then(|v| v.to_str().ok())
        .map(|l| registry.resolve_location(l))
        .ok_or_else(|| {
            Attempt::Retry(
                Error::Content("the registry opened an upload without a Location header".into()),
                None,
            )
        })
}

fn with_digest(location: &str, digest: &Digest) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}digest={digest}")
}

/// The registry's `Docker-Content-Digest`, when sent, must be what we uploaded.
pub(crate) fn check_digest_header(
    response: &Response<ureq::Body>,
    expected: &Digest,
) -> Result<()> {
    if let Some(value) = response
        .headers()
        .get("Docker-Content-Digest")
        .and_then(|v| v.to_str().ok())
    {
        if value != expected.to_string() {
            return Err(Error::Content(format!(
                "the registry reports digest {value} for content we sent as {expected}"
            )));
        }
    }
    Ok(())
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
    fn verify_bytes_checks_digest_and_size() {
        let digest = Digest::of_bytes(b"abc");
        verify_bytes(b"abc", &digest, 3).unwrap();
        assert!(verify_bytes(b"abd", &digest, 3).is_err());
        assert!(verify_bytes(b"abc", &digest, 4).is_err());
    }
}
