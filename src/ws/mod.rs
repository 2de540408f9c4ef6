//! WebSocket (RFC 6455) on the same reactor and slab as HTTP.
//!
//! The handler answers an upgrade request with
//! [`Action::Upgrade`](crate::Action::Upgrade); the reactor completes the
//! handshake and from then on owns the socket like any connection: it reads
//! and checks frames, answers pings, pings quiet clients and ends those whose
//! pong is late, and runs the closing handshake. The application gets a
//! [`WebSocket`] handle and the socket's events (open, message, the one
//! terminal close) on the server's [`WsEvents`] stream.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tether::{Action, Server};
//! use tether::ws::{Message, Upgrade, WsEventKind};
//!
//! let server = Server::builder()
//!     .handler(|req: &tether::Request| match req.path() {
//!         "/ws" => Action::Upgrade(Upgrade::new()),
//!         _ => Action::Respond(tether::Response::new(404)),
//!     })
//!     .bind("127.0.0.1:0")?;
//! let events = server.ws_events();
//! std::thread::spawn(move || {
//!     while let Some(event) = events.recv() {
//!         if let WsEventKind::Message(Message::Text(text)) = &event.kind {
//!             let _ = event.socket.send_text(text); // echo
//!         }
//!     }
//! });
//! # Ok(())
//! # }
//! ```

pub(crate) mod events;
pub(crate) mod frame;
mod group;
pub(crate) mod handle;
pub(crate) mod handshake;
pub(crate) mod session;

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::proto::response::{check_header, IntoBytes, InvalidHeader};

pub use crate::config::WsBackpressure;
pub use events::{Message, WsEvent, WsEventKind, WsEvents};
pub use group::WsGroup;
pub use handle::WebSocket;
use handshake::Origins;
pub use handshake::{is_upgrade, offered_protocols};

/// The name of the WebSocket event stream that [`Server::ws_events`] serves
/// and an [`Upgrade`] uses unless it names another.
///
/// [`Server::ws_events`]: crate::Server::ws_events
pub const DEFAULT_WS_EVENTS: &str = "default";

/// How the handler accepts an upgrade: optionally with a subprotocol chosen
/// from those the client offered ([`offered_protocols`]), headers for the
/// `101` (a `Set-Cookie`), a value for the socket (who authenticated), and
/// the event stream its events go to.
///
/// ```
/// use tether::{Action, Request, Response};
/// use tether::ws::Upgrade;
///
/// struct User(String);
///
/// let handler = |req: &Request| -> Action {
///     match req.query_value("token").as_deref() {
///         Some("s3cret") => Upgrade::new()
///             .with(User("ada".into()))
///             .header("Set-Cookie", "session=1; HttpOnly")
///             .events("chat")
///             .into(),
///         _ => Response::text(401, "who are you?").into(),
///     }
/// };
/// # let _ = handler;
/// ```
#[derive(Clone, Default)]
pub struct Upgrade {
    pub(crate) protocol: Option<String>,
    pub(crate) headers: Vec<(Cow<'static, str>, Cow<'static, [u8]>)>,
    pub(crate) value: Option<Arc<dyn Any + Send + Sync>>,
    pub(crate) events: Option<Cow<'static, str>>,
    pub(crate) origins: Origins,
    /// This socket's ping interval and pong timeout, if not the server's.
    pub(crate) ping: Option<(Duration, Duration)>,
}

impl fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgrade")
            .field("protocol", &self.protocol)
            .field("headers", &self.headers.len())
            .field("value", &self.value.is_some())
            .field("events", &self.events)
            .field("origins", &self.origins)
            .field("ping", &self.ping)
            .finish()
    }
}

/// Headers the handshake itself sets: the application may not.
const HANDSHAKE_HEADERS: [&str; 7] = [
    "connection",
    "upgrade",
    "sec-websocket-accept",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "content-length",
    "transfer-encoding",
];

impl Upgrade {
    /// Accept without a subprotocol.
    pub fn new() -> Self {
        Upgrade::default()
    }

