//! A reactor's health, measured around its turns: busy time and ratio,
//! turn durations, timer lateness, and the stall detector.
//!
//! Time is passed in, so the unit tests below need no clock. The reactor
//! reads the clock once per turn for this (the read it makes anyway to
//! plan its next `poll`); handler calls are noted, not timed
//! (`conn/h1.rs`, `StallWatch`): a stalled turn names the calls it ran.

use std::time::{Duration, Instant};

use crate::conn::StallWatch;
use crate::stats::{Counters, ReactorCounters, RouteTable, Tally, UNROUTED};
use crate::time::deadline;

/// How often the probe timer fires: its lateness is the loop lag.
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_millis(100);
/// The window the busy ratio is taken over.
const WINDOW: Duration = Duration::from_secs(1);
/// At most one stall line per reactor this often; the next line counts
/// the stalls in between.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// One turn, as the reactor saw it.
#[derive(Debug)]
pub(crate) struct Turn<'a> {
    /// When `poll` returned.
    pub began: Instant,
    /// When the reactor was about to `poll` again.
    pub ended: Instant,
    /// Readiness events `poll` returned.
    pub events: usize,
    /// The handler calls that ran in it (read only if it stalled).
    pub calls: &'a mut StallWatch,
}

#[derive(Debug)]
pub(crate) struct Health {
    /// `None`: measuring is off (`Config::stall_threshold` is `never`).
    threshold: Option<Duration>,
    /// The reactor's index, for the log.
    index: usize,
    window_start: Instant,
    /// `window_start + WINDOW`: a turn compares instants, no arithmetic.
    window_end: Instant,
    /// `busy` when the window began.
    window_busy_from: Duration,
    next_probe: Instant,
    last_logged: Option<Instant>,
    unlogged: u64,
    /// Counted here each turn, added to the shared figures at each probe:
    /// a turn costs no atomic operation.
    turns: u64,
    events: u64,
    /// Time in turns since the reactor started (one addition a turn).
    busy: Duration,
    /// `busy` when last published.
    published_busy: Duration,
    turn_duration: Tally,
}

impl Health {
    pub fn new(threshold: Duration, index: usize, now: Instant) -> Health {
        Health {
            threshold: (threshold != Duration::MAX).then_some(threshold),
            index,
            window_start: now,
            window_end: deadline(now, WINDOW),
            window_busy_from: Duration::ZERO,
            next_probe: deadline(now, PROBE_INTERVAL),
            last_logged: None,
            unlogged: 0,
            turns: 0,
            events: 0,
            busy: Duration::ZERO,
            published_busy: Duration::ZERO,
            turn_duration: Tally::default(),
        }
    }

    /// When the reactor must wake for the probe (`None`: measuring is off).
    pub fn next_probe(&self) -> Option<Instant> {
        self.threshold.map(|_| self.next_probe)
    }

