//! Broadcast groups: a set of sockets any thread can send to at once.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::frame::{OP_BINARY, OP_TEXT};
use super::handle::WebSocket;
use crate::error::SendError;
use crate::id::ConnectionId;

/// A set of sockets that receive broadcasts. Cloneable, `Send` and `Sync`.
///
/// A broadcast serialises the frame once and queues the same bytes to every
/// live member; members that have ended are dropped from the group as they
/// are found. A send never blocks on a slow member (its queue's
/// [backpressure policy](crate::ws::WsBackpressure) applies).
///
/// ```
/// let group = tether::ws::WsGroup::new();
/// assert_eq!(group.broadcast_text("nobody here yet"), 0);
/// assert!(group.is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct WsGroup {
    members: Arc<Mutex<Vec<WebSocket>>>,
}

impl WsGroup {
    /// An empty group.
    pub fn new() -> Self {
        WsGroup::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<WebSocket>> {
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a socket (ignored if it has already ended).
    pub fn join(&self, socket: WebSocket) {
        if !socket.is_closed() {
            self.lock().push(socket);
        }
    }

    /// Removes a socket.
    pub fn leave(&self, id: ConnectionId) {
        self.lock().retain(|s| s.id() != id);
    }

    /// Live members (ended ones are dropped first).
    pub fn len(&self) -> usize {
        let mut members = self.lock();
        members.retain(|s| !s.is_closed());
        members.len()
    }

    /// True when no live member is left.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends a text message to every member; returns how many queued it.
    ///
    /// The message is encoded once and every member's queue shares those
    /// bytes, held once against the memory budget (of the first member's
    /// server) until the last member has written them. A member whose
    /// queue cannot take it (see [`WebSocket::send_text`]) misses it.
    pub fn broadcast_text(&self, text: &str) -> usize {
        self.broadcast(OP_TEXT, text.as_bytes())
    }

    /// Sends a binary message to every member; returns how many queued it.
    pub fn broadcast_binary(&self, data: &[u8]) -> usize {
        self.broadcast(OP_BINARY, data)
    }

    fn broadcast(&self, opcode: u8, payload: &[u8]) -> usize {
        // Send outside the lock: members' queues have locks of their own.
        let members: Vec<WebSocket> = self.lock().clone();
        let Some(first) = members.first() else {
            return 0;
        };
        let Ok(frame) = first.encode(opcode, payload) else {
            return 0; // over the memory budget: nobody gets it
        };
        let mut delivered = 0;
        let mut dead = Vec::new();
        for member in &members {
            match member.send_frame(frame.clone()) {
                Ok(()) => delivered += 1,
                Err(SendError::Closed(_) | SendError::Closing) => dead.push(member.id()),
                Err(SendError::Full | SendError::WouldDeadlock) => {}
            }
        }
        if !dead.is_empty() {
            self.lock().retain(|s| !dead.contains(&s.id()));
        }
        delivered
    }
}
