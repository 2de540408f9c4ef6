//! Errors from setting a server up. Peer errors never surface here: they end
//! one connection with a [`CloseReason`](crate::CloseReason).

use std::fmt;
use std::io;

/// An error starting or running a [`Server`](crate::Server).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Binding, listening or starting the reactor failed.
    Io(io::Error),
    /// The [`Config`](crate::Config) is inconsistent; the text says how.
    InvalidConfig(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(err) => write!(f, "I/O error: {err}"),
            Error::InvalidConfig(what) => write!(f, "invalid config: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(err) => Some(err),
            Error::InvalidConfig(_) => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        Error::Io(err)
    }
}