    /// Accounts for one turn; returns the line to log if it stalled.
    pub fn turn(
        &mut self,
        turn: Turn<'_>,
        figures: &ReactorCounters,
        routes: Option<&RouteTable>,
    ) -> Option<String> {
        let threshold = self.threshold?;
        // The one subtraction of instants a quiet turn makes.
        let took = turn.ended.saturating_duration_since(turn.began);
        self.turns += 1;
        self.events += turn.events as u64;
        self.busy = self.busy.saturating_add(took);
        self.turn_duration.observe(took);
        if turn.began >= self.next_probe {
            let lateness = turn.began.saturating_duration_since(self.next_probe);
            figures.timer_lateness.observe(lateness);
            self.next_probe = deadline(turn.began, PROBE_INTERVAL);
            self.publish(figures);
        }
        if turn.ended >= self.window_end {
            let wall = turn.ended.saturating_duration_since(self.window_start);
            let busy = self.busy.saturating_sub(self.window_busy_from);
            let ppm = busy.as_secs_f64() / wall.as_secs_f64() * 1e6;
            let ppm = (ppm as u64).min(1_000_000);
            figures
                .busy_ppm
                .store(ppm, std::sync::atomic::Ordering::Relaxed);
            self.window_start = turn.ended;
            self.window_end = deadline(turn.ended, WINDOW);
            self.window_busy_from = self.busy;
        }
        if took <= threshold {
            return None;
        }
        figures.stall_duration.observe(took);
        self.publish(figures);
        let due = self
            .last_logged
            .is_none_or(|at| turn.ended.saturating_duration_since(at) >= LOG_EVERY);
        if !due {
            self.unlogged += 1;
            return None;
        }
        self.last_logged = Some(turn.ended);
        let more = match std::mem::take(&mut self.unlogged) {
            0 => String::new(),
            n => format!(" ({n} more stalls since the last line)"),
        };
        let index = self.index;
        let name = |slot: u32| routes.map_or(UNROUTED, |routes| routes.name(slot));
        let taken = turn.calls.take();
        let mut calls = taken.recent().iter();
        Some(match (taken.calls, calls.next()) {
            (1, Some(&(slot, id))) => format!(
                "reactor {index} stalled for {took:.1?} (stall threshold {threshold:?}) in a \
                 turn with one handler call, for {} on {id}: it held every other \
                 connection on this reactor{more}",
                name(slot)
            ),
            (n, Some(&(slot, id))) => {
                let mut named = format!("{} on {id}", name(slot));
                for &(slot, id) in calls {
                    named.push_str(&format!(", {} on {id}", name(slot)));
                }
                format!(
                    "reactor {index} stalled for {took:.1?} (stall threshold {threshold:?}) \
                     in a turn with {n} handler calls (the last: {named}); every other \
                     connection on this reactor waited{more}"
                )
            }
            _ => format!(
                "reactor {index} stalled for {took:.1?} (stall threshold {threshold:?}) in a \
                 turn of {} events with no handler call: on_close callbacks, WebSocket or \
                 stream work, or the thread was not given a CPU{more}",
                turn.events
            ),
        })
    }

    /// Adds the turns counted here to the shared figures (at each probe,
    /// so readers see them at most [`PROBE_INTERVAL`] late).
    pub fn publish(&mut self, figures: &ReactorCounters) {
        Counters::add(&figures.turns, std::mem::take(&mut self.turns));
        Counters::add(&figures.events, std::mem::take(&mut self.events));
        let busy = self.busy.saturating_sub(self.published_busy);
        self.published_busy = self.busy;
        Counters::add(
            &figures.busy_ns,
            u64::try_from(busy.as_nanos()).unwrap_or(u64::MAX),
        );
        figures.turn_duration.absorb(&mut self.turn_duration);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;

    use super::*;
    use crate::conn::StallWatch;
    use crate::id::ConnectionId;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn turn(began: Instant, took: Duration, calls: &mut StallWatch) -> Turn<'_> {
        Turn {
            began,
            ended: began + took,
            events: 3,
            calls,
        }
    }

    #[test]
    fn a_turn_past_the_threshold_is_a_stall_logged_with_its_handler() {
        let start = Instant::now();
        let figures = ReactorCounters::default();
        let mut health = Health::new(ms(25), 1, start);
        let mut watch = StallWatch::new(Default::default());
        let quick = turn(start, ms(2), &mut watch);
        assert_eq!(health.turn(quick, &figures, None), None);
        watch.called(1, ConnectionId::new(3, 7));
        let routes = RouteTable::new(&["/slow/{id}".into()]);
        let slow = turn(start + ms(10), ms(60), &mut watch);
        let line = health
            .turn(slow, &figures, Some(&routes))
            .expect("a stall is logged");
        assert!(line.starts_with("reactor 1 stalled for 60.0ms (stall threshold 25ms)"));
        assert!(
            line.contains("one handler call, for /slow/{id} on c3.7"),
            "{line}"
        );
        // Several calls: the last few are named, newest first.
        for key in 0..6 {
            watch.called(0, ConnectionId::new(key, 1));
        }
        let busy = turn(start + ms(1_200), ms(30), &mut watch);
        let line = health
            .turn(busy, &figures, None)
            .expect("a second later: logged");
        assert!(
            line.contains("6 handler calls (the last: unrouted on c5.1, unrouted on c4.1"),
            "{line}"
        );
        let stalls = figures.stall_duration.read();
        assert_eq!(stalls.count(), 2);
        // A stall publishes the turns counted so far.
        assert_eq!(figures.turns.load(Relaxed), 3);
        assert_eq!(figures.events.load(Relaxed), 9);
        assert_eq!(figures.busy_ns.load(Relaxed), 92_000_000);
        assert_eq!(figures.turn_duration.read().count(), 3);
    }

