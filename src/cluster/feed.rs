//! A feed: an ordered log of events with ids, for SSE clients that resume
//! with `Last-Event-ID`. This is the in-process engine; its history is
//! bounded by count and by bytes.

use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// What one event costs the history beside its bytes: its slot and id.
const EVENT_OVERHEAD_BYTES: usize = 32;

/// An event's id: the feed's epoch and the event's offset in it, written
/// `<epoch>-<offset>` (the SSE `id:` field). A feed made anew (a process
/// restarted) has a new epoch, so an id from before is recognised as such
/// instead of being taken for a position in the new log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventId {
    epoch: u64,
    offset: u64,
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

/// What a subscriber reads next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeedItem {
    /// The next event, in order.
    Event {
        /// Its id, for the SSE `id:` field.
        id: EventId,
        /// What was appended.
        data: Bytes,
    },
    /// The subscriber missed events it can no longer get: its
    /// `Last-Event-ID` is older than the history, of another epoch (the
    /// feed was made anew), or not an id of this feed; or it fell behind
    /// by more than the history while reading. The events still held
    /// follow, then live ones. Send it as an SSE `event: reset` so the
    /// client reloads what it shows from the application.
    Reset,
}

/// Why an append was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeedError {
    /// The event alone is over the feed's byte bound.
    TooLarge,
}

impl fmt::Display for FeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedError::TooLarge => f.write_str("event larger than the feed's history bound"),
        }
    }
}

impl std::error::Error for FeedError {}

#[derive(Debug)]
struct History {
    /// Offsets `first..next` are held, oldest first.
    events: VecDeque<Bytes>,
    first: u64,
    next: u64,
    /// What the held events cost: their bytes plus `EVENT_OVERHEAD_BYTES` each.
    bytes: usize,
}

#[derive(Debug)]
struct Shared {
    epoch: u64,
    max_events: usize,
    max_bytes: usize,
    history: Mutex<History>,
    appended: Condvar,
}

/// An ordered log of events with ids; cheap to clone (every clone is the
/// same feed). [`append`](Feed::append) returns the new event's id;
/// [`subscribe`](Feed::subscribe) from a `Last-Event-ID` reads every event
/// after it, then live ones, in order, with no duplicate and no gap — or a
/// [`FeedItem::Reset`] first when that id can no longer be honoured.
///
/// The history holds at most `max_events` events and `max_bytes` bytes
/// (each event counted as its bytes plus 32); the oldest go first.
///
/// ```
/// use std::time::Duration;
/// use tether::cluster::{Feed, FeedItem};
///
/// let feed = Feed::new(100, 64 * 1024);
/// let first = feed.append("one").unwrap();
/// feed.append("two").unwrap();
/// // A client that saw "one" resumes after it.
/// let mut sub = feed.subscribe(Some(&first.to_string()));
/// match sub.next(Duration::ZERO) {
///     Some(FeedItem::Event { data, .. }) => assert_eq!(data, "two"),
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(sub.next(Duration::ZERO), None, "nothing newer yet");
/// ```
#[derive(Debug, Clone)]
pub struct Feed {
    shared: Arc<Shared>,
}

