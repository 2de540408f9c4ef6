//! Named broadcast groups across processes, through Redis PUB/SUB: a
//! process listens on a group's channel while it has a member of that
//! group, and relays its own broadcasts to the channel for the others (it
//! has delivered them to its own members already, with no round trip).
//! PUB/SUB is at most once: a process cut off from Redis misses what was
//! published meanwhile, as a WebSocket that reconnects would.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{candidate, connect, spawn, Calls, Link};
use crate::cluster::members::{Broadcast, Members};

/// How often the listener looks at which groups have members here.
const LOOK_EVERY: Duration = Duration::from_millis(100);
/// Most bytes of broadcasts waiting to be relayed; past it a broadcast is
/// delivered here only (counted as `relay_dropped`).
pub(crate) const MAX_RELAY_BYTES: usize = 16 * 1024 * 1024;
/// Most broadcasts waiting to be relayed.
const MAX_RELAY_MESSAGES: usize = 65_536;

/// A group's channel.
fn channel(group: &str) -> String {
    format!("tether:group:{group}")
}

/// What the relay threads share.
#[derive(Debug)]
struct Common {
    client: redis::Client,
    /// This process's mark on what it relays, so it skips its own.
    origin: String,
    members: Arc<Members>,
    link: Arc<Link>,
    /// Bytes waiting to be relayed.
    queued: AtomicUsize,
}

/// The relay: a thread that listens to the channels of the groups with a
/// member here, and one that publishes this process's broadcasts.
pub(crate) struct Relay {
    common: Arc<Common>,
    outbox: SyncSender<(String, Broadcast)>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("origin", &self.common.origin)
            .finish()
    }
}

impl Relay {
    pub(crate) fn start(url: &str, members: Arc<Members>) -> redis::RedisResult<Relay> {
        let client = redis::Client::open(url)?;
        let common = Arc::new(Common {
            client,
            origin: format!("{}-{}", std::process::id(), candidate()),
            members,
            link: Arc::default(),
            queued: AtomicUsize::new(0),
        });
        let (outbox, inbox) = std::sync::mpsc::sync_channel(MAX_RELAY_MESSAGES);
        let weak = Arc::downgrade(&common);
        spawn("tether-groups-listen", move || listen(&weak));
        let for_publish = Arc::clone(&common);
        spawn("tether-groups-publish", move || {
            publish(&for_publish, &inbox)
        });
        Ok(Relay { common, outbox })
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.common.link.is_connected()
    }

    pub(crate) fn reconnects(&self) -> u64 {
        self.common.link.reconnects()
    }

    /// Queues `message` for the other processes; `false` if it cannot be
    /// (Redis known down, or the relay's bound reached).
    pub(crate) fn relay(&self, group: &str, message: Broadcast) -> bool {
        let c = &self.common;
        if c.link.is_down() {
            return false;
        }
        let len = message.data.len();
        let fits = c
            .queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |queued| {
                (len <= MAX_RELAY_BYTES - queued.min(MAX_RELAY_BYTES)).then_some(queued + len)
            })
            .is_ok();
        if !fits {
            return false;
        }
        match self.outbox.try_send((group.to_owned(), message)) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                c.queued.fetch_sub(len, Ordering::Relaxed);
                false
            }
        }
    }
}

/// `<origin> <t|b><data>`: who sent it, and what kind.
fn encode(origin: &str, message: &Broadcast) -> Vec<u8> {
    let mut out = Vec::with_capacity(origin.len() + 2 + message.data.len());
    out.extend_from_slice(origin.as_bytes());
    out.push(b' ');
    out.push(if message.text { b't' } else { b'b' });
    out.extend_from_slice(&message.data);
    out
}

/// The origin and the message, or `None` for a payload not ours.
fn decode(payload: &[u8]) -> Option<(&[u8], Broadcast)> {
    let space = payload.iter().position(|b| *b == b' ')?;
    let (origin, rest) = (&payload[..space], &payload[space + 1..]);
    let (kind, data) = rest.split_first()?;
    let text = match kind {
        b't' => true,
        b'b' => false,
        _ => return None,
    };
    let data = Bytes::copy_from_slice(data);
    Some((origin, Broadcast { text, data }))
}

