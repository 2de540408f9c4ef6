//! The event loop: one thread, one `mio::Poll`, one slab of connections.
//!
//! # Turn order
//!
//! 1. `poll` with the next deadline as timeout (zero when work is queued).
//! 2. Readiness events, each handled on its connection at once.
//! 3. Commands from workers (responses, dropped exchanges, shutdown). The
//!    waker is an eventfd counter: many `wake()`s may yield one event, so the
//!    whole queue is drained every time.
//! 4. Accepts, unless paused (connection limit, descriptor exhaustion).
//! 5. Expired timers.
//! 6. Connections that ran out of budget last turn (fairness).
//! 7. Reaping: connections closed during this turn leave the slab only now,
//!    so a key is never reused while events for it may still be in hand.
//! 8. Health: the turn's figures and the stall detector (`health.rs`).

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::channel::queue::Receiver;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::budget::Clients;
use crate::buffer::{BufferPool, BUFFER_BYTES};
use crate::channel::notifier::Command;
use crate::channel::outlets::Outlets;
use crate::config::Config;
use crate::conn::{Connection, Cx, Readiness, StallWatch};
use crate::handle::context::Context;
use crate::handle::exchange::Exchange;
use crate::handle::exchange_shared::ExchangeShared;
use crate::handle::recycle::Recycler;
use crate::handler::{BodyPolicy, Handler};
use crate::health::{Health, Turn};
use crate::id::ConnectionId;
use crate::listen::Listener;
use crate::proto::encode::DateCache;
use crate::proto::request::Request;
use crate::reason::CloseReason;
use crate::stats::{Counters, ReactorCounters, StatsHandle};
use crate::time::{deadline, Clock};
use crate::timer::Timers;
use crate::ws::events::WsEvent;

pub(crate) const WAKER: Token = Token(usize::MAX);

/// Connections accepted per turn before other work gets a go.
const ACCEPTS_PER_TURN: usize = 64;
/// Slab slots kept however few connections are open.
const SLAB_KEEP_SLOTS: usize = 1024;
/// Stale timer entries tolerated beyond twice the open connections.
const STALE_TIMERS_ALLOWED: usize = 1024;
/// Readiness events taken per `poll`.
const EVENTS_CAPACITY: usize = 1024;

/// What every connection borrows from the reactor while it works.
struct Shared {
    config: Config,
    stats: StatsHandle,
    context: Arc<Context>,
    /// Where this reactor's exchanges return what they borrowed.
    recycler: Arc<Recycler>,
    /// Responses written this turn, their workers not told yet.
    delivered: Vec<Arc<ExchangeShared>>,
    queues: Outlets<Exchange>,
    handler: Handler,
    uploads: Option<BodyPolicy>,
    pool: BufferPool,
    scratch: Request,
    discard: Box<[u8]>,
    date: DateCache,
    ws_events: Outlets<WsEvent>,
    /// Notes this turn's handler calls for the stall detector.
    stall: StallWatch,
}

