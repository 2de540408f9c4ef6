//! Deadlines that cannot overflow, and the clock a connection measures by.
//!
//! `Instant + Duration` panics when the sum does not fit, and a
//! configuration may well say `Duration::MAX` to mean "never". Every
//! deadline in the crate is made here: one that does not fit is "never",
//! represented as an instant about a century away (far beyond any real
//! deadline, and still a valid `Instant` to compare and sleep towards).

use std::time::{Duration, Instant};

/// About a hundred years: what "never" means.
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `now + after`, saturating at "never".
pub(crate) fn deadline(now: Instant, after: Duration) -> Instant {
    now.checked_add(after.min(NEVER))
        .or_else(|| now.checked_add(NEVER / 2))
        .unwrap_or(now)
}

/// Where a connection reads the time for a figure that must include its
/// own step's work (a response's latency, from the request to its last
/// byte written). Deadlines use the `now` passed in with each call. The
/// reactor's is the system clock; the state machine's unit tests fix it,
/// so no test reads a real clock through the connection.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Clock {
    System,
    #[cfg(test)]
    Fixed(Instant),
}

impl Clock {
    pub fn now(self) -> Instant {
        match self {
            Clock::System => Instant::now(),
            #[cfg(test)]
            Clock::Fixed(at) => at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_never_overflows() {
        let now = Instant::now();
        assert_eq!(
            deadline(now, Duration::from_secs(3)),
            now + Duration::from_secs(3)
        );
        let never = deadline(now, Duration::MAX);
        assert!(never > now + Duration::from_secs(50 * 365 * 24 * 3600));
        // Further deadlines from "never" saturate too.
        assert!(deadline(never, Duration::MAX) >= never);
    }
}
