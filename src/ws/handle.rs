//! The application's handle to one WebSocket: cloneable and
//! generation-checked, with the socket's outgoing queue it shares with the
//! reactor. Its events are in `events.rs`.

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use super::frame::{encode_frame, frame_len, OP_BINARY, OP_PING, OP_TEXT};
use crate::budget::Charge;
use crate::config::WsBackpressure;
use crate::error::SendError;
use crate::handle::cell::{Cell, Guard};
use crate::handle::context::Context;
use crate::handle::parts::Parts;
use crate::id::ConnectionId;
use crate::proto::request::Captures;
use crate::reason::CloseReason;
use crate::stats::StatsHandle;

/// A socket's own frames (not a broadcast's) are held against the memory
/// budget in steps of this: an echo touches the server-wide total once a
/// step, not once a frame. A socket so holds at most a step more than its
/// frames, and gives all back once they are written.
const HOLD_STEP: usize = 1024;

#[derive(Debug)]
struct WsState {
    /// Encoded frames, each tagged `true` when it is the socket's own (held
    /// by `held`) rather than a broadcast's (held by its bytes' owner). The
    /// front one may be in transit: the reactor takes frames in slices of
    /// what the connection's output has room for, and a frame in transit
    /// can neither be dropped nor be interrupted by a control frame.
    frames: Parts<bool>,
    /// Of the queued bytes, those of this socket's own frames, which `held`
    /// holds against the memory budget (a broadcast's frame holds itself,
    /// once for every member).
    own_bytes: usize,
    held: Charge,
    /// `close(code, reason)` was called.
    close_requested: Option<(u16, String)>,
    /// The queue overflowed under `WsBackpressure::Close`.
    slow_consumer: bool,
}

impl WsState {
    fn new(stats: &StatsHandle) -> Self {
        WsState {
            frames: Parts::default(),
            own_bytes: 0,
            held: Charge::new(stats),
            close_requested: None,
            slow_consumer: false,
        }
    }

    /// `part` bytes of a frame left the queue (written, dropped or handed
    /// on).
    fn taken(&mut self, part: usize, own: bool) {
        if own {
            self.own_bytes -= part;
        }
    }

    /// Holds what the socket's own frames need, in whole steps. False when
    /// the memory budget cannot.
    fn hold_own(&mut self, more: usize, limit: u64) -> bool {
        // Both bounded by the send budget (checked first): no wraparound.
        let need = self.own_bytes + more;
        if need as u64 > self.held.bytes() {
            let step = need.div_ceil(HOLD_STEP).saturating_mul(HOLD_STEP);
            if !self.held.grow_to(step as u64, limit) {
                self.held.refused();
                return false;
            }
        }
        self.own_bytes = need;
        true
    }

    /// Gives back steps no longer needed, keeping one spare so an echo
    /// does not give back and take again with every frame.
    fn trim_held(&mut self) {
        let needed = self.own_bytes.div_ceil(HOLD_STEP) * HOLD_STEP;
        if self.held.bytes() >= (needed + 2 * HOLD_STEP) as u64 {
            self.held.shrink_to((needed + HOLD_STEP) as u64);
        }
    }
}

/// State shared by a socket's handles and the reactor.
#[derive(Debug)]
pub(crate) struct WsShared {
    cell: Cell<WsState>,
    /// Messages handed to the application and not yet dropped.
    inbound: AtomicUsize,
    max_inbound: usize,
    /// The reactor stopped reading this socket for its share: the next
    /// message the application drops wakes it.
    paused: AtomicBool,
    /// `Config::ws_max_pending_events`, which every socket's share is of.
    max_pending: usize,
    budget_bytes: usize,
    backpressure: WsBackpressure,
    /// The server's memory budget, which queued frames are held against.
    memory_limit: u64,
}

/// What the reactor takes from the outgoing queue.
#[derive(Debug, Default)]
pub(crate) struct Outgoing {
    /// Whole frames, and last perhaps the first slice of one.
    pub frames: Vec<Bytes>,
    /// The last slice taken ends mid-frame: the rest comes on a later pull.
    pub mid_frame: bool,
    pub close: Option<(u16, String)>,
    pub slow_consumer: bool,
}