    /// Accept with `protocol` (answered in `Sec-WebSocket-Protocol`).
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }

    /// Adds a header to the `101 Switching Protocols`.
    ///
    /// # Panics
    ///
    /// As [`Response::with_header`](crate::Response::with_header) does, and
    /// for a header the handshake sets itself (`Upgrade`, `Connection`,
    /// `Sec-WebSocket-*`, framing): use [`try_header`](Upgrade::try_header)
    /// for names or values that come from data. (A panic in the handler is
    /// contained: that request is answered `500`.)
    #[track_caller]
    pub fn header(self, name: impl Into<Cow<'static, str>>, value: impl IntoBytes) -> Self {
        match self.try_header(name, value) {
            Ok(upgrade) => upgrade,
            Err(err) => panic!("{err}"),
        }
    }

    /// Adds a header to the `101` after checking it as
    /// [`Response::try_with_header`](crate::Response::try_with_header) does;
    /// the handshake's own headers are refused as [`InvalidHeader::Reserved`].
    ///
    /// ```
    /// use tether::InvalidHeader;
    /// use tether::ws::Upgrade;
    /// assert!(Upgrade::new().try_header("Set-Cookie", "a=1").is_ok());
    /// assert!(matches!(
    ///     Upgrade::new().try_header("Sec-WebSocket-Accept", "x"),
    ///     Err(InvalidHeader::Reserved(_))
    /// ));
    /// ```
    pub fn try_header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl IntoBytes,
    ) -> Result<Self, InvalidHeader> {
        let name = name.into();
        let value = value.into_bytes();
        check_header(&name, &value)?;
        if HANDSHAKE_HEADERS
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&name))
        {
            return Err(InvalidHeader::Reserved(name.into_owned()));
        }
        self.headers.push((name, value));
        Ok(self)
    }

    /// Carries `value` to the socket: every clone of its [`WebSocket`]
    /// lends it through [`WebSocket::value`].
    pub fn with<T: Any + Send + Sync>(mut self, value: T) -> Self {
        self.value = Some(Arc::new(value));
        self
    }

    /// This socket's heartbeat, in place of the server's
    /// ([`Config::ws_ping_interval`](crate::Config::ws_ping_interval),
    /// [`Config::ws_pong_timeout`](crate::Config::ws_pong_timeout)): a ping
    /// after `interval` without a frame from the client, and the socket
    /// ended as `ping_timeout` if no pong comes within `pong_timeout`. So
    /// one route (a chat of phones) can find a dead client in seconds while
    /// another keeps the server's pace. A zero duration keeps the server's
    /// setting for that half (zero cannot work); `Duration::MAX` means
    /// never.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tether::{Action, Request};
    /// use tether::ws::Upgrade;
    /// let handler = |_: &Request| -> Action {
    ///     Upgrade::new().ping(Duration::from_secs(10), Duration::from_secs(10)).into()
    /// };
    /// # let _ = handler;
    /// ```
    pub fn ping(mut self, interval: Duration, pong_timeout: Duration) -> Self {
        self.ping = Some((interval, pong_timeout));
        self
    }

    /// Accepts only a page of the server's own origin: a request whose
    /// `Origin` names another host (or port) than its `Host` is answered
    /// `403`. Browsers send `Origin` with every WebSocket handshake, and a
    /// page of any site may open one to any server with the user's cookies:
    /// without a check, another site can talk to this one as the user.
    /// A request without `Origin` (not a browser) is accepted.
    ///
    /// Behind a proxy, forward the client's `Host` with its port (nginx:
    /// `proxy_set_header Host $http_host`), or name the origins with
    /// [`allow_origin`](Upgrade::allow_origin).
    ///
    /// ```
    /// use tether::{Action, Request};
    /// use tether::ws::Upgrade;
    /// let handler = |_: &Request| -> Action { Upgrade::new().same_origin().into() };
    /// # let _ = handler;
    /// ```
    pub fn same_origin(mut self) -> Self {
        self.origins = Origins::Same;
        self
    }

    /// Accepts a page of `origin` (`https://example.com`, compared whole
    /// and case-insensitively); call once per origin. A request whose
    /// `Origin` is none of them is answered `403`; one without `Origin`
    /// (not a browser) is accepted.
    ///
    /// ```
    /// use tether::{Action, Request};
    /// use tether::ws::Upgrade;
    /// let handler = |_: &Request| -> Action {
    ///     Upgrade::new()
    ///         .allow_origin("https://example.com")
    ///         .allow_origin("https://www.example.com")
    ///         .into()
    /// };
    /// # let _ = handler;
    /// ```
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        match &mut self.origins {
            Origins::Listed(list) => list.push(origin.into()),
            other => *other = Origins::Listed(vec![origin.into()]),
        }
        self
    }

    /// Sends the socket's events to the stream named `stream` (declared with
    /// [`Builder::ws_events`](crate::Builder::ws_events), read with
    /// [`Server::ws_events_from`](crate::Server::ws_events_from)) rather
    /// than the [default one](DEFAULT_WS_EVENTS). A name the server did not
    /// declare is answered `500` (and logged).
    pub fn events(mut self, stream: impl Into<Cow<'static, str>>) -> Self {
        self.events = Some(stream.into());
        self
    }
}
