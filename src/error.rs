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
    /// A reactor stopped on a failure of its own (a bug: it panicked, or its
    /// poll failed), not because shutdown was asked for. It settled every
    /// connection it held first (`server_error`); see the log.
    ReactorFailed,
    /// A [`Router`](crate::Router) route could not be added (a pattern
    /// that does not parse, or one that conflicts with another), or it
    /// declared a hand-off queue or event stream the builder does not have
    /// ([`Router::hands_off_to`](crate::Router::hands_off_to)).
    InvalidRoute(String),
    /// No hand-off queue has this name (see
    /// [`Builder::queue`](crate::Builder::queue)).
    UnknownQueue(String),
    /// [`Config::set`](crate::Config::set) was given a name no field has,
    /// or a value not of the field's form; `why` says what was expected.
    InvalidSetting {
        /// The name as given.
        name: String,
        /// What was wrong, and what would do.
        why: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(err) => write!(f, "I/O error: {err}"),
            Error::InvalidConfig(what) => write!(f, "invalid config: {what}"),
            Error::ReactorFailed => f.write_str("a reactor stopped on a failure of its own"),
            Error::InvalidRoute(why) => write!(f, "invalid route: {why}"),
            Error::UnknownQueue(name) => write!(f, "no hand-off queue is named {name:?}"),
            Error::InvalidSetting { name, why } => write!(f, "setting {name}: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(err) => Some(err),
            Error::InvalidConfig(_)
            | Error::ReactorFailed
            | Error::InvalidRoute(_)
            | Error::UnknownQueue(_)
            | Error::InvalidSetting { .. } => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        Error::Io(err)
    }
}

/// Why a send on a stream ([`StreamSender`](crate::StreamSender)) or a
/// WebSocket ([`WebSocket`](crate::ws::WebSocket)) did not queue what it
/// was given. The one send error of the crate.
///
/// ```
/// use tether::{CloseReason, SendError};
/// let err = SendError::Closed(CloseReason::PeerClosed);
/// assert_eq!(err.to_string(), "closed: peer_closed");
/// assert_eq!(err.close_reason(), Some(CloseReason::PeerClosed));
/// assert_eq!(SendError::Full.close_reason(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The connection ended (the client left, or the server closed it), for
    /// this reason. Nobody will read what is sent now, and every later send
    /// fails too.
    Closed(crate::CloseReason),
    /// The queue is over its budget: at once for `try_send`, after the
    /// timeout for `send_timeout`, and for a WebSocket under
    /// [`WsBackpressure::Fail`](crate::ws::WsBackpressure::Fail). Nothing
    /// queued is lost; a [`Bytes`](crate::Bytes) part is cheap to clone, so
    /// keep a clone to try again.
    Full,
    /// A WebSocket's close was requested (or its queue overflowed under
    /// [`WsBackpressure::Close`](crate::ws::WsBackpressure::Close)): no
    /// more messages may be sent.
    Closing,
    /// A blocking send on the reactor's own thread (a handler, an
    /// `on_close` callback) found the queue full: waiting there would wait
    /// for the reactor itself.
    WouldDeadlock,
}

impl SendError {
    /// Why the connection ended, for [`SendError::Closed`].
    pub fn close_reason(self) -> Option<crate::CloseReason> {
        match self {
            SendError::Closed(reason) => Some(reason),
            _ => None,
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(reason) => write!(f, "closed: {reason}"),
            SendError::Full => f.write_str("send queue full"),
            SendError::Closing => f.write_str("closing: no more messages"),
            SendError::WouldDeadlock => {
                f.write_str("send queue full and the send was called on the reactor thread")
            }
        }
    }
}

impl std::error::Error for SendError {}
