//! A feed: an ordered log of events with ids, for SSE clients that resume
//! with `Last-Event-ID`; its history bounded by count and by bytes, held
//! in this process or mirrored from a shared engine.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::log::{fresh_epoch, EventId, FeedError, FeedStats, History, Log, EVENT_OVERHEAD_BYTES};

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

/// Where appends go.
#[derive(Debug)]
enum Engine {
    /// This process: `history` is the feed.
    Memory,
    /// A shared engine; `history` mirrors it.
    #[cfg(feature = "redis")]
    Redis(Box<super::redis::feed::RedisFeed>),
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
    log: Arc<Log>,
    engine: Arc<Engine>,
}

impl Feed {
    /// A new, empty feed keeping at most `max_events` events and
    /// `max_bytes` bytes of history. It has an epoch of its own.
    pub fn new(max_events: usize, max_bytes: usize) -> Feed {
        Feed {
            log: Arc::new(Log::new(max_events, max_bytes, fresh_epoch())),
            engine: Arc::new(Engine::Memory),
        }
    }

    fn lock(&self) -> MutexGuard<'_, History> {
        self.log.lock()
    }

    /// Appends an event and wakes every subscriber waiting for one. The
    /// oldest events leave the history to keep it within its bounds.
    ///
    /// # Blocking
    ///
    /// In memory it takes a lock only. On Redis it blocks the calling
    /// thread for one round trip (bounded by the connection's timeouts; at
    /// once while Redis is known down).
    pub fn append(&self, data: impl Into<Bytes>) -> Result<EventId, FeedError> {
        let appended = self.try_append(data.into());
        let counter = match appended {
            Ok(_) => &self.log.counters.appended,
            Err(_) => &self.log.counters.refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        appended
    }

    fn try_append(&self, data: Bytes) -> Result<EventId, FeedError> {
        let cost = data.len().saturating_add(EVENT_OVERHEAD_BYTES);
        if cost > self.log.max_bytes() {
            return Err(FeedError::TooLarge);
        }
        let (epoch, offset) = match &*self.engine {
            Engine::Memory => self.log.push(data, cost),
            #[cfg(feature = "redis")]
            Engine::Redis(redis) => {
                let (epoch, offset) = redis.append(&data, self.log.max_events())?;
                // Read your own writes, unless other processes' events come
                // first: the mirror brings those, and this one after them.
                self.log.record_own(epoch, offset, data);
                (epoch, offset)
            }
        };
        Ok(EventId { epoch, offset })
    }

    /// Runs `watcher` after each change to this process's history: an
    /// event appended here, one mirrored from another process, or a reset.
    /// For a thread that serves many readers with `next(Duration::ZERO)`
    /// and must learn when to look again (a task awaits
    /// [`Subscription::next_async`] instead). It runs on the appending thread
    /// or the feed's mirror thread, after the history's lock is released:
    /// keep it short (send on a channel) and never append from it.
    pub fn on_change(&self, watcher: impl Fn() + Send + Sync + 'static) {
        self.log.watch(Box::new(watcher));
    }

    /// What this feed has done in this process, and whether its engine can
    /// be reached.
    pub fn stats(&self) -> FeedStats {
        let counters = &self.log.counters;
        let (engine, connected, reconnects) = match &*self.engine {
            Engine::Memory => ("memory", true, 0),
            #[cfg(feature = "redis")]
            Engine::Redis(redis) => ("redis", redis.is_connected(), redis.reconnects()),
        };
        FeedStats {
            engine,
            connected,
            appended: counters.appended.load(Ordering::Relaxed),
            refused: counters.refused.load(Ordering::Relaxed),
            mirrored: counters.mirrored.load(Ordering::Relaxed),
            restarts: counters.restarts.load(Ordering::Relaxed),
            reconnects,
        }
    }

    /// The newest event's id, if any was appended.
    pub fn last_id(&self) -> Option<EventId> {
        let history = self.lock();
        (history.next > history.first).then(|| EventId {
            epoch: history.epoch,
            offset: history.next - 1,
        })
    }

    /// A reader from `last_event_id` (the SSE request's `Last-Event-ID`),
    /// or of live events only when `None`. An id this feed cannot honour
    /// (older than its history, of another epoch, ahead of its newest
    /// event, or malformed) starts the reader with a [`FeedItem::Reset`],
    /// then every event still held.
    pub fn subscribe(&self, last_event_id: Option<&str>) -> Subscription {
        let id = last_event_id.map(str::parse::<EventId>);
        // A shared engine's mirror may lag the process the client came
        // from: an id past the mirror's newest event is honoured if the
        // engine has that event.
        let top = match (&*self.engine, &id) {
            #[cfg(feature = "redis")]
            (Engine::Redis(redis), Some(Ok(id))) if id.offset >= self.lock().next => redis.top(),
            _ => None,
        };
        let mut history = self.lock();
        let (next, reset) = match id {
            None => (history.next, false),
            Some(Ok(id))
                if id.epoch == history.epoch
                    && (id.offset < history.next || top.is_some_and(|top| id.offset <= top))
                    && id.offset >= history.first.saturating_sub(1) =>
            {
                (id.offset + 1, false)
            }
            Some(_) => (history.first, true),
        };
        let epoch = history.epoch;
        let reader = history.next_reader;
        history.next_reader += 1;
        drop(history);
        Subscription {
            feed: self.clone(),
            reader,
            epoch,
            next,
            reset,
        }
    }
}

