//! What every handle of one reactor shares: the reactor's inbox, the
//! server's counters, and what workers read of the server (the stream
//! budget, the shutdown signal). The reactor hands each new exchange,
//! stream, body reader and WebSocket an `Arc` of its own.

use crate::channel::notifier::Notifier;
use crate::handle::shutdown::ShutdownSignal;
use crate::stats::StatsHandle;

/// What a reactor's handles share.
#[derive(Debug)]
pub(crate) struct Context {
    /// The reactor's inbox: commands and its wake-up.
    pub reactor: Notifier,
    pub stats: StatsHandle,
    /// `Config::stream_budget_bytes`, for streams made on worker threads.
    pub stream_budget_bytes: usize,
    /// The server's shutdown signal, for exchanges to read.
    pub shutdown: ShutdownSignal,
}

#[cfg(test)]
impl Context {
    /// For unit tests: a reactor nobody runs, whose commands the test may
    /// read from the receiver.
    pub fn detached(
        stats: crate::stats::StatsHandle,
        stream_budget_bytes: usize,
    ) -> (
        std::sync::Arc<Context>,
        crate::channel::queue::Receiver<crate::channel::notifier::Command>,
    ) {
        let (tx, rx) = crate::channel::queue::channel(None);
        let waker = Box::<crate::channel::notifier::CountWakes>::default();
        let context = Context {
            reactor: Notifier::new(tx, waker),
            stats,
            stream_budget_bytes,
            shutdown: ShutdownSignal::default(),
        };
        (std::sync::Arc::new(context), rx)
    }
}
