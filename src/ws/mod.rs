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
//! use tether::{Action, Server, Upgrade, WsEventKind, Message};
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

pub(crate) mod frame;
mod group;
pub(crate) mod handshake;
pub(crate) mod session;
pub(crate) mod socket;

pub use crate::config::WsBackpressure;
pub use group::WsGroup;
pub use handshake::{is_upgrade, offered_protocols};
pub use socket::{Message, WebSocket, WsEvent, WsEventKind, WsEvents, WsSendError};

/// How the handler accepts an upgrade: optionally with a subprotocol chosen
/// from those the client offered ([`offered_protocols`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upgrade {
    pub(crate) protocol: Option<String>,
}

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
}
