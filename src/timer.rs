//! Connection deadlines: a min-heap with lazy extension.
//!
//! # Implementation notes
//!
//! Each connection owns one *entry slot*: the instant of the single heap entry
//! that currently speaks for it. Pushing back a deadline (the common case: a
//! keep-alive request resets the idle timer) touches only the connection, not
//! the heap. When the entry fires, the reactor asks the connection for its
//! real next deadline and, if that is still in the future, re-arms. Only a
//! deadline that moves *earlier* pushes a new entry; the entry it replaces is
//! recognised as stale when it pops (its instant no longer matches the slot).
//!
//! So the heap holds about one entry per connection, a tick costs
//! O(expired · log n), and nothing scans all connections.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Identifies the connection an entry belongs to (slab key, generation).
pub(crate) type TimerOwner = (usize, u64);

/// The reactor's deadline heap.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, TimerOwner)>>,
}

impl Timers {
    /// Makes sure a heap entry fires no later than `next`. `slot` is the
    /// owner's entry slot.
    pub fn arm(&mut self, slot: &mut Option<Instant>, next: Option<Instant>, owner: TimerOwner) {
        let Some(next) = next else { return };
        if slot.is_some_and(|entry| entry <= next) {
            // An entry fires earlier; it will re-arm for `next` then.
            return;
        }
        *slot = Some(next);
        self.heap.push(Reverse((next, owner)));
    }

    /// The earliest entry's instant, live or stale.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Pops one entry that is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, TimerOwner)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(entry)| entry),
            _ => None,
        }
    }

    /// True when a popped entry at `at` is the owner's current one (and clears
    /// the slot so the owner can re-arm); false for a stale entry.
    pub fn take_if_current(slot: &mut Option<Instant>, at: Instant) -> bool {
        if *slot == Some(at) {
            *slot = None;
            true
        } else {
            false
        }
    }

    /// Entries in the heap, live and stale.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Drops entries `is_live` rejects, in place (no allocation). The reactor
    /// calls it when stale entries (of closed connections, or superseded by
    /// earlier deadlines) outnumber live ones, so memory stays proportional
    /// to open connections.
    pub fn retain(&mut self, mut is_live: impl FnMut(Instant, TimerOwner) -> bool) {
        self.heap
            .retain(|Reverse((at, owner))| is_live(*at, *owner));
        self.heap.shrink_to(2 * self.heap.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn extending_a_deadline_does_not_grow_the_heap() {
        let start = Instant::now();
        let mut timers = Timers::default();
        let mut slot = None;
        for i in 0..1000 {
            timers.arm(&mut slot, Some(start + ms(100 + i)), (0, 1));
        }
        assert_eq!(timers.len(), 1);
        assert_eq!(timers.next_deadline(), Some(start + ms(100)));
    }

    #[test]
    fn an_earlier_deadline_supersedes_and_the_old_entry_is_stale() {
        let start = Instant::now();
        let mut timers = Timers::default();
        let mut slot = None;
        timers.arm(&mut slot, Some(start + ms(500)), (3, 7));
        timers.arm(&mut slot, Some(start + ms(100)), (3, 7));
        let (at, owner) = timers.pop_due(start + ms(1000)).unwrap();
        assert_eq!((at, owner), (start + ms(100), (3, 7)));
        assert!(Timers::take_if_current(&mut slot, at));
        let (stale, _) = timers.pop_due(start + ms(1000)).unwrap();
        assert!(!Timers::take_if_current(&mut slot, stale));
        assert!(timers.pop_due(start + ms(1000)).is_none());
    }

    #[test]
    fn retain_drops_stale_entries() {
        let start = Instant::now();
        let mut timers = Timers::default();
        let mut slots = [None; 10];
        for (i, slot) in slots.iter_mut().enumerate() {
            timers.arm(slot, Some(start + ms(i as u64)), (i, 0));
        }
        timers.retain(|_, (key, _)| key % 2 == 0);
        assert_eq!(timers.len(), 5);
    }

    #[test]
    fn only_due_entries_pop_in_order() {
        let start = Instant::now();
        let mut timers = Timers::default();
        let mut slots = [None; 3];
        for (i, slot) in slots.iter_mut().enumerate() {
            timers.arm(slot, Some(start + ms(30 - 10 * i as u64)), (i, 0));
        }
        let due: Vec<_> = std::iter::from_fn(|| timers.pop_due(start + ms(20)))
            .map(|(_, (key, _))| key)
            .collect();
        assert_eq!(due, vec![2, 1]);
        assert_eq!(timers.next_deadline(), Some(start + ms(30)));
    }
}