impl Shared {
    fn cx(&mut self, now: Instant) -> Cx<'_> {
        Cx {
            config: &self.config,
            stats: &self.stats.0,
            now,
            clock: Clock::System,
            date: self.date.get(),
            handler: &mut self.handler,
            uploads: self.uploads.as_ref(),
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
}

/// Bookkeeping after a connection did something: reap it if it closed,
/// otherwise re-arm its timer and queue it if it wants another turn.
struct Scheduler {
    timers: Timers,
    ready: VecDeque<ConnectionId>,
    reap: Vec<usize>,
}

impl Scheduler {
    /// Has `conn` take one step with what the reactor lends (`step` says
    /// whether it wants another turn), then does the bookkeeping after it.
    fn step(
        &mut self,
        conn: &mut Connection,
        shared: &mut Shared,
        registry: &mio::Registry,
        now: Instant,
        step: impl FnOnce(&mut Connection, &mut Cx<'_>) -> bool,
    ) {
        let wants_turn = step(conn, &mut shared.cx(now));
        self.after(conn, wants_turn, shared, registry, now);
    }

    /// `registry` registers the socket for writable readiness if a write
    /// of this step blocked (the connection holds no registry).
    fn after(
        &mut self,
        conn: &mut Connection,
        wants_turn: bool,
        shared: &mut Shared,
        registry: &mio::Registry,
        now: Instant,
    ) {
        if conn.take_write_interest() {
            let token = Token(conn.id.key());
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(err) = registry.reregister(conn.transport_mut().tcp_mut(), token, interest) {
                log::warn!("{} reregister failed: {err}", conn.id);
                conn.close(CloseReason::SocketError, &mut shared.cx(now));
            }
        }
        conn.sync_state(&shared.stats.0);
        if conn.is_closed() {
            self.reap.push(conn.id.key());
            return;
        }
        let owner = (conn.id.key(), conn.id.generation());
        let next = conn.next_deadline(&shared.config);
        self.timers.arm(&mut conn.timer_slot, next, owner);
        if wants_turn && !conn.is_queued() {
            conn.set_queued(true);
            self.ready.push_back(conn.id);
        }
    }
}

/// Reactor `index`'s own figures in the server's stats.
fn figures(stats: &Counters, index: usize) -> Option<&ReactorCounters> {
    stats.reactors.get()?.get(index)
}

/// Inputs to start a reactor.
pub(crate) struct ReactorParts {
    pub poll: Poll,
    /// One per address the server listens on.
    pub listeners: Vec<Listener>,
    pub config: Config,
    pub stats: StatsHandle,
    pub context: Arc<Context>,
    pub commands: Receiver<Command>,
    pub queues: Outlets<Exchange>,
    pub handler: Handler,
    pub uploads: Option<BodyPolicy>,
    pub ws_events: Outlets<WsEvent>,
    /// The server's clients by address, when each holds only its share of
    /// the memory budget.
    pub clients: Option<Arc<Clients>>,
    /// This reactor's index among the server's.
    pub index: u64,
}

pub(crate) struct Reactor {
    poll: Poll,
    events: Events,
    /// Emptied at shutdown, which releases the ports.
    listeners: Vec<Listener>,
    accept_paused_until: Option<Instant>,
    /// A descriptor held in reserve: released to accept-and-close one
    /// connection when the process runs out (`EMFILE`).
    spare_fd: Option<File>,
    conns: Slab<Connection>,
    commands: Receiver<Command>,
    /// This reactor's index among the server's.
    index: usize,
    shutdown_deadline: Option<Instant>,
    clients: Option<Arc<Clients>>,
    sched: Scheduler,
    health: Health,
    shared: Shared,
}

impl Reactor {
    pub fn new(parts: ReactorParts) -> Reactor {
        // The turn is shown to other threads only while health is on.
        let stall = match figures(&parts.stats.0, parts.index as usize) {
            Some(figures) if parts.config.measures_health() => {
                StallWatch::new(Arc::clone(&figures.turn))
            }
            _ => StallWatch::default(),
        };
        Reactor {
            poll: parts.poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            listeners: parts.listeners,
            accept_paused_until: None,
            spare_fd: File::open("/dev/null").ok(),
            conns: Slab::new(),
            commands: parts.commands,
            index: parts.index as usize,
            shutdown_deadline: None,
            clients: parts.clients,
            sched: Scheduler {
                timers: Timers::default(),
                ready: VecDeque::new(),
                reap: Vec::new(),
            },
            health: Health::new(
                parts.config.stall_threshold,
                parts.index as usize,
                Instant::now(),
            ),
            shared: Shared {
                config: parts.config,
                recycler: Arc::new(Recycler::new(parts.stats.clone())),
                delivered: Vec::new(),
                stats: parts.stats,
                context: parts.context,
                queues: parts.queues,
                handler: parts.handler,
                uploads: parts.uploads,
                pool: BufferPool::default(),
                scratch: Request::default(),
                discard: vec![0; BUFFER_BYTES].into_boxed_slice(),
                date: DateCache::new(),
                ws_events: parts.ws_events,
                stall,
            },
        }
    }

