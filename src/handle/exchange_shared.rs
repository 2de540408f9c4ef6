//! The exchange cell: what ties a worker's exchange to a connection the
//! reactor owns.
//!
//! A worker never touches a socket. It holds a [`ConnectionId`] (slab key +
//! generation) and an `Arc<ExchangeShared>`: a small cell, shared with the reactor, that
//! carries the response one way and the close reason the other. The reactor
//! finds the connection by key and refuses it unless the generation matches, so
//! a handle to an ended connection can never reach a newer one in the same slot.
//!
//! # Implementation notes
//!
//! Handing a response over and closing the connection both happen under the
//! link's mutex. Either the worker sees the close first and keeps its
//! response, or the reactor finds the response in the link when it closes and
//! hands it back: no interleaving loses it.

use std::fmt;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use super::cell::{Cell, Wait};
use super::closure::Watcher;
use super::context::Context;
use super::stream::StreamShared;
use crate::id::ConnectionId;
use crate::proto::response::Response;
use crate::reason::CloseReason;
use crate::stats::{Counters, StatsHandle};

/// A response that could not be delivered, handed back with the reason.
///
/// Nothing is dropped silently: a long-poll worker that gets this back can put
/// its event back on the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undelivered {
    /// The response, as it was given to [`Exchange::respond`](crate::Exchange::respond).
    pub response: Response,
    /// Why the connection could not take it.
    pub reason: CloseReason,
}

impl fmt::Display for Undelivered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "response {} undelivered: connection ended ({})",
            self.response.status(),
            self.reason
        )
    }
}

impl std::error::Error for Undelivered {}

/// What the worker has done with the exchange, as the reactor sees it.
#[derive(Debug)]
pub(crate) enum Reply {
    /// Nothing yet.
    Waiting,
    /// A response is ready for the reactor to take.
    Ready(Response),
    /// The worker turned the exchange into a stream with this head.
    Stream {
        head: Response,
        stream: Arc<StreamShared>,
        close_delimited: bool,
    },
    /// The reactor took the response (or the link closed first).
    Taken,
    /// The exchange was dropped unanswered.
    Dropped,
}

/// A callback given the verdict on a response (`Delivery::on_outcome`).
pub(crate) type OutcomeCallback = Box<dyn FnOnce(Result<(), Undelivered>) + Send>;

/// A verdict for a callback, to run once the link's lock is released.
pub(crate) type DueCallback = Option<(OutcomeCallback, Result<(), Undelivered>)>;

struct LinkState {
    reply: Reply,
    /// The final word on a response the worker handed over.
    outcome: Option<Result<(), Undelivered>>,
    /// Nobody will take the outcome (`respond_detached`, a dropped
    /// `Delivery`): it is counted, logged and dropped here.
    detached: bool,
    /// Who wants the outcome instead of waiting for it.
    on_outcome: Option<OutcomeCallback>,
    /// A response deadline the worker asked for, not yet seen by the reactor.
    requested_deadline: Option<Instant>,
}

impl LinkState {
    fn new() -> Self {
        LinkState {
            reply: Reply::Waiting,
            outcome: None,
            detached: false,
            on_outcome: None,
            requested_deadline: None,
        }
    }

    /// Records the outcome of an offered response: counted if undelivered,
    /// then kept for a waiter, handed to the callback (returned, to run
    /// outside the lock), or dropped when nobody wants it.
    #[must_use]
    fn conclude(&mut self, outcome: Result<(), Undelivered>, stats: &StatsHandle) -> DueCallback {
        if let Err(undelivered) = &outcome {
            Counters::incr(&stats.0.undelivered);
            if self.detached {
                log::debug!("detached response dropped: {undelivered}");
            }
        }
        if self.detached {
            return None;
        }
        match self.on_outcome.take() {
            Some(callback) => Some((callback, outcome)),
            None => {
                self.outcome = Some(outcome);
                None
            }
        }
    }
}

