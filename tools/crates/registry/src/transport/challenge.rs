//! `WWW-Authenticate` challenges: how a registry wants to be authenticated.

use std::collections::BTreeMap;

/// What a registry asked for in a 401 response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// Send credentials with every request.
    Basic,
    /// Get a token for a scope from `realm` (the docker token protocol).
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` value. Unknown schemes give `None`: the request then fails
/// with the registry's own 401, which names the problem better than we could.
pub fn parse(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((header, ""));
    let params = parse_params(rest);
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        let realm = params.get("realm")?.clone();
        Some(Challenge::Bearer {
            realm,
            service: params.get("service").cloned(),
        })
    } else {
        None
    }
}

/// `key=value` and `key="quoted \"value\""` pairs separated by commas; keys lowercased.
fn parse_params(text: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars
            .peek()
            .is_some_and(|c| c.is_ascii_whitespace() || *c == ',')
        {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            return params;
        }
        if chars.next() != Some('=') {
            continue;
        }
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    other => value.push(other),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        params.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_with_quoted_parameters() {
        let challenge = parse(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push",error="insufficient_scope""#,
        );
        assert_eq!(
            challenge,
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into())
            })
        );
    }

    #[test]
    fn case_spacing_and_escapes() {
        assert_eq!(
            parse(r#"bearer  Realm = "http://127.0.0.1:1/t\"x" , service=svc"#),
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:1/t\"x".into(),
                service: Some("svc".into())
            })
        );
        assert_eq!(parse(r#"Basic realm="test-realm""#), Some(Challenge::Basic));
        assert_eq!(parse("BASIC"), Some(Challenge::Basic));
    }

    #[test]
    fn unusable_challenges() {
        assert_eq!(parse(r#"Bearer service="x""#), None);
        assert_eq!(parse(r#"Negotiate abc"#), None);
        assert_eq!(parse(""), None);
    }
}