    /// Runs until shutdown completes.
    pub fn run(mut self) {
        let _ = self
            .shared
            .context
            .reactor
            .reactor_thread
            .set(std::thread::current().id());
        self.shared.stall.install();
        let mut ended = Instant::now();
        loop {
            let timeout = self.poll_timeout(ended);
            if let Err(err) = self.poll.poll(&mut self.events, timeout) {
                if err.kind() == io::ErrorKind::Interrupted {
                    ended = Instant::now();
                    continue;
                }
                log::error!("poll failed: {err}; stopping the reactor");
                break;
            }
            let now = Instant::now();
            self.shared.stall.began();
            let events = self.turn(now);
            // One clock read per turn: it ends this turn and plans the next.
            ended = Instant::now();
            self.account(now, ended, events);
            if self.is_finished(now) {
                break;
            }
        }
        self.close_all(Instant::now(), CloseReason::Shutdown);
        log::debug!("reactor stopped");
    }

    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.sched.ready.is_empty() || self.can_accept(now) {
            return Some(Duration::ZERO);
        }
        let mut next = self.sched.timers.next_deadline();
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        };
        if self.listeners.iter().any(|listener| listener.ready) {
            consider(self.accept_paused_until);
        }
        consider(self.shutdown_deadline);
        consider(self.health.next_probe());
        next.map(|at| at.saturating_duration_since(now))
    }

    fn can_accept(&self, now: Instant) -> bool {
        self.listeners.iter().any(|listener| listener.ready)
            && self.conns.len() < self.shared.config.max_connections
            && self.accept_paused_until.is_none_or(|until| until <= now)
    }

    /// The reactor's health after a turn: figures, and the stall detector.
    fn account(&mut self, began: Instant, ended: Instant, events: usize) {
        let stats = &self.shared.stats.0;
        if let Some(figures) = figures(stats, self.index) {
            let turn = Turn {
                began,
                ended,
                events,
                calls: &mut self.shared.stall,
            };
            if let Some(line) = self.health.turn(turn, figures, stats.routes.get()) {
                log::warn!("{line}");
            }
        }
        self.shared.stall.clear();
    }

    /// One turn; returns the readiness events it handled.
    fn turn(&mut self, now: Instant) -> usize {
        self.shared.date.refresh(SystemTime::now());
        let mut woken = false;
        let mut events = 0;
        for event in self.events.iter() {
            events += 1;
            let token = event.token();
            if let Some(index) = Listener::index_of(token, self.listeners.len()) {
                self.listeners[index].ready = true;
                continue;
            }
            match token {
                WAKER => woken = true,
                Token(key) => {
                    let Some(conn) = self.conns.get_mut(key) else {
                        continue;
                    };
                    if conn.is_closed() {
                        continue;
                    }
                    let readiness = Readiness::from(event);
                    let registry = self.poll.registry();
                    self.sched
                        .step(conn, &mut self.shared, registry, now, |conn, cx| {
                            conn.on_event(readiness, cx)
                        });
                }
            }
        }
        if woken {
            self.run_commands(now);
        }
        if self.can_accept(now) {
            self.accept(now);
        }
        self.fire_timers(now);
        self.run_ready(now);
        self.settle_delivered();
        self.reap();
        events
    }

    /// Tells the workers waiting in `respond` (or on a `Delivery`) that
    /// their responses were written. Done once per turn, after all of the
    /// turn's reading and writing: a worker woken mid-turn would preempt
    /// the reactor (the scheduler favours the thread that slept), and with
    /// many workers on few cores that held every other connection up.
    fn settle_delivered(&mut self) {
        let Shared {
            delivered,
            recycler,
            ..
        } = &mut self.shared;
        for link in delivered.drain(..) {
            link.settle(Ok(()));
            recycler.give_link(&link);
        }
    }

    fn run_commands(&mut self, now: Instant) {
        self.shared.context.reactor.clear_wake();
        while let Ok(command) = self.commands.try_recv() {
            match command {
                Command::Update(id) => {
                    let Some(conn) = self.conns.get_mut(id.key()) else {
                        continue;
                    };
                    if conn.id != id {
                        // The connection ended and the slot was reused: the
                        // exchange's link was closed then; nothing to do.
                        continue;
                    }
                    self.sched.step(
                        conn,
                        &mut self.shared,
                        self.poll.registry(),
                        now,
                        |conn, cx| conn.on_update(cx),
                    );
                }
                Command::Shutdown => self.begin_shutdown(now),
                #[cfg(test)]
                Command::Panic => panic!("injected reactor panic"),
            }
        }
    }

