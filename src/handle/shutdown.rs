//! The server's shutdown signal: application threads watch it to wind down
//! (answer parked long polls, stop producers) as soon as shutdown begins,
//! rather than be cut off when `shutdown_timeout` runs out.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Says whether the server has begun shutting down, and wakes those who
/// wait for it. Cheap to clone; get one from
/// [`Server::shutdown_signal`](crate::Server::shutdown_signal) or ask an
/// exchange ([`Exchange::is_shutting_down`](crate::Exchange::is_shutting_down)).
///
/// ```
/// use std::time::Duration;
///
/// let server = tether::Server::builder().bind("127.0.0.1:0").unwrap();
/// let signal = server.shutdown_signal();
/// let watcher = std::thread::spawn(move || signal.wait(Duration::from_secs(10)));
/// server.shutdown();
/// assert!(watcher.join().unwrap(), "woken when shutdown began");
/// ```
#[derive(Debug, Clone, Default)]
pub struct ShutdownSignal(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    begun: Mutex<bool>,
    changed: Condvar,
}

impl ShutdownSignal {
    /// True once shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        *self.0.begun.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Blocks until shutdown begins or `timeout` passes; true when it began.
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread up to `timeout`.
    pub fn wait(&self, timeout: Duration) -> bool {
        let until = crate::time::deadline(Instant::now(), timeout);
        let mut begun = self.0.begun.lock().unwrap_or_else(PoisonError::into_inner);
        while !*begun {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            begun = self
                .0
                .changed
                .wait_timeout(begun, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// Shutdown begins: wakes every waiter. Idempotent.
    pub(crate) fn begin(&self) {
        *self.0.begun.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.0.changed.notify_all();
    }
}
