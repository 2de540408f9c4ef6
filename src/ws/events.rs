//! What the application hears from its WebSockets: one event per open,
//! message and close, and the stream they arrive on. A message event holds
//! one slot of its socket's inbound allowance until dropped.

use std::fmt;

use super::handle::WebSocket;
use crate::budget::Charge;
use crate::channel::queue::Receiver;
use crate::proto::request::Request;
use crate::reason::CloseReason;
use crate::stats::{Counters, StatsHandle};

/// A message from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (valid UTF-8, checked).
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

/// Holds one slot of a socket's inbound allowance until the application
/// drops the message; when the socket was paused at its limit, wakes the
/// reactor to read on.
struct InboundPermit {
    socket: WebSocket,
}

impl Drop for InboundPermit {
    fn drop(&mut self) {
        if self.socket.shared().release_inbound() {
            let socket = &self.socket;
            socket.shared().wake_reactor(&socket.context, socket.id());
        }
    }
}

/// What happened on a socket.
#[derive(Debug)]
#[non_exhaustive]
pub enum WsEventKind {
    /// The handshake completed; the upgrade request.
    Open(Request),
    /// A whole message arrived.
    Message(Message),
    /// The socket ended: the one terminal event, with why and the close code
    /// the client sent, if it sent one.
    Closed {
        /// Why it ended.
        reason: CloseReason,
        /// The client's close code, when the client started the close.
        code: Option<u16>,
    },
}

/// Counts an event server-wide (`ws_events_pending`) until the application
/// drops it; upgrades are refused while too many are pending.
struct PendingEvent(StatsHandle);

impl PendingEvent {
    fn new(socket: &WebSocket) -> Self {
        let stats = socket.context.stats.clone();
        Counters::incr(&stats.0.ws_events_pending);
        PendingEvent(stats)
    }
}

impl Drop for PendingEvent {
    fn drop(&mut self) {
        Counters::decr(&self.0 .0.ws_events_pending);
    }
}

/// One event: the socket it concerns, and what happened.
pub struct WsEvent {
    /// The socket.
    pub socket: WebSocket,
    /// What happened.
    pub kind: WsEventKind,
    permit: Option<InboundPermit>,
    /// A message's bytes, held against the memory budget until dropped.
    _charge: Option<Charge>,
    _pending: PendingEvent,
}

impl WsEvent {
    pub(crate) fn open(socket: WebSocket, request: Request) -> Self {
        WsEvent {
            _pending: PendingEvent::new(&socket),
            socket,
            kind: WsEventKind::Open(request),
            permit: None,
            _charge: None,
        }
    }

    /// A message event, counted against the socket's inbound allowance until
    /// dropped.
    pub(crate) fn message(socket: WebSocket, message: Message, charge: Charge) -> Self {
        socket.shared().take_inbound();
        WsEvent {
            permit: Some(InboundPermit {
                socket: socket.clone(),
            }),
            _charge: Some(charge),
            _pending: PendingEvent::new(&socket),
            socket,
            kind: WsEventKind::Message(message),
        }
    }

    pub(crate) fn closed(socket: WebSocket, reason: CloseReason, code: Option<u16>) -> Self {
        WsEvent {
            _pending: PendingEvent::new(&socket),
            socket,
            kind: WsEventKind::Closed { reason, code },
            permit: None,
            _charge: None,
        }
    }
}

impl fmt::Debug for WsEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsEvent")
            .field("socket", &self.socket.id())
            .field("kind", &self.kind)
            .field("counted", &self.permit.is_some())
            .finish()
    }
}

/// The stream of events of every WebSocket on a server: open, message,
/// closed. Clone it for several consumers; events of one socket arrive in
/// order, so consume from one thread (or route by socket) to keep that order.
///
/// Memory is bounded per socket: while a socket has
/// [`Config::ws_max_inbound_messages`](crate::Config::ws_max_inbound_messages)
/// message events not yet dropped, the reactor stops reading it (and still
/// notices if it goes away).
#[derive(Debug, Clone)]
pub struct WsEvents {
    pub(crate) rx: Receiver<WsEvent>,
}

impl WsEvents {
    /// The next event; `None` once the server is gone.
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread; in async code use
    /// [`recv_async`](WsEvents::recv_async).
    pub fn recv(&self) -> Option<WsEvent> {
        self.rx.recv().ok()
    }

    /// The next event, awaited without a thread; `None` once the server is
    /// gone. Any runtime (only `std::task` is used).
    pub async fn recv_async(&self) -> Option<WsEvent> {
        let rx = &self.rx;
        std::future::poll_fn(|task| rx.poll_recv(task.waker()))
            .await
            .ok()
    }

    /// The next event within `timeout`.
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread up to `timeout`; in async code use
    /// [`recv_async`](WsEvents::recv_async).
    pub fn recv_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> Result<WsEvent, std::sync::mpsc::RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Result<WsEvent, std::sync::mpsc::TryRecvError> {
        self.rx.try_recv()
    }
}
