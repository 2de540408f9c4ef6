//! The members of named broadcast groups that live in this process:
//! WebSockets and streams, by group name. A group exists here while it has
//! a live member; members that ended drop out as they are found. Beneath
//! the groups (`groups.rs`) and the relay between processes
//! (`redis/groups.rs`), which both deliver here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use crate::error::SendError;
use crate::handle::stream::StreamSender;
use crate::id::ConnectionId;
use crate::ws::{WebSocket, WsGroup};

/// The longest group name: it is a Redis channel's name on a shared engine.
pub(super) const MAX_NAME_LEN: usize = 256;

/// One group's members here.
#[derive(Debug, Default)]
struct Local {
    sockets: WsGroup,
    streams: Vec<StreamSender>,
}

impl Local {
    fn is_empty(&mut self) -> bool {
        self.streams.retain(|s| !s.is_closed());
        self.sockets.is_empty() && self.streams.is_empty()
    }
}

/// A message for a group, as it travels.
#[derive(Debug, Clone)]
pub(super) struct Broadcast {
    /// A text message (UTF-8), or binary.
    pub(super) text: bool,
    pub(super) data: Bytes,
}

/// What the groups did in this process.
#[derive(Debug, Default)]
pub(super) struct GroupCounters {
    pub(super) broadcasts: AtomicU64,
    pub(super) delivered: AtomicU64,
    pub(super) relayed_out: AtomicU64,
    pub(super) relayed_in: AtomicU64,
    pub(super) relay_dropped: AtomicU64,
    /// Groups whose channel the relay listens to now.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(super) listening: AtomicUsize,
}

/// Every group with a member here.
#[derive(Debug, Default)]
pub(super) struct Members {
    groups: Mutex<HashMap<String, Local>>,
    pub(super) counters: GroupCounters,
}

impl Members {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Local>> {
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn join_socket(&self, group: &str, socket: WebSocket) {
        if !socket.is_closed() {
            let mut groups = self.lock();
            groups
                .entry(group.to_owned())
                .or_default()
                .sockets
                .join(socket);
        }
    }

    pub(super) fn join_stream(&self, group: &str, stream: StreamSender) {
        if !stream.is_closed() {
            let mut groups = self.lock();
            groups
                .entry(group.to_owned())
                .or_default()
                .streams
                .push(stream);
        }
    }

    pub(super) fn leave(&self, group: &str, id: ConnectionId) {
        let mut groups = self.lock();
        if let Some(local) = groups.get_mut(group) {
            local.sockets.leave(id);
            local.streams.retain(|s| s.id() != id);
            if local.is_empty() {
                groups.remove(group);
            }
        }
    }

    /// Live members of `group` here.
    pub(super) fn count(&self, group: &str) -> usize {
        let mut groups = self.lock();
        groups.get_mut(group).map_or(0, |local| {
            local.streams.retain(|s| !s.is_closed());
            local.sockets.len() + local.streams.len()
        })
    }

    /// The groups with a live member here (dropping the others): the
    /// channels a shared engine should listen to for this process.
    pub(super) fn names(&self) -> Vec<String> {
        let mut groups = self.lock();
        groups.retain(|_, local| !local.is_empty());
        groups.keys().cloned().collect()
    }

    /// Sends `message` to every member of `group` here; how many queued
    /// it. Never blocks: a member whose queue is full misses it (its
    /// queue's policy applies), one that ended drops out.
    pub(super) fn deliver(&self, group: &str, message: &Broadcast) -> usize {
        let (sockets, mut streams) = {
            let mut groups = self.lock();
            let Some(local) = groups.get_mut(group) else {
                return 0;
            };
            (local.sockets.clone(), std::mem::take(&mut local.streams))
        };
        // Send outside the lock: members' queues have locks of their own.
        let mut delivered = match message.text {
            true => match std::str::from_utf8(&message.data) {
                Ok(text) => sockets.broadcast_text(text),
                Err(_) => 0,
            },
            false => sockets.broadcast_binary(&message.data),
        };
        streams.retain_mut(|stream| match stream.try_send(message.data.clone()) {
            Ok(()) => {
                delivered += 1;
                true
            }
            Err(SendError::Closed(_) | SendError::Closing) => false,
            Err(SendError::Full | SendError::WouldDeadlock) => true,
        });
        // Put the streams back, with any that joined meanwhile.
        let mut groups = self.lock();
        let local = groups.entry(group.to_owned()).or_default();
        streams.append(&mut local.streams);
        local.streams = streams;
        if local.is_empty() {
            groups.remove(group);
        }
        drop(groups);
        self.counters
            .delivered
            .fetch_add(delivered as u64, Ordering::Relaxed);
        delivered
    }
}
