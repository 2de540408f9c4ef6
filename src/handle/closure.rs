//! How a handle learns that its connection ended: a reason, set once, and
//! callbacks to run when it is.
//!
//! Embedded in every handle's [`Cell`](super::cell::Cell), so exchanges,
//! streams and WebSockets answer `is_closed`, `wait_closed` and `on_close`
//! the same way.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::reason::CloseReason;
use crate::stats::Counters;

/// A callback run once when the connection ends.
pub(crate) type Watcher = Box<dyn FnOnce(CloseReason) + Send>;

/// The close reason and who wants to hear about it.
#[derive(Default)]
pub(crate) struct Closure {
    reason: Option<CloseReason>,
    watchers: Vec<Watcher>,
}

impl Closure {
    pub fn reason(&self) -> Option<CloseReason> {
        self.reason
    }

    /// Records the reason (the first one sticks) and returns the watchers,
    /// to be run once the caller has let go of its lock.
    #[must_use]
    pub fn close(&mut self, reason: CloseReason) -> Vec<Watcher> {
        if self.reason.is_none() {
            self.reason = Some(reason);
        }
        std::mem::take(&mut self.watchers)
    }

    /// Adds a watcher; if the connection already ended, hands it back with the
    /// reason so the caller runs it now (outside its lock).
    #[must_use]
    pub fn watch(&mut self, watcher: Watcher) -> Option<(Watcher, CloseReason)> {
        match self.reason {
            Some(reason) => Some((watcher, reason)),
            None => {
                self.watchers.push(watcher);
                None
            }
        }
    }
}

/// Runs watchers with the final reason. They are application code, usually
/// on the reactor thread: a panic is contained and counted
/// (`callback_panics`), and the watchers after it still run.
pub(crate) fn run_watchers(watchers: Vec<Watcher>, reason: CloseReason, stats: &Counters) {
    for watcher in watchers {
        if catch_unwind(AssertUnwindSafe(|| watcher(reason))).is_err() {
            Counters::incr(&stats.callback_panics);
            log::warn!("an on_close callback panicked ({reason}); contained");
        }
    }
}

impl fmt::Debug for Closure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Closure")
            .field("reason", &self.reason)
            .field("watchers", &self.watchers.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn watchers_run_once_with_the_first_reason() {
        let (tx, rx) = mpsc::channel();
        let mut closure = Closure::default();
        let tx2 = tx.clone();
        assert!(closure
            .watch(Box::new(move |r| tx2.send(r).unwrap()))
            .is_none());
        let watchers = closure.close(CloseReason::PeerReset);
        assert!(closure.close(CloseReason::Shutdown).is_empty());
        run_watchers(watchers, closure.reason().unwrap(), &Counters::default());
        assert_eq!(rx.try_recv(), Ok(CloseReason::PeerReset));
        // A late watcher is handed back to run at once.
        let (late, reason) = closure
            .watch(Box::new(move |r| tx.send(r).unwrap()))
            .unwrap();
        late(reason);
        assert_eq!(rx.try_recv(), Ok(CloseReason::PeerReset));
    }
}
