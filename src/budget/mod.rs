//! The server-wide memory budget: bytes that peers make tether hold.
//!
//! Per-connection limits multiply by the number of connections; this one
//! does not. What a peer's bytes occupy in the reactor — a request body
//! being read, a WebSocket message being assembled or waiting for the
//! application, input read ahead past one buffer — is charged here before it
//! is taken, and given back when it is handed over or dropped. A [`Charge`]
//! gives its bytes back when dropped, so nothing leaks on any path.
//!
//! The total lives in the server's counters (`memory_held`), so several
//! reactors and every worker thread (dropping a WebSocket event) share it.

use std::sync::atomic::Ordering::{AcqRel, Acquire};

use crate::stats::{Counters, StatsHandle};

/// Bytes held against the budget; given back when dropped.
#[derive(Debug)]
pub(crate) struct Charge {
    stats: StatsHandle,
    bytes: u64,
}

impl Charge {
    /// An empty charge against `stats`' budget total.
    pub fn new(stats: &StatsHandle) -> Self {
        Charge {
            stats: stats.clone(),
            bytes: 0,
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Holds `total` bytes, if the server-wide total stays within `limit`.
    /// False (and nothing changes) when it would not; the caller refuses or
    /// waits, and counts it.
    pub fn grow_to(&mut self, total: u64, limit: u64) -> bool {
        let Some(more) = total.checked_sub(self.bytes).filter(|&more| more > 0) else {
            return true;
        };
        let held = &self.stats.0.memory_held;
        let mut now = held.load(Acquire);
        loop {
            // Compared with what is left, never added first: no wraparound.
            if more > limit.saturating_sub(now) {
                return false;
            }
            match held.compare_exchange_weak(now, now + more, AcqRel, Acquire) {
                Ok(_) => break,
                Err(actual) => now = actual,
            }
        }
        self.bytes = total;
        true
    }

    /// Holds no more than `total` bytes.
    pub fn shrink_to(&mut self, total: u64) {
        if total < self.bytes {
            self.stats
                .0
                .memory_held
                .fetch_sub(self.bytes - total, AcqRel);
            self.bytes = total;
        }
    }

    /// Moves every byte of this charge into a new one (for data handed on,
    /// such as a finished WebSocket message); this one is left empty.
    pub fn split(&mut self) -> Charge {
        let bytes = std::mem::take(&mut self.bytes);
        Charge {
            stats: self.stats.clone(),
            bytes,
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.shrink_to(0);
    }
}

/// Counts one refusal for lack of budget.
pub(crate) fn count_refusal(stats: &Counters) {
    Counters::incr(&stats.memory_refusals);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    fn held(stats: &StatsHandle) -> u64 {
        stats.0.memory_held.load(Relaxed)
    }

    #[test]
    fn charges_share_one_total_and_give_back_when_dropped() {
        let stats = StatsHandle::default();
        let mut a = Charge::new(&stats);
        let mut b = Charge::new(&stats);
        assert!(a.grow_to(60, 100));
        assert!(!b.grow_to(41, 100), "61 + 41 would pass the limit");
        assert_eq!(b.bytes(), 0, "a refused growth changes nothing");
        assert!(b.grow_to(40, 100));
        assert_eq!(held(&stats), 100);
        a.shrink_to(10);
        assert_eq!(held(&stats), 50);
        drop(a);
        drop(b);
        assert_eq!(held(&stats), 0);
    }

    #[test]
    fn growth_near_the_top_of_u64_is_refused_not_wrapped() {
        let stats = StatsHandle::default();
        let mut a = Charge::new(&stats);
        assert!(a.grow_to(u64::MAX - 1, u64::MAX));
        let mut b = Charge::new(&stats);
        assert!(!b.grow_to(5, u64::MAX));
        drop(a);
        assert!(b.grow_to(5, u64::MAX));
    }

    #[test]
    fn a_split_carries_the_bytes_away() {
        let stats = StatsHandle::default();
        let mut assembling = Charge::new(&stats);
        assert!(assembling.grow_to(30, 100));
        let message = assembling.split();
        assert_eq!((assembling.bytes(), message.bytes()), (0, 30));
        assert_eq!(held(&stats), 30);
        drop(assembling);
        assert_eq!(held(&stats), 30, "the message still holds its bytes");
        drop(message);
        assert_eq!(held(&stats), 0);
    }
}
