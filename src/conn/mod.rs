//! One connection: its phase, its flags, its buffers, and every transition.
//!
//! # The state
//!
//! A connection is in exactly one [`Phase`]. `response_pending` (Mongoose's
//! `is_resp`) *is* the phase `AwaitingResponse`; `draining` (Mongoose's
//! `is_draining`: flush, then close) is the field `drain`, holding why. Other
//! bits live in [`Flags`]. Only the methods below change them, and each logs
//! the transition at `trace`.
//!
//! # Reading never stops
//!
//! The socket stays registered for readability and hangup for the whole life
//! of the connection, with the same interest — while a response is pending,
//! while a body or pipelined bytes wait, while the input buffer is full. A
//! full buffer only means the next read is deferred (`READ_READY` stays set);
//! a reset still arrives as EPOLLERR and is taken from `SO_ERROR`, and a FIN
//! under the abort policy is confirmed by reading and discarding.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Sender, TrySendError};
use mio::event::Event;
use mio::net::TcpStream;

mod flags;

use self::flags::Flags;
use crate::buffer::{BufferPool, InBuf};
use crate::config::{Config, HalfClosePolicy};
use crate::handle::exchange::Exchange;
use crate::handle::link::{Link, Reply, Undelivered};
use crate::handle::notifier::Notifier;
use crate::handle::stream::StreamShared;
use crate::handler::{Action, Handler};
use crate::id::ConnectionId;
use crate::proto::body::{BodyDecoder, BodyError};
use crate::proto::encode::{self, Persistence};
use crate::proto::parse::{self, HeadInfo};
use crate::proto::request::{Request, Version};
use crate::proto::response::Response;
use crate::reason::CloseReason;
use crate::socket;
use crate::stats::Counters;
use crate::stream_options::Backlog;
use crate::ws::handshake::respond as handshake_response;
use crate::ws::session::{Session, Step, WsCx};
use crate::ws::socket::{WebSocket, WsEvent, WsShared};

/// Requests parsed per connection per turn before others get a go.
const REQUESTS_PER_TURN: usize = 16;
/// Reads per connection per turn.
const READS_PER_TURN: usize = 4;
/// Bytes read and thrown away per turn while draining or lingering.
const DISCARD_BYTES_PER_TURN: usize = 64 * 1024;
/// Queued output past which no further pipelined request is parsed until the
/// client has read some.
const OUTPUT_HIGH_WATER_BYTES: usize = 64 * 1024;

/// What the reactor lends a connection while it works.
pub(crate) struct Cx<'a> {
    pub config: &'a Config,
    pub stats: &'a Counters,
    pub now: Instant,
    pub date: &'a str,
    pub handler: &'a Handler,
    pub handoff: &'a Sender<Exchange>,
    pub notifier: &'a Arc<Notifier>,
    pub pool: &'a mut BufferPool,
    /// The request being parsed, reused for requests answered inline.
    pub scratch: &'a mut Request,
    /// Where discarded input goes.
    pub discard: &'a mut [u8],
    /// The server's WebSocket event stream.
    pub ws_events: &'a Sender<WsEvent>,
    /// For adding writable interest when a write would block.
    pub registry: &'a mio::Registry,
}

impl Cx<'_> {
    fn ws(&self) -> WsCx<'_> {
        WsCx {
            config: self.config,
            stats: self.stats,
            events: self.ws_events,
            now: self.now,
        }
    }
}

/// A connection's phase. Exactly one holds at a time.
#[derive(Debug)]
pub(crate) enum Phase {
    /// Waiting for, or reading, a request head.
    ReadingHead,
    /// Reading the body of `request`.
    ReadingBody {
        decoder: BodyDecoder,
        info: HeadInfo,
        request: Box<Request>,
    },
    /// `response_pending`: a worker holds the exchange for this request.
    /// Pipelined parsing is paused; the connection is not closed by the
    /// request's `Connection: close` nor by the idle timeout.
    AwaitingResponse { link: Arc<Link>, info: HeadInfo },
    /// A worker's streaming response is being written from `stream`'s queue.
    /// Like `AwaitingResponse`, pipelined parsing waits until it ends.
    Streaming {
        stream: Arc<StreamShared>,
        chunked: bool,
        /// When a part (or heartbeat) was last queued.
        last_part: Instant,
    },
    /// An upgraded WebSocket.
    WebSocket(Box<Session>),
    /// The final response is flushed and our write side shut; what the client
    /// still sends is read and discarded until it closes or time runs out.
    Lingering { reason: CloseReason },
    /// Ended; the reactor reaps it at the end of the turn.
    Closed(CloseReason),
}

impl Phase {
    fn name(&self) -> &'static str {
        match self {
            Phase::ReadingHead => "reading_head",
            Phase::ReadingBody { .. } => "reading_body",
            Phase::AwaitingResponse { .. } => "response_pending",
            Phase::Streaming { .. } => "streaming",
            Phase::WebSocket(_) => "websocket",
            Phase::Lingering { .. } => "lingering",
            Phase::Closed(_) => "closed",
        }
    }
}

