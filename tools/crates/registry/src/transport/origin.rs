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
    if name.eq_ignore_ascii_case("localhost") || name == "::1" {
        return true;
    }
    name.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Refuses a host (`host[:port]`) written as an IPv4 address in one of the shorthand forms
/// that name resolvers accept (`127.1`, `2130706433`, `0x7f.1`, `0177.0.0.1`): TLS would take
/// it for a (malformed) host name, and credentials and loopback rules would not recognise the
/// address. The error says the address to write instead.
pub fn check_numeric_host(host: &str) -> Result<(), String> {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    };
    // A host name's last label (its top-level domain) is never all digits; an address's is.
    let last = name.rsplit('.').next().unwrap_or(name);
    let numeric = !last.is_empty()
        && (last.bytes().all(|b| b.is_ascii_digit())
            || last.len() > 2 && last[..2].eq_ignore_ascii_case("0x"));
    if !numeric || name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Ok(());
    }
    Err(match shorthand_ipv4(name) {
        Some(address) => format!(
            "registry host {name} is the IPv4 address {address} in a shorthand form, which TLS and credential lookups do not read as an address: write {address}"
        ),
        None => format!("registry host {name} is neither a host name nor an IPv4 address"),
    })
}

/// The address `inet_aton` reads `name` as: one to four parts, decimal, octal (leading 0) or
/// hexadecimal (0x), the last part filling the bits the others leave.
fn shorthand_ipv4(name: &str) -> Option<std::net::Ipv4Addr> {
    let parts: Vec<u32> = name
        .split('.')
        .map(|part| {
            let (digits, radix) = match part.get(..2) {
                Some(prefix) if prefix.eq_ignore_ascii_case("0x") => (&part[2..], 16),
                _ if part.len() > 1 && part.starts_with('0') => (&part[1..], 8),
                _ => (part, 10),
            };
            u32::from_str_radix(digits, radix).ok()
        })
        .collect::<Option<_>>()?;
    let (last, leading) = parts.split_last()?;
    if leading.len() > 3 || leading.iter().any(|&part| part > 255) {
        return None;
    }
    let last_bits = 32 - 8 * leading.len() as u32;
    if last_bits < 32 && *last >> last_bits != 0 {
        return None;
    }
    let high = leading
        .iter()
        .enumerate()
        .fold(0u32, |address, (i, &part)| address | part << (24 - 8 * i));
    Some(std::net::Ipv4Addr::from(high | last))
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
            "LOCALHOST:5000",
            "LocalHost",
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
    fn shorthand_ipv4_hosts_are_refused_naming_the_address() {
        for (host, address) in [
            ("127.1:5000", "127.0.0.1"),
            ("2130706433", "127.0.0.1"),
            ("0x7f.1", "127.0.0.1"),
            ("0177.0.0.1", "127.0.0.1"),
            ("10.1.2", "10.1.0.2"),
        ] {
            let err = check_numeric_host(host).unwrap_err();
            assert!(
                err.ends_with(&format!("in a shorthand form, which TLS and credential lookups do not read as an address: write {address}")),
                "{host}: {err}"
            );
        }
        assert_eq!(
            check_numeric_host("1.2.3.4.5").unwrap_err(),
            "registry host 1.2.3.4.5 is neither a host name nor an IPv4 address"
        );
        for fine in [
            "127.0.0.1:5000",
            "reg.example",
            "[::1]:5000",
            "r9.example:443",
            "localhost",
            "a.b.c0x",
        ] {
            assert_eq!(check_numeric_host(fine), Ok(()), "{fine}");
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
