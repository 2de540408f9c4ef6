//! A connection's phase, and every transition between phases.
//!
//! Each phase carries its own data: the deadline of a pending response lives
//! in `ResponsePending`, the lingering reason and deadline in `Lingering`.
//! `response_pending` *is* the phase `ResponsePending`; `draining` is the one
//! field `Connection::drain`. Only the methods here change either, each
//! `debug_assert!`s the phase it leaves, and the counters that follow a
//! transition (`pending_responses`, `streams_active`, `ws_active`, closes by
//! reason) are updated here and nowhere else.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cx::Cx;
use super::flags::Flags;
use super::rate::BodyRate;
use super::socket::Socket;
use super::transport::Transport;
use crate::budget::{Charge, Client};
use crate::buffer::InBuf;
use crate::handle::exchange_shared::ExchangeShared;
use crate::handle::stream::StreamShared;
use crate::handle::upload::UploadShared;
use crate::id::ConnectionId;
use crate::proto::body::BodyDecoder;
use crate::proto::parse::HeadInfo;
use crate::proto::request::Request;
use crate::proto::response::Response;
use crate::reason::CloseReason;
use crate::stats::{ConnectionState, Counters};
use crate::time::deadline;
use crate::ws::session::Session;

/// Queued output past which no further pipelined request is parsed, and no
/// more stream parts or WebSocket frames are pulled, until the client has
/// read some.
pub(super) const OUTPUT_HIGH_WATER_BYTES: usize = 64 * 1024;

/// A connection's phase. Exactly one holds at a time.
#[derive(Debug)]
pub(crate) enum Phase {
    /// Waiting for, or reading, a request head. `started` is when the head
    /// being read began (accept time for the first request); `None` while
    /// idle between requests.
    ReadingHead { started: Option<Instant> },
    /// Reading the body of `request`.
    ReadingBody {
        decoder: BodyDecoder,
        info: HeadInfo,
        request: Box<Request>,
        /// Whether the body keeps up `min_body_rate`, window by window.
        rate: BodyRate,
        /// The body's bytes, held against the server's memory budget.
        charge: Charge,
    },
    /// `response_pending`: a worker holds the exchange for this request.
    /// Pipelined parsing is paused; the connection is not closed by the
    /// request's `Connection: close` nor by the idle timeout.
    ResponsePending {
        link: Arc<ExchangeShared>,
        info: HeadInfo,
        /// When the worker's time is up (`response_timeout`).
        deadline: Instant,
        /// The body, still arriving, of a request whose route streams it.
        upload: Option<Box<Upload>>,
    },
    /// A worker's streaming response is being written from `stream`'s queue.
    /// Like `ResponsePending`, pipelined parsing waits until it ends.
    Streaming {
        stream: Arc<StreamShared>,
        chunked: bool,
        /// When a part (or heartbeat) was last queued.
        last_part: Instant,
    },
    /// An upgraded WebSocket.
    WebSocket(Box<Session>),
    /// The final response is flushed and our write side shut; what the client
    /// still sends is read and discarded until it closes or `deadline`.
    Lingering {
        reason: CloseReason,
        deadline: Instant,
    },
    /// Ended; the reactor reaps it at the end of the turn.
    Closed(CloseReason),
}

/// The connection's side of a streamed body.
#[derive(Debug)]
pub(crate) struct Upload {
    pub decoder: BodyDecoder,
    pub shared: Arc<UploadShared>,
    /// Body bytes decoded so far.
    pub received: u64,
    /// The pipe was full: the worker, not the client, is behind, so the
    /// body timeout does not run.
    pub waiting_for_worker: bool,
}

impl Upload {
    pub fn new(decoder: BodyDecoder, shared: Arc<UploadShared>) -> Self {
        Upload {
            decoder,
            shared,
            received: 0,
            waiting_for_worker: false,
        }
    }
}

impl Phase {
    pub fn name(&self) -> &'static str {
        match self {
            Phase::ReadingHead { .. } => "reading_head",
            Phase::ReadingBody { .. } => "reading_body",
            Phase::ResponsePending { .. } => "response_pending",
            Phase::Streaming { .. } => "streaming",
            Phase::WebSocket(_) => "websocket",
            Phase::Lingering { .. } => "lingering",
            Phase::Closed(_) => "closed",
        }
    }

    /// Between requests, or reading a head: no request is in hand.
    pub const IDLE: Phase = Phase::ReadingHead { started: None };
}

/// A worker's response written into the output buffer and not yet settled
/// (fully handed to the kernel); kept so it can be given back if the client leaves.
#[derive(Debug)]
pub(super) struct Unsettled {
    /// Output offset (in bytes ever queued) at which it is fully written.
    pub end: u64,
    pub link: Arc<ExchangeShared>,
    pub response: Response,
}