/// A worker's response written into the output buffer but not yet fully
/// handed to the kernel; kept so it can be given back if the client leaves.
#[derive(Debug)]
struct Delivery {
    /// Output offset (in bytes ever queued) at which it is fully written.
    end: u64,
    link: Arc<Link>,
    response: Response,
}

/// One client connection. Owned by the reactor's slab; nothing else touches it.
#[derive(Debug)]
pub(crate) struct Connection {
    pub id: ConnectionId,
    socket: TcpStream,
    peer: Option<SocketAddr>,
    phase: Phase,
    flags: Flags,
    /// `draining`: why the connection will close once what is owed is flushed.
    drain: Option<CloseReason>,
    input: InBuf,
    output: Vec<u8>,
    /// Bytes of `output` already written.
    output_pos: usize,
    /// Bytes ever queued and ever written, for matching deliveries.
    queued_total: u64,
    written_total: u64,
    deliveries: VecDeque<Delivery>,
    /// Start of the head being read (accept time for the first request).
    head_started: Option<Instant>,
    idle_since: Instant,
    last_read: Instant,
    /// Last write progress (or when output became non-empty).
    last_write: Instant,
    response_deadline: Option<Instant>,
    linger_deadline: Option<Instant>,
    /// The instant of this connection's live timer entry (see `timer.rs`).
    pub timer_slot: Option<Instant>,
}

impl Connection {
    pub fn new(
        id: ConnectionId,
        socket: TcpStream,
        peer: Option<SocketAddr>,
        now: Instant,
    ) -> Self {
        Connection {
            id,
            socket,
            peer,
            phase: Phase::ReadingHead,
            // A new socket can take bytes: writable interest is only added
            // once a write would block.
            flags: Flags::WRITABLE,
            drain: None,
            input: InBuf::default(),
            output: Vec::new(),
            output_pos: 0,
            queued_total: 0,
            written_total: 0,
            deliveries: VecDeque::new(),
            head_started: Some(now),
            idle_since: now,
            last_read: now,
            last_write: now,
            response_deadline: None,
            linger_deadline: None,
            timer_slot: None,
        }
    }