impl fmt::Debug for LinkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkState")
            .field("reply", &self.reply)
            .field("outcome", &self.outcome)
            .field("detached", &self.detached)
            .field("on_outcome", &self.on_outcome.is_some())
            .finish()
    }
}

/// Runs a verdict callback: application code, on the reactor thread or
/// the worker's, so a panic is contained and counted (`callback_panics`).
pub(crate) fn run_due(due: DueCallback, stats: &StatsHandle) {
    let Some((callback, outcome)) = due else {
        return;
    };
    let call = std::panic::AssertUnwindSafe(|| callback(outcome));
    if std::panic::catch_unwind(call).is_err() {
        Counters::incr(&stats.0.callback_panics);
        log::warn!("an on_outcome callback panicked; contained");
    }
}

/// The cell shared by one exchange and its connection.
#[derive(Debug)]
pub(crate) struct ExchangeShared {
    cell: Cell<LinkState>,
}

impl ExchangeShared {
    pub fn new(stats: StatsHandle) -> Self {
        ExchangeShared {
            cell: Cell::new(LinkState::new(), stats),
        }
    }

    /// Makes a link nobody else holds as new, for the next exchange.
    pub fn reset(&mut self) {
        let unheard = self.cell.lock().state.on_outcome.is_some();
        debug_assert!(!unheard, "a verdict never came");
        self.cell.reset(LinkState::new());
    }

    // ---- worker side ----

    /// Hands a reply (a response or a stream) over, unless the connection
    /// already ended: then it comes back with the reason. A `detached`
    /// offer's outcome is not kept for a waiter.
    pub fn offer(&self, reply: Reply, detached: bool) -> Result<(), (Reply, CloseReason)> {
        let mut guard = self.cell.lock();
        if let Some(reason) = guard.reason() {
            return Err((reply, reason));
        }
        guard.state.reply = reply;
        guard.state.detached = detached;
        Ok(())
    }

    /// Waits for the reactor's verdict on an offered response, as `wait`
    /// allows (taken: it is given once). The reactor gives one on every way
    /// out; the one wait loop's backstop covers a reactor that is gone.
    /// `None` if it did not come in time, or on the reactor's own thread.
    pub fn wait_outcome(&self, wait: Wait, context: &Context) -> Option<Result<(), Undelivered>> {
        let stopped = || self.close(CloseReason::Shutdown);
        let (guard, outcome) = self
            .cell
            .wait_for(wait, context, &stopped, |inner| inner.state.outcome.take());
        if let Some(Err(_)) = &outcome {
            self.cell.observe_departure(&guard);
        }
        drop(guard);
        outcome
    }

    /// [`wait_outcome`](Self::wait_outcome) for a task.
    pub fn poll_outcome(&self, waker: &Waker, context: &Context) -> Poll<Result<(), Undelivered>> {
        let stopped = || self.close(CloseReason::Shutdown);
        let (guard, outcome) = self
            .cell
            .poll_for(waker, context, &stopped, |inner| inner.state.outcome.take());
        if let Poll::Ready(Err(_)) = &outcome {
            self.cell.observe_departure(&guard);
        }
        drop(guard);
        outcome
    }

    /// Nobody will take the outcome: drop it when it comes (counted if
    /// undelivered; already counted if it came).
    pub fn detach(&self) {
        let mut guard = self.cell.lock();
        guard.state.detached = true;
        guard.state.outcome = None;
    }

    /// Hands the outcome to `callback` when it comes, or at once (on this
    /// thread) if it has.
    pub fn on_outcome(&self, callback: OutcomeCallback) {
        let due = {
            let mut guard = self.cell.lock();
            match guard.state.outcome.take() {
                Some(outcome) => Some((callback, outcome)),
                None => {
                    guard.state.on_outcome = Some(callback);
                    None
                }
            }
        };
        run_due(due, self.cell.stats());
    }

