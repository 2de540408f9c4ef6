//! Counters the reactor keeps and any thread can read.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use crate::reason::CloseReason;

mod latency;
mod metrics;
#[cfg(feature = "prometheus")]
mod prometheus;
mod reading;
mod routes;
mod states;
mod turn;

pub use latency::Latency;
pub(crate) use latency::{Recorder, Tally};

pub use metrics::{Metric, MetricKind};
#[cfg(feature = "prometheus")]
pub use prometheus::PROMETHEUS_CONTENT_TYPE;
/// The prometheus-client crate tether encodes with, for
/// [`StatsHandle::register`] into a registry of the application's own
/// (the same version, whatever the application depends on).
#[cfg(feature = "prometheus")]
pub use prometheus_client;
pub use reading::{Closed, QueueStats, ReactorStats, Stats};
pub(crate) use routes::RouteTable;
pub use routes::{RouteStats, UNROUTED};
pub(crate) use states::StateGauges;
pub use states::{ByState, ConnectionState};
pub(crate) use turn::{route_matched, TurnGauge};

/// The live counters. Written by the reactor (and by exchanges being dropped),
/// read by anyone through [`StatsHandle`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub accepted: AtomicU64,
    pub active: AtomicU64,
    pub requests: AtomicU64,
    pub responses: AtomicU64,
    pub pending_responses: AtomicU64,
    pub undelivered: AtomicU64,
    pub dropped: AtomicU64,
    pub abandoned: AtomicU64,
    pub worker_panics: AtomicU64,
    pub handler_panics: AtomicU64,
    pub callback_panics: AtomicU64,
    pub handoff_rejected: AtomicU64,
    pub accept_paused: AtomicU64,
    pub streams_active: AtomicU64,
    pub frames_sent: AtomicU64,
    pub frames_replaced: AtomicU64,
    pub ws_active: AtomicU64,
    pub ws_dropped: AtomicU64,
    pub ws_events_pending: AtomicU64,
    pub ws_refused: AtomicU64,
    pub memory_held: AtomicU64,
    pub memory_refusals: AtomicU64,
    pub memory_share_refusals: AtomicU64,
    closed: [AtomicU64; CloseReason::COUNT],
    /// Open connections by what they are doing.
    pub states: StateGauges,
    /// Request complete → its response (a stream's head) taken by the kernel.
    pub response_latency: Recorder,
    /// Exchange queued → a worker took it.
    pub queue_wait: Recorder,
    /// Connection closed → the application heard (every way it can; see
    /// `Stats::departure_notice`).
    pub departure_notice: Recorder,
    /// Each hand-off queue's depth, set when the server starts.
    pub queues: OnceLock<Vec<QueueGauge>>,
    /// Each reactor's own figures, set when the server starts.
    pub reactors: OnceLock<Box<[ReactorCounters]>>,
    /// Requests and latency by route × status class, set when the server
    /// starts.
    pub routes: OnceLock<RouteTable>,
}

/// Reads one hand-off queue's depth (type-erased: stats sit below the
/// handles that define what is queued).
pub(crate) struct QueueGauge {
    pub name: String,
    pub bound: usize,
    pub depth: Box<dyn Fn() -> usize + Send + Sync>,
    /// Exchange queued here → a worker took it.
    pub wait: Recorder,
}

impl fmt::Debug for QueueGauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueGauge")
            .field("name", &self.name)
            .field("bound", &self.bound)
            .finish()
    }
}

/// One reactor's figures.
#[derive(Debug, Default)]
pub(crate) struct ReactorCounters {
    pub accepted: AtomicU64,
    pub active: AtomicU64,
    /// The health figures below stay 0 while `Config::stall_threshold`
    /// is `never`.
    pub turns: AtomicU64,
    pub events: AtomicU64,
    /// Time spent in turns, in nanoseconds.
    pub busy_ns: AtomicU64,
    /// Busy time over wall time in the last full window, in millionths.
    pub busy_ppm: AtomicU64,
    pub turn_duration: Recorder,
    pub timer_lateness: Recorder,
    pub stall_duration: Recorder,
    /// The turn in progress, seen from other threads.
    pub turn: Arc<TurnGauge>,
}

