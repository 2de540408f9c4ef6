//! What the broker's engines and its line share: a message and its id, the
//! events the line acts on, the engine contract, the refusals and the
//! counters. Beneath the line (`line.rs`), the engines (`memory.rs`,
//! `redis/broker.rs`) and the broker (`broker.rs`).

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;

use crate::handle::exchange::Exchange;
use crate::id::ConnectionId;

/// The longest message id: a header value a client sends back.
const MAX_ID_LEN: usize = 64;
/// What holding one message costs beside its bytes: its slot, its id and
/// the bookkeeping of its allocation. A flood of empty messages is bounded
/// too.
pub(super) const MESSAGE_OVERHEAD_BYTES: usize = 64;

/// A message's id: sent with the message (the demo's `Message-Id`
/// header) and given back to acknowledge it. The same message keeps its id
/// when it is delivered again, so a client can drop a duplicate.
/// Letters, digits and `-`, at most 64 of them.
///
/// ```
/// use tether::cluster::{BrokerError, MessageId};
///
/// let id: MessageId = "1733270400000-0".parse().unwrap();
/// assert_eq!(id.as_str(), "1733270400000-0");
/// // Never a header injection: it goes back out in `Message-Id`.
/// assert_eq!("1-0\r\nX: y".parse::<MessageId>(), Err(BrokerError::InvalidId));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageId(Box<str>);

impl MessageId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for MessageId {
    type Err = BrokerError;

    fn from_str(text: &str) -> Result<Self, BrokerError> {
        let text = text.trim();
        let valid = !text.is_empty()
            && text.len() <= MAX_ID_LEN
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        match valid {
            true => Ok(MessageId(text.into())),
            false => Err(BrokerError::InvalidId),
        }
    }
}

/// Why the broker refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrokerError {
    /// The queue holds its bound in messages or bytes: try again later
    /// (the demo answers `503` with `Retry-After`).
    Full,
    /// The message alone is over the queue's byte bound.
    TooLarge,
    /// The shared engine did not confirm it: it cannot be reached, or the
    /// connection broke. Fails at once, never waiting for the engine; if
    /// the connection broke after the engine took a message, the message
    /// may be queued all the same.
    Unavailable,
    /// The shared engine's address does not parse.
    InvalidUrl,
    /// Not a message id (letters, digits and `-`, at most 64).
    InvalidId,
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BrokerError::Full => "the queue is full",
            BrokerError::TooLarge => "message larger than the queue's byte bound",
            BrokerError::Unavailable => "the queue's shared engine is unavailable",
            BrokerError::InvalidUrl => "not a shared engine's address",
            BrokerError::InvalidId => "not a message id",
        })
    }
}

impl std::error::Error for BrokerError {}

/// A message on its way to a poller.
#[derive(Debug, Clone)]
pub(super) struct Message {
    /// What the client sees and acknowledges.
    pub(super) id: MessageId,
    /// Where the engine holds it (the Redis stream entry; the id in
    /// memory). A message handed back to a shared engine gets a new entry
    /// and keeps its id.
    pub(super) entry: Box<str>,
    pub(super) data: Bytes,
    /// Times it was written in full to a poller.
    pub(super) deliveries: u32,
}

impl Message {
    /// What holding it costs against the queue's byte bound.
    pub(super) fn cost(&self) -> usize {
        cost(self.data.len())
    }
}

/// What holding `len` bytes of message costs.
pub(super) fn cost(len: usize) -> usize {
    len.saturating_add(MESSAGE_OVERHEAD_BYTES)
}

/// What the line acts on, in the order it comes.
pub(super) enum Event {
    /// A poller waiting until its deadline.
    Poll(Box<Exchange>, Instant),
    /// A waiting poller's connection ended.
    Left(ConnectionId),
    /// A message for a poller: published here (in memory) or pulled from
    /// the shared engine.
    Arrived(Message),
    /// The message's response was written in full.
    Written(Message),
    /// The poller left before its response was written in full.
    Returned(Message),
    /// Answer every waiting poller `503`, and every later one.
    ShutDown,
    /// The broker was dropped: answer the waiting pollers, then end.
    Stop,
}

