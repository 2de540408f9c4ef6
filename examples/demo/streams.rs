//! One producer thread for every MJPEG viewer and SSE client: it never
//! blocks on a slow client, and drops each stream the moment a send fails
//! (the client left).

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

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
    let mut stats_due = Instant::now();
    loop {
        let now = Instant::now();
        let next_due = viewers
            .iter()
            .map(|v| v.due)
            .chain(subscribers.iter().map(|s| s.due))
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
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }

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