#[cfg(feature = "redis")]
impl Feed {
    /// A feed shared by every process that opens `name` on the Redis (or
    /// Valkey) at `url` (`redis://host:port`, `redis+unix:///path`): an
    /// event appended in one is read in order by the readers of all, and a
    /// client resumes with its `Last-Event-ID` on any of them.
    ///
    /// Redis holds at most `max_events` events (`XADD … MAXLEN`), each at
    /// most `max_bytes`; this process mirrors them within `max_events` and
    /// `max_bytes` as [`Feed::new`] does. It never fails for Redis being
    /// down: appends fail at once with [`FeedError::Unavailable`] until it
    /// is back, readers wait, and a thread of the feed's own reconnects
    /// with back-off. Should Redis come back empty, the feed starts over
    /// under a new epoch and readers get a [`FeedItem::Reset`]. A feed
    /// made while Redis is down learns its epoch once Redis is up, and its
    /// readers then begin with a reset.
    ///
    /// # Blocking
    ///
    /// On this engine [`append`](Feed::append) is a round trip to Redis,
    /// and [`subscribe`](Feed::subscribe) may be one, each bounded by a 2 s
    /// timeout: call them from a worker, never from a handler or a callback
    /// on the reactor thread. Readers (`Subscription::next`) never wait on
    /// Redis. Processes sharing a feed should give it the same bounds.
    ///
    /// # Blocking
    ///
    /// Connects to Redis before it returns: blocks for at most the connect
    /// timeout.
    pub fn redis(
        url: &str,
        name: &str,
        max_events: usize,
        max_bytes: usize,
    ) -> Result<Feed, FeedError> {
        let redis = super::redis::feed::RedisFeed::new(url, name)?;
        // Epoch 0 until the engine says which it is.
        let log = Arc::new(Log::new(max_events, max_bytes, 0));
        super::redis::feed::start(&redis, &log);
        Ok(Feed {
            log,
            engine: Arc::new(Engine::Redis(Box::new(redis))),
        })
    }
}

/// A reader of a [`Feed`], from [`Feed::subscribe`].
#[derive(Debug)]
pub struct Subscription {
    feed: Feed,
    /// Its key among the feed's awaiting tasks.
    reader: u64,
    /// The epoch `next` is an offset of.
    epoch: u64,
    /// The offset of the next event to hand out.
    next: u64,
    /// A reset is owed before the next event.
    reset: bool,
}