/// What an engine does for the line. Every method but `publish` and `ack`
/// runs on the line's thread and must not wait for a network: a shared
/// engine queues its writes for a thread of its own.
pub(super) trait Engine: Send + Sync + fmt::Debug {
    /// `"memory"` or `"redis"`.
    fn name(&self) -> &'static str;
    /// Whether it can be reached.
    fn is_connected(&self) -> bool {
        true
    }
    /// Sessions with the shared engine begun after the first.
    fn reconnects(&self) -> u64 {
        0
    }
    /// Queues a message for some poller. Called on the publisher's thread.
    fn publish(&self, data: Bytes) -> Result<MessageId, BrokerError>;
    /// Acknowledges a message wherever it was delivered; `held` is this
    /// process's record of it, if this process delivered it. `Ok(true)` if
    /// it was owed. Called on the acknowledging thread.
    fn ack(&self, id: &MessageId, held: Option<&Message>) -> Result<bool, BrokerError>;
    /// The message is done with (written, and no acknowledgement awaited):
    /// forget it.
    fn settle(&self, message: &Message);
    /// No poller here wants `message`: hand it back for another. `Some`
    /// means this process keeps it (the in-memory engine); `count` whether
    /// the engine counts it as requeued.
    fn release(&self, message: Message, count: bool) -> Option<Message>;
    /// Delivered too often without an acknowledgement: set aside.
    fn dead_letter(&self, message: Message);
    /// Whether messages no poller here wants stay here (in memory) or go
    /// back to the shared engine for other processes.
    fn keeps_messages(&self) -> bool;
    /// Pollers here that have no message yet: a shared engine pulls no
    /// more than that.
    fn want(&self, _hungry: usize) {}
    /// The line took one `Arrived` message the engine sent.
    fn arrived(&self) {}
    /// The entries this process holds (in flight or awaiting an
    /// acknowledgement) are still held: a shared engine tells the others,
    /// so no sweep takes them for a dead process's.
    fn keep_alive(&self, _entries: Vec<Box<str>>) {}
}

/// Counters of what the broker did in this process.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) published: AtomicU64,
    pub(super) refused: AtomicU64,
    pub(super) delivered: AtomicU64,
    pub(super) acked: AtomicU64,
    pub(super) requeued: AtomicU64,
    pub(super) claimed: AtomicU64,
    pub(super) dead_lettered: AtomicU64,
    /// Gauges the line keeps.
    pub(super) waiting: AtomicUsize,
    pub(super) queued: AtomicUsize,
    pub(super) owed: AtomicUsize,
}

impl Counters {
    pub(super) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What a broker did in this process (each process counts its own), and
/// whether its engine can be reached.
///
/// ```
/// use tether::cluster::{Broker, BrokerOptions};
///
/// let broker = Broker::new(BrokerOptions::default());
/// broker.publish("hi").unwrap();
/// let stats = broker.stats();
/// assert_eq!((stats.engine, stats.connected, stats.published), ("memory", true, 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BrokerStats {
    /// `"memory"` or `"redis"`.
    pub engine: &'static str,
    /// Whether the engine can be reached (always, in memory).
    pub connected: bool,
    /// Messages published here.
    pub published: u64,
    /// Publishes refused here (full, too large, engine unavailable).
    pub refused: u64,
    /// Responses with a message written in full to a poller here (each
    /// delivery of a message delivered again counts).
    pub delivered: u64,
    /// Messages acknowledged here.
    pub acked: u64,
    /// Messages put back for another poller: their poller left before the
    /// write ended, or their acknowledgement did not come in time.
    pub requeued: u64,
    /// Messages this process took over from one that stopped answering
    /// (shared engine only).
    pub claimed: u64,
    /// Messages set aside after too many deliveries without an
    /// acknowledgement.
    pub dead_lettered: u64,
    /// Sessions with the shared engine begun after the first.
    pub reconnects: u64,
    /// Pollers waiting here now.
    pub waiting: usize,
    /// Messages held here for pollers now.
    pub queued: usize,
    /// Messages delivered here that await an acknowledgement now.
    pub owed: usize,
}

impl BrokerStats {
    pub(super) fn read(counters: &Counters, engine: &dyn Engine) -> BrokerStats {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let g = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        BrokerStats {
            engine: engine.name(),
            connected: engine.is_connected(),
            published: n(&counters.published),
            refused: n(&counters.refused),
            delivered: n(&counters.delivered),
            acked: n(&counters.acked),
            requeued: n(&counters.requeued),
            claimed: n(&counters.claimed),
            dead_lettered: n(&counters.dead_lettered),
            reconnects: engine.reconnects(),
            waiting: g(&counters.waiting),
            queued: g(&counters.queued),
            owed: g(&counters.owed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_short_plain_tokens() {
        assert_eq!("17-3".parse::<MessageId>().unwrap().as_str(), "17-3");
        assert_eq!(" ab-1 ".parse::<MessageId>().unwrap().as_str(), "ab-1");
        for bad in ["", "a b", "a\r\nX: y", "é", &"1".repeat(65)] {
            assert_eq!(
                bad.parse::<MessageId>(),
                Err(BrokerError::InvalidId),
                "{bad:?}"
            );
        }
    }
}