/// One client connection. Owned by the reactor's slab; nothing else touches it.
#[derive(Debug)]
pub(crate) struct Connection<T = Socket> {
    pub id: ConnectionId,
    pub(super) io: T,
    pub(super) peer: Option<SocketAddr>,
    /// The client (its address) whose share of the memory budget this
    /// connection's bytes count against; `None` when shares are off.
    pub(super) client: Option<Arc<Client>>,
    pub(super) phase: Phase,
    pub(super) flags: Flags,
    /// `draining`: why the connection will close once what is owed is flushed.
    pub(super) drain: Option<CloseReason>,
    /// The state this connection is counted in (`Stats::connections`);
    /// `None` before its first count and once closed.
    counted: Option<ConnectionState>,
    pub(super) input: InBuf,
    /// Input read ahead past the floor every connection may fill (one
    /// buffer, or one head), held against the memory budget.
    pub(super) read_ahead: Option<Charge>,
    pub(super) output: Vec<u8>,
    /// Bytes of `output` already written.
    pub(super) output_pos: usize,
    /// Output queued past the floor of twice the high-water mark (a large
    /// response), held against the memory budget until written.
    pub(super) output_charge: Option<Charge>,
    /// Bytes ever queued and ever written, for matching deliveries.
    pub(super) queued_total: u64,
    pub(super) written_total: u64,
    pub(super) deliveries: VecDeque<Unsettled>,
    pub(super) idle_since: Instant,
    pub(super) last_read: Instant,
    /// Last write progress (or when output became non-empty).
    pub(super) last_write: Instant,
    /// The instant of this connection's live timer entry (see `timer.rs`).
    pub timer_slot: Option<Instant>,
    /// When the oldest request not yet answered in full was complete, to
    /// time its response.
    pub(super) answering_since: Option<Instant>,
    /// The route slot of the request being answered (0: none), until its
    /// response is queued.
    pub(super) answering_route: u32,
    /// The route slot and status of the last response queued: what its
    /// latency is recorded under.
    pub(super) answered: (u32, u16),
}

impl<T: Transport> Connection<T> {
    pub fn new(id: ConnectionId, io: T, peer: Option<SocketAddr>, now: Instant) -> Self {
        Connection {
            id,
            io,
            peer,
            client: None,
            phase: Phase::ReadingHead { started: Some(now) },
            // A new socket can take bytes: writable interest is only added
            // once a write would block.
            flags: Flags::WRITABLE,
            drain: None,
            counted: None,
            input: InBuf::default(),
            read_ahead: None,
            output: Vec::new(),
            output_pos: 0,
            output_charge: None,
            queued_total: 0,
            written_total: 0,
            deliveries: VecDeque::new(),
            idle_since: now,
            last_read: now,
            last_write: now,
            timer_slot: None,
            answering_since: None,
            answering_route: 0,
            answered: (0, 0),
        }
    }

    /// Counts what this connection holds against `client`'s share too.
    pub fn with_client(mut self, client: Option<Arc<Client>>) -> Self {
        self.client = client;
        self
    }

    /// An empty charge for bytes this connection's peer makes us hold.
    pub(super) fn charge(&self, cx: &Cx<'_>) -> Charge {
        Charge::for_client(&cx.context.stats, self.client.clone())
    }

    /// True once, when a write has blocked on a socket not yet registered
    /// for writable readiness: the caller registers it (and closes the
    /// connection as `socket_error` if it cannot).
    pub fn take_write_interest(&mut self) -> bool {
        if !self.flags.contains(Flags::WRITE_INTEREST_DUE) {
            return false;
        }
        self.flags.remove(Flags::WRITE_INTEREST_DUE);
        self.flags.insert(Flags::WRITE_INTEREST);
        true
    }