    /// The worker wants its response due at `at`. False when the
    /// connection has already ended (there is nothing to tell the reactor).
    pub fn request_deadline(&self, at: Instant) -> bool {
        let mut guard = self.cell.lock();
        if guard.reason().is_some() {
            return false;
        }
        guard.state.requested_deadline = Some(at);
        true
    }

    /// The deadline the worker asked for since the last call, if any.
    pub fn take_requested_deadline(&self) -> Option<Instant> {
        let mut guard = self.cell.lock();
        guard.clear_wake();
        guard.state.requested_deadline.take()
    }

    /// Marks an unanswered exchange dropped. True when the reactor should be
    /// told (the connection still waits for a reply).
    pub fn mark_dropped(&self) -> bool {
        let mut guard = self.cell.lock();
        if guard.reason().is_some() || !matches!(guard.state.reply, Reply::Waiting) {
            return false;
        }
        guard.state.reply = Reply::Dropped;
        true
    }

    /// Tells the reactor this exchange has news (see [`Cell::wake_reactor`]).
    /// False when the reactor has stopped.
    pub fn wake_reactor(&self, context: &Context, id: ConnectionId) -> bool {
        self.cell.wake_reactor(self.cell.lock(), context, id)
    }

    pub fn is_closed(&self) -> bool {
        self.cell.is_closed()
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        self.cell.close_reason()
    }

    /// Runs `watcher` when the connection ends (at once if it has).
    pub fn on_close(&self, watcher: Watcher) {
        self.cell.on_close(watcher);
    }

    /// Blocks until the connection ends or `timeout` passes.
    pub fn wait_closed(&self, timeout: Duration, context: &Context) -> Option<CloseReason> {
        let stopped = || self.close(CloseReason::Shutdown);
        self.cell.wait_closed(timeout, context, &stopped)
    }

    /// The connection's end, for a task (`waited`: see [`Cell::poll_closed`]).
    pub fn poll_closed(
        &self,
        waker: &Waker,
        waited: &mut bool,
        context: &Context,
    ) -> Poll<CloseReason> {
        let stopped = || self.close(CloseReason::Shutdown);
        self.cell.poll_closed(waker, waited, context, &stopped)
    }

    // ---- reactor side ----

    /// Takes what the worker left: a response, or the news it dropped the exchange.
    pub fn take_reply(&self) -> Reply {
        let mut guard = self.cell.lock();
        guard.clear_wake();
        match std::mem::replace(&mut guard.state.reply, Reply::Taken) {
            Reply::Waiting => {
                guard.state.reply = Reply::Waiting;
                Reply::Waiting
            }
            other => other,
        }
    }

    /// Records that the connection ended (or that the exchange is no longer
    /// wanted), handing back a response the reactor had not taken yet, and
    /// wakes every waiter. The first reason sticks.
    pub fn close(&self, reason: CloseReason) {
        let stats = self.cell.stats();
        let (stream, due) = self.cell.close(reason, |state, reason| {
            match std::mem::replace(&mut state.reply, Reply::Taken) {
                Reply::Ready(response) => {
                    let due = state.conclude(Err(Undelivered { response, reason }), stats);
                    return (None, due);
                }
                Reply::Stream { stream, .. } => return (Some((stream, reason)), None),
                Reply::Waiting => state.reply = Reply::Waiting,
                Reply::Taken | Reply::Dropped => {}
            }
            (None, None)
        });
        // The stream's watchers and the verdict's callback are application
        // code: never under our lock.
        if let Some((stream, reason)) = stream {
            stream.close(reason);
        }
        run_due(due, stats);
    }

