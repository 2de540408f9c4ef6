//! A reading of the counters: what [`StatsHandle::snapshot`](super::StatsHandle::snapshot) returns.

use super::{ByState, Latency, RouteStats};
use crate::reason::CloseReason;

/// A reading of a server's counters.
///
/// ```
/// let stats = tether::stats::Stats::default();
/// assert_eq!(stats.closed.get(tether::CloseReason::PeerReset), 0);
/// assert!(stats.to_json().contains("\"peer_reset\":0"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections accepted since start.
    pub accepted: u64,
    /// Connections open now.
    pub active: u64,
    /// Complete requests parsed.
    pub requests: u64,
    /// Responses queued for writing (inline, from workers, and automatic).
    pub responses: u64,
    /// Exchanges in workers' hands now (`response_pending` set).
    pub pending_responses: u64,
    /// Worker responses handed back because the client was gone.
    pub undelivered: u64,
    /// Exchanges dropped unanswered while their client waited (each
    /// answered `500`): a worker bug or a panic.
    pub dropped: u64,
    /// Exchanges a worker gave up on purpose: dropped after the client had
    /// left (nobody to answer, which is what a worker should do), or by
    /// [`Exchange::abandon`](crate::Exchange::abandon).
    pub abandoned: u64,
    /// Panics caught in the worker pool.
    pub worker_panics: u64,
    /// Panics caught in the handler on the reactor thread (each request was
    /// answered `500` and its connection closed as `server_error`).
    pub handler_panics: u64,
    /// Panics caught in `on_close` callbacks (the other callbacks still ran).
    pub callback_panics: u64,
    /// Requests answered `503` because the hand-off queue was full.
    pub handoff_rejected: u64,
    /// Times accepting paused (descriptor exhaustion).
    pub accept_paused: u64,
    /// Streaming responses being written now.
    pub streams_active: u64,
    /// Stream parts taken for writing.
    pub frames_sent: u64,
    /// Stream parts replaced by a newer one before being written
    /// ([`Backlog::KeepNewest`](crate::Backlog::KeepNewest)).
    pub frames_replaced: u64,
    /// WebSockets open now.
    pub ws_active: u64,
    /// WebSocket messages dropped from full queues
    /// ([`WsBackpressure::DropOldest`](crate::ws::WsBackpressure::DropOldest)).
    pub ws_dropped: u64,
    /// WebSocket events handed to the application and not yet dropped.
    pub ws_events_pending: u64,
    /// Upgrades refused with `503` because
    /// [`Config::ws_max_pending_events`](crate::Config::ws_max_pending_events)
    /// events were pending.
    pub ws_refused: u64,
    /// Bytes held now against
    /// [`Config::memory_budget_bytes`](crate::Config::memory_budget_bytes):
    /// request bodies being read, WebSocket messages being assembled or
    /// waiting for the application, input read ahead, WebSocket frames
    /// queued to send, response bytes held past a connection's floor.
    pub memory_held: u64,
    /// Bodies and WebSocket messages refused (`503`, close `1009`) and reads
    /// held back because the memory budget was spent.
    pub memory_refusals: u64,
    /// Of `memory_refusals`, those where the budget had room but the
    /// client (one address) already held its share of a busy budget (see
    /// [`Config::memory_share_per_client`](crate::Config::memory_share_per_client)).
    pub memory_share_refusals: u64,
    /// Connections closed, per reason.
    pub closed: Closed,
    /// Open connections by what they are doing now; they add up to
    /// `active`.
    pub connections: ByState,
    /// From a request complete (head and body read) to its response — a
    /// stream's head — taken by the kernel; one sample per response written
    /// out on its own (pipelined responses flushed together count once).
    pub response_latency: Latency,
    /// From an exchange queued to a worker taking it.
    pub queue_wait: Latency,
    /// From the reactor closing a connection (the client left, or a
    /// timeout) to the application hearing of it, one sample per way it
    /// heard: a worker blocked in `wait_closed` woken, an
    /// `Exchange::closed()` / `StreamSender::closed()` future resolved
    /// after it had waited, an `on_close` callback run, and an undelivered
    /// verdict taken by `respond`, `Delivery::wait` or an awaited
    /// `Delivery`.
    pub departure_notice: Latency,
    /// Each hand-off queue, the default first.
    pub queues: Vec<QueueStats>,
    /// Each reactor, by index.
    pub reactors: Vec<ReactorStats>,
    /// Requests and response latency by route pattern × status class
    /// (those that saw a request), the unrouted first.
    pub routes: Vec<RouteStats>,
}

/// One hand-off queue in a [`Stats`] reading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// Its name ([`DEFAULT_QUEUE`](crate::Handoff::DEFAULT_QUEUE) for the default).
    pub name: String,
    /// Exchanges waiting for a worker now.
    pub depth: u64,
    /// How many may wait before requests are answered `503`.
    pub bound: u64,
    /// From an exchange queued here to a worker taking it (this queue's
    /// share of [`Stats::queue_wait`]).
    pub queue_wait: Latency,
}

/// One reactor in a [`Stats`] reading: its connections, and its health —
/// whether it is saturated ([`busy_ratio`](ReactorStats::busy_ratio)), how
/// long its turns take, how late its timers fire, and its stalls (turns
/// past [`Config::stall_threshold`](crate::Config::stall_threshold), when
/// every connection on it waited).
///
/// The health figures stay 0 while `stall_threshold` is `never`.
/// docs/profiling.md shows how to read them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReactorStats {
    /// Connections it accepted.
    pub accepted: u64,
    /// Connections it holds now.
    pub active: u64,
    /// Turns taken: one `poll` and the work it brought.
    pub turns: u64,
    /// Readiness events handled (`events / turns`: events per turn).
    pub events: u64,
    /// Time spent in turns, not waiting in `poll` (its rate is the busy
    /// ratio).
    pub busy: std::time::Duration,
    pub(super) busy_ppm: u64,
    /// Each turn's duration, from `poll` returning to the next `poll`.
    pub turn_duration: Latency,
    /// How late the reactor's probe timer (every 100 ms) fired: the loop
    /// lag a deadline of any connection on this reactor suffers.
    pub timer_lateness: Latency,
    /// The duration of each turn longer than the stall threshold; its
    /// count is the number of stalls. A turn is recorded when it ends.
    pub stall_duration: Latency,
    /// How long the turn in progress had run when the watchdog last
    /// looked (every 100 ms; it may have run up to that much longer); zero
    /// while the reactor waits for events. A reactor stuck in a handler
    /// shows here (and in the watchdog's log line) while it is stuck,
    /// before any turn ends.
    pub turn_running: std::time::Duration,
}

impl ReactorStats {
    /// Time in turns over wall time, 0.0 to 1.0, over the last full second
    /// (or the last turn, if it was longer): near 1.0 the reactor is
    /// saturated and work waits for it.
    ///
    /// ```
    /// assert_eq!(tether::stats::ReactorStats::default().busy_ratio(), 0.0);
    /// ```
    pub fn busy_ratio(&self) -> f64 {
        self.busy_ppm as f64 / 1e6
    }
}

/// Closed-connection counts per [`CloseReason`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Closed(pub(super) [u64; CloseReason::COUNT]);

impl Closed {
    /// Connections closed for `reason`.
    pub fn get(&self, reason: CloseReason) -> u64 {
        self.0[reason.index()]
    }

    /// Connections closed for any reason.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Every reason with its count, in [`CloseReason::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (CloseReason, u64)> + '_ {
        CloseReason::ALL.iter().copied().zip(self.0.iter().copied())
    }
}
