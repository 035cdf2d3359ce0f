//! What authenticates a request, and where it came from.

use std::fmt;

use base64::Engine as _;

/// What to authenticate with. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token server.
    IdentityToken(String),
    /// A registry access token, sent as `Authorization: Bearer` as it is.
    RegistryToken(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credentials::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
            Credentials::RegistryToken(_) => f.write_str("RegistryToken(<redacted>)"),
        }
    }
}

impl Credentials {
    /// The username and password of base64 `username:password` (a docker `auth` field, a
    /// `Basic` header's value); `None` when it is not that. Callers never show `encoded`: it
    /// is the password, merely encoded.
    pub(crate) fn from_basic(encoded: &str) -> Option<Credentials> {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())?;
        let (username, password) = decoded.split_once(':')?;
        Some(Credentials::Basic {
            username: username.to_owned(),
            password: password.to_owned(),
        })
    }
}

/// Credentials and a human description of where they came from (for error messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub credentials: Credentials,
    pub origin: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let text = format!(
            "{:?} {:?}",
            Credentials::from_basic("YWxpY2U6aHVudGVyMg==").unwrap(),
            Credentials::IdentityToken("tok3n".into())
        );
        assert_eq!(text, "Basic(alice, <redacted>) IdentityToken(<redacted>)");
    }

    #[test]
    fn basic_values_split_at_the_first_colon() {
        assert_eq!(
            Credentials::from_basic(" dXNlcjpwYTpzcw== "),
            Some(Credentials::Basic {
                username: "user".into(),
                password: "pa:ss".into()
            })
        );
        assert_eq!(Credentials::from_basic("bm9jb2xvbg=="), None);
        assert_eq!(Credentials::from_basic("not base64!"), None);
    }
}
