//! The events a process holds of a feed — all of an in-process feed, or
//! its mirror of a shared engine's — and the ids that name them. Beneath
//! both the feed (`feed.rs`) and the shared engine (`redis.rs`).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::AtomicU64;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use bytes::Bytes;

/// What one event costs the history beside its bytes: its slot and id.
pub(super) const EVENT_OVERHEAD_BYTES: usize = 32;

/// An event's id: the feed's epoch and the event's offset in it, written
/// `<epoch>-<offset>` (the SSE `id:` field). A feed made anew (a process
/// restarted) has a new epoch, so an id from before is recognised as such
/// instead of being taken for a position in the new log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventId {
    pub(super) epoch: u64,
    pub(super) offset: u64,
}

impl EventId {
    /// The event's position: 1 for a feed's first event.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}-{}", self.epoch, self.offset)
    }
}

/// An id that is not of the form `<epoch>-<offset>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidEventId;

impl fmt::Display for InvalidEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a feed event id (<epoch>-<offset>)")
    }
}

impl std::error::Error for InvalidEventId {}

impl FromStr for EventId {
    type Err = InvalidEventId;

    fn from_str(text: &str) -> Result<Self, InvalidEventId> {
        let (epoch, offset) = text.trim().split_once('-').ok_or(InvalidEventId)?;
        Ok(EventId {
            epoch: u64::from_str_radix(epoch, 16).map_err(|_| InvalidEventId)?,
            offset: offset.parse().map_err(|_| InvalidEventId)?,
        })
    }
}

/// Why an append was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeedError {
    /// The event alone is over the feed's byte bound.
    TooLarge,
    /// The shared engine did not confirm the append: it cannot be reached,
    /// or the connection broke. Fails at once, never waiting for it to
    /// come back; if the connection broke after the engine took the event,
    /// the event may be in the feed all the same (readers will see it).
    Unavailable,
    /// The shared engine's address does not parse.
    InvalidUrl,
}

impl fmt::Display for FeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedError::TooLarge => f.write_str("event larger than the feed's history bound"),
            FeedError::Unavailable => f.write_str("the feed's shared engine is unavailable"),
            FeedError::InvalidUrl => f.write_str("not a shared engine's address"),
        }
    }
}

impl std::error::Error for FeedError {}

/// The events a process holds: all of an in-process feed's history, or
/// its mirror of a shared engine's.
#[derive(Debug)]
pub(super) struct History {
    /// The feed's epoch (0 until a shared engine has told it).
    pub(super) epoch: u64,
    /// Offsets `first..next` are held, oldest first.
    pub(super) events: VecDeque<Bytes>,
    pub(super) first: u64,
    pub(super) next: u64,
    /// What the held events cost: their bytes plus `EVENT_OVERHEAD_BYTES` each.
    pub(super) bytes: usize,
    /// The tasks awaiting an event, by subscription: at most one waker per
    /// live subscription (a subscription removes its own when dropped).
    /// Registered under this lock, so an append cannot slip between a
    /// reader finding nothing and its waker being here.
    pub(super) wakers: HashMap<u64, Waker>,
    /// The id the next subscription gets.
    pub(super) next_reader: u64,
}

impl History {
    fn new(epoch: u64) -> History {
        History {
            epoch,
            events: VecDeque::new(),
            first: 1,
            next: 1,
            bytes: 0,
            wakers: HashMap::new(),
            next_reader: 0,
        }
    }

    /// The offset the next event would get.
    #[cfg(feature = "redis")]
    pub(super) fn next_offset(&self) -> u64 {
        self.next
    }

    /// Appends at the next offset, letting the oldest events go to stay
    /// within the bounds. `cost` was checked against `max_bytes`.
    fn push(&mut self, data: Bytes, cost: usize, max_events: usize, max_bytes: usize) -> u64 {
        // Compared with what is left, never added.
        while self.events.len() >= max_events || cost > max_bytes.saturating_sub(self.bytes) {
            let Some(old) = self.events.pop_front() else {
                break;
            };
            self.bytes -= old.len() + EVENT_OVERHEAD_BYTES;
            self.first += 1;
        }
        let offset = self.next;
        self.events.push_back(data);
        self.bytes += cost;
        self.next += 1;
        offset
    }

    /// Starts over at `epoch` with nothing held: readers of the old epoch
    /// get a reset.
    #[cfg(feature = "redis")]
    /// Forgets every event; the readers (and their wakers) stay.
    fn restart(&mut self, epoch: u64) {
        let readers = History {
            wakers: std::mem::take(&mut self.wakers),
            next_reader: self.next_reader,
            ..History::new(epoch)
        };
        *self = readers;
    }
}