    fn accept(&mut self, now: Instant) {
        for index in 0..self.listeners.len() {
            if self.listeners[index].ready && !self.accept_from(index, now) {
                return;
            }
        }
    }

    /// Accepts from listener `index` until it would block or this turn's
    /// share is taken; false when accepting must stop for every listener.
    fn accept_from(&mut self, index: usize, now: Instant) -> bool {
        for _ in 0..ACCEPTS_PER_TURN {
            if self.conns.len() >= self.shared.config.max_connections {
                // Paused: clients wait in the backlog until a slot frees.
                return false;
            }
            let listener = &mut self.listeners[index];
            match listener.accept() {
                Ok((stream, peer)) => self.admit(index, stream, peer, now),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    listener.ready = false;
                    return true;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if is_descriptor_exhaustion(&err) => {
                    self.shed_on_exhaustion(index, &err, now);
                    return false;
                }
                Err(err) => log::debug!("accept failed: {err}"),
            }
        }
        true
    }

    fn admit(&mut self, listener: usize, mut stream: TcpStream, peer: SocketAddr, now: Instant) {
        let entry = self.conns.vacant_entry();
        let id = ConnectionId::new(entry.key(), crate::id::fresh_generation());
        let interest = Interest::READABLE;
        if let Err(err) = self
            .poll
            .registry()
            .register(&mut stream, Token(id.key()), interest)
        {
            log::warn!("{id} register failed: {err}; dropping the connection");
            return;
        }
        let stream = match self.listeners[listener].session(stream) {
            Ok(stream) => stream,
            Err(err) => {
                log::warn!("{id} could not start a session: {err}; dropping the connection");
                return;
            }
        };
        log::trace!("{id} accepted from {peer}");
        let stats = &self.shared.stats.0;
        Counters::incr(&stats.accepted);
        Counters::incr(&stats.active);
        if let Some(mine) = figures(&self.shared.stats.0, self.index) {
            Counters::incr(&mine.accepted);
            Counters::incr(&mine.active);
        }
        let client = self
            .clients
            .as_ref()
            .map(|clients| clients.client(peer.ip()));
        let conn = entry.insert(Connection::new(id, stream, Some(peer), now).with_client(client));
        self.sched
            .after(conn, false, &mut self.shared, self.poll.registry(), now);
    }

    /// Out of descriptors: give up the spare one, accept a waiting client and
    /// close it at once (so it is not left hanging), and pause accepting for a
    /// while instead of spinning on a listener that stays readable.
    fn shed_on_exhaustion(&mut self, listener: usize, err: &io::Error, now: Instant) {
        let backoff = self.shared.config.accept_backoff;
        log::warn!("accept: {err}; pausing accepts for {backoff:?}");
        Counters::incr(&self.shared.stats.0.accept_paused);
        self.spare_fd = None;
        if let Ok((stream, _)) = self.listeners[listener].accept() {
            drop(stream);
        }
        self.spare_fd = File::open("/dev/null").ok();
        self.accept_paused_until = Some(deadline(now, backoff));
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some((at, (key, generation))) = self.sched.timers.pop_due(now) {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.id.generation() != generation
                || conn.is_closed()
                || !Timers::take_if_current(&mut conn.timer_slot, at)
            {
                continue;
            }
            self.sched.step(
                conn,
                &mut self.shared,
                self.poll.registry(),
                now,
                |conn, cx| conn.on_deadline(cx),
            );
        }
    }

    fn run_ready(&mut self, now: Instant) {
        for _ in 0..self.sched.ready.len() {
            let Some(id) = self.sched.ready.pop_front() else {
                break;
            };
            let Some(conn) = self.conns.get_mut(id.key()) else {
                continue;
            };
            if conn.id != id || conn.is_closed() {
                continue;
            }
            conn.set_queued(false);
            self.sched.step(
                conn,
                &mut self.shared,
                self.poll.registry(),
                now,
                |conn, cx| conn.drive(cx),
            );
        }
    }