impl WsShared {
    pub fn new(
        (max_inbound, max_pending): (usize, usize),
        budget_bytes: usize,
        backpressure: WsBackpressure,
        memory_limit: u64,
        stats: StatsHandle,
    ) -> Self {
        WsShared {
            cell: Cell::new(WsState::new(&stats), stats),
            inbound: AtomicUsize::new(0),
            max_inbound,
            paused: AtomicBool::new(false),
            max_pending,
            budget_bytes,
            backpressure,
            memory_limit,
        }
    }

    fn lock(&self) -> Guard<'_, WsState> {
        self.cell.lock()
    }

    /// Takes queued bytes up to `max_bytes`: whole frames, then a slice of
    /// the next one if it does not fit (the rest stays queued, and counted).
    /// The close request comes once the queue is empty. Slices share the
    /// frame's memory: a frame broadcast to many sockets is never copied.
    pub fn pull(&self, max_bytes: usize) -> Outgoing {
        let mut guard = self.lock();
        guard.clear_wake();
        let state = &mut guard.state;
        let mut out = Outgoing {
            slow_consumer: state.slow_consumer,
            ..Outgoing::default()
        };
        let WsState {
            frames, own_bytes, ..
        } = state;
        frames.take_sliced(max_bytes, |piece, own| {
            if own {
                *own_bytes -= piece.len();
            }
            out.frames.push(piece);
        });
        state.trim_held();
        out.mid_frame = state.frames.is_in_transit();
        if state.frames.is_empty() {
            out.close = state.close_requested.take();
        }
        out
    }

    /// The unwritten rest of a frame in transit, taken off the queue.
    pub fn take_in_transit(&self) -> Option<Bytes> {
        let mut guard = self.lock();
        let state = &mut guard.state;
        let (rest, own) = state.frames.take_in_transit()?;
        state.taken(rest.len(), own);
        state.trim_held();
        Some(rest)
    }

    /// Ends the socket for every handle: sends fail from now on.
    pub fn close(&self, reason: CloseReason) {
        self.cell.close(reason, |state, _| {
            state.frames.clear();
            state.own_bytes = 0;
            state.held.shrink_to(0);
        });
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        self.cell.close_reason()
    }

    /// Tells the reactor this socket has news (see
    /// [`Cell::wake_reactor`](crate::handle::cell::Cell::wake_reactor)).
    pub fn wake_reactor(&self, context: &Context, id: ConnectionId) -> bool {
        self.cell.wake_reactor(self.lock(), context, id)
    }

    /// One more message is held by the application.
    pub fn take_inbound(&self) {
        self.inbound.fetch_add(1, Ordering::AcqRel);
    }

    /// The application dropped a message. True when the reactor had paused
    /// the socket for its share and must be told to read on.
    pub fn release_inbound(&self) -> bool {
        self.inbound.fetch_sub(1, Ordering::SeqCst);
        self.paused.swap(false, Ordering::SeqCst)
    }

    /// True while the application holds as many of this socket's messages
    /// as its share allows; the reactor stops reading it until one is
    /// dropped.
    pub fn is_inbound_full(&self) -> bool {
        let share = self.share();
        if self.inbound.load(Ordering::SeqCst) < share {
            return false;
        }
        // Paused, then checked again: a drop in between either sees the
        // flag (and wakes us) or is seen here.
        self.paused.store(true, Ordering::SeqCst);
        if self.inbound.load(Ordering::SeqCst) >= share {
            return true;
        }
        self.paused.store(false, Ordering::SeqCst);
        false
    }

    /// Messages this socket may have the application hold: all of
    /// `ws_max_inbound_messages` while the server holds few events, fewer
    /// as the server-wide total nears `ws_max_pending_events`, and at
    /// least one. So a few sockets flooding messages back up through TCP
    /// well before the total refuses everyone else's upgrades.
    fn share(&self) -> usize {
        let total = self
            .cell
            .stats()
            .0
            .ws_events_pending
            .load(Ordering::Relaxed);
        let free = (self.max_pending as u64).saturating_sub(total);
        // Rounded up: with room to spare, the whole allowance.
        let share =
            (self.max_inbound as u128 * u128::from(free)).div_ceil(self.max_pending.max(1) as u128);
        usize::try_from(share)
            .unwrap_or(usize::MAX)
            .clamp(1, self.max_inbound.max(1))
    }
}

/// A handle to one WebSocket. Cheap to clone, `Send` and `Sync`.
///
/// It names its connection by slab key and generation and holds only the
/// socket's own queue: a send to a socket that has ended fails with the
/// reason, never touches a descriptor, and can never reach a newer
/// connection in the same slot.
#[derive(Clone)]
pub struct WebSocket {
    shared: Arc<WsShared>,
    pub(super) context: Arc<Context>,
    id: ConnectionId,
    path: Arc<str>,
    /// The upgrade request's path parameters and route.
    captures: Arc<Captures>,
    value: Option<Arc<dyn Any + Send + Sync>>,
}

