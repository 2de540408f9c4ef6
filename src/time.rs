//! Deadlines that cannot overflow.
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
