//! Named broadcast groups: WebSockets and streams by group name, whose
//! members may live in any process sharing the engine.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::members::{Broadcast, Members, MAX_NAME_LEN};
use crate::handle::stream::StreamSender;
use crate::id::ConnectionId;
use crate::ws::WebSocket;

/// Why a group could not be made or reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupError {
    /// The shared engine's address does not parse.
    InvalidUrl,
    /// Not a group name: 1 to 256 bytes, no control characters.
    InvalidName,
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupError::InvalidUrl => "not a shared engine's address",
            GroupError::InvalidName => "not a group name (1 to 256 bytes, no control characters)",
        })
    }
}

impl std::error::Error for GroupError {}

/// What the groups did in this process.
///
/// ```
/// use tether::cluster::Groups;
///
/// let groups = Groups::new();
/// groups.broadcast_text("room", "nobody hears this").unwrap();
/// let stats = groups.stats();
/// assert_eq!((stats.engine, stats.broadcasts, stats.delivered), ("memory", 1, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct GroupStats {
    /// `"memory"` or `"redis"`.
    pub engine: &'static str,
    /// Whether the engine can be reached (always, in memory).
    pub connected: bool,
    /// Broadcasts made here.
    pub broadcasts: u64,
    /// Messages queued to members here (each member counts), from
    /// broadcasts made here or relayed from other processes.
    pub delivered: u64,
    /// Broadcasts relayed to the other processes.
    pub relayed_out: u64,
    /// Broadcasts from other processes delivered here.
    pub relayed_in: u64,
    /// Broadcasts delivered here only: the engine could not be reached,
    /// or the relay's bound (16 MiB waiting) was reached.
    pub relay_dropped: u64,
    /// Sessions with the shared engine begun after the first.
    pub reconnects: u64,
    /// Groups with a member here that hear other processes' broadcasts
    /// now (in memory: the groups with a member here).
    pub listening: usize,
}

/// Where broadcasts go besides this process.
#[derive(Debug)]
enum Engine {
    Memory,
    #[cfg(feature = "redis")]
    Redis(Box<super::redis::groups::Relay>),
}

/// Named broadcast groups of WebSockets and streams. Cheap to clone:
/// every clone is the same groups.
///
/// A member joins a group by name and stays until it leaves or ends:
/// members that ended drop out by themselves. A broadcast is queued to
/// every member at once (encoded once for WebSockets, see
/// [`WsGroup`](crate::ws::WsGroup)) and never blocks on a slow one: a
/// member whose queue is full misses it, as its queue's policy says. A
/// text broadcast reaches WebSockets as a text message and streams as its
/// bytes unchanged (broadcast SSE events to a group of SSE streams).
///
/// In memory ([`Groups::new`]) the groups are this process's; on Redis
/// (`Groups::redis`, feature `redis`) a broadcast reaches the group's members on every
/// process. A process delivers its own broadcasts to its own members
/// at once, without a round trip.
///
/// ```
/// use tether::cluster::Groups;
///
/// let groups = Groups::new();
/// // Nobody has joined "lobby" yet: nobody gets it.
/// assert_eq!(groups.broadcast_text("lobby", "hello").unwrap(), 0);
/// assert_eq!(groups.count("lobby"), 0);
/// ```
#[derive(Debug, Clone)]
pub struct Groups {
    members: Arc<Members>,
    engine: Arc<Engine>,
}

impl Default for Groups {
    fn default() -> Self {
        Groups::new()
    }
}

/// A name fit for a channel and a log line.
fn check(group: &str) -> Result<(), GroupError> {
    let fits = !group.is_empty() && group.len() <= MAX_NAME_LEN;
    match fits && !group.chars().any(char::is_control) {
        true => Ok(()),
        false => Err(GroupError::InvalidName),
    }
}

impl Groups {
    /// Groups in this process.
    pub fn new() -> Groups {
        Groups {
            members: Arc::default(),
            engine: Arc::new(Engine::Memory),
        }
    }

    /// Groups shared by every process using the Redis (or Valkey) at
    /// `url`, through PUB/SUB: each process listens to a group's channel
    /// while it has a member of it. PUB/SUB keeps nothing: a process cut
    /// off from Redis misses what others broadcast meanwhile (its own
    /// members still get its own broadcasts), and one that just got its
    /// first member of a group hears the others' broadcasts within
    /// 100 ms. Never fails for Redis being down: a thread of the groups'
    /// own reconnects with back-off.
    ///
    /// # Blocking
    ///
    /// Connects to Redis before it returns: blocks for at most the connect
    /// timeout.
    #[cfg(feature = "redis")]
    pub fn redis(url: &str) -> Result<Groups, GroupError> {
        let members = Arc::new(Members::default());
        let relay = super::redis::groups::Relay::start(url, Arc::clone(&members))
            .map_err(|_| GroupError::InvalidUrl)?;
        Ok(Groups {
            members,
            engine: Arc::new(Engine::Redis(Box::new(relay))),
        })
    }

    /// Adds a WebSocket to `group` (ignored if it has ended).
    pub fn join(&self, group: &str, socket: WebSocket) -> Result<(), GroupError> {
        check(group)?;
        self.members.join_socket(group, socket);
        Ok(())
    }

    /// Adds a stream to `group` (ignored if it has ended): each broadcast
    /// is sent to it as one part, its bytes unchanged.
    pub fn join_stream(&self, group: &str, stream: StreamSender) -> Result<(), GroupError> {
        check(group)?;
        self.members.join_stream(group, stream);
        Ok(())
    }

    /// Removes a member from `group`.
    pub fn leave(&self, group: &str, id: ConnectionId) {
        self.members.leave(group, id);
    }

    /// Live members of `group` in this process.
    pub fn count(&self, group: &str) -> usize {
        self.members.count(group)
    }

    /// Sends a text message to every member of `group`; how many members
    /// in this process queued it (on Redis it also goes to the others).
    pub fn broadcast_text(&self, group: &str, text: &str) -> Result<usize, GroupError> {
        let data = Bytes::copy_from_slice(text.as_bytes());
        self.broadcast(group, Broadcast { text: true, data })
    }

    /// Sends a binary message (or stream part) to every member of `group`.
    pub fn broadcast_binary(&self, group: &str, data: &[u8]) -> Result<usize, GroupError> {
        let data = Bytes::copy_from_slice(data);
        self.broadcast(group, Broadcast { text: false, data })
    }

    fn broadcast(&self, group: &str, message: Broadcast) -> Result<usize, GroupError> {
        check(group)?;
        let counters = &self.members.counters;
        counters.broadcasts.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "redis")]
        if let Engine::Redis(relay) = &*self.engine {
            if !relay.relay(group, message.clone()) {
                counters.relay_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(self.members.deliver(group, &message))
    }

    /// What the groups did in this process.
    pub fn stats(&self) -> GroupStats {
        let c = &self.members.counters;
        let n = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
        let (engine, connected, reconnects, listening) = match &*self.engine {
            Engine::Memory => ("memory", true, 0, self.members.names().len()),
            #[cfg(feature = "redis")]
            Engine::Redis(relay) => (
                "redis",
                relay.is_connected(),
                relay.reconnects(),
                c.listening.load(Ordering::Relaxed),
            ),
        };
        GroupStats {
            engine,
            connected,
            broadcasts: n(&c.broadcasts),
            delivered: n(&c.delivered),
            relayed_out: n(&c.relayed_out),
            relayed_in: n(&c.relayed_in),
            relay_dropped: n(&c.relay_dropped),
            reconnects,
            listening,
        }
    }
}
