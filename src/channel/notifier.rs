//! The reactor's inbox: commands from worker-side handles, and a coalesced
//! wake-up of the reactor's poll.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ThreadId;

use super::queue::Sender;

use crate::id::ConnectionId;

/// Messages to the reactor.
#[derive(Debug)]
pub(crate) enum Command {
    /// The connection's exchange or stream has news (a response, a drop, a
    /// stream hand-over, parts to send).
    Update(ConnectionId),
    /// Begin a graceful shutdown.
    Shutdown,
    /// Makes the reactor panic, to test what survives it.
    #[cfg(test)]
    Panic,
}

/// What wakes the reactor's poll: its `mio::Waker`. A trait so that the
/// connection's unit tests run with no poll at all.
pub(crate) trait Wake: Send + Sync + std::fmt::Debug {
    fn wake(&self) -> std::io::Result<()>;
}

impl Wake for mio::Waker {
    fn wake(&self) -> std::io::Result<()> {
        mio::Waker::wake(self)
    }
}

/// For unit tests: a reactor nobody runs, whose wakes are counted.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct CountWakes(pub std::sync::atomic::AtomicUsize);

#[cfg(test)]
impl Wake for CountWakes {
    fn wake(&self) -> std::io::Result<()> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Sends commands to the reactor and wakes it, coalescing wake-ups: a burst of
/// replies costs one `eventfd` write and one wake.
#[derive(Debug)]
pub(crate) struct Notifier {
    tx: Sender<Command>,
    waker: Box<dyn Wake>,
    wake_pending: AtomicBool,
    pub reactor_thread: std::sync::OnceLock<ThreadId>,
    /// The reactor has stopped (after settling every connection it held).
    stopped: AtomicBool,
}

impl Notifier {
    pub fn new(tx: Sender<Command>, waker: Box<dyn Wake>) -> Self {
        Notifier {
            tx,
            waker,
            wake_pending: AtomicBool::new(false),
            reactor_thread: std::sync::OnceLock::new(),
            stopped: AtomicBool::new(false),
        }
    }

    /// Queues a command; false when the reactor has stopped.
    pub fn send(&self, command: Command) -> bool {
        if self.is_stopped() || self.tx.send(command).is_err() {
            return false;
        }
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            if let Err(err) = self.waker.wake() {
                log::error!("reactor wake failed: {err}");
            }
        }
        true
    }

    /// Called by the reactor before it drains the queue, so that a command sent
    /// after the drain starts wakes it again.
    pub fn clear_wake(&self) {
        self.wake_pending.store(false, Ordering::Release);
    }

    /// Called by the reactor once it has settled every connection, on any
    /// way out (shutdown, poll failure, a panic).
    pub fn mark_stopped(&self) {
        self.stopped.store(true, Ordering::Release);
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// True on the reactor's own thread, where blocking would deadlock.
    pub fn on_reactor_thread(&self) -> bool {
        self.reactor_thread.get() == Some(&std::thread::current().id())
    }
}
