//! Open connections by what they are doing now: the figures a dashboard
//! shows beside `active`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What an open connection is doing, as [`Stats::connections`] counts it.
/// Every open connection is in exactly one.
///
/// [`Stats::connections`]: super::Stats::connections
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Idle between requests, or reading a request's head or body.
    Reading,
    /// `response_pending`: a worker holds its exchange, even if the
    /// connection will close after the response. Its stable name in
    /// `/stats` and `/metrics` is `awaiting_worker`.
    ResponsePending,
    /// Writing a streaming response.
    Streaming,
    /// An upgraded WebSocket.
    WebSocket,
    /// `draining`: no more requests; flushing what is owed, or lingering for
    /// the client's close.
    Draining,
}

impl ConnectionState {
    pub(crate) const COUNT: usize = 5;

    /// Every state, in the order of [`ByState::iter`].
    pub const ALL: [ConnectionState; Self::COUNT] = [
        ConnectionState::Reading,
        ConnectionState::ResponsePending,
        ConnectionState::Streaming,
        ConnectionState::WebSocket,
        ConnectionState::Draining,
    ];

    /// The stable name, as in `/stats` and the Prometheus label.
    ///
    /// ```
    /// assert_eq!(tether::stats::ConnectionState::ResponsePending.as_str(), "awaiting_worker");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Reading => "reading",
            ConnectionState::ResponsePending => "awaiting_worker",
            ConnectionState::Streaming => "streaming",
            ConnectionState::WebSocket => "websocket",
            ConnectionState::Draining => "draining",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The live gauges, one per state. The reactor moves a connection between
/// them after each thing it does (see `Connection::sync_state`).
#[derive(Debug, Default)]
pub(crate) struct StateGauges([AtomicU64; ConnectionState::COUNT]);

impl StateGauges {
    /// A connection went from `from` to `to` (`None`: not counted, i.e.
    /// new or closed).
    pub fn shift(&self, from: Option<ConnectionState>, to: Option<ConnectionState>) {
        if from == to {
            return;
        }
        if let Some(from) = from {
            self.0[from.index()].fetch_sub(1, Relaxed);
        }
        if let Some(to) = to {
            self.0[to.index()].fetch_add(1, Relaxed);
        }
    }

    pub fn read(&self) -> ByState {
        ByState(std::array::from_fn(|i| self.0[i].load(Relaxed)))
    }
}

/// Open connections per [`ConnectionState`] in a [`Stats`](super::Stats)
/// reading. They add up to `active` (each is exact; the set is read one
/// counter at a time).
///
/// ```
/// use tether::stats::{ConnectionState, Stats};
/// let stats = Stats::default();
/// assert_eq!(stats.connections.get(ConnectionState::WebSocket), 0);
/// assert!(stats.to_json().contains("\"connections\":{\"reading\":0,"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ByState(pub(super) [u64; ConnectionState::COUNT]);

impl ByState {
    /// Connections in `state` now.
    pub fn get(&self, state: ConnectionState) -> u64 {
        self.0[state.index()]
    }

    /// Every state with its count, in [`ConnectionState::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (ConnectionState, u64)> + '_ {
        ConnectionState::ALL
            .iter()
            .copied()
            .zip(self.0.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_order_with_distinct_names() {
        for (i, state) in ConnectionState::ALL.iter().enumerate() {
            assert_eq!(state.index(), i);
        }
        let mut names: Vec<_> = ConnectionState::ALL.iter().map(|s| s.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ConnectionState::COUNT);
    }

    #[test]
    fn a_shift_moves_one_connection() {
        let gauges = StateGauges::default();
        gauges.shift(None, Some(ConnectionState::Reading));
        gauges.shift(
            Some(ConnectionState::Reading),
            Some(ConnectionState::Streaming),
        );
        gauges.shift(
            Some(ConnectionState::Streaming),
            Some(ConnectionState::Streaming),
        );
        let reading = gauges.read();
        assert_eq!(reading.get(ConnectionState::Reading), 0);
        assert_eq!(reading.get(ConnectionState::Streaming), 1);
        gauges.shift(Some(ConnectionState::Streaming), None);
        assert_eq!(gauges.read(), ByState::default());
    }
}
