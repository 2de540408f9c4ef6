//! One producer thread for every MJPEG viewer and SSE client: it never
//! blocks on a slow client, and drops each stream the moment a send fails
//! (the client left).

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tether::cluster::{FeedItem, Subscription};
use tether::sse;
use tether::{Multipart, SendError, StreamSender};

use crate::frames::FrameSource;

/// A stream to feed.
pub enum Job {
    Mjpeg {
        sender: StreamSender,
        fps: u32,
    },
    Events {
        sender: StreamSender,
    },
    /// The page's dashboard: a stats reading every second.
    Stats {
        sender: StreamSender,
    },
    /// A `/feed` reader, from where its `Last-Event-ID` left off.
    Feed {
        sender: StreamSender,
        subscription: Subscription,
    },
    /// An event was appended to the feed: readers have news.
    FeedAppended,
}

/// A `/feed` reader: what it has not been sent yet stays in the feed (or,
/// for the one event a full queue refused, in `pending`), so it misses
/// nothing while it is slow.
struct FeedReader {
    sender: StreamSender,
    subscription: Subscription,
    pending: Option<Vec<u8>>,
    /// When to try `pending` again.
    retry: Option<Instant>,
}

/// How soon a feed reader whose queue was full is tried again.
const FEED_RETRY: Duration = Duration::from_millis(50);

impl FeedReader {
    /// Sends what the reader has not had, until its queue is full. False
    /// once the client has gone.
    fn pump(&mut self) -> bool {
        self.retry = None;
        loop {
            let event = match self.pending.take() {
                Some(event) => event,
                None => match self.subscription.next(Duration::ZERO) {
                    Some(item) => encode_feed_item(&item),
                    None => return true,
                },
            };
            match self.sender.try_send(event.clone()) {
                Ok(()) => {}
                Err(SendError::Full) => {
                    self.pending = Some(event);
                    self.retry = Some(Instant::now() + FEED_RETRY);
                    return true;
                }
                Err(err) => {
                    log::debug!("{} feed reader gone: {err}", self.sender.id());
                    return false;
                }
            }
        }
    }
}

/// One feed item as an SSE event: its id in `id:`, so a client that
/// reconnects sends it back as `Last-Event-ID`.
fn encode_feed_item(item: &FeedItem) -> Vec<u8> {
    match item {
        FeedItem::Event { id, data } => {
            let id = id.to_string();
            sse::Event::new(&String::from_utf8_lossy(data))
                .event("feed")
                .id(&id)
                .encode()
        }
        FeedItem::Reset => {
            sse::Event::new("the feed no longer holds what followed your Last-Event-ID")
                .event("reset")
                .encode()
        }
        _ => Vec::new(),
    }
}

/// How often the dashboard gets a reading.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// Writes the server's stats as JSON.
pub type StatsJson = Box<dyn Fn() -> String + Send>;

struct Viewer {
    sender: StreamSender,
    every: Duration,
    due: Instant,
}

struct Subscriber {
    sender: StreamSender,
    due: Instant,
    /// The next tick to send; a tick that did not fit is sent again later,
    /// so the client never sees a gap.
    next_tick: u64,
}

pub const MJPEG_BOUNDARY: &str = "tether-frame";

/// Runs until every job sender is gone.
pub fn run(jobs: Receiver<Job>, stats_json: StatsJson) {
    let mjpeg = Multipart::new(MJPEG_BOUNDARY).expect("a valid boundary");
    let mut frames = FrameSource::new();
    let mut viewers: Vec<Viewer> = Vec::new();
    let mut subscribers: Vec<Subscriber> = Vec::new();
    let mut dashboards: Vec<StreamSender> = Vec::new();
    let mut readers: Vec<FeedReader> = Vec::new();
    let mut stats_due = Instant::now();
    loop {
        let now = Instant::now();
        let next_due = viewers
            .iter()
            .map(|v| v.due)
            .chain(subscribers.iter().map(|s| s.due))
            .chain(readers.iter().filter_map(|r| r.retry))
            .chain((!dashboards.is_empty()).then_some(stats_due))
            .min();
        let wait = next_due.map_or(Duration::from_secs(3600), |due| {
            due.saturating_duration_since(now)
        });
        match jobs.recv_timeout(wait) {
            Ok(Job::Mjpeg { sender, fps }) => viewers.push(Viewer {
                sender,
                every: Duration::from_secs(1) / fps,
                due: Instant::now(),
            }),
            Ok(Job::Events { sender }) => subscribers.push(Subscriber {
                sender,
                due: Instant::now() + Duration::from_secs(1),
                next_tick: 1,
            }),
            Ok(Job::Stats { sender }) => {
                // The first reading at once, not a second later.
                let mut sender = sender;
                let event = sse::Event::new(&stats_json()).event("stats").encode();
                if sender.try_send(event).is_ok() {
                    if dashboards.is_empty() {
                        stats_due = Instant::now() + STATS_EVERY;
                    }
                    dashboards.push(sender);
                }
            }
            Ok(Job::Feed {
                sender,
                subscription,
            }) => {
                let mut reader = FeedReader {
                    sender,
                    subscription,
                    pending: None,
                    retry: None,
                };
                if reader.pump() {
                    readers.push(reader);
                }
            }
            Ok(Job::FeedAppended) => readers.retain_mut(FeedReader::pump),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        readers.retain_mut(|reader| reader.retry.is_none_or(|at| at > now) || reader.pump());

        let now = Instant::now();
        if !dashboards.is_empty() && stats_due <= now {
            stats_due = now + STATS_EVERY;
            // KeepNewest: a slow dashboard only ever waits for the newest
            // reading.
            let event = tether::Bytes::from(sse::Event::new(&stats_json()).event("stats").encode());
            dashboards.retain_mut(|sender| match sender.try_send(event.clone()) {
                Ok(()) | Err(SendError::Full) => true,
                Err(err) => {
                    // Closed: the only other way a try_send fails.
                    log::debug!("{} dashboard gone: {err}", sender.id());
                    false
                }
            });
        }
        // One encoded part serves every viewer due now.
        let mut part = None;
        viewers.retain_mut(|viewer| {
            if viewer.due > now {
                return true;
            }
            viewer.due += viewer.every;
            if viewer.due < now {
                viewer.due = now + viewer.every; // fell behind: don't burst
            }
            let part = part.get_or_insert_with(|| {
                let (_, jpeg) = frames.frame(now);
                tether::Bytes::from(mjpeg.part("image/jpeg", &jpeg))
            });
            // KeepNewest streams never block: a slow viewer's waiting frame
            // is replaced by this one.
            match viewer.sender.try_send(part.clone()) {
                Ok(()) | Err(SendError::Full) => true,
                Err(err) => {
                    log::debug!("{} MJPEG viewer gone: {err}", viewer.sender.id());
                    false
                }
            }
        });
        subscribers.retain_mut(|sub| {
            if sub.due > now {
                return true;
            }
            sub.due += Duration::from_secs(1);
            let id = sub.next_tick.to_string();
            let event = sse::Event::new(&id).event("tick").id(&id).encode();
            match sub.sender.try_send(event) {
                Ok(()) => {
                    sub.next_tick += 1;
                    true
                }
                Err(SendError::Full) => true,
                Err(err) => {
                    log::debug!("{} SSE client gone: {err}", sub.sender.id());
                    false
                }
            }
        });
    }
}