    /// Gives the worker the verdict on a response the reactor took.
    pub fn settle(&self, outcome: Result<(), Undelivered>) {
        let stats = self.cell.stats();
        let due = match &outcome {
            Err(undelivered) => {
                let reason = undelivered.reason;
                self.cell
                    .close(reason, |state, _| state.conclude(outcome, stats))
            }
            Ok(()) => {
                let mut guard = self.cell.lock();
                let due = guard.state.conclude(outcome, stats);
                self.cell.notify(guard);
                due
            }
        };
        run_due(due, stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_offered_before_close_comes_back() {
        let link = ExchangeShared::new(StatsHandle::default());
        link.offer(Reply::Ready(Response::text(200, "event")), false)
            .unwrap();
        link.close(CloseReason::PeerReset);
        let (context, _commands) = Context::detached(StatsHandle::default(), 4);
        let outcome = link.wait_outcome(Wait::Forever, &context);
        let back = outcome.expect("a verdict").unwrap_err();
        assert_eq!(back.reason, CloseReason::PeerReset);
        assert_eq!(back.response.body(), b"event");
    }

    #[test]
    fn a_response_offered_after_close_is_refused() {
        let link = ExchangeShared::new(StatsHandle::default());
        link.close(CloseReason::PeerClosed);
        let (_, reason) = link
            .offer(Reply::Ready(Response::new(204)), false)
            .unwrap_err();
        assert_eq!(reason, CloseReason::PeerClosed);
        assert!(link.is_closed());
    }

    #[test]
    fn a_detached_response_that_comes_back_is_counted_not_kept() {
        let stats = StatsHandle::default();
        let link = ExchangeShared::new(stats.clone());
        link.offer(Reply::Ready(Response::new(200)), true).unwrap();
        link.close(CloseReason::PeerReset);
        assert_eq!(stats.snapshot().undelivered, 1);
        assert!(
            link.cell.lock().state.outcome.is_none(),
            "nobody waits for it"
        );
    }

    #[test]
    fn closing_a_link_runs_its_streams_callbacks_outside_the_link_lock() {
        use crate::stream_options::StreamOptions;
        let link = Arc::new(ExchangeShared::new(StatsHandle::default()));
        let stream = Arc::new(StreamShared::new(
            StreamOptions::default(),
            1024,
            StatsHandle::default(),
        ));
        let reply = Reply::Stream {
            head: Response::new(200),
            stream: Arc::clone(&stream),
            close_delimited: false,
        };
        link.offer(reply, false).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let inside = Arc::clone(&link);
        stream.on_close(Box::new(move |_| {
            // Locks the link: deadlocks if the link's lock is held here.
            tx.send(inside.close_reason()).unwrap();
        }));
        let closer = Arc::clone(&link);
        std::thread::spawn(move || closer.close(CloseReason::PeerReset));
        let seen = rx.recv_timeout(Duration::from_secs(10));
        assert_eq!(
            seen,
            Ok(Some(CloseReason::PeerReset)),
            "callback ran under the lock"
        );
    }

    #[test]
    fn the_first_close_reason_sticks() {
        let link = ExchangeShared::new(StatsHandle::default());
        link.close(CloseReason::ResponseTimeout);
        link.close(CloseReason::PeerClosed);
        assert_eq!(link.close_reason(), Some(CloseReason::ResponseTimeout));
    }

    #[test]
    fn wait_closed_wakes_on_close_and_times_out_otherwise() {
        let (context, _commands) = Context::detached(StatsHandle::default(), 4);
        let link = Arc::new(ExchangeShared::new(StatsHandle::default()));
        assert_eq!(link.wait_closed(Duration::from_millis(10), &context), None);
        let closer = Arc::clone(&link);
        let t = std::thread::spawn(move || closer.close(CloseReason::PeerReset));
        assert_eq!(
            link.wait_closed(Duration::from_secs(10), &context),
            Some(CloseReason::PeerReset)
        );
        t.join().unwrap();
    }

    #[test]
    fn a_taken_reply_is_not_taken_twice_and_drop_after_reply_is_ignored() {
        let link = ExchangeShared::new(StatsHandle::default());
        assert!(matches!(link.take_reply(), Reply::Waiting));
        link.offer(Reply::Ready(Response::new(200)), false).unwrap();
        assert!(matches!(link.take_reply(), Reply::Ready(_)));
        assert!(matches!(link.take_reply(), Reply::Taken));
        assert!(!link.mark_dropped());
    }
}