impl WebSocket {
    pub(crate) fn new(
        shared: Arc<WsShared>,
        context: Arc<Context>,
        id: ConnectionId,
        (path, captures): (&str, Captures),
        value: Option<Arc<dyn Any + Send + Sync>>,
    ) -> Self {
        WebSocket {
            shared,
            context,
            id,
            path: Arc::from(path),
            captures: Arc::new(captures),
            value,
        }
    }

    /// The value the handler attached with
    /// [`Upgrade::with`](crate::ws::Upgrade::with), if it is a `T`.
    ///
    /// ```no_run
    /// # struct User(String);
    /// # fn on_open(socket: &tether::ws::WebSocket) {
    /// if let Some(User(name)) = socket.value::<User>() {
    ///     let _ = socket.send_text(&format!("hello, {name}"));
    /// }
    /// # }
    /// ```
    pub fn value<T: Any>(&self) -> Option<&T> {
        self.value.as_deref()?.downcast_ref()
    }

    pub(crate) fn shared(&self) -> &WsShared {
        &self.shared
    }

    /// The connection's identity.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// The path of the upgrade request (e.g. `/ws/chat`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path parameter `name` the [`Router`](crate::Router) captured
    /// from the upgrade request, percent-decoded, as
    /// [`Request::param`](crate::Request::param) gives it: for the route
    /// `/ws/rooms/{room}`, `GET /ws/rooms/lobby` gives `"lobby"` for
    /// `room`, on every clone and every event of the socket.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::io::{Read, Write};
    /// use tether::ws::{Upgrade, WsEventKind};
    /// use tether::{Request, Router, Server};
    ///
    /// let router = Router::new().get("/ws/rooms/{room}", |_: &Request| Upgrade::new());
    /// let server = Server::builder().router(router).bind("127.0.0.1:0")?;
    /// let events = server.ws_events();
    /// let mut client = std::net::TcpStream::connect(server.local_addr())?;
    /// client.write_all(
    ///     b"GET /ws/rooms/lobby HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    ///       Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    ///       Sec-WebSocket-Version: 13\r\n\r\n",
    /// )?;
    /// let event = events.recv().expect("the socket opens");
    /// assert!(matches!(event.kind, WsEventKind::Open(_)));
    /// assert_eq!(event.socket.param("room"), Some("lobby"));
    /// assert_eq!(event.socket.route(), Some("/ws/rooms/{room}"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn param(&self, name: &str) -> Option<&str> {
        self.captures.param(name)
    }

    /// Every path parameter captured from the upgrade request, in pattern
    /// order, decoded.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.captures.iter()
    }

    /// The router's pattern that matched the upgrade request
    /// (`/ws/rooms/{room}`): a label for logs and metrics that does not
    /// grow with the paths clients invent.
    pub fn route(&self) -> Option<&str> {
        self.captures.route.as_deref()
    }

    /// Queues a text message.
    ///
    /// A message larger than
    /// [`Config::ws_send_budget_bytes`](crate::Config::ws_send_budget_bytes)
    /// can never fit the socket's queue: it meets the
    /// [`WsBackpressure`] policy even when the queue is empty (`Full`, or
    /// a close under [`WsBackpressure::Close`]). A queued message is held
    /// against the server's memory budget until written; when the budget
    /// cannot hold it the send fails with `Full`.
    pub fn send_text(&self, text: &str) -> Result<(), SendError> {
        self.send_own(OP_TEXT, text.as_bytes())
    }

    /// Queues a binary message (bounded as [`send_text`](Self::send_text)).
    pub fn send_binary(&self, data: &[u8]) -> Result<(), SendError> {
        self.send_own(OP_BINARY, data)
    }

    /// Sends a ping (at most 125 bytes of payload are sent).
    pub fn ping(&self, payload: &[u8]) -> Result<(), SendError> {
        self.send_own(OP_PING, &payload[..payload.len().min(125)])
    }

    /// Queues a frame of this socket's own, held against the memory budget
    /// with the socket's other frames while queued.
    fn send_own(&self, opcode: u8, payload: &[u8]) -> Result<(), SendError> {
        let len = frame_len(payload.len());
        if len > self.shared.budget_bytes {
            // It can never fit: meet the policy without encoding it.
            return self.queue(Bytes::new(), len, true);
        }
        let mut out = Vec::with_capacity(len);
        encode_frame(&mut out, opcode, payload);
        self.queue(Bytes::from(out), len, true)
    }

    /// Encodes one frame held against this socket's server's memory budget
    /// by itself, for as long as any queue holds it (a broadcast).
    pub(crate) fn encode(&self, opcode: u8, payload: &[u8]) -> Result<Bytes, SendError> {
        let mut charge = Charge::new(&self.context.stats);
        if !charge.grow_to(frame_len(payload.len()) as u64, self.shared.memory_limit) {
            charge.refused();
            return Err(SendError::Full);
        }
        Ok(frame(opcode, payload, charge))
    }

    /// Starts the closing handshake with `code` (1000 for a normal close)
    /// and `reason` (cut to fit a control frame). Messages already queued are
    /// sent first; later sends fail with [`SendError::Closing`].
    pub fn close(&self, code: u16, reason: &str) -> Result<(), SendError> {
        let mut guard = self.shared.lock();
        if let Some(reason) = guard.reason() {
            return Err(SendError::Closed(reason));
        }
        if guard.state.close_requested.is_none() {
            guard.state.close_requested = Some((code, reason.to_string()));
        }
        self.wake(guard);
        Ok(())
    }

    /// True once the socket has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.cell.is_closed()
    }

    /// Why the socket ended, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.shared.close_reason()
    }

    /// Queues an encoded frame: the one serialisation a broadcast shares.
    pub(crate) fn send_frame(&self, frame: Bytes) -> Result<(), SendError> {
        let len = frame.len();
        self.queue(frame, len, false)
    }

    /// Queues `frame` (`len` bytes; empty when it is refused unseen), the
    /// socket's `own` or a broadcast's.
    fn queue(&self, frame: Bytes, len: usize, own: bool) -> Result<(), SendError> {
        let shared = &*self.shared;
        let mut guard = shared.lock();
        if let Some(reason) = guard.reason() {
            return Err(SendError::Closed(reason));
        }
        let state = &mut guard.state;
        if state.close_requested.is_some() || state.slow_consumer {
            return Err(SendError::Closing);
        }
        let fits = |state: &WsState| state.frames.fits(len, shared.budget_bytes);
        if !fits(state) {
            // A frame larger than the whole budget fits no queue, emptied or
            // not: dropping older frames cannot make room for it.
            let never = len > shared.budget_bytes;
            match shared.backpressure {
                WsBackpressure::Fail => return Err(SendError::Full),
                WsBackpressure::DropOldest if never => return Err(SendError::Full),
                WsBackpressure::DropOldest => {
                    // The frame in transit is part written: it stays.
                    while !fits(state) {
                        let Some((old, own)) = state.frames.pop_oldest() else {
                            break;
                        };
                        state.taken(old.len(), own);
                        crate::stats::Counters::incr(&self.context.stats.0.ws_dropped);
                    }
                    if !fits(state) {
                        return Err(SendError::Full);
                    }
                }
                WsBackpressure::Close => {
                    state.slow_consumer = true;
                    self.wake(guard);
                    return Err(SendError::Closing);
                }
            }
        }
        if own && !state.hold_own(len, shared.memory_limit) {
            return Err(SendError::Full);
        }
        state.frames.push(frame, own);
        self.wake(guard);
        Ok(())
    }

    /// Tells the reactor, once per burst.
    fn wake(&self, guard: Guard<'_, WsState>) {
        self.shared.cell.wake_reactor(guard, &self.context, self.id);
    }
}

/// Encodes one unmasked server frame. Its bytes stay held by `charge`
/// until the last queue holding them (every member of a broadcast) lets go.
pub(crate) fn frame(opcode: u8, payload: &[u8], charge: Charge) -> Bytes {
    let mut out = Vec::with_capacity(frame_len(payload.len()));
    encode_frame(&mut out, opcode, payload);
    Bytes::from_owner(Held {
        bytes: out,
        _charge: charge,
    })
}

/// A frame's bytes with the charge that holds them.
struct Held {
    bytes: Vec<u8>,
    _charge: Charge,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("id", &self.id)
            .field("path", &self.path)
            .field("closed", &self.close_reason())
            .finish()
    }
}

#[cfg(test)]
#[path = "handle_tests.rs"]
pub(crate) mod tests;
