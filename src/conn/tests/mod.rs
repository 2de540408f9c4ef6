//! The connection state machine driven without sockets: a scripted
//! transport supplies reads, takes writes up to a set room, and reports
//! errors, so the orders of events that are hard to produce over real
//! sockets (a FIN while a response is half-written, a response after its
//! timeout, shutdown during a stream) are tested exactly.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::channel::queue;

use super::state::Phase;
use super::{Connection, Cx, Readiness, Transport};
use crate::budget::Charge;
use crate::buffer::{BufferPool, BUFFER_BYTES};
use crate::channel::notifier::Command;
use crate::channel::outlets::Outlets;
use crate::config::Config;
use crate::handle::context::Context;
use crate::handle::exchange::Exchange;
use crate::handle::exchange_shared::ExchangeShared;
use crate::handle::recycle::Recycler;
use crate::handler::{Action, Handler, DEFAULT_QUEUE};
use crate::id::ConnectionId;
use crate::proto::request::Request;
use crate::proto::response::Response;
use crate::reason::CloseReason;
use crate::stats::{ConnectionState, StatsHandle};
use crate::time::Clock;
use crate::ws::events::WsEvent;
use crate::ws::DEFAULT_WS_EVENTS;

/// A transport that plays a script.
#[derive(Debug, Default)]
struct Script {
    /// What reads return, in order: bytes, `Ok(empty)` for FIN, or an
    /// error. Nothing left: `WouldBlock`.
    reads: VecDeque<io::Result<Vec<u8>>>,
    written: Vec<u8>,
    /// Bytes the "kernel" still takes before a write would block.
    room: usize,
    so_error: RefCell<Option<io::Error>>,
    write_shut: Cell<bool>,
    reset: Cell<bool>,
    /// What a close begun by the client's FIN is, if not `peer_closed`
    /// (TLS without close_notify: `tls_truncated`).
    orderly: Option<CloseReason>,
}

impl Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.reads.pop_front() {
            None => Err(io::ErrorKind::WouldBlock.into()),
            Some(Ok(bytes)) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                if n < bytes.len() {
                    self.reads.push_front(Ok(bytes[n..].to_vec()));
                }
                Ok(n)
            }
            Some(Err(err)) => Err(err),
        }
    }
}

impl Write for Script {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Script {
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        Ok(self.so_error.borrow_mut().take())
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.write_shut.set(true);
        Ok(())
    }

    fn reset_on_close(&self) {
        self.reset.set(true);
    }

    fn orderly_close(&self) -> CloseReason {
        self.orderly.unwrap_or(CloseReason::PeerClosed)
    }
}

/// Everything a reactor would lend, owned by the test.
struct Bed {
    config: Config,
    stats: StatsHandle,
    handler: Handler,
    queues: Outlets<Exchange>,
    exchanges: queue::Receiver<Exchange>,
    context: Arc<Context>,
    recycler: Arc<Recycler>,
    delivered: Vec<Arc<ExchangeShared>>,
    commands: queue::Receiver<Command>,
    pool: BufferPool,
    scratch: Request,
    discard: Vec<u8>,
    stall: crate::conn::StallWatch,
    ws_events: Outlets<WsEvent>,
    _ws_rx: Vec<(Cow<'static, str>, queue::Receiver<WsEvent>)>,
    now: Instant,
}

const GET: &[u8] = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
const GET_CLOSE: &[u8] = b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";

impl Bed {
    fn new(handler: impl Fn(&Request) -> Action + Send + Sync + 'static) -> Bed {
        let stats = StatsHandle::default();
        let config = Config::default();
        let (context, commands) = Context::detached(stats.clone(), config.stream_budget_bytes);
        let (queues, mut receivers) = Outlets::open(&[(DEFAULT_QUEUE.into(), Some(8))]);
        let exchanges = receivers.remove(0).1;
        let (ws_events, ws_rx) = Outlets::open(&[(DEFAULT_WS_EVENTS.into(), None)]);
        Bed {
            config,
            stats,
            handler: Box::new(move |req: &mut Request| handler(req)),
            queues,
            exchanges,
            context,
            recycler: Arc::new(Recycler::new(StatsHandle::default())),
            delivered: Vec::new(),
            commands,
            pool: BufferPool::default(),
            scratch: Request::default(),
            discard: vec![0; BUFFER_BYTES],
            stall: crate::conn::StallWatch::default(),
            ws_events,
            _ws_rx: ws_rx,
            // Only a starting point: from here the tests move time themselves.
            now: Instant::now(),
        }
    }