/// What a feed has done, for a service's `/stats` ([`Feed::stats`](super::Feed::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FeedStats {
    /// `"memory"` or `"redis"`.
    pub engine: &'static str,
    /// The engine can be reached: always in memory; for Redis, while the
    /// mirror's connection is up.
    pub connected: bool,
    /// Events appended through this process.
    pub appended: u64,
    /// Appends refused: too large, or the engine unavailable.
    pub refused: u64,
    /// Events this process's history took from a shared engine (other
    /// processes' and its own).
    pub mirrored: u64,
    /// Times the history started over: a new epoch, or a gap past it.
    pub restarts: u64,
    /// Times the mirror connected to the engine again after losing it.
    pub reconnects: u64,
}

/// The counters a `Log` keeps.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub appended: AtomicU64,
    pub refused: AtomicU64,
    pub mirrored: AtomicU64,
    pub restarts: AtomicU64,
}

/// Called after events join a process's history.
pub(super) type Watcher = Box<dyn Fn() + Send + Sync>;

pub(crate) struct Log {
    max_events: usize,
    max_bytes: usize,
    history: Mutex<History>,
    pub(super) appended: Condvar,
    watchers: Mutex<Vec<Watcher>>,
    pub(super) counters: Counters,
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Log")
            .field("max_events", &self.max_events)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl Log {
    pub(super) fn new(max_events: usize, max_bytes: usize, epoch: u64) -> Log {
        Log {
            max_events: max_events.max(1),
            max_bytes,
            history: Mutex::new(History::new(epoch)),
            appended: Condvar::new(),
            watchers: Mutex::new(Vec::new()),
            counters: Counters::default(),
        }
    }

    pub(super) fn watch(&self, watcher: Watcher) {
        self.watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(watcher);
    }

    /// Lets the history's lock go, then wakes the readers waiting in
    /// `next` or awaiting `next_async` and tells the watchers. The wakers
    /// are taken under the lock the change was made under, and woken
    /// after it is let go (a waker may poll at once).
    fn changed(&self, mut history: MutexGuard<'_, History>) {
        let wakers = std::mem::take(&mut history.wakers);
        drop(history);
        self.appended.notify_all();
        wakers.into_values().for_each(Waker::wake);
        for watcher in self
            .watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            watcher();
        }
    }

    /// Appends in this process (the in-process engine): the event's epoch
    /// and offset. `cost` was checked against `max_bytes`.
    pub(super) fn push(&self, data: Bytes, cost: usize) -> (u64, u64) {
        let mut history = self.lock();
        let offset = history.push(data, cost, self.max_events, self.max_bytes);
        let epoch = history.epoch;
        self.changed(history);
        (epoch, offset)
    }

    pub(super) fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the event at `offset` of `epoch`, as a shared engine
    /// reports it: a new epoch starts over, an offset past the next one
    /// leaves a gap (readers before it get a reset), one already held is
    /// ignored. Wakes readers.
    #[cfg(feature = "redis")]
    pub(super) fn record(&self, epoch: u64, offset: u64, data: Bytes) {
        let cost = data.len().saturating_add(EVENT_OVERHEAD_BYTES);
        let mut history = self.lock();
        if history.epoch != epoch || offset > history.next {
            // A new epoch, or events gone past the mirror: start over here.
            history.restart(epoch);
            history.first = offset;
            history.next = offset;
            self.counters
                .restarts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if offset < history.next {
            return;
        }
        history.push(data, cost, self.max_events, self.max_bytes);
        self.counters
            .mirrored
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.changed(history);
    }

    /// This process's own append, as the engine confirmed it: held now if
    /// it is the next event of the epoch the mirror is at, left to the
    /// mirror otherwise (no gap is ever made here).
    #[cfg(feature = "redis")]
    pub(super) fn record_own(&self, epoch: u64, offset: u64, data: Bytes) {
        let history = self.lock();
        let next = history.epoch == epoch && history.next == offset;
        drop(history);
        if next {
            self.record(epoch, offset, data);
        }
    }

    /// The shared engine's feed is (now) of `epoch`: a different one
    /// starts the mirror over. Wakes readers so they see the reset.
    #[cfg(feature = "redis")]
    pub(super) fn adopt_epoch(&self, epoch: u64) -> bool {
        let mut history = self.lock();
        if history.epoch == epoch {
            return false;
        }
        history.restart(epoch);
        self.counters
            .restarts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.changed(history);
        true
    }

    #[cfg(feature = "redis")]
    pub(super) fn max_events(&self) -> usize {
        self.max_events
    }
}

/// An epoch no other feed is likely to have: std's hasher keys are
/// random per process and per `RandomState`.
pub(super) fn fresh_epoch() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish() >> 16
}