    // ---- predicates ----

    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed(_))
    }

    /// Why the connection ended, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        match self.phase {
            Phase::Closed(reason) => Some(reason),
            _ => None,
        }
    }

    /// `response_pending`: a worker owes this connection a response.
    pub fn is_response_pending(&self) -> bool {
        matches!(self.phase, Phase::AwaitingResponse { .. })
    }

    /// `draining`: no more requests; close once what is owed is flushed.
    pub fn is_draining(&self) -> bool {
        self.drain.is_some()
    }

    fn has_output(&self) -> bool {
        self.output_pos < self.output.len()
    }

    pub fn is_queued(&self) -> bool {
        self.flags.contains(Flags::QUEUED)
    }

    pub fn set_queued(&mut self, queued: bool) {
        self.flags.set(Flags::QUEUED, queued);
    }

    /// Reads are thrown away rather than parsed.
    fn is_discarding(&self) -> bool {
        self.is_draining() || matches!(self.phase, Phase::Lingering { .. })
    }

    /// The socket may hold bytes we can take now.
    fn can_read(&self, config: &Config) -> bool {
        self.flags.contains(Flags::READ_READY)
            && !self.flags.contains(Flags::READ_CLOSED)
            && !self.is_closed()
            && (self.is_discarding() || self.input.len() < config.max_buffered_bytes)
    }

    // ---- transitions ----

    fn set_phase(&mut self, phase: Phase) {
        log::trace!("{} {} -> {}", self.id, self.phase.name(), phase.name());
        self.phase = phase;
    }

    /// Sets `draining`. The weakest reason, `Drained`, gives way to any other.
    fn start_draining(&mut self, reason: CloseReason) {
        match self.drain {
            None => log::trace!("{} draining ({reason})", self.id),
            Some(CloseReason::Drained) if reason != CloseReason::Drained => {}
            Some(_) => return,
        }
        self.drain = Some(reason);
    }

    /// Ends the connection now. Wakes the worker holding its exchange and
    /// hands back every response not yet written. Idempotent.
    pub fn close(&mut self, reason: CloseReason, cx: &mut Cx<'_>) {
        if self.is_closed() {
            return;
        }
        if reason.is_peer_gone() && self.is_response_pending() {
            log::debug!("{} client gone: {reason}; telling the worker", self.id);
        } else if reason.is_peer_gone() {
            log::debug!(
                "{} client gone: {reason} (in {})",
                self.id,
                self.phase.name()
            );
        } else {
            log::debug!("{} closing: {reason} (in {})", self.id, self.phase.name());
        }
        let previous = std::mem::replace(&mut self.phase, Phase::Closed(reason));
        // Counters first: whoever is woken below sees stats that already
        // include this close.
        cx.stats.record_close(reason);
        match &previous {
            Phase::AwaitingResponse { .. } => Counters::decr(&cx.stats.pending_responses),
            Phase::Streaming { .. } => Counters::decr(&cx.stats.streams_active),
            _ => {}
        }
        match previous {
            Phase::AwaitingResponse { link, .. } => link.close(reason),
            Phase::Streaming { stream, .. } => stream.close(reason),
            Phase::WebSocket(mut session) => session.end(reason, &cx.ws()),
            _ => {}
        }
        for delivery in self.deliveries.drain(..) {
            delivery.link.settle(Err(Undelivered {
                response: delivery.response,
                reason,
            }));
        }
        self.input.clear();
        self.input.release_if_empty(cx.pool);
        self.output.clear();
        self.output_pos = 0;
        cx.pool.give(std::mem::take(&mut self.output));
    }

    /// Ends the connection with a reset: for a client that will not read.
    fn reset(&mut self, reason: CloseReason, cx: &mut Cx<'_>) {
        socket::reset_on_close(&self.socket);
        self.close(reason, cx);
    }

    /// The peer sent FIN (a read returned zero bytes).
    fn peer_finished(&mut self, cx: &mut Cx<'_>) {
        self.flags.remove(Flags::READ_READY | Flags::HUP_HINT);
        match (&self.phase, cx.config.half_close) {
            (Phase::Lingering { reason }, _) => {
                let reason = *reason;
                self.close(reason, cx)
            }
            (_, HalfClosePolicy::Abort) => self.close(CloseReason::PeerClosed, cx),
            (_, HalfClosePolicy::Finish) => {
                log::debug!(
                    "{} client half-closed; finishing what was received",
                    self.id
                );
                self.flags.insert(Flags::READ_CLOSED);
            }
        }
    }

    // ---- events ----

    /// Handles a readiness event. Returns true when the connection wants
    /// another turn (a budget ran out).
    pub fn on_event(&mut self, event: &Event, cx: &mut Cx<'_>) -> bool {
        if event.is_error() {
            // EPOLLERR is a hint; SO_ERROR says what happened.
            match self.socket.take_error() {
                Ok(Some(err)) => {
                    let reason = self.reason_after(CloseReason::from_read_error(&err));
                    self.close(reason, cx);
                    return false;
                }
                Ok(None) => {}
                Err(err) => {
                    self.close(CloseReason::from_read_error(&err), cx);
                    return false;
                }
            }
        }
        if event.is_writable() {
            self.flags.insert(Flags::WRITABLE);
        }
        if event.is_readable() || event.is_read_closed() {
            self.flags.insert(Flags::READ_READY);
        }
        if event.is_read_closed() {
            self.flags.insert(Flags::HUP_HINT);
        }
        let wants_turn = self.drive(cx);
        if event.is_read_closed() && event.is_write_closed() && !self.is_closed() {
            // EPOLLHUP: both directions are gone, so nothing we write can
            // arrive, whatever the half-close policy.
            let reason = self.reason_after(CloseReason::PeerHangup);
            self.close(reason, cx);
            return false;
        }
        wants_turn
    }

    /// While lingering, the response is already out: the lingering reason
    /// stands whatever the client does next.
    fn reason_after(&self, peer_reason: CloseReason) -> CloseReason {
        match self.phase {
            Phase::Lingering { reason } => reason,
            _ => peer_reason,
        }
    }

    /// Does what can be done now: write, read, parse, dispatch, write again.
    /// Returns true when it stopped on a budget and wants another turn.
    pub fn drive(&mut self, cx: &mut Cx<'_>) -> bool {
        self.pull_stream(cx);
        self.flush(cx);
        let mut more_input = false;
        for _ in 0..READS_PER_TURN {
            if self.is_closed() {
                return false;
            }
            let read = self.read(cx);
            more_input = self.process_input(cx);
            self.pull_stream(cx);
            self.flush(cx);
            if !read && !more_input {
                break;
            }
        }
        self.settle(cx);
        !self.is_closed() && (more_input || self.can_read(cx.config))
    }

    /// A worker's exchange or stream has news: take its response, its drop,
    /// its stream, or parts to send.
    pub fn on_update(&mut self, cx: &mut Cx<'_>) -> bool {
        if matches!(self.phase, Phase::Streaming { .. } | Phase::WebSocket(_)) {
            return self.drive(cx);
        }
        let Phase::AwaitingResponse { link, info } = &self.phase else {
            return false;
        };
        let (link, info) = (Arc::clone(link), *info);
        match link.take_reply() {
            Reply::Ready(response) => {
                self.end_response_pending(cx);
                self.queue_response(&response, info, cx);
                self.deliveries.push_back(Delivery {
                    end: self.queued_total,
                    link,
                    response,
                });
            }
            Reply::Stream {
                head,
                stream,
                close_delimited,
            } => {
                self.end_response_pending(cx);
                self.start_stream(&head, stream, close_delimited, info, cx);
            }
            Reply::Dropped => {
                self.end_response_pending(cx);
                link.close(CloseReason::Unanswered);
                self.start_draining(CloseReason::Unanswered);
                let response = encode::error_response(500, "the request was not answered");
                self.queue_response(&response, info, cx);
            }
            Reply::Waiting | Reply::Taken => return false,
        }
        self.drive(cx)
    }

    /// Writes a stream's head and enters `Streaming`. Chunked for HTTP/1.1
    /// unless asked otherwise; close-delimited bodies drain the connection.
    fn start_stream(
        &mut self,
        head: &Response,
        stream: Arc<StreamShared>,
        close_delimited: bool,
        info: HeadInfo,
        cx: &mut Cx<'_>,
    ) {
        let chunked = info.version == Version::Http11 && !close_delimited;
        if !chunked || head.asks_to_close() {
            self.start_draining(CloseReason::Drained);
        }
        let persistence = self.persistence(info.version);
        let date = cx.date;
        self.encode_output(cx, |out| {
            encode::encode_stream_head(out, head, chunked, persistence, date)
        });
        Counters::incr(&cx.stats.responses);
        if info.is_head {
            // The client asked for the head only: nothing will be read.
            stream.close(CloseReason::Drained);
            return;
        }
        Counters::incr(&cx.stats.streams_active);
        self.set_phase(Phase::Streaming {
            stream,
            chunked,
            last_part: cx.now,
        });
    }

    /// Moves stream parts into the output buffer while it has room; ends
    /// the stream when the producer finished (or gave up).
    fn pull_stream(&mut self, cx: &mut Cx<'_>) {
        if let Phase::WebSocket(session) = &mut self.phase {
            let room = OUTPUT_HIGH_WATER_BYTES.saturating_sub(self.output.len() - self.output_pos);
            if room > 0 {
                let mut out = Vec::new();
                let step = session.pull(&mut out, room, cx.now);
                self.queue_bytes(&out, cx);
                self.apply_ws_step(step, cx);
            }
            return;
        }
        let Phase::Streaming {
            stream, chunked, ..
        } = &self.phase
        else {
            return;
        };
        let unsent = self.output.len() - self.output_pos;
        let room = match stream.backlog() {
            // Whole parts only: the next is taken once the last is written.
            Backlog::KeepNewest if unsent > 0 => return,
            Backlog::KeepNewest => usize::MAX,
            _ => OUTPUT_HIGH_WATER_BYTES.saturating_sub(unsent),
        };
        if room == 0 {
            return;
        }
        let (stream, chunked) = (Arc::clone(stream), *chunked);
        let pulled = stream.pull(room);
        if !pulled.parts.is_empty() {
            self.encode_output(cx, |out| {
                for part in &pulled.parts {
                    encode::encode_stream_part(out, part, chunked);
                }
            });
            Counters::add(&cx.stats.frames_sent, pulled.parts.len() as u64);
            if let Phase::Streaming { last_part, .. } = &mut self.phase {
                *last_part = cx.now;
            }
        }
        match pulled.end {
            None => {}
            Some(finished) => {
                if finished && chunked {
                    self.queue_bytes(encode::LAST_CHUNK, cx);
                } else if !finished {
                    log::debug!("{} stream abandoned by its producer", self.id);
                    self.start_draining(CloseReason::StreamAbandoned);
                }
                Counters::decr(&cx.stats.streams_active);
                self.head_started = None;
                self.set_phase(Phase::ReadingHead);
            }
        }
    }

    fn end_response_pending(&mut self, cx: &mut Cx<'_>) {
        Counters::decr(&cx.stats.pending_responses);
        self.response_deadline = None;
        self.head_started = None;
        self.set_phase(Phase::ReadingHead);
    }

    // ---- reading ----

    /// One read, if the socket may have bytes. True when bytes were taken.
    fn read(&mut self, cx: &mut Cx<'_>) -> bool {
        if !self.flags.contains(Flags::READ_READY) || self.flags.contains(Flags::READ_CLOSED) {
            return false;
        }
        let paused = self.input.len() >= cx.config.max_buffered_bytes;
        let confirm_fin = paused
            && self.flags.contains(Flags::HUP_HINT)
            && cx.config.half_close == HalfClosePolicy::Abort;
        if self.is_discarding() || confirm_fin {
            return self.read_discard(cx);
        }
        if paused {
            // Deferred: READ_READY stays set and the next turn that frees
            // room reads again. Hangups and resets still arrive as events.
            return false;
        }
        let limit = cx.config.max_buffered_bytes;
        loop {
            let spare = self.input.spare(cx.pool, limit);
            let room = spare.len();
            match self.socket.read(spare) {
                Ok(0) => {
                    self.peer_finished(cx);
                    return false;
                }
                Ok(n) => {
                    self.input.commit(n);
                    self.last_read = cx.now;
                    // A short read drained the socket (edge-triggered: new
                    // bytes bring a new event) unless a FIN is waiting.
                    if n < room && !self.flags.contains(Flags::HUP_HINT) {
                        self.flags.remove(Flags::READ_READY);
                    }
                    return true;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.flags.remove(Flags::READ_READY | Flags::HUP_HINT);
                    return false;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    let reason = CloseReason::from_read_error(&err);
                    self.close(reason, cx);
                    return false;
                }
            }
        }
    }

    /// Reads and throws away what the client sends (draining, lingering, or
    /// confirming a FIN behind a full buffer). Watching for EOF and errors is
    /// the point.
    fn read_discard(&mut self, cx: &mut Cx<'_>) -> bool {
        let mut total = 0;
        while total < DISCARD_BYTES_PER_TURN {
            match self.socket.read(cx.discard) {
                Ok(0) => {
                    self.peer_finished(cx);
                    return total > 0;
                }
                Ok(n) => total += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.flags.remove(Flags::READ_READY | Flags::HUP_HINT);
                    break;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    let reason = self.reason_after(CloseReason::from_read_error(&err));
                    self.close(reason, cx);
                    break;
                }
            }
        }
        if total > 0 && !self.is_discarding() {
            // Confirming a FIN cost buffered pipelined bytes; the stream
            // cannot be parsed any more.
            log::debug!("{} hangup hint without FIN behind a full buffer", self.id);
            self.input.clear();
            self.close(CloseReason::PeerClosed, cx);
        }
        total > 0
    }

    // ---- parsing and dispatch ----

    /// Parses and dispatches what is buffered. True when it stopped only
    /// because the per-turn budget ran out.
    fn process_input(&mut self, cx: &mut Cx<'_>) -> bool {
        for _ in 0..REQUESTS_PER_TURN {
            if self.is_draining() || self.input.is_empty() {
                return false;
            }
            let progressed = match self.phase {
                Phase::ReadingHead => {
                    if self.output.len() - self.output_pos > OUTPUT_HIGH_WATER_BYTES {
                        return false;
                    }
                    self.parse_head(cx)
                }
                Phase::ReadingBody { .. } => self.parse_body(cx),
                Phase::WebSocket(_) => return self.ws_input(cx),
                _ => return false,
            };
            if !progressed {
                return false;
            }
        }
        true
    }

    /// Tries to parse one head. True when one was consumed.
    fn parse_head(&mut self, cx: &mut Cx<'_>) -> bool {
        let config = cx.config;
        let parsed = parse::parse_head(self.input.data(), config.max_headers, cx.scratch);
        let (len, info) = match parsed {
            Ok(Some(head)) => head,
            Ok(None) => {
                if self.input.len() >= config.max_head_bytes {
                    self.reject(431, "request head too large", cx);
                }
                return false;
            }
            Err(reject) => {
                self.reject(reject.status, reject.why, cx);
                return false;
            }
        };
        if len > config.max_head_bytes {
            self.reject(431, "request head too large", cx);
            return false;
        }
        self.input.consume(len);
        self.head_started = None;
        match BodyDecoder::new(info.framing) {
            None => {
                let mut request = std::mem::take(cx.scratch);
                self.dispatch(&mut request, info, cx);
                request.clear();
                *cx.scratch = request;
            }
            Some(decoder) => {
                if let crate::proto::parse::Framing::Length(n) = info.framing {
                    if n > config.max_body_bytes as u64 {
                        self.reject(413, "request body too large", cx);
                        return false;
                    }
                }
                if info.expect_continue {
                    self.queue_bytes(encode::CONTINUE, cx);
                }
                self.last_read = cx.now;
                let request = Box::new(std::mem::take(cx.scratch));
                self.set_phase(Phase::ReadingBody {
                    decoder,
                    info,
                    request,
                });
            }
        }
        true
    }

    /// Feeds buffered bytes to the body decoder. True when the body completed.
    fn parse_body(&mut self, cx: &mut Cx<'_>) -> bool {
        let Phase::ReadingBody {
            decoder, request, ..
        } = &mut self.phase
        else {
            return false;
        };
        match decoder.decode(
            self.input.data(),
            &mut request.body,
            cx.config.max_body_bytes,
        ) {
            Ok((used, done)) => {
                self.input.consume(used);
                if !done {
                    return false;
                }
            }
            Err(BodyError::TooLarge) => {
                self.reject(413, "request body too large", cx);
                return false;
            }
            Err(BodyError::Malformed(why)) => {
                self.reject(400, why, cx);
                return false;
            }
        }
        let Phase::ReadingBody { info, request, .. } =
            std::mem::replace(&mut self.phase, Phase::ReadingHead)
        else {
            return false;
        };
        log::trace!("{} reading_body -> reading_head", self.id);
        let mut request = *request;
        self.dispatch(&mut request, info, cx);
        true
    }

    /// A whole request is here: answer it inline or hand it to a worker.
    fn dispatch(&mut self, request: &mut Request, info: HeadInfo, cx: &mut Cx<'_>) {
        Counters::incr(&cx.stats.requests);
        request.peer = self.peer;
        request.connection = self.id;
        if !info.keep_alive {
            // `Connection: close` only means: drain after the response.
            self.start_draining(CloseReason::Drained);
        }
        match (cx.handler)(request) {
            Action::Respond(response) => self.queue_response(&response, info, cx),
            Action::Handoff => self.hand_off(std::mem::take(request), info, cx),
            Action::Upgrade(upgrade) => {
                self.upgrade(request, info, upgrade.protocol.as_deref(), cx)
            }
        }
    }

    /// Completes a WebSocket handshake (or refuses it) and enters `WebSocket`.
    fn upgrade(
        &mut self,
        request: &mut Request,
        info: HeadInfo,
        protocol: Option<&str>,
        cx: &mut Cx<'_>,
    ) {
        let response = match handshake_response(request, protocol) {
            Ok(response) => response,
            Err(refusal) => {
                log::debug!(
                    "{} refused WebSocket upgrade: {}",
                    self.id,
                    refusal.status()
                );
                self.start_draining(CloseReason::BadRequest);
                self.queue_response(&refusal, info, cx);
                return;
            }
        };
        self.queue_response(&response, info, cx);
        let config = cx.config;
        let shared = Arc::new(WsShared::new(
            config.ws_max_inbound_messages,
            config.ws_send_budget_bytes,
            config.ws_backpressure,
        ));
        let socket = WebSocket::new(shared, Arc::clone(cx.notifier), self.id, request.path());
        let _ = cx
            .ws_events
            .send(WsEvent::open(socket.clone(), std::mem::take(request)));
        Counters::incr(&cx.stats.ws_active);
        self.set_phase(Phase::WebSocket(Box::new(Session::new(socket, cx.now))));
    }

    /// Feeds buffered input to the WebSocket session. True when a budget
    /// stopped it.
    fn ws_input(&mut self, cx: &mut Cx<'_>) -> bool {
        let Phase::WebSocket(session) = &mut self.phase else {
            return false;
        };
        let mut out = Vec::new();
        let (used, step, more) = session.on_input(self.input.data(), &mut out, &cx.ws());
        self.input.consume(used);
        self.queue_bytes(&out, cx);
        self.apply_ws_step(step, cx);
        more && !self.is_draining() && !self.is_closed()
    }

    /// Carries out what a WebSocket session decided.
    fn apply_ws_step(&mut self, step: Step, cx: &mut Cx<'_>) {
        match step {
            Step::Continue => {}
            Step::Drain(reason) => {
                if let Phase::WebSocket(mut session) =
                    std::mem::replace(&mut self.phase, Phase::ReadingHead)
                {
                    session.end(reason, &cx.ws());
                }
                log::trace!("{} websocket -> reading_head (draining)", self.id);
                self.start_draining(reason);
            }
            Step::Close(reason) => self.close(reason, cx),
            Step::Reset(reason) => self.reset(reason, cx),
        }
    }

    fn hand_off(&mut self, request: Request, info: HeadInfo, cx: &mut Cx<'_>) {
        let link = Arc::new(Link::new(cx.notifier.stats.clone()));
        let exchange = Exchange::new(request, Arc::clone(&link), Arc::clone(cx.notifier));
        match cx.handoff.try_send(exchange) {
            Ok(()) => {
                Counters::incr(&cx.stats.pending_responses);
                self.response_deadline = Some(cx.now + cx.config.response_timeout);
                self.set_phase(Phase::AwaitingResponse { link, info });
            }
            Err(TrySendError::Full(exchange) | TrySendError::Disconnected(exchange)) => {
                // It never reached a worker: not an unanswered exchange.
                exchange.disarm();
                Counters::incr(&cx.stats.handoff_rejected);
                log::debug!("{} hand-off queue full; answering 503", self.id);
                self.start_draining(CloseReason::Drained);
                let response = encode::error_response(503, "server busy");
                self.queue_response(&response, info, cx);
            }
        }
    }

    /// Refuses a request: answers `status` with `Connection: close`, drops
    /// buffered input, and drains (then lingers, so the client reads it).
    fn reject(&mut self, status: u16, why: &'static str, cx: &mut Cx<'_>) {
        log::debug!("{} rejecting request: {status} {why}", self.id);
        self.input.clear();
        if matches!(self.phase, Phase::ReadingBody { .. }) {
            self.set_phase(Phase::ReadingHead);
        }
        self.start_draining(CloseReason::BadRequest);
        let info = HeadInfo {
            framing: crate::proto::parse::Framing::Empty,
            keep_alive: false,
            expect_continue: false,
            is_head: false,
            version: Version::Http11,
        };
        self.queue_response(&encode::error_response(status, why), info, cx);
    }

    // ---- writing ----

    fn queue_response(&mut self, response: &Response, info: HeadInfo, cx: &mut Cx<'_>) {
        if response.asks_to_close() {
            self.start_draining(CloseReason::Drained);
        }
        let persistence = self.persistence(info.version);
        let date = cx.date;
        self.encode_output(cx, |out| {
            encode::encode_response(out, response, info.is_head, persistence, date)
        });
        Counters::incr(&cx.stats.responses);
    }

    /// What the next response must say about the connection: `close` once
    /// draining, `keep-alive` to an HTTP/1.0 client, nothing otherwise.
    fn persistence(&self, version: Version) -> Persistence {
        if self.is_draining() {
            Persistence::Close
        } else if version == Version::Http10 {
            Persistence::KeepAlive10
        } else {
            Persistence::KeepAlive
        }
    }

    /// Appends to the output through `encode`, keeping `queued_total` (which
    /// deliveries are matched against) in step.
    fn encode_output(&mut self, cx: &mut Cx<'_>, encode: impl FnOnce(&mut Vec<u8>)) {
        self.prepare_output(cx);
        let before = self.output.len();
        encode(&mut self.output);
        self.queued_total += (self.output.len() - before) as u64;
    }

    fn queue_bytes(&mut self, bytes: &[u8], cx: &mut Cx<'_>) {
        if bytes.is_empty() {
            return;
        }
        self.encode_output(cx, |out| out.extend_from_slice(bytes));
    }

    /// Makes sure `output` has a buffer; starts the write-stall clock when
    /// output goes from empty to non-empty.
    fn prepare_output(&mut self, cx: &mut Cx<'_>) {
        if self.output.capacity() == 0 {
            self.output = cx.pool.take();
            self.output.clear();
        }
        if !self.has_output() {
            self.last_write = cx.now;
        }
    }

    /// Writes queued output until done or the socket is full.
    fn flush(&mut self, cx: &mut Cx<'_>) {
        while self.has_output() && self.flags.contains(Flags::WRITABLE) && !self.is_closed() {
            // INVARIANT: output_pos <= output.len() (advanced only by what
            // write reports, which is at most the slice it was given).
            match self.socket.write(&self.output[self.output_pos..]) {
                Ok(0) => {
                    self.close(CloseReason::WriteError, cx);
                    return;
                }
                Ok(n) => {
                    self.output_pos += n;
                    self.written_total += n as u64;
                    self.last_write = cx.now;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.flags.remove(Flags::WRITABLE);
                    if !self.flags.contains(Flags::WRITE_INTEREST) {
                        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
                        let token = mio::Token(self.id.key());
                        if let Err(err) = cx.registry.reregister(&mut self.socket, token, interest)
                        {
                            log::warn!("{} reregister failed: {err}", self.id);
                            self.close(CloseReason::SocketError, cx);
                            return;
                        }
                        self.flags.insert(Flags::WRITE_INTEREST);
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    let reason = self.reason_after(CloseReason::from_write_error(&err));
                    self.close(reason, cx);
                    return;
                }
            }
        }
        while self
            .deliveries
            .front()
            .is_some_and(|d| d.end <= self.written_total)
        {
            if let Some(delivery) = self.deliveries.pop_front() {
                delivery.link.settle(Ok(()));
            }
        }
        if !self.has_output() && self.output.capacity() > 0 {
            self.output.clear();
            self.output_pos = 0;
            self.idle_since = cx.now;
            cx.pool.give(std::mem::take(&mut self.output));
        }
    }

    /// After I/O: finish draining, finish a half-closed connection, give
    /// back idle buffers.
    fn settle(&mut self, cx: &mut Cx<'_>) {
        if self.is_closed() {
            return;
        }
        if matches!(self.phase, Phase::ReadingHead)
            && !self.input.is_empty()
            && self.head_started.is_none()
            && !self.is_draining()
        {
            // The head timer starts only for a head left incomplete: a
            // request that arrives whole arms nothing (no timer churn on
            // the keep-alive path).
            self.head_started = Some(cx.now);
        }
        let flushed = !self.has_output();
        if let (Some(reason), Phase::ReadingHead, true) = (self.drain, &self.phase, flushed) {
            // Everything owed is out: shut our write side (FIN) and linger.
            self.set_phase(Phase::Lingering { reason });
        }
        match self.phase {
            Phase::Lingering { reason } if flushed && !self.flags.contains(Flags::WRITE_SHUT) => {
                self.flags.insert(Flags::WRITE_SHUT);
                self.linger_deadline = Some(cx.now + cx.config.linger_timeout);
                if let Err(err) = self.socket.shutdown(Shutdown::Write) {
                    log::debug!("{} shutdown failed: {err}", self.id);
                    self.close(reason, cx);
                    return;
                }
                if self.flags.contains(Flags::READ_CLOSED) {
                    // The client already finished sending; nothing to wait for.
                    self.close(reason, cx);
                    return;
                }
                // Unread bytes (or the FIN) already signalled are read now;
                // anything later brings its own edge-triggered event.
                if self.flags.contains(Flags::READ_READY) {
                    self.read_discard(cx);
                }
            }
            Phase::ReadingHead | Phase::ReadingBody { .. }
                if self.flags.contains(Flags::READ_CLOSED) && flushed =>
            {
                // Half-closed client, everything it sent is answered (what
                // is left is at most a partial request that cannot complete).
                self.close(CloseReason::PeerClosed, cx);
                return;
            }
            _ => {}
        }
        self.input.release_if_empty(cx.pool);
    }

    // ---- time ----

    /// The earliest instant at which [`Connection::on_deadline`] has
    /// something to do.
    pub fn next_deadline(&self, config: &Config) -> Option<Instant> {
        let stall = self
            .has_output()
            .then(|| self.last_write + config.write_stall_timeout);
        let phase = match &self.phase {
            Phase::ReadingHead if self.is_draining() => None,
            Phase::ReadingHead => match self.head_started {
                Some(started) => Some(started + config.head_timeout),
                None if !self.has_output() => Some(self.idle_since + config.idle_timeout),
                None => None,
            },
            Phase::ReadingBody { .. } => Some(self.last_read + config.body_timeout),
            Phase::AwaitingResponse { .. } => self.response_deadline,
            // A client that stops reading is caught by the write stall; a
            // quiet stream gets heartbeats if it asked for them.
            Phase::Streaming {
                stream, last_part, ..
            } => stream.heartbeat().map(|h| *last_part + h.every),
            Phase::WebSocket(session) => session.next_deadline(config),
            Phase::Lingering { .. } => self.linger_deadline,
            Phase::Closed(_) => return None,
        };
        match (stall, phase) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A deadline may have passed: act on whichever did.
    pub fn on_deadline(&mut self, cx: &mut Cx<'_>) -> bool {
        let now = cx.now;
        let config = cx.config;
        if self.has_output() && self.last_write + config.write_stall_timeout <= now {
            log::debug!("{} write stalled; resetting", self.id);
            self.reset(CloseReason::WriteStall, cx);
            return false;
        }
        if let Phase::WebSocket(session) = &mut self.phase {
            let mut out = Vec::new();
            let step = session.on_deadline(&mut out, &cx.ws());
            self.queue_bytes(&out, cx);
            self.apply_ws_step(step, cx);
            return self.drive(cx);
        }
        match &self.phase {
            Phase::AwaitingResponse { link, info }
                if self.response_deadline.is_some_and(|d| d <= now) =>
            {
                let (link, info) = (Arc::clone(link), *info);
                log::debug!("{} response timeout; answering 503", self.id);
                self.end_response_pending(cx);
                link.close(CloseReason::ResponseTimeout);
                self.start_draining(CloseReason::ResponseTimeout);
                let response = encode::error_response(503, "response timed out");
                self.queue_response(&response, info, cx);
                return self.drive(cx);
            }
            Phase::ReadingHead if !self.is_draining() => {
                if self
                    .head_started
                    .is_some_and(|s| s + config.head_timeout <= now)
                {
                    self.close(CloseReason::HeadTimeout, cx);
                } else if self.head_started.is_none()
                    && !self.has_output()
                    && self.idle_since + config.idle_timeout <= now
                {
                    self.close(CloseReason::IdleTimeout, cx);
                }
            }
            Phase::ReadingBody { .. } if self.last_read + config.body_timeout <= now => {
                self.close(CloseReason::BodyTimeout, cx);
            }
            Phase::Streaming {
                stream,
                chunked,
                last_part,
            } => {
                if let Some(heartbeat) = stream.heartbeat() {
                    if *last_part + heartbeat.every <= now {
                        let chunked = *chunked;
                        if let Phase::Streaming { last_part, .. } = &mut self.phase {
                            *last_part = now;
                        }
                        if !self.has_output() {
                            self.encode_output(cx, |out| {
                                encode::encode_stream_part(out, heartbeat.bytes, chunked)
                            });
                            return self.drive(cx);
                        }
                    }
                }
            }
            Phase::Lingering { reason } if self.linger_deadline.is_some_and(|d| d <= now) => {
                let reason = *reason;
                self.close(reason, cx);
            }
            _ => {}
        }
        false
    }

    /// The server is shutting down: close now if nothing is owed, otherwise
    /// drain (what is owed is finished, then the connection closes).
    pub fn begin_shutdown(&mut self, cx: &mut Cx<'_>) -> bool {
        match self.phase {
            Phase::ReadingHead | Phase::ReadingBody { .. } if !self.has_output() => {
                self.close(CloseReason::Shutdown, cx);
                false
            }
            Phase::ReadingBody { .. } => {
                self.set_phase(Phase::ReadingHead);
                self.start_draining(CloseReason::Shutdown);
                self.drive(cx)
            }
            Phase::Closed(_) | Phase::Lingering { .. } => false,
            Phase::WebSocket(ref mut session) => {
                let mut out = Vec::new();
                let step = session.going_away(&mut out, cx.now);
                self.queue_bytes(&out, cx);
                self.apply_ws_step(step, cx);
                self.drive(cx)
            }
            Phase::Streaming { .. } => {
                // Producers stop now; what is queued is still written.
                if let Phase::Streaming { stream, .. } =
                    std::mem::replace(&mut self.phase, Phase::ReadingHead)
                {
                    stream.close(CloseReason::Shutdown);
                    Counters::decr(&cx.stats.streams_active);
                }
                self.start_draining(CloseReason::Shutdown);
                self.drive(cx)
            }
            _ => {
                self.start_draining(CloseReason::Shutdown);
                self.drive(cx)
            }
        }
    }
}
