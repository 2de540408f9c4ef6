//! State that outlives one connection: feeds for SSE clients that resume
//! with `Last-Event-ID` (more to come: the long-poll broker and named
//! broadcast groups).
//!
//! Each works over an engine: in this process (no other dependency), or
//! (feature `redis`) shared by every process through Redis; see
//! docs/cluster.md for what holds across processes and what a client sees
//! when Redis fails.
//!
//! - [`Feed`]: an ordered log of events with ids, bounded by count and
//!   bytes; [`Subscription`] reads it from a `Last-Event-ID`.

mod feed;
mod log;
#[cfg(feature = "redis")]
mod redis;

pub use feed::{Feed, FeedItem, Subscription};
pub use log::{EventId, FeedError, FeedStats, InvalidEventId};