    /// The transport, for the reactor to register.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.io
    }

    pub fn is_queued(&self) -> bool {
        self.flags.contains(Flags::QUEUED)
    }

    pub fn set_queued(&mut self, queued: bool) {
        self.flags.set(Flags::QUEUED, queued);
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
        matches!(self.phase, Phase::ResponsePending { .. })
    }

    /// `draining`: no more requests; close once what is owed is flushed.
    pub fn is_draining(&self) -> bool {
        self.drain.is_some()
    }

    /// Bytes owed to the client that the kernel has not taken: queued
    /// output, or records the transport made of it (TLS).
    pub(super) fn has_output(&self) -> bool {
        self.output_pos < self.output.len() || self.io.has_pending_output()
    }

    /// Output queued and not yet written.
    pub(super) fn unsent(&self) -> usize {
        self.output.len() - self.output_pos
    }

    /// Output bytes that can still be queued below the high-water mark.
    pub(super) fn output_room(&self) -> usize {
        OUTPUT_HIGH_WATER_BYTES.saturating_sub(self.unsent())
    }

    /// The client is behind on what we owe it: nothing more that makes
    /// output (a pipelined request, a WebSocket frame) is taken until it reads.
    pub(super) fn is_output_held_back(&self) -> bool {
        self.unsent() > OUTPUT_HIGH_WATER_BYTES
    }

    pub(super) fn is_reading_head(&self) -> bool {
        matches!(self.phase, Phase::ReadingHead { .. })
    }

    /// Reads are thrown away rather than parsed. A streamed body is still
    /// read while draining: it belongs to the request being answered.
    pub(super) fn is_discarding(&self) -> bool {
        (self.is_draining() && !self.is_uploading())
            || matches!(self.phase, Phase::Lingering { .. })
    }

    /// What the connection is doing, for `Stats::connections`; `None` once
    /// closed. A worker's exchange outranks draining: the worker is what
    /// holds the connection open.
    pub fn state(&self) -> Option<ConnectionState> {
        Some(match self.phase {
            Phase::ResponsePending { .. } => ConnectionState::ResponsePending,
            Phase::Streaming { .. } => ConnectionState::Streaming,
            Phase::WebSocket(_) => ConnectionState::WebSocket,
            Phase::Lingering { .. } => ConnectionState::Draining,
            Phase::ReadingHead { .. } | Phase::ReadingBody { .. } if self.is_draining() => {
                ConnectionState::Draining
            }
            Phase::ReadingHead { .. } | Phase::ReadingBody { .. } => ConnectionState::Reading,
            Phase::Closed(_) => return None,
        })
    }

    /// Moves the connection to the gauge of the state it is in now. The
    /// reactor calls this after everything it has a connection do, so the
    /// gauges add up to `active` at the end of every step.
    pub fn sync_state(&mut self, stats: &Counters) {
        let now = self.state();
        stats.states.shift(self.counted, now);
        self.counted = now;
    }

    // ---- transitions ----

    fn set_phase(&mut self, phase: Phase) {
        log::trace!("{} {} -> {}", self.id, self.phase.name(), phase.name());
        self.phase = phase;
    }

    /// Sets `draining`. The weakest reason, `Drained`, gives way to any other.
    pub(super) fn start_draining(&mut self, reason: CloseReason) {
        debug_assert!(!self.is_closed(), "draining a closed connection");
        match self.drain {
            None => log::trace!("{} draining ({reason})", self.id),
            Some(CloseReason::Drained) if reason != CloseReason::Drained => {}
            Some(_) => return,
        }
        self.drain = Some(reason);
    }

    /// A head with a body was parsed: read the body next.
    pub(super) fn start_body(
        &mut self,
        decoder: BodyDecoder,
        info: HeadInfo,
        request: Request,
        now: Instant,
        charge: Charge,
    ) {
        debug_assert!(self.is_reading_head(), "body outside reading_head");
        debug_assert_eq!(charge.bytes(), 0, "a body starts with nothing held");
        self.set_phase(Phase::ReadingBody {
            decoder,
            info,
            request: Box::new(request),
            rate: BodyRate::new(now),
            charge,
        });
    }

    /// The body is complete (or refused): back to reading heads, handing out
    /// the request it belonged to.
    pub(super) fn end_body(&mut self) -> Option<(HeadInfo, Box<Request>)> {
        debug_assert!(matches!(self.phase, Phase::ReadingBody { .. }));
        match std::mem::replace(&mut self.phase, Phase::IDLE) {
            Phase::ReadingBody { info, request, .. } => {
                log::trace!("{} reading_body -> reading_head", self.id);
                Some((info, request))
            }
            other => {
                self.phase = other;
                None
            }
        }
    }

    /// The exchange reached a worker: `response_pending` until it answers.
    pub(super) fn start_response_pending(
        &mut self,
        link: Arc<ExchangeShared>,
        info: HeadInfo,
        timeout: Duration,
        upload: Option<Box<Upload>>,
        cx: &Cx<'_>,
    ) {
        debug_assert!(self.is_reading_head(), "hand-off outside reading_head");
        Counters::incr(&cx.stats.pending_responses);
        let deadline = deadline(cx.now, timeout);
        self.set_phase(Phase::ResponsePending {
            link,
            info,
            deadline,
            upload,
        });
    }

    /// The streamed body is complete: the worker reads its end.
    pub(super) fn end_upload(&mut self) {
        debug_assert!(self.is_uploading(), "no body was streaming");
        if let Phase::ResponsePending { upload, .. } = &mut self.phase {
            if let Some(upload) = upload.take() {
                log::trace!("{} streamed body complete", self.id);
                upload.shared.finish();
            }
        }
    }

    /// A streamed body is still arriving.
    pub(super) fn is_uploading(&self) -> bool {
        matches!(
            self.phase,
            Phase::ResponsePending {
                upload: Some(_),
                ..
            }
        )
    }

    /// Moves the pending response's deadline to the one its worker asked
    /// for, if it asked.
    pub(super) fn take_requested_deadline(&mut self) {
        if let Phase::ResponsePending { link, deadline, .. } = &mut self.phase {
            if let Some(at) = link.take_requested_deadline() {
                log::trace!("{} response deadline moved by its worker", self.id);
                *deadline = at;
            }
        }
    }

    /// The worker answered, dropped its exchange, or ran out of time.
    pub(super) fn end_response_pending(
        &mut self,
        cx: &Cx<'_>,
    ) -> Option<(Arc<ExchangeShared>, HeadInfo)> {
        debug_assert!(self.is_response_pending(), "no response was pending");
        match std::mem::replace(&mut self.phase, Phase::IDLE) {
            Phase::ResponsePending {
                link, info, upload, ..
            } => {
                log::trace!("{} response_pending -> reading_head", self.id);
                Counters::decr(&cx.stats.pending_responses);
                if let Some(upload) = upload {
                    // Answered before the whole body came: what is left of
                    // it is not read; the connection closes after the answer.
                    upload
                        .shared
                        .fail("the response came before the whole body");
                    self.start_draining(CloseReason::Drained);
                }
                Some((link, info))
            }
            other => {
                self.phase = other;
                None
            }
        }
    }

    /// A stream's head is written: its parts follow.
    pub(super) fn start_streaming(
        &mut self,
        stream: Arc<StreamShared>,
        chunked: bool,
        cx: &Cx<'_>,
    ) {
        debug_assert!(self.is_reading_head(), "stream outside reading_head");
        Counters::incr(&cx.stats.streams_active);
        self.set_phase(Phase::Streaming {
            stream,
            chunked,
            last_part: cx.now,
        });
    }

    /// The stream is over (finished, abandoned, or cut by shutdown).
    pub(super) fn end_streaming(&mut self, cx: &Cx<'_>) -> Option<Arc<StreamShared>> {
        debug_assert!(matches!(self.phase, Phase::Streaming { .. }));
        match std::mem::replace(&mut self.phase, Phase::IDLE) {
            Phase::Streaming { stream, .. } => {
                log::trace!("{} streaming -> reading_head", self.id);
                Counters::decr(&cx.stats.streams_active);
                Some(stream)
            }
            other => {
                self.phase = other;
                None
            }
        }
    }

    /// The upgrade completed.
    pub(super) fn start_websocket(&mut self, session: Session, cx: &Cx<'_>) {
        debug_assert!(self.is_reading_head(), "upgrade outside reading_head");
        Counters::incr(&cx.stats.ws_active);
        self.set_phase(Phase::WebSocket(Box::new(session)));
    }

    /// The WebSocket is over but its last frames are still to be flushed.
    pub(super) fn end_websocket(&mut self, cx: &Cx<'_>) -> Option<Box<Session>> {
        debug_assert!(matches!(self.phase, Phase::WebSocket(_)));
        match std::mem::replace(&mut self.phase, Phase::IDLE) {
            Phase::WebSocket(session) => {
                log::trace!("{} websocket -> reading_head", self.id);
                Counters::decr(&cx.stats.ws_active);
                Some(session)
            }
            other => {
                self.phase = other;
                None
            }
        }
    }

    /// Everything owed is flushed while draining: linger until `deadline`.
    pub(super) fn start_lingering(&mut self, reason: CloseReason, deadline: Instant) {
        debug_assert!(self.is_reading_head() && self.is_draining() && !self.has_output());
        self.set_phase(Phase::Lingering { reason, deadline });
    }

    /// Ends the phase for good, counting the close; returns the phase left,
    /// whose handles the caller settles.
    pub(super) fn enter_closed(&mut self, reason: CloseReason, cx: &Cx<'_>) -> Phase {
        debug_assert!(!self.is_closed(), "closed twice");
        let previous = std::mem::replace(&mut self.phase, Phase::Closed(reason));
        // Counters first: whoever is woken about this close sees stats that
        // already include it.
        cx.stats.record_close(reason);
        match &previous {
            Phase::ResponsePending { .. } => Counters::decr(&cx.stats.pending_responses),
            Phase::Streaming { .. } => Counters::decr(&cx.stats.streams_active),
            Phase::WebSocket(_) => Counters::decr(&cx.stats.ws_active),
            _ => {}
        }
        previous
    }
}