    /// Removes connections closed this turn. Dropping the socket closes the
    /// descriptor, which also removes it from epoll: no deregister call.
    fn reap(&mut self) {
        for key in self.sched.reap.drain(..) {
            if self.conns.get(key).is_some_and(Connection::is_closed) {
                let conn = self.conns.remove(key);
                log::trace!("{} reaped ({:?})", conn.id, conn.close_reason());
                if let Some(mine) = figures(&self.shared.stats.0, self.index) {
                    Counters::decr(&mine.active);
                }
            }
        }
        // After a crowd leaves, give the memory back: slab slots at the end
        // are freed (keys of open connections never move).
        if self.conns.capacity() > SLAB_KEEP_SLOTS && self.conns.len() < self.conns.capacity() / 4 {
            self.conns.shrink_to_fit();
        }
        // Entries of closed connections wait in the heap until they come
        // due; when they outnumber the live ones, drop them all at once.
        if self.sched.timers.len() > 2 * self.conns.len() + STALE_TIMERS_ALLOWED {
            let conns = &self.conns;
            self.sched.timers.retain(|at, (key, generation)| {
                conns
                    .get(key)
                    .is_some_and(|c| c.id.generation() == generation && c.timer_slot == Some(at))
            });
        }
    }

    /// Stops accepting (the port is released now) and lets every connection
    /// finish what it owes, up to the shutdown deadline.
    fn begin_shutdown(&mut self, now: Instant) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        log::debug!("shutting down: {} connections open", self.conns.len());
        self.shutdown_deadline = Some(deadline(now, self.shared.config.shutdown_timeout));
        for listener in self.listeners.drain(..) {
            listener.close(self.poll.registry());
        }
        for (_, conn) in self.conns.iter_mut() {
            self.sched.step(
                conn,
                &mut self.shared,
                self.poll.registry(),
                now,
                |conn, cx| conn.begin_shutdown(cx),
            );
        }
    }

    fn is_finished(&self, now: Instant) -> bool {
        self.shutdown_deadline
            .is_some_and(|deadline| self.conns.is_empty() || deadline <= now)
    }

    /// Closes whatever is left (the shutdown deadline passed, poll failed,
    /// or the reactor is unwinding), settling every exchange, stream and
    /// WebSocket with `reason`; from then on handles fail fast.
    fn close_all(&mut self, now: Instant, reason: CloseReason) {
        // Written before anything closed: delivered.
        self.settle_delivered();
        for (_, conn) in self.conns.iter_mut() {
            conn.close(reason, &mut self.shared.cx(now));
            conn.sync_state(&self.shared.stats.0);
        }
        self.conns.clear();
        self.shared.context.reactor.mark_stopped();
        // Commands still queued concern links that are closed now; their
        // responses were handed back by the close.
        self.shared.context.reactor.clear_wake();
        while self.commands.try_recv().is_ok() {}
    }
}

/// The guard on the reactor thread: however `run` ends — even by a panic
/// in the reactor itself — no worker is left waiting on a connection that
/// nobody owns any more.
impl Drop for Reactor {
    fn drop(&mut self) {
        if self.shared.context.reactor.is_stopped() {
            return;
        }
        if self.conns.is_empty() {
            // Held no connection: only handles must learn it is gone.
            self.settle_delivered();
            self.shared.context.reactor.mark_stopped();
            return;
        }
        log::error!(
            "reactor stopping abnormally with {} connections; settling them",
            self.conns.len()
        );
        self.close_all(Instant::now(), CloseReason::ServerError);
    }
}

/// `EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`: the process or system is out of
/// something accept needs; retrying at once would spin.
#[cfg(unix)]
fn is_descriptor_exhaustion(err: &io::Error) -> bool {
    use libc::{EMFILE, ENFILE, ENOBUFS, ENOMEM};
    matches!(err.raw_os_error(), Some(EMFILE | ENFILE | ENOBUFS | ENOMEM))
}

/// Elsewhere only what std names: out of memory.
#[cfg(not(unix))]
fn is_descriptor_exhaustion(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::OutOfMemory
}
