//! The channels between threads, beneath the handles: the bounded queue
//! whose consumers park without spinning, the named hand-off queues and
//! WebSocket event streams built on it, and the reactor's inbox (commands
//! and a coalesced wake-up of its poll). No worker holds these directly;
//! the handles do.
//!
//! - [`queue`]: the queue.
//! - [`outlets`]: the named queues.
//! - [`notifier`]: the reactor's inbox.

pub(crate) mod notifier;
pub(crate) mod outlets;
pub(crate) mod queue;
