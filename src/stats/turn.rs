//! The turn a reactor is in, as other threads see it while it runs: its
//! number and the route of the last handler it called. The stall
//! detector (`health.rs`) judges a turn when it ends; this is what lets a
//! turn that never ends — a handler stuck on a lock or in a loop — be
//! timed and reported by the watchdog (`watchdog.rs`) and seen in
//! `ReactorStats::turn_running`.

use std::cell::OnceCell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

thread_local! {
    /// The gauge of the reactor this thread runs, so the router can name
    /// the route it matched before that route's handler runs (and perhaps
    /// never returns). Unset on every other thread.
    static THIS_REACTOR: OnceCell<Arc<TurnGauge>> = const { OnceCell::new() };
}

/// The router matched `route_slot` on this thread: if it is a reactor's,
/// its turn is now in that route's handler.
pub(crate) fn route_matched(route_slot: u32) {
    THIS_REACTOR.with(|gauge| {
        if let Some(gauge) = gauge.get() {
            gauge.calling(route_slot);
        }
    });
}

/// Written by the reactor (a few stores a turn, no clock), read and
/// timed by the watchdog, which publishes how long the turn has run.
#[derive(Debug, Default)]
pub(crate) struct TurnGauge {
    /// The turn in progress, by number; 0 while the reactor waits in `poll`.
    turn: AtomicU64,
    /// The route slot of the last handler called in this turn (0: none).
    route: AtomicU32,
    /// How long the turn in progress had run when the watchdog last
    /// looked, in nanoseconds (0: none was running).
    running_ns: AtomicU64,
}

impl TurnGauge {
    /// Turn number `turn` (never 0) began.
    pub fn began(&self, turn: u64) {
        self.turn.store(turn, Relaxed);
        self.route.store(0, Relaxed);
    }

    /// The reactor is about to wait in `poll` again.
    pub fn ended(&self) {
        self.turn.store(0, Relaxed);
    }

    /// This thread runs the reactor whose turns this gauge shows.
    pub fn install(self: &Arc<Self>) {
        THIS_REACTOR.with(|gauge| {
            let _ = gauge.set(Arc::clone(self));
        });
    }

    /// A handler is about to run for a request of `route_slot` (0 until
    /// the router has matched one).
    pub fn calling(&self, route_slot: u32) {
        self.route.store(route_slot, Relaxed);
    }

    /// The number of the turn in progress (0: none).
    pub fn turn(&self) -> u64 {
        self.turn.load(Relaxed)
    }

    /// The route slot of the last handler called in the turn in progress.
    pub fn route(&self) -> u32 {
        self.route.load(Relaxed)
    }

    /// The watchdog's finding: the turn in progress has run `ran`.
    pub fn set_running(&self, ran: Duration) {
        let ns = u64::try_from(ran.as_nanos()).unwrap_or(u64::MAX);
        self.running_ns.store(ns, Relaxed);
    }

    /// How long the turn in progress had run when the watchdog last looked.
    pub fn running(&self) -> Duration {
        Duration::from_nanos(self.running_ns.load(Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_is_numbered_until_it_ends_and_forgets_its_route() {
        let gauge = TurnGauge::default();
        assert_eq!(gauge.turn(), 0, "waiting in poll");
        gauge.began(1);
        gauge.calling(3);
        assert_eq!((gauge.turn(), gauge.route()), (1, 3));
        gauge.ended();
        assert_eq!(gauge.turn(), 0);
        gauge.began(2);
        assert_eq!((gauge.turn(), gauge.route()), (2, 0));
        gauge.set_running(Duration::from_secs(2));
        assert_eq!(gauge.running(), Duration::from_secs(2));
    }

    #[test]
    fn the_router_names_its_route_only_on_a_reactor_s_thread() {
        let gauge = Arc::new(TurnGauge::default());
        let elsewhere = Arc::clone(&gauge);
        std::thread::spawn(move || {
            route_matched(7);
            assert_eq!(elsewhere.route(), 0, "not this thread's reactor");
        })
        .join()
        .unwrap();
        gauge.install();
        route_matched(7);
        assert_eq!(gauge.route(), 7);
    }
}