/// Most broadcasts relayed in one pipeline.
const BATCH: usize = 64;

/// The publisher: relays this process's broadcasts, in order, those that
/// queued up meanwhile in one pipeline (one round trip). What fails is
/// dropped (PUB/SUB keeps nothing for later either).
fn publish(common: &Arc<Common>, inbox: &Receiver<(String, Broadcast)>) {
    let calls = Calls::new(common.client.clone(), Arc::clone(&common.link));
    while let Ok(first) = inbox.recv() {
        let batch: Vec<(String, Broadcast)> = std::iter::once(first)
            .chain(inbox.try_iter().take(BATCH - 1))
            .collect();
        let bytes: usize = batch.iter().map(|(_, m)| m.data.len()).sum();
        common.queued.fetch_sub(bytes, Ordering::Relaxed);
        if Arc::strong_count(common) == 1 {
            return; // the groups were dropped
        }
        let mut pipe = redis::pipe();
        for (group, message) in &batch {
            pipe.cmd("PUBLISH")
                .arg(channel(group))
                .arg(encode(&common.origin, message))
                .ignore();
        }
        let sent = calls.call(|conn| pipe.query::<()>(conn)).is_ok();
        let counters = &common.members.counters;
        let counter = match sent {
            true => &counters.relayed_out,
            false => &counters.relay_dropped,
        };
        counter.fetch_add(batch.len() as u64, Ordering::Relaxed);
    }
}

/// The listener: sessions with back-off while the groups live.
fn listen(common: &Weak<Common>) {
    // Only the link is held for the thread's life: the groups' end is
    // seen as the last strong reference going.
    let Some((link, members)) = common
        .upgrade()
        .map(|c| (Arc::clone(&c.link), Arc::clone(&c.members)))
    else {
        return;
    };
    let alive = || common.strong_count() > 0;
    link.run("broadcast groups", alive, |connected| {
        let session = listen_session(common, connected);
        // Cut off: the groups hear nobody else until the next session.
        members.counters.listening.store(0, Ordering::Relaxed);
        session
    });
}

/// Subscribes to the channels of the groups with a member here, keeping
/// that set current every [`LOOK_EVERY`], and delivers what others relay.
fn listen_session(common: &Weak<Common>, connected: &mut dyn FnMut()) -> redis::RedisResult<()> {
    let Some(c) = common.upgrade() else {
        return Ok(());
    };
    let mut conn = connect(&c.client)?;
    drop(c);
    let mut pubsub = conn.as_pubsub();
    pubsub.set_read_timeout(Some(LOOK_EVERY))?;
    connected();
    let mut listening: HashSet<String> = HashSet::new();
    let mut looked: Option<Instant> = None;
    loop {
        let Some(c) = common.upgrade() else {
            return Ok(());
        };
        // Which groups have members here: every LOOK_EVERY, not per message.
        if looked.is_none_or(|at| at.elapsed() >= LOOK_EVERY) {
            looked = Some(Instant::now());
            let wanted: HashSet<String> = c.members.names().into_iter().collect();
            for group in wanted.difference(&listening) {
                pubsub.subscribe(channel(group))?;
            }
            for group in listening.difference(&wanted) {
                pubsub.unsubscribe(channel(group))?;
            }
            listening = wanted;
            let listens = &c.members.counters.listening;
            listens.store(listening.len(), Ordering::Relaxed);
        }
        let message = match pubsub.get_message() {
            Ok(message) => message,
            Err(err) if err.is_timeout() => continue,
            Err(err) => return Err(err),
        };
        let Some(group) = message.get_channel_name().strip_prefix("tether:group:") else {
            continue;
        };
        let payload: &[u8] = message.get_payload_bytes();
        match decode(payload) {
            Some((origin, _)) if origin == c.origin.as_bytes() => {}
            Some((_, broadcast)) => {
                c.members
                    .counters
                    .relayed_in
                    .fetch_add(1, Ordering::Relaxed);
                c.members.deliver(group, &broadcast);
            }
            None => log::debug!("group {group}: a message not from tether"),
        }
    }
}
