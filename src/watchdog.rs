//! The watchdog: a thread of the server's that looks at each reactor's
//! turn in progress and reports one that runs on. The stall detector
//! (`health.rs`) judges a turn when it ends; a handler stuck on a lock or
//! in a loop never ends its turn, so without this it would hold every
//! connection on its reactor and say nothing.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::stats::StatsHandle;

/// How often the watchdog looks.
const CHECK_EVERY: Duration = Duration::from_millis(100);
/// A turn is reported while it runs once it has run this long (or the
/// stall threshold, if longer); shorter stalls are reported as they end.
const FIRST_REPORT: Duration = Duration::from_secs(1);

/// One reactor, as the watchdog last saw it.
#[derive(Debug)]
struct Sentry {
    /// The turn last looked at, by number (0: none), and when the
    /// watchdog first saw it running.
    turn: u64,
    seen: Instant,
    /// How long that turn must have run for the next report.
    next_report: Duration,
}

impl Sentry {
    fn new(now: Instant) -> Sentry {
        Sentry {
            turn: 0,
            seen: now,
            next_report: FIRST_REPORT,
        }
    }

    /// How long turn number `turn` (0: none) has run at `now`, as far as
    /// the watchdog can tell: since it first saw it, so at most one look
    /// (`CHECK_EVERY`) less than the truth.
    fn look(&mut self, turn: u64, now: Instant, threshold: Duration) -> Duration {
        if turn != self.turn {
            self.turn = turn;
            self.seen = now;
            self.next_report = FIRST_REPORT.max(threshold);
        }
        match turn {
            0 => Duration::ZERO,
            _ => now.saturating_duration_since(self.seen),
        }
    }

    /// The line to log, if the turn in progress, which has run `ran`, is
    /// due a report: first at `FIRST_REPORT` (or `threshold`), then each
    /// time it has run twice as long.
    fn check(
        &mut self,
        index: usize,
        ran: Duration,
        threshold: Duration,
        route: impl FnOnce() -> Option<String>,
    ) -> Option<String> {
        if self.turn == 0 || ran < self.next_report {
            return None;
        }
        self.next_report = ran.saturating_mul(2);
        let route = route().map_or(String::new(), |route| {
            format!("; its last handler call was for {route}")
        });
        Some(format!(
            "reactor {index} has been in one turn for at least {ran:.1?} (stall threshold \
             {threshold:?}){route}: a handler or callback on it has not returned, and every \
             other connection on this reactor waits"
        ))
    }
}

/// The watchdog's thread; dropping it stops the thread.
#[derive(Debug)]
pub(crate) struct Watchdog {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Watches the reactors whose figures `stats` holds.
    pub fn spawn(stats: StatsHandle, threshold: Duration) -> std::io::Result<Watchdog> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("tether-watchdog".into())
            .spawn(move || watch(&stats, threshold, &stopping))?;
        Ok(Watchdog {
            stop,
            thread: Some(thread),
        })
    }
}

fn watch(stats: &StatsHandle, threshold: Duration, stop: &(Mutex<bool>, Condvar)) {
    let counters = &stats.0;
    let Some(reactors) = counters.reactors.get() else {
        return;
    };
    let start = Instant::now();
    let mut sentries: Vec<Sentry> = reactors.iter().map(|_| Sentry::new(start)).collect();
    let (stopped, wake) = stop;
    let mut stopped = stopped.lock().unwrap_or_else(PoisonError::into_inner);
    while !*stopped {
        stopped = wake
            .wait_timeout(stopped, CHECK_EVERY)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        let now = Instant::now();
        for (index, (reactor, sentry)) in reactors.iter().zip(&mut sentries).enumerate() {
            let route = || match (reactor.turn.route(), counters.routes.get()) {
                (0, _) | (_, None) => None,
                (slot, Some(routes)) => Some(routes.name(slot).to_owned()),
            };
            let ran = sentry.look(reactor.turn.turn(), now, threshold);
            reactor.turn.set_running(ran);
            if let Some(line) = sentry.check(index, ran, threshold, route) {
                log::warn!("{line}");
            }
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THRESHOLD: Duration = Duration::from_millis(25);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Looks at turn `turn` at `at` ms after `t0`, then checks it.
    fn at(
        sentry: &mut Sentry,
        t0: Instant,
        turn: u64,
        at: u64,
        route: Option<&str>,
    ) -> Option<String> {
        let ran = sentry.look(turn, t0 + ms(at), THRESHOLD);
        sentry.check(0, ran, THRESHOLD, || route.map(str::to_owned))
    }

    #[test]
    fn a_turn_that_runs_on_is_reported_at_one_second_then_as_it_doubles() {
        let t0 = Instant::now();
        let mut sentry = Sentry::new(t0);
        let stuck = Some("/stuck/{n}");
        assert_eq!(at(&mut sentry, t0, 0, 0, stuck), None, "idle");
        // Seen first at 100 ms: timed from there.
        assert_eq!(at(&mut sentry, t0, 7, 100, stuck), None);
        assert_eq!(sentry.look(7, t0 + ms(160), THRESHOLD), ms(60));
        assert_eq!(at(&mut sentry, t0, 7, 1_000, stuck), None, "900 ms seen");
        let line = at(&mut sentry, t0, 7, 1_140, stuck).expect("reported at one second");
        assert_eq!(
            line,
            "reactor 0 has been in one turn for at least 1.0s (stall threshold 25ms); \
             its last handler call was for /stuck/{n}: a handler or callback on it has not \
             returned, and every other connection on this reactor waits"
        );
        assert_eq!(at(&mut sentry, t0, 7, 1_600, stuck), None);
        assert!(at(&mut sentry, t0, 7, 2_190, stuck).is_some());
        assert_eq!(at(&mut sentry, t0, 7, 4_000, stuck), None);
        assert!(at(&mut sentry, t0, 7, 4_300, stuck).is_some());
        // The turn ended; the next one is timed from when it is seen.
        assert_eq!(at(&mut sentry, t0, 0, 4_400, stuck), None);
        assert_eq!(sentry.look(0, t0 + ms(4_450), THRESHOLD), Duration::ZERO);
        assert_eq!(at(&mut sentry, t0, 9, 4_500, None), None);
        let line = at(&mut sentry, t0, 9, 5_500, None).expect("a second seen");
        assert!(
            line.starts_with(
                "reactor 0 has been in one turn for at least 1.0s (stall threshold 25ms): a handler"
            ),
            "{line}"
        );
    }

    #[test]
    fn a_threshold_over_a_second_is_the_first_report() {
        let t0 = Instant::now();
        let mut sentry = Sentry::new(t0);
        let slow = Duration::from_secs(5);
        sentry.look(3, t0, slow);
        let ran = sentry.look(3, t0 + ms(4_900), slow);
        assert_eq!(sentry.check(1, ran, slow, || None), None);
        let ran = sentry.look(3, t0 + ms(5_000), slow);
        assert!(sentry.check(1, ran, slow, || None).is_some());
    }
}
