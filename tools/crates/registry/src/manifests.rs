//! Manifests: fetch (verified against the digest asked for), existence checks, upload.

use std::io::Read;

use sematic_oci_core::media_type::ACCEPTED_MANIFESTS;
use sematic_oci_core::Digest;

use crate::blobs::check_digest_header;
use crate::error::{status_error, Context as _, Error, Result};
use crate::transport::{Attempt, Body, Call, Client, Registry, Scope};

/// Manifests are small; a bigger body is not one.
const MANIFEST_LIMIT: u64 = 4 << 20;

/// A manifest as the registry sent it.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    /// The digest of `bytes` (for a fetch by digest, verified to be the one asked for).
    pub digest: Digest,
}

impl Client {
    /// `GET` a manifest by tag or digest, accepting every manifest type we understand. A
    /// fetch by digest fails unless the bytes hash to it.
    pub fn fetch_manifest(
        &self,
        registry: &Registry,
        repository: &str,
        reference: &str,
    ) -> Result<Manifest> {
        let url = registry.url(&format!("/v2/{repository}/manifests/{reference}"));
        let scope = Scope::pull(repository);
        let accept = ACCEPTED_MANIFESTS.join(", ");
        let expected = Digest::parse(reference).ok();
        self.retrying(|| {
            let mut response = self.attempt(
                Call {
                    registry,
                    method: "GET",
                    url: &url,
                    headers: &[("Accept", &accept)],
                    scope: &scope,
                    bytes: 0,
                },
                Body::Empty,
            )?;
            if response.status() != 200 {
                return Err(Attempt::Fail(status_error(&mut response)));
            }
            let header_type = response
                .headers()
                .get("Content-Type")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned());
            let mut bytes = Vec::new();
            self.guard(response.into_body().into_reader(), &url)
                .take(MANIFEST_LIMIT + 1)
                .read_to_end(&mut bytes)
                .map_err(|err| {
                    Attempt::Retry(Error::io(err).context("reading the manifest"), None)
                })?;
            if bytes.len() as u64 > MANIFEST_LIMIT {
                return Err(Attempt::Fail(Error::Content(format!(
                    "the manifest is larger than {MANIFEST_LIMIT} bytes"
                ))));
            }
            let digest = Digest::of_bytes(&bytes);
            if let Some(expected) = &expected {
                if &digest != expected {
                    // Possibly garbled on the way; a retry tells a liar from a glitch.
                    return Err(Attempt::Retry(
                        Error::Content(format!(
                            "the registry sent a manifest hashing to {digest}, not {expected}"
                        )),
                        None,
                    ));
                }
            }
            let media_type = media_type_of(&bytes).or(header_type).ok_or_else(|| {
                Attempt::Fail(Error::Content("the manifest names no media type".into()))
            })?;
            Ok(Manifest {
                bytes,
                media_type,
                digest,
            })
        })
        .with_context(|| {
            let separator = if expected.is_some() { '@' } else { ':' };
            format!(
                "fetching manifest {}/{repository}{separator}{reference}",
                registry.name
            )
        })
    }

    /// Whether `repository` already has the manifest `digest`.
    pub fn manifest_exists(
        &self,
        registry: &Registry,
        repository: &str,
        digest: &Digest,
    ) -> Result<bool> {
        let url = registry.url(&format!("/v2/{repository}/manifests/{digest}"));
        let scope = Scope::push(repository);
        let accept = ACCEPTED_MANIFESTS.join(", ");
        self.retrying(|| {
            Ok(self
                .head(registry, &url, &[("Accept", &accept)], &scope)?
                .is_some())
        })
        .with_context(|| {
            format!(
                "checking for manifest {digest} in {}/{repository}",
                registry.name
            )
        })
    }

    /// `PUT` a manifest at `reference` (its digest, or a tag), byte for byte.
    pub fn put_manifest(
        &self,
        registry: &Registry,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
        digest: &Digest,
    ) -> Result<()> {
        let url = registry.url(&format!("/v2/{repository}/manifests/{reference}"));
        let scope = Scope::push(repository);
        self.retrying(|| {
            let mut response = self.attempt(
                Call {
                    registry,
                    method: "PUT",
                    url: &url,
                    headers: &[("Content-Type", media_type)],
                    scope: &scope,
                    bytes: 0,
                },
                Body::Bytes(bytes),
            )?;
            match response.status().as_u16() {
                200 | 201 | 202 | 204 => {
                    check_digest_header(&response, digest).map_err(Attempt::Fail)
                }
                _ => Err(Attempt::Fail(status_error(&mut response))),
            }
        })
    }

    /// Resolves a tag to the digest of the manifest it names today.
    pub fn resolve_tag(&self, registry: &Registry, repository: &str, tag: &str) -> Result<Digest> {
        let url = registry.url(&format!("/v2/{repository}/manifests/{tag}"));
        let scope = Scope::pull(repository);
        let accept = ACCEPTED_MANIFESTS.join(", ");
        // A registry may leave the digest header out; the manifest itself then says. A 404 also
        // falls through, so the error carries the registry's explanation from a GET body.
        let from_header = self.retrying(|| {
            Ok(self
                .head(registry, &url, &[("Accept", &accept)], &scope)?
                .and_then(|response| {
                    response
                        .headers()
                        .get("Docker-Content-Digest")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| Digest::parse(v).ok())
                }))
        })?;
        match from_header {
            Some(digest) => Ok(digest),
            None => Ok(self.fetch_manifest(registry, repository, tag)?.digest),
        }
    }
}

/// The `mediaType` field of a manifest, if it has one.
fn media_type_of(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<Head>(bytes).ok()?.media_type
}
