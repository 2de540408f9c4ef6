//! The small flag set a connection carries beside its phase.

use std::fmt;

/// Bits that can hold in any [`Phase`](super::state::Phase).
///
/// Neither `response_pending` nor `draining` is here: the first is the phase
/// `Phase::ResponsePending`, the second the connection's `drain` field, so
/// no bit can disagree with them.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Flags(u16);

impl Flags {
    /// The client sent FIN and the half-close policy is `Finish`: answer what
    /// was received, then close.
    pub const READ_CLOSED: Flags = Flags(1 << 1);
    /// The socket may hold unread bytes (edge-triggered readiness not yet
    /// consumed, because a buffer was full or the read budget ran out).
    pub const READ_READY: Flags = Flags(1 << 2);
    /// The socket can take more bytes (no `WouldBlock` since the last
    /// writable event).
    pub const WRITABLE: Flags = Flags(1 << 3);
    /// The connection is in the reactor's ready queue for another turn.
    pub const QUEUED: Flags = Flags(1 << 4);
    /// The socket is registered for writable readiness too (added the first
    /// time a write would block; most connections never need it).
    pub const WRITE_INTEREST: Flags = Flags(1 << 7);
    /// A write would block and the socket is not registered for writable
    /// readiness yet: the reactor registers it once this step is over
    /// ([`Connection::take_write_interest`](super::state::Connection::take_write_interest)),
    /// so the connection needs no registry.
    pub const WRITE_INTEREST_DUE: Flags = Flags(1 << 8);
    /// The last readiness event hinted that the peer closed (EPOLLRDHUP):
    /// read until zero bytes rather than stop at a short read.
    pub const HUP_HINT: Flags = Flags(1 << 6);
    /// Reading ahead past the floor was refused for lack of memory budget:
    /// the next read waits until this connection has parsed some input.
    pub const READ_AHEAD_HELD: Flags = Flags(1 << 0);
    /// `TCP_NOTSENT_LOWAT` is set on the socket: set once a connection
    /// carries bulk output, so small exchanges never pay for it.
    pub const UNSENT_LIMITED: Flags = Flags(1 << 5);

    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn insert(&mut self, other: Flags) {
        self.0 |= other.0;
    }

    pub fn remove(&mut self, other: Flags) {
        self.0 &= !other.0;
    }

    pub fn set(&mut self, other: Flags, on: bool) {
        if on {
            self.insert(other)
        } else {
            self.remove(other)
        }
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;

    fn bitor(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Flags::READ_CLOSED, "read_closed"),
            (Flags::READ_READY, "read_ready"),
            (Flags::WRITABLE, "writable"),
            (Flags::QUEUED, "queued"),
            (Flags::HUP_HINT, "hup_hint"),
            (Flags::WRITE_INTEREST, "write_interest"),
            (Flags::WRITE_INTEREST_DUE, "write_interest_due"),
            (Flags::READ_AHEAD_HELD, "read_ahead_held"),
            (Flags::UNSENT_LIMITED, "unsent_limited"),
        ];
        let mut set = f.debug_set();
        for (flag, name) in names {
            if self.contains(flag) {
                set.entry(&format_args!("{name}"));
            }
        }
        set.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_contains() {
        let mut flags = Flags::default();
        assert!(!flags.contains(Flags::READ_CLOSED));
        flags.insert(Flags::READ_CLOSED);
        flags.insert(Flags::WRITABLE);
        assert!(flags.contains(Flags::READ_CLOSED) && flags.contains(Flags::WRITABLE));
        flags.remove(Flags::READ_CLOSED);
        assert!(!flags.contains(Flags::READ_CLOSED) && flags.contains(Flags::WRITABLE));
        flags.set(Flags::QUEUED, true);
        assert_eq!(format!("{flags:?}"), "{writable, queued}");
    }
}
