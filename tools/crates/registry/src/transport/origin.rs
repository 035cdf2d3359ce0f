//! Origins (scheme, host, port): what credentials are scoped to, and which hosts count as
//! loopback (plain HTTP allowed, no proxy).

use ureq::http::Uri;

/// The scheme, host and port of a URL: credentials issued for one origin go to no other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// The origin of an absolute `http`/`https` URL.
    pub fn of(url: &str) -> Option<Origin> {
        let uri: Uri = url.parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return None,
        };
        Some(Origin {
            host: uri.host()?.to_ascii_lowercase(),
            port: uri.port_u16().unwrap_or(default_port),
            scheme,
        })
    }

    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.host)
    }
}

/// Whether `url` is on the origin of `base` (scheme, host and port), so it may carry the
/// credentials issued for `base`.
pub fn same_origin(url: &str, base: &str) -> bool {
    match (Origin::of(url), Origin::of(base)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Loopback registries may speak plain HTTP without `--insecure`, as with docker. `host` may
/// carry a port and IPv6 brackets.
pub fn is_loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => {
            name
        }
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if name == "localhost" || name == "::1" {
        return true;
    }
    name.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "127.0.0.1:5000",
            "127.3.2.1",
            "localhost:80",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "10.0.0.1:5000",
            "registry.example",
            "[::2]:5000",
            "localhost.example",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert!(same_origin("https://r:5000/v2/a", "https://r:5000"));
        assert!(same_origin("https://R/v2/a?x=1", "https://r:443"));
        assert!(!same_origin("https://r:50001/v2/a", "https://r:5000"));
        assert!(!same_origin("http://r:5000/v2/a", "https://r:5000"));
        assert!(!same_origin("https://r.evil:5000/v2/a", "https://r:5000"));
        assert!(!same_origin("/v2/a", "https://r:5000"));
        assert!(Origin::of("http://[::1]:5000/v2/").unwrap().is_loopback());
    }
}
