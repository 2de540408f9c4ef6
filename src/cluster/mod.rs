//! State that outlives one connection: feeds for SSE clients that resume
//! with `Last-Event-ID` (more to come: the long-poll broker and named
//! broadcast groups).
//!
//! Each works over an engine. This release has the in-process engine
//! only: it needs nothing else and holds within one process. A service of
//! several processes needs the shared engine (Redis) that
//! docs/cluster.md describes and the issue tracker plans; until then, keep
//! a feed's clients on one process (nginx `hash $cookie_… consistent`).
//!
//! - [`Feed`]: an ordered log of events with ids, bounded by count and
//!   bytes; [`Subscription`] reads it from a `Last-Event-ID`.

mod feed;

pub use feed::{EventId, Feed, FeedError, FeedItem, InvalidEventId, Subscription};
