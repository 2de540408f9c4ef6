//! How fast a request body arrives, judged window by window.
//!
//! An average since the body began lets a body that arrived fast trickle
//! for as long as its head start lasts: 1 MiB in a second at 1 KiB/s buys
//! 1,024 s of one byte every 20 s, holding its memory all that while. Each
//! window of `body_timeout` must instead bring `min_body_rate` × its length
//! on its own, so a body that slows below the rate is ended within two
//! windows of slowing, whatever came before.

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::time::deadline;

/// The window being judged: when it began, and how much of the body had
/// arrived then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyRate {
    since: Instant,
    received_then: usize,
}

impl BodyRate {
    /// A body beginning at `now`.
    pub fn new(now: Instant) -> Self {
        BodyRate {
            since: now,
            received_then: 0,
        }
    }

    /// When the current window ends and must be judged; `None` when the
    /// check is off (`min_body_rate` 0).
    pub fn due(&self, config: &Config) -> Option<Instant> {
        (config.min_body_rate > 0).then(|| deadline(self.since, config.body_timeout))
    }

    /// Judges the window ending at `now` with `received` bytes of the body
    /// here: true (and the next window begins) when it brought at least the
    /// minimum rate over its length, false when the body is too slow.
    pub fn judge(&mut self, received: usize, now: Instant, config: &Config) -> bool {
        let length = now.saturating_duration_since(self.since);
        let brought = received.saturating_sub(self.received_then) as u64;
        // Peer-driven: compare against the need, never multiply its bytes.
        let needed = needed_bytes(config.min_body_rate, length);
        if brought < needed {
            return false;
        }
        *self = BodyRate {
            since: now,
            received_then: received,
        };
        true
    }
}

/// Bytes `rate` per second asks of `length`, saturating.
fn needed_bytes(rate: u64, length: Duration) -> u64 {
    let per_ms = u128::from(rate).saturating_mul(length.as_millis()) / 1000;
    u64::try_from(per_ms).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            body_timeout: Duration::from_secs(30),
            min_body_rate: 1024,
            ..Config::default()
        }
    }

    #[test]
    fn a_fast_start_buys_no_time_for_a_trickle() {
        let config = config();
        let t0 = Instant::now();
        let mut rate = BodyRate::new(t0);
        // 1 MiB in the first second: the first window passes at 30 s.
        let due = rate.due(&config).unwrap();
        assert_eq!(due, t0 + Duration::from_secs(30));
        assert!(rate.judge(1 << 20, due, &config));
        // Then one byte every 20 s: the next window brings 2 bytes.
        let due = rate.due(&config).unwrap();
        assert_eq!(due, t0 + Duration::from_secs(60));
        assert!(
            !rate.judge((1 << 20) + 2, due, &config),
            "cut at 60 s, not 1,024 s"
        );
    }

    #[test]
    fn a_steady_body_at_the_rate_passes_every_window() {
        let config = config();
        let t0 = Instant::now();
        let mut rate = BodyRate::new(t0);
        for window in 1..=10u64 {
            let due = rate.due(&config).unwrap();
            assert_eq!(due, t0 + Duration::from_secs(30 * window));
            let received = (30 * 1024 * window) as usize;
            assert!(rate.judge(received, due, &config), "window {window}");
        }
    }

    #[test]
    fn off_at_zero_and_saturating_at_extremes() {
        let mut config = config();
        config.min_body_rate = 0;
        assert_eq!(BodyRate::new(Instant::now()).due(&config), None);
        config.min_body_rate = u64::MAX;
        config.body_timeout = Duration::MAX;
        let t0 = Instant::now();
        let rate = BodyRate::new(t0);
        assert!(
            rate.due(&config).is_some(),
            "a never-ending window saturates"
        );
        assert_eq!(needed_bytes(u64::MAX, Duration::MAX), u64::MAX);
    }
}
