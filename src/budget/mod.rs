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
//! What a peer's bytes occupy is also counted against its [`Client`], whose
//! share of a busy budget is bounded (see `client.rs`).

mod client;

use std::sync::atomic::Ordering::{AcqRel, Acquire};
use std::sync::Arc;

pub(crate) use self::client::{Client, Clients};
use crate::stats::{Counters, StatsHandle};

/// Bytes held against the budget; given back when dropped.
#[derive(Debug)]
pub(crate) struct Charge {
    stats: StatsHandle,
    /// The client whose connection caused these bytes, if they count
    /// against its share.
    client: Option<Arc<Client>>,
    bytes: u64,
    /// The last refusal was for the client's share, not a full budget.
    over_share: bool,
}

impl Charge {
    /// An empty charge against `stats`' budget total, for bytes no one
    /// client caused (a broadcast frame).
    pub fn new(stats: &StatsHandle) -> Self {
        Self::for_client(stats, None)
    }

    /// An empty charge for bytes `client` caused, counted in its share too.
    pub fn for_client(stats: &StatsHandle, client: Option<Arc<Client>>) -> Self {
        Charge {
            stats: stats.clone(),
            client,
            bytes: 0,
            over_share: false,
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Holds `total` bytes, if the server-wide total stays within `limit`
    /// and the client's within its share. False (and nothing changes) when
    /// it would not; the caller refuses or waits, and counts it with
    /// [`refused`](Self::refused).
    pub fn grow_to(&mut self, total: u64, limit: u64) -> bool {
        let Some(more) = total.checked_sub(self.bytes).filter(|&more| more > 0) else {
            return true;
        };
        let held = &self.stats.0.memory_held;
        let mut now = held.load(Acquire);
        loop {
            // Compared with what is left, never added first: no wraparound.
            if more > limit.saturating_sub(now) {
                self.over_share = false;
                return false;
            }
            if let Some(client) = &self.client {
                if !client.may_grow(more, now, limit) {
                    self.over_share = true;
                    return false;
                }
            }
            match held.compare_exchange_weak(now, now + more, AcqRel, Acquire) {
                Ok(_) => break,
                Err(actual) => now = actual,
            }
        }
        if let Some(client) = &self.client {
            client.grow(more);
        }
        self.bytes = total;
        true
    }

    /// Holds no more than `total` bytes.
    pub fn shrink_to(&mut self, total: u64) {
        if total < self.bytes {
            let less = self.bytes - total;
            self.stats.0.memory_held.fetch_sub(less, AcqRel);
            if let Some(client) = &self.client {
                client.shrink(less);
            }
            self.bytes = total;
        }
    }

    /// Moves every byte of this charge into a new one (for data handed on,
    /// such as a finished WebSocket message, still the client's); this one
    /// is left empty.
    pub fn split(&mut self) -> Charge {
        let bytes = std::mem::take(&mut self.bytes);
        Charge {
            stats: self.stats.clone(),
            client: self.client.clone(),
            bytes,
            over_share: false,
        }
    }

    /// Counts one refusal of the last [`grow_to`](Self::grow_to): in
    /// `memory_refusals`, and in `memory_share_refusals` too when the
    /// budget had room but the client had its share.
    pub fn refused(&self) {
        let stats = &self.stats.0;
        Counters::incr(&stats.memory_refusals);
        if self.over_share {
            Counters::incr(&stats.memory_share_refusals);
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.shrink_to(0);
    }
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
    fn a_client_past_its_share_is_refused_and_counted_as_such() {
        let stats = StatsHandle::default();
        let clients = Clients::default();
        let greedy = clients.client([10, 0, 0, 1].into());
        let mut first = Charge::for_client(&stats, Some(Arc::clone(&greedy)));
        assert!(first.grow_to(50, 100));
        let mut second = Charge::for_client(&stats, Some(Arc::clone(&greedy)));
        assert!(!second.grow_to(1, 100), "a lone client's share is half");
        second.refused();
        let counted = stats.snapshot();
        assert_eq!(
            (counted.memory_refusals, counted.memory_share_refusals),
            (1, 1)
        );
        // Its message handed on still counts against it.
        let message = first.split();
        assert!(!second.grow_to(1, 100));
        drop(message);
        assert!(second.grow_to(50, 100));
        // A full budget is a plain refusal.
        let mut other = Charge::for_client(&stats, Some(clients.client([10, 0, 0, 2].into())));
        assert!(
            other.grow_to(33, 100),
            "a third: its share beside one holder"
        );
        let mut anyone = Charge::new(&stats);
        assert!(!anyone.grow_to(18, 100));
        anyone.refused();
        assert_eq!(stats.snapshot().memory_share_refusals, 1);
        assert_eq!(greedy.held(), 50);
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
