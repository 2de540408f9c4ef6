//! A connection's public identity: slab key + generation.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// A connection's identity: its slab key and a generation unique to it.
///
/// ```
/// let id = tether::ConnectionId::default();
/// assert_eq!(id.to_string(), "c0.0");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ConnectionId {
    pub(crate) key: usize,
    pub(crate) generation: u64,
}

impl ConnectionId {
    pub(crate) fn new(key: usize, generation: u64) -> Self {
        ConnectionId { key, generation }
    }

    /// The slab slot. Reused once the connection ends.
    pub fn key(self) -> usize {
        self.key
    }

    /// Unique in the process: tells slot reuses apart, and connections of
    /// different reactors or servers (a group or broker shared by two
    /// servers tells their members apart by it).
    pub fn generation(self) -> u64 {
        self.generation
    }
}

/// The next generation: one counter for the process, so no two
/// connections of any reactor of any server share an id.
pub(crate) fn fresh_generation() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}.{}", self.key, self.generation)
    }
}
