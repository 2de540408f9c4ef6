//! A connection's public identity: slab key + generation.

use std::fmt;

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

    /// Unique for the life of a reactor; tells slot reuses apart.
    pub fn generation(self) -> u64 {
        self.generation
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}.{}", self.key, self.generation)
    }
}
