//! Name resolution as ureq does it, with a failed lookup told apart from other I/O errors: a
//! host name that does not resolve (a typo, a name of another network) is tried twice, not
//! as often as a transient failure.

use std::fmt;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// A host name that did not resolve; carried inside the `io::Error` ureq reports.
#[derive(Debug)]
pub(crate) struct UnknownHost {
    host: String,
    cause: std::io::Error,
}

impl fmt::Display for UnknownHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the host name {} does not resolve ({})",
            self.host, self.cause
        )
    }
}

impl std::error::Error for UnknownHost {}

/// ureq's resolver, reporting a failed lookup as an [`UnknownHost`].
#[derive(Debug, Default)]
pub(crate) struct NamingResolver(DefaultResolver);

impl Resolver for NamingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        self.0
            .resolve(uri, config, timeout)
            .map_err(|err| match err {
                ureq::Error::Io(cause) => ureq::Error::Io(std::io::Error::other(UnknownHost {
                    host: uri.host().unwrap_or_default().to_owned(),
                    cause,
                })),
                other => other,
            })
    }
}

/// Whether `err` is a host name that does not resolve.
pub(crate) fn is_unknown_host(err: &ureq::Error) -> bool {
    match err {
        ureq::Error::HostNotFound => true,
        ureq::Error::Io(io) => io.get_ref().is_some_and(|e| e.is::<UnknownHost>()),
        _ => false,
    }
}
