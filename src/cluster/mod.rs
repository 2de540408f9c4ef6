//! State that outlives one connection: a work queue for long polls, feeds
//! for SSE clients that resume with `Last-Event-ID`, and named broadcast
//! groups.
//!
//! Each works over an engine: in this process (no other dependency), or
//! (feature `redis`) shared by every process through Redis; see
//! docs/cluster.md for what holds across processes and what a client sees
//! when Redis fails.
//!
//! - [`Broker`]: each published message to exactly one waiting long poll;
//!   with an acknowledgement timeout, nothing lost past the kernel.
//! - [`Feed`]: an ordered log of events with ids, bounded by count and
//!   bytes; [`Subscription`] reads it from a `Last-Event-ID`.
//! - [`Groups`]: WebSockets and streams by group name, whose members may
//!   live in any process.

mod broker;
mod feed;
mod groups;
mod line;
mod log;
mod members;
mod memory;
mod message;
#[cfg(feature = "redis")]
mod redis;

pub use broker::{Broker, BrokerOptions};
pub use feed::{Feed, FeedItem, Subscription};
pub use groups::{GroupError, GroupStats, Groups};
pub use log::{EventId, FeedError, FeedStats, InvalidEventId};
pub use message::{BrokerError, BrokerStats, MessageId};