impl Subscription {
    /// The next item, waiting up to `timeout` for an event to be appended
    /// (`Duration::ZERO`: not at all); `None` if none came.
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread up to `timeout`. From async code await
    /// [`next_async`](Self::next_async) instead; a thread serving many
    /// readers calls this with a zero timeout when
    /// [`Feed::on_change`] says to look again.
    pub fn next(&mut self, timeout: Duration) -> Option<FeedItem> {
        let deadline = Instant::now().checked_add(timeout);
        let log = Arc::clone(&self.feed.log);
        let mut history = log.lock();
        loop {
            if let Some(item) = self.take(&history) {
                return Some(item);
            }
            let left = match deadline {
                Some(at) => at.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() {
                return None;
            }
            history = log
                .appended
                .wait_timeout(history, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The next item, awaited: it resolves when one is held (at once if
    /// one is), and no thread waits meanwhile — one task per SSE client
    /// reads a feed, Redis-fed or not. There is no timeout: race it
    /// against the client leaving ([`StreamSender::closed`]) or a timer.
    /// Only `std::task` is used, so any executor runs it.
    ///
    /// The feed keeps at most one waker per subscription, dropped with it.
    ///
    /// [`StreamSender::closed`]: crate::StreamSender::closed
    ///
    /// ```
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use std::task::{Context, Poll, Waker};
    /// use tether::cluster::{Feed, FeedItem};
    ///
    /// let feed = Feed::new(100, 64 * 1024);
    /// let mut sub = feed.subscribe(None);
    /// let mut cx = Context::from_waker(Waker::noop());
    /// {
    ///     let mut next = pin!(sub.next_async());
    ///     assert!(next.as_mut().poll(&mut cx).is_pending(), "nothing yet");
    ///     feed.append("news").unwrap();
    ///     match next.as_mut().poll(&mut cx) {
    ///         Poll::Ready(FeedItem::Event { data, .. }) => assert_eq!(data, "news"),
    ///         other => panic!("{other:?}"),
    ///     }
    /// }
    /// ```
    pub fn next_async(&mut self) -> impl Future<Output = FeedItem> + Send + '_ {
        std::future::poll_fn(move |task| self.poll_next(task))
    }

    fn poll_next(&mut self, task: &mut Context<'_>) -> Poll<FeedItem> {
        let log = Arc::clone(&self.feed.log);
        let mut history = log.lock();
        if let Some(item) = self.take(&history) {
            return Poll::Ready(item);
        }
        match history.wakers.get_mut(&self.reader) {
            Some(waker) => waker.clone_from(task.waker()),
            None => {
                history.wakers.insert(self.reader, task.waker().clone());
            }
        }
        Poll::Pending
    }

    /// The item owed next, if the history holds it.
    fn take(&mut self, history: &History) -> Option<FeedItem> {
        if history.epoch != self.epoch {
            // The feed started over (a shared engine lost it).
            self.epoch = history.epoch;
            self.next = history.first;
            self.reset = true;
        }
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
                epoch: self.epoch,
                offset: self.next,
            };
            self.next += 1;
            return Some(FeedItem::Event { id, data });
        }
        None
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.feed.lock().wakers.remove(&self.reader);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::InvalidEventId;

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
        let stats = feed.stats();
        assert_eq!((stats.engine, stats.connected), ("memory", true));
        assert_eq!((stats.appended, stats.refused, stats.mirrored), (50, 1, 0));
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

    struct Count(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn an_awaiting_reader_is_woken_by_an_append_and_leaves_no_waker_behind() {
        let feed = Feed::new(10, 1024);
        let mut sub = feed.subscribe(None);
        let count = Arc::new(Count(Default::default()));
        let waker = std::task::Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);

        // Polled twice while nothing is held: one waker kept, not two.
        assert!(sub.poll_next(&mut cx).is_pending());
        assert!(sub.poll_next(&mut cx).is_pending());
        assert_eq!(feed.lock().wakers.len(), 1);

        feed.append("news").unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "woken once");
        match sub.poll_next(&mut cx) {
            Poll::Ready(FeedItem::Event { data, .. }) => assert_eq!(data, "news"),
            other => panic!("{other:?}"),
        }
        assert!(feed.lock().wakers.is_empty(), "the append took the waker");

        // A subscription dropped while awaiting takes its waker with it.
        assert!(sub.poll_next(&mut cx).is_pending());
        drop(sub);
        assert!(feed.lock().wakers.is_empty());
        feed.append("later").unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "nobody to wake");
    }

    /// A shared engine starting over keeps its awaiting readers: they are
    /// woken and read the reset.
    #[cfg(feature = "redis")]
    #[test]
    fn an_awaiting_reader_hears_the_feed_start_over() {
        let feed = Feed::new(10, 1024);
        feed.append("before").unwrap();
        let mut sub = feed.subscribe(None);
        let count = Arc::new(Count(Default::default()));
        let waker = std::task::Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        assert!(sub.poll_next(&mut cx).is_pending());
        let epoch = feed.lock().epoch;
        assert!(feed.log.adopt_epoch(epoch + 1));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(sub.poll_next(&mut cx), Poll::Ready(FeedItem::Reset));
        // A subscription made after the restart has an id of its own.
        let later = feed.subscribe(None);
        assert_ne!(later.reader, sub.reader);
    }
}