impl Feed {
    /// A new, empty feed keeping at most `max_events` events and
    /// `max_bytes` bytes of history. It has an epoch of its own.
    pub fn new(max_events: usize, max_bytes: usize) -> Feed {
        Feed {
            shared: Arc::new(Shared {
                epoch: fresh_epoch(),
                max_events: max_events.max(1),
                max_bytes,
                history: Mutex::new(History {
                    events: VecDeque::new(),
                    first: 1,
                    next: 1,
                    bytes: 0,
                }),
                appended: Condvar::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, History> {
        self.shared
            .history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends an event and wakes every subscriber waiting for one. The
    /// oldest events leave the history to keep it within its bounds.
    pub fn append(&self, data: impl Into<Bytes>) -> Result<EventId, FeedError> {
        let data = data.into();
        let cost = data.len().saturating_add(EVENT_OVERHEAD_BYTES);
        if cost > self.shared.max_bytes {
            return Err(FeedError::TooLarge);
        }
        let mut history = self.lock();
        // Compared with what is left, never added.
        while history.events.len() >= self.shared.max_events
            || cost > self.shared.max_bytes.saturating_sub(history.bytes)
        {
            let Some(old) = history.events.pop_front() else {
                break;
            };
            history.bytes -= old.len() + EVENT_OVERHEAD_BYTES;
            history.first += 1;
        }
        let offset = history.next;
        history.events.push_back(data);
        history.bytes += cost;
        history.next += 1;
        drop(history);
        self.shared.appended.notify_all();
        Ok(EventId {
            epoch: self.shared.epoch,
            offset,
        })
    }

    /// The newest event's id, if any was appended.
    pub fn last_id(&self) -> Option<EventId> {
        let next = self.lock().next;
        (next > 1).then(|| EventId {
            epoch: self.shared.epoch,
            offset: next - 1,
        })
    }

    /// A reader from `last_event_id` (the SSE request's `Last-Event-ID`),
    /// or of live events only when `None`. An id this feed cannot honour
    /// (older than its history, of another epoch, ahead of its newest
    /// event, or malformed) starts the reader with a [`FeedItem::Reset`],
    /// then every event still held.
    pub fn subscribe(&self, last_event_id: Option<&str>) -> Subscription {
        let history = self.lock();
        let (next, reset) = match last_event_id {
            None => (history.next, false),
            Some(text) => match text.parse::<EventId>() {
                Ok(id)
                    if id.epoch == self.shared.epoch
                        && id.offset < history.next
                        && id.offset >= history.first.saturating_sub(1) =>
                {
                    (id.offset + 1, false)
                }
                _ => (history.first, true),
            },
        };
        drop(history);
        Subscription {
            feed: self.clone(),
            next,
            reset,
        }
    }
}

/// A reader of a [`Feed`], from [`Feed::subscribe`].
#[derive(Debug)]
pub struct Subscription {
    feed: Feed,
    /// The offset of the next event to hand out.
    next: u64,
    /// A reset is owed before the next event.
    reset: bool,
}

impl Subscription {
    /// The next item, waiting up to `timeout` for an event to be appended
    /// (`Duration::ZERO`: not at all); `None` if none came.
    pub fn next(&mut self, timeout: Duration) -> Option<FeedItem> {
        let deadline = Instant::now().checked_add(timeout);
        let shared = &self.feed.shared;
        let mut history = self.feed.lock();
        loop {
            if history.first > self.next {
                // Fell behind by more than the history while reading.
                self.next = history.first;
                self.reset = true;
            }
            if std::mem::take(&mut self.reset) {
                return Some(FeedItem::Reset);
            }
            if self.next < history.next {
                let index = (self.next - history.first) as usize;
                let data = history.events[index].clone();
                let id = EventId {
                    epoch: shared.epoch,
                    offset: self.next,
                };
                self.next += 1;
                return Some(FeedItem::Event { id, data });
            }
            let left = match deadline {
                Some(at) => at.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() {
                return None;
            }
            history = shared
                .appended
                .wait_timeout(history, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// An epoch no other feed is likely to have: std's hasher keys are
/// random per process and per `RandomState`.
fn fresh_epoch() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish() >> 16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(item: Option<FeedItem>) -> (u64, Bytes) {
        match item {
            Some(FeedItem::Event { id, data }) => (id.offset(), data),
            other => panic!("expected an event, got {other:?}"),
        }
    }

    fn drain(sub: &mut Subscription) -> Vec<FeedItem> {
        std::iter::from_fn(|| sub.next(Duration::ZERO)).collect()
    }

    #[test]
    fn ids_round_trip_and_junk_is_refused() {
        let feed = Feed::new(10, 1024);
        let id = feed.append("a").unwrap();
        assert_eq!(id.to_string().parse::<EventId>(), Ok(id));
        assert_eq!(id.offset(), 1);
        for junk in ["", "7", "x-1", "1-x", "1-2-3", "-1"] {
            assert_eq!(junk.parse::<EventId>(), Err(InvalidEventId), "{junk:?}");
        }
    }

    #[test]
    fn a_resume_gets_every_later_event_then_live_ones_in_order() {
        let feed = Feed::new(100, 64 * 1024);
        let ids: Vec<EventId> = (0..5)
            .map(|i| feed.append(format!("e{i}")).unwrap())
            .collect();
        let mut sub = feed.subscribe(Some(&ids[1].to_string()));
        let got: Vec<u64> = drain(&mut sub)
            .into_iter()
            .map(|i| event(Some(i)).0)
            .collect();
        assert_eq!(got, [3, 4, 5], "after id 2, nothing twice, no gap");
        feed.append("live").unwrap();
        assert_eq!(event(sub.next(Duration::ZERO)), (6, Bytes::from("live")));
        assert_eq!(sub.next(Duration::ZERO), None);
    }

    #[test]
    fn a_new_subscriber_without_an_id_reads_live_events_only() {
        let feed = Feed::new(100, 64 * 1024);
        feed.append("old").unwrap();
        let mut sub = feed.subscribe(None);
        assert_eq!(sub.next(Duration::ZERO), None);
        feed.append("new").unwrap();
        assert_eq!(event(sub.next(Duration::ZERO)).1, "new");
    }

    #[test]
    fn an_id_the_feed_cannot_honour_starts_with_a_reset_then_what_is_held() {
        let feed = Feed::new(3, 64 * 1024);
        let first = feed.append("1").unwrap();
        for i in 2..=5 {
            feed.append(i.to_string()).unwrap();
        }
        let other_epoch = Feed::new(3, 1024).append("x").unwrap().to_string();
        let ahead = format!("{:x}-99", first.epoch);
        for stale in [first.to_string(), other_epoch, ahead, "junk".to_string()] {
            let mut sub = feed.subscribe(Some(&stale));
            let items = drain(&mut sub);
            assert_eq!(items[0], FeedItem::Reset, "{stale}");
            let offsets: Vec<u64> = items[1..]
                .iter()
                .map(|i| event(Some(i.clone())).0)
                .collect();
            assert_eq!(offsets, [3, 4, 5], "{stale}: the held history follows");
        }
        // The newest event held before the trim is still a fine place to
        // resume from: the one just before the oldest held.
        let mut sub = feed.subscribe(Some(&format!("{:x}-2", first.epoch)));
        assert_eq!(event(sub.next(Duration::ZERO)).0, 3);
    }

    #[test]
    fn a_reader_that_falls_behind_the_history_is_told() {
        let feed = Feed::new(2, 64 * 1024);
        let mut sub = feed.subscribe(None);
        for i in 0..5 {
            feed.append(i.to_string()).unwrap();
        }
        let items = drain(&mut sub);
        assert_eq!(items[0], FeedItem::Reset);
        assert_eq!(items.len(), 3, "a reset, then the two held");
    }

    #[test]
    fn history_is_bounded_in_bytes_and_an_oversized_event_is_refused() {
        let feed = Feed::new(1000, 1000);
        for _ in 0..50 {
            feed.append(vec![0u8; 100]).unwrap();
        }
        let held = feed.lock().bytes;
        assert!(held <= 1000, "{held} bytes held");
        assert_eq!(feed.append(vec![0u8; 1000]), Err(FeedError::TooLarge));
        assert_eq!(feed.last_id().map(|id| id.offset()), Some(50));
    }

    #[test]
    fn a_waiting_reader_wakes_for_an_append() {
        let feed = Feed::new(10, 1024);
        let mut sub = feed.subscribe(None);
        let appender = {
            let feed = feed.clone();
            std::thread::spawn(move || feed.append("wake").unwrap())
        };
        let item = sub.next(Duration::from_secs(10));
        assert_eq!(event(item).1, "wake");
        appender.join().unwrap();
    }
}
