//! Image references (`registry/repository[:tag][@sha256:…]`) with the grammar of the
//! distribution project, so a bad name fails here, with the reason, instead of as an HTTP 400.

use std::fmt;

use crate::error::{Error, Result};

use crate::digest::Digest;

/// Registry used for references without a registry part, as `docker pull` does.
pub const DOCKER_HUB: &str = "docker.io";

/// A parsed image reference. `registry` is kept as written (users see it again in the URIs we
/// hand to Sematic); [`Reference::api_host`] gives the host to talk to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses `[registry/]repository[:tag][@sha256:hex]`.
    pub fn parse(text: &str) -> Result<Self> {
        let fail = |reason: &str| -> Result<Self> {
            Err(Error::Invalid(format!(
                "invalid image reference {text:?}: {reason}"
            )))
        };
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => match Digest::parse(digest) {
                Ok(digest) => (rest, Some(digest)),
                Err(err) => return fail(&err.to_string()),
            },
            None => (text, None),
        };
        // A ':' after the last '/' starts a tag; one before it belongs to a registry port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].find(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            if let Err(err) = validate_tag(tag) {
                return fail(&err.to_string());
            }
        }
        if name.is_empty() {
            return fail("the repository name is empty");
        }
        match split_repository(name) {
            Ok((registry, repository)) => Ok(Reference {
                registry,
                repository,
                tag: tag.map(str::to_owned),
                digest,
            }),
            Err(err) => fail(&err.to_string()),
        }
    }

    /// Parses a push destination, `registry/repository`, which must carry no tag or digest.
    pub fn parse_repository(text: &str) -> Result<Self> {
        let reference = Reference::parse(text)?;
        if reference.tag.is_some() || reference.digest.is_some() {
            return Err(Error::Invalid(format!(
                "invalid repository {text:?}: give registry/repository without a tag or digest"
            )));
        }
        Ok(reference)
    }

    /// Parses a push destination as [`Reference::parse_repository`] does, except that one
    /// naming no registry (`team/app`: no `.`, `:` or `localhost` in its first component) is in
    /// `registry`, not on Docker Hub.
    pub fn parse_repository_in(text: &str, registry: &str) -> Result<Self> {
        let names_registry = text
            .split_once('/')
            .is_some_and(|(first, _)| first.contains(['.', ':']) || first == "localhost");
        if names_registry {
            Reference::parse_repository(text)
        } else {
            Reference::parse_repository(&format!("{registry}/{text}"))
        }
    }

    /// The host (and port) to send API requests to: Docker Hub's API lives on another host than
    /// its name.
    pub fn api_host(&self) -> &str {
        match self.registry.as_str() {
            "docker.io" | "index.docker.io" => "registry-1.docker.io",
            other => other,
        }
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// This repository at `digest`.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            tag: None,
            ..self.clone()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Splits `name` into registry and repository the way `docker` does: the first component is
/// a registry when it contains '.' or ':' or is `localhost`; otherwise the name is on Docker
/// Hub, where one-component names live under `library/`.
fn split_repository(name: &str) -> Result<(String, String)> {
    let (registry, repository) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            validate_registry(first)?;
            (first.to_owned(), rest.to_owned())
        }
        Some(_) => (DOCKER_HUB.to_owned(), name.to_owned()),
        None => (DOCKER_HUB.to_owned(), format!("library/{name}")),
    };
    validate_repository(&repository)?;
    Ok((registry, repository))
}

fn validate_registry(registry: &str) -> Result<()> {
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || registry.starts_with('[') => {
            (host, Some(port))
        }
        _ => (registry, None),
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.len() > 5 {
            return Err(Error::Invalid(format!(
                "registry {registry:?} has an invalid port"
            )));
        }
    }
    let host_ok = if let Some(ipv6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !ipv6.is_empty()
            && ipv6
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    if !host_ok {
        return Err(Error::Invalid(format!(
            "registry {registry:?} is not a valid host[:port]"
        )));
    }
    Ok(())
}

