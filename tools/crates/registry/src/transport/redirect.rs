//! Redirects, followed by hand so that credentials stay on their origin: ureq's own policy
//! compares host names only, so a redirect to another port of the same host (or from https to
//! http) would carry them along (curl's CVE-2022-27776).
//!
//! Only GET and HEAD are followed (blob and manifest reads served from storage, token realms):
//! a registry answering an upload or a manifest PUT with a redirect gets the answer treated as
//! the refusal it is, and the body is never sent anywhere else.

use ureq::http::Response;

use super::origin::Origin;
use crate::error::{Error, Result};

/// Hops followed for one request, as many as curl and Go allow by default and then some.
pub(crate) const MAX_REDIRECTS: usize = 10;

/// The absolute URL a response redirects `method url` to, if it is a redirect to follow.
pub(crate) fn next_hop(
    method: &str,
    url: &str,
    response: &Response<ureq::Body>,
) -> Result<Option<String>> {
    if !matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308)
        || !matches!(method, "GET" | "HEAD")
    {
        return Ok(None);
    }
    let location = response
        .headers()
        .get("Location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            Error::Content(format!(
                "{url} answered HTTP {} without a Location header",
                response.status().as_u16()
            ))
        })?;
    let next = resolve(url, location);
    if Origin::of(&next).is_none() {
        return Err(Error::Content(format!(
            "{url} redirects to {next:?}, not an http or https URL"
        )));
    }
    Ok(Some(next))
}

/// `location` resolved against the URL it was received from.
pub(crate) fn resolve(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    if let Some(network_path) = location.strip_prefix("//") {
        return format!("{scheme}://{network_path}");
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let root = format!("{scheme}://{}", &rest[..authority_end]);
    if location.starts_with('/') {
        return format!("{root}{location}");
    }
    let path = rest[authority_end..].split('?').next().unwrap_or("");
    let directory = path.rfind('/').map_or("", |i| &path[..i]);
    format!("{root}{directory}/{location}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_like_a_browser() {
        let base = "https://r.example:5000/v2/a/blobs/uploads/u?x=1";
        assert_eq!(resolve(base, "http://s/o"), "http://s/o");
        assert_eq!(resolve(base, "//s:1/o"), "https://s:1/o");
        assert_eq!(resolve(base, "/v2/b"), "https://r.example:5000/v2/b");
        assert_eq!(
            resolve(base, "v"),
            "https://r.example:5000/v2/a/blobs/uploads/v"
        );
    }
}