impl Counters {
    pub fn incr(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn decr(counter: &AtomicU64) {
        counter.fetch_sub(1, Relaxed);
    }

    pub fn record_close(&self, reason: CloseReason) {
        self.closed[reason.index()].fetch_add(1, Relaxed);
        Self::decr(&self.active);
    }
}

/// A cloneable handle to a server's counters, readable from any thread.
///
/// Get one before the server starts with
/// [`Builder::stats_handle`](crate::Builder::stats_handle) (so the handler can
/// serve it), or from [`Server::stats_handle`](crate::Server::stats_handle).
#[derive(Debug, Clone, Default)]
pub struct StatsHandle(pub(crate) Arc<Counters>);

impl StatsHandle {
    /// Reads every counter. Each value is exact; the set is not one atomic
    /// snapshot (counters may move between reads).
    pub fn snapshot(&self) -> Stats {
        let c = &self.0;
        let mut closed = [0; CloseReason::COUNT];
        for (slot, counter) in closed.iter_mut().zip(&c.closed) {
            *slot = counter.load(Relaxed);
        }
        Stats {
            accepted: c.accepted.load(Relaxed),
            active: c.active.load(Relaxed),
            requests: c.requests.load(Relaxed),
            responses: c.responses.load(Relaxed),
            pending_responses: c.pending_responses.load(Relaxed),
            undelivered: c.undelivered.load(Relaxed),
            dropped: c.dropped.load(Relaxed),
            abandoned: c.abandoned.load(Relaxed),
            worker_panics: c.worker_panics.load(Relaxed),
            handler_panics: c.handler_panics.load(Relaxed),
            callback_panics: c.callback_panics.load(Relaxed),
            handoff_rejected: c.handoff_rejected.load(Relaxed),
            accept_paused: c.accept_paused.load(Relaxed),
            streams_active: c.streams_active.load(Relaxed),
            frames_sent: c.frames_sent.load(Relaxed),
            frames_replaced: c.frames_replaced.load(Relaxed),
            ws_active: c.ws_active.load(Relaxed),
            ws_dropped: c.ws_dropped.load(Relaxed),
            ws_events_pending: c.ws_events_pending.load(Relaxed),
            ws_refused: c.ws_refused.load(Relaxed),
            memory_held: c.memory_held.load(Relaxed),
            memory_refusals: c.memory_refusals.load(Relaxed),
            memory_share_refusals: c.memory_share_refusals.load(Relaxed),
            closed: Closed(closed),
            connections: c.states.read(),
            response_latency: c.response_latency.read(),
            queue_wait: c.queue_wait.read(),
            departure_notice: c.departure_notice.read(),
            queues: c
                .queues
                .get()
                .map(|queues| {
                    queues
                        .iter()
                        .map(|q| QueueStats {
                            name: q.name.clone(),
                            depth: (q.depth)() as u64,
                            bound: q.bound as u64,
                            queue_wait: q.wait.read(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            reactors: c
                .reactors
                .get()
                .map(|reactors| {
                    reactors
                        .iter()
                        .map(|r| ReactorStats {
                            accepted: r.accepted.load(Relaxed),
                            active: r.active.load(Relaxed),
                            turns: r.turns.load(Relaxed),
                            events: r.events.load(Relaxed),
                            busy: std::time::Duration::from_nanos(r.busy_ns.load(Relaxed)),
                            busy_ppm: r.busy_ppm.load(Relaxed),
                            turn_duration: r.turn_duration.read(),
                            timer_lateness: r.timer_lateness.read(),
                            stall_duration: r.stall_duration.read(),
                            turn_running: r.turn.running(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            routes: c.routes.get().map(RouteTable::read).unwrap_or_default(),
        }
    }
}

#[cfg(feature = "prometheus")]
impl StatsHandle {
    /// Registers this server's figures into the application's own
    /// `prometheus_client` registry (the prometheus-client crate, 0.26),
    /// under the prefix `tether_`: one scrape, one document, the
    /// application's metrics beside tether's. Each scrape reads the
    /// counters afresh. The names are [`Stats::to_prometheus`]'s.
    ///
    /// ```
    /// use prometheus_client::metrics::counter::Counter;
    /// use prometheus_client::registry::Registry;
    ///
    /// let server = tether::Server::builder().bind("127.0.0.1:0").unwrap();
    /// let mut registry = Registry::default();
    /// let orders = Counter::<u64>::default();
    /// registry.register("orders", "Orders taken.", orders.clone());
    /// server.stats_handle().register(&mut registry);
    /// orders.inc();
    ///
    /// let mut text = String::new();
    /// prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    /// assert!(text.contains("orders_total 1"));
    /// assert!(text.contains("tether_accepted_total 0"));
    /// assert_eq!(text.matches("# EOF").count(), 1);
    /// ```
    pub fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        let handle = self.clone();
        prometheus::register(registry, move || handle.snapshot());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_holds_every_contract_name() {
        let handle = StatsHandle::default();
        Counters::incr(&handle.0.accepted);
        Counters::incr(&handle.0.active);
        handle.0.record_close(CloseReason::Drained);
        let json = handle.snapshot().to_json();
        for name in [
            "\"accepted\":1",
            "\"active\":0",
            "\"requests\":0",
            "\"pending_responses\":0",
            "\"undelivered\":0",
            "\"dropped\":0",
            "\"peer_closed\":0",
            "\"peer_reset\":0",
            "\"idle_timeout\":0",
            "\"head_timeout\":0",
            "\"response_timeout\":0",
            "\"bad_request\":0",
            "\"drained\":1",
            "\"shutdown\":0",
        ] {
            assert!(json.contains(name), "{name} missing from {json}");
        }
        assert!(json.starts_with('{') && json.ends_with("}}"));
    }
    #[test]
    fn metrics_name_every_figure_with_its_own_value() {
        let stats = Stats {
            accepted: 1,
            active: 2,
            requests: 3,
            responses: 4,
            pending_responses: 5,
            undelivered: 6,
            dropped: 7,
            abandoned: 8,
            worker_panics: 9,
            handler_panics: 10,
            callback_panics: 11,
            handoff_rejected: 12,
            accept_paused: 13,
            streams_active: 14,
            frames_sent: 15,
            frames_replaced: 16,
            ws_active: 17,
            ws_dropped: 18,
            ws_events_pending: 19,
            ws_refused: 20,
            memory_held: 21,
            memory_refusals: 22,
            memory_share_refusals: 23,
            closed: Closed::default(),
            connections: ByState::default(),
            response_latency: Latency::default(),
            queue_wait: Latency::default(),
            departure_notice: Latency::default(),
            queues: Vec::new(),
            reactors: Vec::new(),
            routes: Vec::new(),
        };
        // No `..`: a new field fails to compile here until it is listed.
        let Stats {
            accepted,
            active,
            requests,
            responses,
            pending_responses,
            undelivered,
            dropped,
            abandoned,
            worker_panics,
            handler_panics,
            callback_panics,
            handoff_rejected,
            accept_paused,
            streams_active,
            frames_sent,
            frames_replaced,
            ws_active,
            ws_dropped,
            ws_events_pending,
            ws_refused,
            memory_held,
            memory_refusals,
            memory_share_refusals,
            // Labelled or histogram figures: the Prometheus encoder and the
            // JSON write these themselves (tests/it/metrics.rs).
            closed: _,
            connections: _,
            response_latency: _,
            queue_wait: _,
            departure_notice: _,
            queues: _,
            reactors: _,
            routes: _,
        } = stats.clone();
        let expected = [
            ("accepted", accepted),
            ("active", active),
            ("requests", requests),
            ("responses", responses),
            ("pending_responses", pending_responses),
            ("undelivered", undelivered),
            ("dropped", dropped),
            ("abandoned", abandoned),
            ("worker_panics", worker_panics),
            ("handler_panics", handler_panics),
            ("callback_panics", callback_panics),
            ("handoff_rejected", handoff_rejected),
            ("accept_paused", accept_paused),
            ("streams_active", streams_active),
            ("frames_sent", frames_sent),
            ("frames_replaced", frames_replaced),
            ("ws_active", ws_active),
            ("ws_dropped", ws_dropped),
            ("ws_events_pending", ws_events_pending),
            ("ws_refused", ws_refused),
            ("memory_held", memory_held),
            ("memory_refusals", memory_refusals),
            ("memory_share_refusals", memory_share_refusals),
        ];
        let got: Vec<_> = stats.metrics().map(|m| (m.name, m.value)).collect();
        assert_eq!(got, expected);
    }
}
