//! What the shared primitives fail with, and the `.context(…)` every library crate of the
//! workspace uses to say what it was doing.
//!
//! Each library crate has one error type. A message is complete in its `Display`: context,
//! then cause, joined by `: ` on one line. No error has a `source()`, so a binary that prints
//! the chain (anyhow's `{:#}`) prints each cause once.

use std::fmt::Display;
use std::io;

/// A failure of the shared primitives.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read, written, linked or renamed.
    #[error("{0}")]
    Io(io::Error),
    /// Bytes that should be JSON of a known shape are not.
    #[error("{0}")]
    Json(serde_json::Error),
    /// An input that is not what it must be: a digest, reference, platform, media type, image
    /// layout, descriptor or report.
    #[error("{0}")]
    Invalid(String),
    /// What was being done when `inner` happened.
    #[error("{context}: {inner}")]
    Context { context: String, inner: Box<Error> },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

// Not `#[from]`: that would make the cause a `source()` too, printed twice in chains.
impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        Error::Io(err)
    }
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Error::Json(err)
    }
}

/// An error that can say what was being done when it happened: the error type of a library
/// crate. [`contextual_error!`](crate::contextual_error) implements it.
pub trait Contextual: Sized {
    fn context(self, context: String) -> Self;
}

/// `.context(…)` and `.with_context(…)`, as anyhow has them: on a result of a crate's own error
/// type they keep that type; on an `io::Error`, `serde_json::Error` or a missing `Option`
/// value they give an [`Error`], which every crate's error converts from with `?`.
pub trait Context<T> {
    type Error;

    fn context(self, context: impl Display) -> Result<T, Self::Error>;

    fn with_context<C: Display>(self, context: impl FnOnce() -> C) -> Result<T, Self::Error>;
}

impl<T, E: Contextual> Context<T> for Result<T, E> {
    type Error = E;

    fn context(self, context: impl Display) -> Result<T, E> {
        self.map_err(|err| err.context(context.to_string()))
    }

    fn with_context<C: Display>(self, context: impl FnOnce() -> C) -> Result<T, E> {
        self.map_err(|err| err.context(context().to_string()))
    }
}

/// `.context(…)` for the results of a library outside the workspace, whose errors become an
/// [`Error`] first.
macro_rules! foreign_context {
    ($($foreign:ty),*) => {$(
        impl<T> Context<T> for Result<T, $foreign> {
            type Error = Error;

            fn context(self, context: impl Display) -> Result<T> {
                self.map_err(Error::from).context(context)
            }

            fn with_context<C: Display>(self, context: impl FnOnce() -> C) -> Result<T> {
                self.map_err(Error::from).with_context(context)
            }
        }
    )*};
}

foreign_context!(io::Error, serde_json::Error);

/// A missing value is an [`Error::Invalid`] saying what is missing.
impl<T> Context<T> for Option<T> {
    type Error = Error;

    fn context(self, context: impl Display) -> Result<T> {
        self.ok_or_else(|| Error::Invalid(context.to_string()))
    }

    fn with_context<C: Display>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| Error::Invalid(context().to_string()))
    }
}

/// Makes `$error`, an error enum with a `Context { context: String, inner: Box<$error> }`
/// variant, [`Contextual`]; with `$core`, its variant holding an [`Error`], also converts the
/// causes every crate meets (`io::Error`, `serde_json::Error`) into it.
#[macro_export]
macro_rules! contextual_error {
    ($error:ident) => {
        impl $crate::error::Contextual for $error {
            fn context(self, context: String) -> Self {
                $error::Context {
                    context,
                    inner: Box::new(self),
                }
            }
        }
    };
    ($error:ident, $core:ident) => {
        $crate::contextual_error!($error);

        impl From<std::io::Error> for $error {
            fn from(err: std::io::Error) -> Self {
                $error::$core(err.into())
            }
        }

        impl From<serde_json::Error> for $error {
            fn from(err: serde_json::Error) -> Self {
                $error::$core(err.into())
            }
        }
    };
}

crate::contextual_error!(Error);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_and_causes_make_one_line_without_sources() {
        let missing: io::Result<()> = Err(io::Error::new(io::ErrorKind::NotFound, "gone"));
        let err = missing.context("reading x").context("base /b").unwrap_err();
        assert_eq!(err.to_string(), "base /b: reading x: gone");
        assert!(std::error::Error::source(&err).is_none());
        let absent: Option<u8> = None;
        assert_eq!(
            absent.context("no digest").unwrap_err().to_string(),
            "no digest"
        );
    }
}