    fn handoff() -> Bed {
        Bed::new(|_| Action::handoff())
    }

    fn cx(&mut self) -> Cx<'_> {
        Cx {
            config: &self.config,
            stats: &self.stats.0,
            now: self.now,
            clock: Clock::Fixed(self.now),
            date: "Mon, 30 Nov 2026 00:00:00 GMT",
            handler: &mut self.handler,
            uploads: None,
            queues: &self.queues,
            context: &self.context,
            recycler: &self.recycler,
            delivered: &mut self.delivered,
            pool: &mut self.pool,
            scratch: &mut self.scratch,
            discard: &mut self.discard,
            ws_events: &self.ws_events,
            stall: &mut self.stall,
        }
    }

    fn conn(&self, room: usize) -> Connection<Script> {
        let script = Script {
            room,
            ..Script::default()
        };
        Connection::new(ConnectionId::new(1, 1), script, None, self.now)
    }

    /// The client sends `bytes`; the reactor gets a readable event.
    fn client_sends(&mut self, conn: &mut Connection<Script>, bytes: &[u8]) {
        conn.io.reads.push_back(Ok(bytes.to_vec()));
        conn.on_event(readable(), &mut self.cx());
        self.end_turn();
    }

    /// What the reactor does at the end of a turn: tell the workers whose
    /// responses were written.
    fn end_turn(&mut self) {
        for link in self.delivered.drain(..) {
            link.settle(Ok(()));
        }
    }

    /// The client sends FIN.
    fn client_fin(&mut self, conn: &mut Connection<Script>) {
        conn.io.reads.push_back(Ok(Vec::new()));
        let event = Readiness {
            read_closed: true,
            ..readable()
        };
        conn.on_event(event, &mut self.cx());
        self.end_turn();
    }

    /// Waits for the command a worker-side handle sent, then lets the
    /// connection act on it, as the reactor would.
    fn deliver_update(&mut self, conn: &mut Connection<Script>) {
        let command = self
            .commands
            .recv_timeout(Duration::from_secs(10))
            .expect("an update from the worker side");
        assert!(matches!(command, Command::Update(id) if id == conn.id));
        conn.on_update(&mut self.cx());
        self.end_turn();
    }

    fn take_exchange(&self) -> Exchange {
        self.exchanges
            .try_recv()
            .expect("an exchange was handed off")
    }

    /// A connection whose GET a worker now holds: `response_pending`.
    fn pending(&mut self) -> (Connection<Script>, Exchange) {
        let mut conn = self.conn(usize::MAX);
        self.client_sends(&mut conn, GET);
        assert!(conn.is_response_pending());
        (conn, self.take_exchange())
    }
}

fn readable() -> Readiness {
    Readiness {
        readable: true,
        writable: true,
        ..Readiness::default()
    }
}

fn written(conn: &Connection<Script>) -> String {
    String::from_utf8_lossy(&conn.io.written).into_owned()
}