    #[test]
    fn stalls_are_all_counted_but_logged_at_most_once_a_second() {
        let start = Instant::now();
        let figures = ReactorCounters::default();
        let mut health = Health::new(ms(25), 0, start);
        let mut watch = StallWatch::new(Default::default());
        let lines: Vec<_> = (0..5)
            .map(|i| {
                health.turn(
                    turn(start + ms(100 * i), ms(30), &mut watch),
                    &figures,
                    None,
                )
            })
            .collect();
        assert!(lines[0].as_deref().unwrap().contains("no handler call"));
        assert!(lines[1..].iter().all(Option::is_none), "{lines:?}");
        let later = health.turn(turn(start + ms(1_100), ms(40), &mut watch), &figures, None);
        assert!(later
            .unwrap()
            .ends_with("(4 more stalls since the last line)"));
        assert_eq!(figures.stall_duration.read().count(), 6);
    }

    #[test]
    fn turns_reach_the_shared_figures_at_each_probe() {
        let start = Instant::now();
        let figures = ReactorCounters::default();
        let mut health = Health::new(ms(25), 0, start);
        let mut watch = StallWatch::new(Default::default());
        for i in 0..5 {
            health.turn(turn(start + ms(10 * i), ms(1), &mut watch), &figures, None);
        }
        assert_eq!(figures.turns.load(Relaxed), 0, "not yet published");
        health.turn(
            turn(start + PROBE_INTERVAL, ms(1), &mut watch),
            &figures,
            None,
        );
        assert_eq!(figures.turns.load(Relaxed), 6);
        assert_eq!(figures.events.load(Relaxed), 18);
        assert_eq!(figures.busy_ns.load(Relaxed), 6_000_000);
        assert_eq!(figures.turn_duration.read().count(), 6);
    }

    #[test]
    fn the_busy_ratio_is_busy_time_over_wall_time_per_window() {
        let start = Instant::now();
        let figures = ReactorCounters::default();
        let mut health = Health::new(ms(25), 0, start);
        let mut watch = StallWatch::new(Default::default());
        // Ten turns of 20 ms, one every 100 ms: 20% busy.
        for i in 0..10 {
            health.turn(
                turn(start + ms(100 * i + 80), ms(20), &mut watch),
                &figures,
                None,
            );
        }
        assert_eq!(figures.busy_ppm.load(Relaxed), 200_000);
        // Nothing but the probe's turns for the next second.
        for i in 10..20 {
            health.turn(
                turn(start + ms(100 * i + 99), ms(1), &mut watch),
                &figures,
                None,
            );
        }
        assert_eq!(figures.busy_ppm.load(Relaxed), 10_000);
    }

    #[test]
    fn the_probe_s_lateness_is_the_loop_lag() {
        let start = Instant::now();
        let figures = ReactorCounters::default();
        let mut health = Health::new(ms(25), 0, start);
        let mut watch = StallWatch::new(Default::default());
        assert_eq!(health.next_probe(), Some(start + PROBE_INTERVAL));
        // A turn before the probe is due records no lateness.
        health.turn(turn(start + ms(50), ms(1), &mut watch), &figures, None);
        assert_eq!(figures.timer_lateness.read().count(), 0);
        // Woken 30 ms after the probe was due: 30 ms late.
        health.turn(turn(start + ms(130), ms(1), &mut watch), &figures, None);
        let lateness = figures.timer_lateness.read();
        assert_eq!(lateness.count(), 1);
        assert_eq!(lateness.sum(), ms(30));
        assert_eq!(health.next_probe(), Some(start + ms(230)));
    }

    #[test]
    fn never_measures_nothing() {
        let start = Instant::now();
        let figures = ReactorCounters::default();
        let mut health = Health::new(Duration::MAX, 0, start);
        let mut watch = StallWatch::new(Default::default());
        assert_eq!(health.next_probe(), None);
        assert_eq!(
            health.turn(turn(start, ms(500), &mut watch), &figures, None),
            None
        );
        assert_eq!(figures.turns.load(Relaxed), 0);
        assert_eq!(figures.stall_duration.read().count(), 0);
    }
}
