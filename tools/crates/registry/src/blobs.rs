//! Blobs: existence checks, cross-repository mounts and streamed downloads (uploads are in
//! [`crate::upload`]).

use std::io::Read;
use std::path::Path;

use sematic_oci_core::digest::HashingReader;
use sematic_oci_core::fsutil::AtomicFile;
use sematic_oci_core::Digest;
use ureq::http::Response;

use crate::error::{status_error, Context as _, Error, Result};
use crate::transport::{resolve_location, Attempt, Body, Call, Client, Registry, Scope};

/// A stream of blob bytes.
pub type BlobReader = Box<dyn Read + Send>;

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
                202 => Ok(Mount::Session(location(&url, &response)?)),
                _ => Err(Attempt::Fail(status_error(&mut response))),
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
pub(crate) fn head_blob(
    client: &Client,
    registry: &Registry,
    url: &str,
    scope: &Scope,
) -> Result<bool, Attempt> {
    Ok(client.head(registry, url, &[], scope)?.is_some())
}

/// The upload session a response to `url` opened: its `Location`, resolved against `url`.
pub(crate) fn location(url: &str, response: &Response<ureq::Body>) -> Result<String, Attempt> {
    response
        .headers()
        .get("Location")
        .and_then(|v| v.to_str().ok())
        .map(|l| resolve_location(url, l))
        .ok_or_else(|| {
            Attempt::Retry(
                Error::Content("the registry opened an upload without a Location header".into()),
                None,
            )
        })
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
    fn verify_bytes_checks_digest_and_size() {
        let digest = Digest::of_bytes(b"abc");
        verify_bytes(b"abc", &digest, 3).unwrap();
        assert!(verify_bytes(b"abd", &digest, 3).is_err());
        assert!(verify_bytes(b"abc", &digest, 4).is_err());
    }
}