#[test]
fn a_keep_alive_request_is_answered_inline_and_the_connection_waits_for_more() {
    let mut bed = Bed::new(|_| Action::Respond(Response::text(200, "hi")));
    let mut conn = bed.conn(usize::MAX);
    bed.client_sends(&mut conn, GET);
    assert!(written(&conn).starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(written(&conn).ends_with("\r\n\r\nhi"));
    assert!(matches!(conn.phase, Phase::ReadingHead { started: None }));
    assert!(!conn.is_draining() && !conn.is_closed());
    assert_eq!(conn.state(), Some(ConnectionState::Reading));
    let idle = conn.next_deadline(&bed.config).unwrap();
    assert_eq!(idle, conn.idle_since + bed.config.idle_timeout);
}

#[test]
fn connection_close_drains_then_lingers_then_closes_on_the_clients_fin() {
    let mut bed = Bed::new(|_| Action::Respond(Response::text(200, "bye")));
    let mut conn = bed.conn(usize::MAX);
    bed.client_sends(&mut conn, GET_CLOSE);
    assert!(written(&conn).contains("Connection: close\r\n"));
    assert!(matches!(
        conn.phase,
        Phase::Lingering {
            reason: CloseReason::Drained,
            ..
        }
    ));
    assert!(conn.io.write_shut.get(), "FIN sent after the response");
    assert_eq!(conn.state(), Some(ConnectionState::Draining));
    bed.client_fin(&mut conn);
    assert_eq!(conn.close_reason(), Some(CloseReason::Drained));
    assert_eq!(conn.state(), None);
    assert_eq!(bed.stats.snapshot().closed.get(CloseReason::Drained), 1);
}

#[test]
fn pipelined_requests_wait_while_a_response_is_pending() {
    let mut bed = Bed::handoff();
    let mut conn = bed.conn(usize::MAX);
    bed.client_sends(&mut conn, &[GET, GET].concat());
    assert!(conn.is_response_pending());
    assert_eq!(conn.state(), Some(ConnectionState::ResponsePending));
    let first = bed.take_exchange();
    assert!(bed.exchanges.is_empty(), "one request in a worker's hands");
    let worker = thread::spawn(move || first.respond(Response::text(200, "one")));
    bed.deliver_update(&mut conn);
    worker.join().unwrap().expect("delivered");
    // The second request was parsed once the first was answered.
    assert!(conn.is_response_pending());
    let second = bed.take_exchange();
    let worker = thread::spawn(move || second.respond(Response::text(200, "two")));
    bed.deliver_update(&mut conn);
    worker.join().unwrap().expect("delivered");
    let out = written(&conn);
    assert!(out.find("one").unwrap() < out.find("two").unwrap());
    assert_eq!(bed.stats.snapshot().pending_responses, 0);
}

#[test]
fn a_fin_while_a_response_is_half_written_hands_the_response_back() {
    let mut bed = Bed::handoff();
    let (mut conn, exchange) = bed.pending();
    conn.io.room = 100; // the kernel takes the head and a little body
    let body = vec![b'x'; 10_000];
    let worker = thread::spawn(move || exchange.respond(Response::new(200).with_body(body)));
    bed.deliver_update(&mut conn);
    assert_eq!(conn.io.written.len(), 100, "half written");
    assert!(!conn.is_closed());
    bed.client_fin(&mut conn);
    assert_eq!(conn.close_reason(), Some(CloseReason::PeerClosed));
    let back = worker
        .join()
        .unwrap()
        .expect_err("the client left mid-write");
    assert_eq!(back.reason, CloseReason::PeerClosed);
    assert_eq!(
        back.response.body().len(),
        10_000,
        "the whole response comes back"
    );
}

#[test]
fn a_response_after_the_response_timeout_comes_back_and_the_client_gets_503() {
    let mut bed = Bed::handoff();
    let (mut conn, exchange) = bed.pending();
    let deadline = conn.next_deadline(&bed.config).unwrap();
    assert_eq!(
        deadline,
        bed.now + bed.config.response_timeout,
        "not the idle timeout"
    );
    bed.now = deadline;
    conn.on_deadline(&mut bed.cx());
    assert!(written(&conn).starts_with("HTTP/1.1 503"));
    assert!(!conn.is_response_pending() && conn.is_draining());
    let back = exchange
        .respond(Response::text(200, "late"))
        .expect_err("too late");
    assert_eq!(back.reason, CloseReason::ResponseTimeout);
    assert_eq!(back.response.body(), b"late");
    assert_eq!(bed.stats.snapshot().pending_responses, 0);
}

#[test]
fn a_reset_while_a_response_is_pending_wakes_the_worker_with_the_reason() {
    let mut bed = Bed::handoff();
    let (mut conn, exchange) = bed.pending();
    socket_error(&mut conn, &mut bed, io::ErrorKind::ConnectionReset);
    assert_eq!(conn.close_reason(), Some(CloseReason::PeerReset));
    assert_eq!(
        exchange.wait_closed(Duration::from_secs(10)),
        Some(CloseReason::PeerReset)
    );
    let stats = bed.stats.snapshot();
    assert_eq!(stats.pending_responses, 0);
    assert_eq!(stats.closed.get(CloseReason::PeerReset), 1);
}

#[test]
fn shutdown_during_a_stream_stops_the_producer_and_drains_what_is_queued() {
    let mut bed = Bed::handoff();
    let (mut conn, exchange) = bed.pending();
    let mut sender = exchange
        .stream(Response::new(200))
        .expect("the client is here");
    bed.deliver_update(&mut conn);
    assert!(matches!(conn.phase, Phase::Streaming { .. }));
    assert_eq!(bed.stats.snapshot().streams_active, 1);
    conn.io.room = 0; // the client reads nothing for now
    sender.send("part one").unwrap();
    bed.deliver_update(&mut conn);
    conn.begin_shutdown(&mut bed.cx());
    assert_eq!(sender.close_reason(), Some(CloseReason::Shutdown));
    assert!(sender.send("part two").is_err(), "the producer is stopped");
    assert_eq!(bed.stats.snapshot().streams_active, 0);
    assert!(
        conn.is_draining() && !conn.is_closed(),
        "queued bytes still go out"
    );
    conn.io.room = usize::MAX;
    conn.on_event(readable(), &mut bed.cx());
    assert!(written(&conn).contains("part one"));
    assert!(!written(&conn).contains("part two"));
    assert!(matches!(
        conn.phase,
        Phase::Lingering {
            reason: CloseReason::Shutdown,
            ..
        }
    ));
    assert!(conn.io.write_shut.get());
}

#[test]
fn a_client_that_never_reads_is_reset_after_the_write_stall_timeout() {
    let mut bed = Bed::new(|_| Action::Respond(Response::new(200).with_body(vec![0; 4096])));
    let mut conn = bed.conn(0);
    bed.client_sends(&mut conn, GET);
    let stall = conn.next_deadline(&bed.config).unwrap();
    assert_eq!(stall, bed.now + bed.config.write_stall_timeout);
    bed.now = stall;
    conn.on_deadline(&mut bed.cx());
    assert_eq!(conn.close_reason(), Some(CloseReason::WriteStall));
    assert!(conn.io.reset.get(), "a client that will not read is reset");
}

#[test]
fn a_dropped_exchange_is_answered_500_and_the_connection_drains() {
    let mut bed = Bed::handoff();
    let (mut conn, exchange) = bed.pending();
    drop(exchange);
    bed.deliver_update(&mut conn);
    assert!(written(&conn).starts_with("HTTP/1.1 500"));
    assert!(matches!(
        conn.phase,
        Phase::Lingering {
            reason: CloseReason::Unanswered,
            ..
        }
    ));
}

#[test]
fn a_websocket_ping_flood_stops_being_decoded_while_its_output_is_over_the_high_water_mark() {
    use super::state::OUTPUT_HIGH_WATER_BYTES;
    let mut bed = Bed::new(|_| Action::Upgrade(crate::ws::Upgrade::new()));
    let mut conn = bed.conn(usize::MAX);
    bed.client_sends(
        &mut conn,
        b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert!(matches!(conn.phase, Phase::WebSocket(_)));
    conn.io.room = 0; // the client reads nothing from now on
    let mut ping = vec![0x89, 0x80 | 125, 1, 2, 3, 4];
    ping.extend(std::iter::repeat_n(b'p', 125));
    for _ in 0..20_000 {
        // One ping per read: without coalescing or a limit, one pong each.
        conn.io.reads.push_back(Ok(ping.clone()));
    }
    for _ in 0..2_000 {
        conn.on_event(readable(), &mut bed.cx());
        assert!(
            conn.unsent() <= OUTPUT_HIGH_WATER_BYTES + 64 * 127,
            "output grew to {}",
            conn.unsent()
        );
        assert!(conn.input.len() <= bed.config.max_buffered_bytes);
    }
    assert!(
        !conn.io.reads.is_empty(),
        "the flood is held back in the client's socket, not read"
    );
    assert!(!conn.is_closed());
}

/// An error event whose `SO_ERROR` is `kind`.
fn socket_error(conn: &mut Connection<Script>, bed: &mut Bed, kind: io::ErrorKind) {
    *conn.io.so_error.borrow_mut() = Some(kind.into());
    let event = Readiness {
        error: true,
        read_closed: true,
        write_closed: true,
        ..readable()
    };
    conn.on_event(event, &mut bed.cx());
}

#[test]
fn a_fin_answered_by_a_reset_after_late_writes_is_an_orderly_close() {
    // The client sent FIN and closed; a response we wrote after that drew
    // an RST, which Linux reports as EPIPE. The client's act was the FIN.
    let mut bed = Bed::handoff();
    let (mut conn, exchange) = bed.pending();
    socket_error(&mut conn, &mut bed, io::ErrorKind::BrokenPipe);
    assert_eq!(conn.close_reason(), Some(CloseReason::PeerClosed));
    assert_eq!(exchange.close_reason(), Some(CloseReason::PeerClosed));

    // Under the Finish policy the FIN was already taken: a reset after it
    // is the client's own, later act.
    let mut bed = Bed::handoff();
    bed.config.half_close = crate::config::HalfClosePolicy::Finish;
    let mut conn = bed.conn(usize::MAX);
    bed.client_sends(&mut conn, GET);
    bed.client_fin(&mut conn);
    assert!(!conn.is_closed());
    socket_error(&mut conn, &mut bed, io::ErrorKind::BrokenPipe);
    assert_eq!(conn.close_reason(), Some(CloseReason::PeerReset));

    // Over TLS a FIN without close_notify is a truncation, and so is the
    // close it began when an RST follows it (EPIPE).
    let mut bed = Bed::handoff();
    let (mut conn, exchange) = bed.pending();
    conn.io.orderly = Some(CloseReason::TlsTruncated);
    socket_error(&mut conn, &mut bed, io::ErrorKind::BrokenPipe);
    assert_eq!(exchange.close_reason(), Some(CloseReason::TlsTruncated));
}

#[test]
fn an_unreachable_peer_is_a_keepalive_failure() {
    for kind in [
        io::ErrorKind::HostUnreachable,
        io::ErrorKind::NetworkUnreachable,
    ] {
        let mut bed = Bed::handoff();
        let mut conn = bed.conn(usize::MAX);
        bed.client_sends(&mut conn, GET);
        socket_error(&mut conn, &mut bed, kind);
        assert_eq!(
            conn.close_reason(),
            Some(CloseReason::KeepaliveFailed),
            "{kind:?}"
        );
    }
}

#[test]
fn a_kernel_timeout_while_output_is_owed_is_a_write_stall_not_a_vanished_peer() {
    // Our output waits on the client: the kernel's ETIMEDOUT then ended
    // bytes it could not deliver (the peer's window held shut, or the
    // peer gone), never keepalive probes, which only run when nothing is
    // outstanding. A live slow reader must not be recorded as vanished.
    let mut bed = Bed::new(|_| Action::Respond(Response::new(200).with_body(vec![0; 1024])));
    let mut conn = bed.conn(0);
    bed.client_sends(&mut conn, GET);
    assert!(conn.has_output(), "the response waits on the client");
    socket_error(&mut conn, &mut bed, io::ErrorKind::TimedOut);
    assert_eq!(conn.close_reason(), Some(CloseReason::WriteStall));

    // Nothing owed: the keepalive probes went unanswered.
    let mut bed = Bed::handoff();
    let (mut conn, exchange) = bed.pending();
    socket_error(&mut conn, &mut bed, io::ErrorKind::TimedOut);
    assert_eq!(exchange.close_reason(), Some(CloseReason::KeepaliveFailed));
}

#[test]
fn a_pipelining_client_that_never_reads_ends_as_write_stall_not_head_timeout() {
    // Parsing pauses because the client does not read our answers: the
    // heads waiting in our buffer wait on us, not on the client.
    let mut bed = Bed::new(|_| Action::Respond(Response::new(200).with_body(vec![0; 1024])));
    let mut conn = bed.conn(0);
    let pipelined: Vec<u8> = GET.repeat(200);
    bed.client_sends(&mut conn, &pipelined);
    assert!(!conn.input.is_empty(), "parsing paused behind the output");
    let mut now = bed.now;
    for _ in 0..100 {
        let Some(next) = conn.next_deadline(&bed.config) else {
            break;
        };
        now = next;
        bed.now = now;
        conn.on_deadline(&mut bed.cx());
        if conn.is_closed() {
            break;
        }
    }
    assert_eq!(conn.close_reason(), Some(CloseReason::WriteStall));
    assert!(now >= conn.last_write + bed.config.write_stall_timeout);
}

/// A pending exchange with the whole memory budget spent elsewhere (held by
/// the returned charge), and 40 KiB of pipelined requests on their way.
fn pending_with_the_budget_spent(bed: &mut Bed) -> (Connection<Script>, Exchange, Charge) {
    let budget = 1 << 20;
    bed.config.memory_budget_bytes = budget as usize;
    let mut spent = Charge::new(&bed.stats);
    assert!(spent.grow_to(budget, budget));
    let (mut conn, exchange) = bed.pending();
    conn.io
        .reads
        .push_back(Ok(GET.repeat(40 * 1024 / GET.len())));
    (conn, exchange, spent)
}

#[test]
fn with_the_memory_budget_spent_reading_ahead_waits_without_spinning() {
    let mut bed = Bed::handoff();
    let (mut conn, exchange, spent) = pending_with_the_budget_spent(&mut bed);
    let wants_turn = conn.on_event(readable(), &mut bed.cx());
    assert_eq!(conn.input.len(), BUFFER_BYTES, "filled to the floor only");
    assert!(!wants_turn, "no turns asked for that could not read");
    assert!(!conn.on_event(readable(), &mut bed.cx()));
    assert_eq!(
        bed.stats.snapshot().memory_refusals,
        1,
        "counted once a wait"
    );

    // The worker answers: the next request is parsed and handed off.
    exchange
        .respond_detached(Response::text(200, "ok"))
        .unwrap();
    bed.deliver_update(&mut conn);
    let _second = bed.take_exchange();
    // With the budget free again, reading goes past the floor.
    drop(spent);
    conn.on_event(readable(), &mut bed.cx());
    assert!(conn.input.len() > BUFFER_BYTES, "{}", conn.input.len());
    assert!(bed.stats.snapshot().memory_held > 0);
}

#[test]
fn a_client_that_leaves_while_its_read_ahead_waits_is_noticed_at_once() {
    let mut bed = Bed::handoff();
    let (mut conn, exchange, _spent) = pending_with_the_budget_spent(&mut bed);
    conn.on_event(readable(), &mut bed.cx());
    assert_eq!(conn.input.len(), BUFFER_BYTES);
    // The rest of its bytes, then FIN: the worker must hear of it now.
    bed.client_fin(&mut conn);
    assert_eq!(conn.close_reason(), Some(CloseReason::PeerClosed));
    assert_eq!(exchange.close_reason(), Some(CloseReason::PeerClosed));
}

mod exchange_ends;
mod props;

#[test]
fn a_blocked_write_asks_for_writable_interest_once() {
    let mut bed = Bed::new(|_| Action::Respond(Response::text(200, "x".repeat(1000))));
    let mut conn = bed.conn(10);
    assert!(!conn.take_write_interest(), "nothing written yet");
    bed.client_sends(&mut conn, GET);
    assert_eq!(
        conn.io.written.len(),
        10,
        "the kernel took what it had room for"
    );
    assert!(conn.take_write_interest(), "the reactor must register");
    assert!(!conn.take_write_interest(), "once");
    // Registered now: a write that blocks again asks for nothing.
    conn.io.room = 10;
    conn.on_event(
        Readiness {
            writable: true,
            ..Readiness::default()
        },
        &mut bed.cx(),
    );
    assert_eq!(conn.io.written.len(), 20);
    assert!(!conn.take_write_interest());
}

#[test]
fn a_responses_latency_is_timed_by_the_clock_passed_in() {
    let mut bed = Bed::handoff();
    let (mut conn, exchange) = bed.pending();
    bed.now += Duration::from_millis(30);
    let worker = thread::spawn(move || exchange.respond(Response::text(200, "late")));
    bed.deliver_update(&mut conn);
    worker.join().unwrap().expect("delivered");
    let latency = bed.stats.snapshot().response_latency;
    assert_eq!(latency.count(), 1);
    assert_eq!(latency.sum(), Duration::from_millis(30));
}

/// The departure path that docs/architecture.md measures: a FIN while a
/// worker holds the exchange (the default `Abort` policy).
#[test]
fn departure_a_fin_while_a_worker_holds_the_exchange() {
    let mut bed = Bed::handoff();
    let (mut conn, exchange) = bed.pending();
    bed.client_fin(&mut conn);
    assert_eq!(exchange.close_reason(), Some(CloseReason::PeerClosed));
}