/// Checks a repository path: lowercase components of `[a-z0-9]` joined by `.`, `_`, `__` or
/// runs of `-`, separated by `/`, at most 255 characters in all.
pub fn validate_repository(repository: &str) -> Result<()> {
    if repository.is_empty() {
        return Err(Error::Invalid("the repository name is empty".into()));
    }
    if repository.len() > 255 {
        return Err(Error::Invalid(format!(
            "repository {repository:?} is longer than 255 characters"
        )));
    }
    for component in repository.split('/') {
        if !valid_path_component(component) {
            return Err(Error::Invalid(format!("repository component {component:?} is invalid: use lowercase letters and digits, separated by '.', '_', '__' or '-'")));
        }
    }
    Ok(())
}

fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let is_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !is_alnum(bytes[0]) || !is_alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if is_alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !is_alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let dashes = separator.bytes().all(|b| b == b'-');
        if !(separator == "." || separator == "_" || separator == "__" || dashes) {
            return false;
        }
    }
    true
}

/// Checks a tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<()> {
    let bytes = tag.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let valid = !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-');
    if !valid {
        return Err(Error::Invalid(format!(
            "tag {tag:?} is invalid: use up to 128 of A-Z a-z 0-9 _ . - (not starting with . or -)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_without_a_registry_is_in_the_one_given() {
        let name = |text: &str| {
            Reference::parse_repository_in(text, "r.example:5000")
                .unwrap()
                .name()
        };
        assert_eq!(name("team/app"), "r.example:5000/team/app");
        assert_eq!(name("app"), "r.example:5000/app");
        assert_eq!(name("ghcr.io/team/app"), "ghcr.io/team/app");
        assert_eq!(name("localhost/app"), "localhost/app");
        assert_eq!(name("docker.io/team/app"), "docker.io/team/app");
    }

    const DIGEST: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_registry_port_tag_and_digest() {
        let r = Reference::parse(&format!("127.0.0.1:5000/team/app:v1@{DIGEST}")).unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.digest.as_ref().unwrap().to_string(), DIGEST);
        assert_eq!(
            r.to_string(),
            format!("127.0.0.1:5000/team/app:v1@{DIGEST}")
        );
        let plain = Reference::parse("localhost:5000/app").unwrap();
        assert_eq!(
            (plain.registry.as_str(), plain.tag),
            ("localhost:5000", None)
        );
    }

    #[test]
    fn docker_hub_names_are_normalised_like_docker_does() {
        let r = Reference::parse("python:3.11").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("docker.io", "library/python")
        );
        assert_eq!(r.api_host(), "registry-1.docker.io");
        let r = Reference::parse("sematicai/sematic-worker-base").unwrap();
        assert_eq!(r.repository, "sematicai/sematic-worker-base");
        let r = Reference::parse("index.docker.io/sematicai/sematic-worker-base").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.api_host()),
            ("index.docker.io", "registry-1.docker.io")
        );
    }

    #[test]
    fn invalid_references_name_the_problem() {
        for (bad, why) in [
            ("127.0.0.1:5000/App", "component"),
            ("127.0.0.1:5000/a//b", "component"),
            ("127.0.0.1:5000/a:", "tag"),
            ("127.0.0.1:5000/a:-x", "tag"),
            ("127.0.0.1:5000/a@sha256:abc", "sha256:"),
            ("127.0.0.1:x/a", "port"),
            ("bad_host.example/a", "host"),
            ("", "empty"),
        ] {
            let err = Reference::parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        let err = Reference::parse_repository("127.0.0.1:5000/a:v1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("without a tag"), "{err}");
    }

    #[test]
    fn tags_follow_the_distribution_grammar() {
        validate_tag("main_default").unwrap();
        validate_tag(&"a".repeat(128)).unwrap();
        assert!(validate_tag(&"a".repeat(129)).is_err());
        assert!(validate_tag("a::b").is_err());
        assert!(validate_tag(".hidden").is_err());
    }

    #[test]
    fn repository_separators() {
        validate_repository("a.b_c__d---e/f").unwrap();
        for bad in ["a..b", "a___b", "-a", "a-", "a/", "A"] {
            assert!(validate_repository(bad).is_err(), "{bad}");
        }
    }
}
