//! Streaming responses: a producer thread sends parts; the reactor writes them
//! from a bounded queue and stops the producer the moment the client leaves.
//!
//! # Implementation notes
//!
//! Parts wait in [`StreamShared`] (a mutex-guarded queue with a byte budget)
//! until the reactor pulls them into the connection's output buffer, which it
//! does only while that buffer has room. So a slow client fills the queue and
//! the producer blocks in [`StreamSender::send`]; a client that leaves closes
//! the queue and every blocked or later `send` fails with the reason.
//!
//! In [`Backlog::KeepNewest`] mode the reactor pulls a part only once the
//! previous one is completely written, and a new part replaces the one still
//! waiting: the client sees a lower frame rate, never a torn part, and memory
//! holds at most the part being written plus one.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use super::cell::{Cell, Guard, Inner, Wait};
use super::closure::Watcher;
use super::parts::Parts;
use crate::error::SendError;
use crate::handle::context::Context;
use crate::id::ConnectionId;
use crate::stats::{Counters, StatsHandle};
use crate::stream_options::{Backlog, Heartbeat, StreamOptions};
use bytes::Bytes;

use crate::reason::CloseReason;

#[derive(Debug, Default)]
struct StreamState {
    parts: Parts<()>,
    /// The producer called `finish`.
    finished: bool,
    /// The producer dropped its sender without finishing.
    abandoned: bool,
}

/// The queue between one producer and the reactor.
#[derive(Debug)]
pub(crate) struct StreamShared {
    /// Producers wait on it for room, or for the end.
    cell: Cell<StreamState>,
    backlog: Backlog,
    budget_bytes: usize,
    heartbeat: Option<Heartbeat>,
}

/// What the reactor took from the queue.
#[derive(Debug, Default)]
pub(crate) struct Pulled {
    pub parts: Vec<Bytes>,
    /// Nothing more will come: the producer finished (`true`) or abandoned
    /// the stream (`false`).
    pub end: Option<bool>,
}

impl StreamShared {
    pub fn new(options: StreamOptions, budget_bytes: usize, stats: StatsHandle) -> Self {
        StreamShared {
            cell: Cell::new(StreamState::default(), stats),
            backlog: options.backlog,
            budget_bytes,
            heartbeat: options.heartbeat,
        }
    }

    pub fn heartbeat(&self) -> Option<Heartbeat> {
        self.heartbeat
    }

    fn lock(&self) -> Guard<'_, StreamState> {
        self.cell.lock()
    }

    pub fn backlog(&self) -> Backlog {
        self.backlog
    }

    /// Takes parts for writing: in `Queue` mode up to `max_bytes` (at least
    /// one part), in `KeepNewest` mode one part. Wakes blocked producers.
    pub fn pull(&self, max_bytes: usize) -> Pulled {
        let mut guard = self.lock();
        guard.clear_wake();
        let state = &mut guard.state;
        let mut pulled = Pulled::default();
        let one = self.backlog == Backlog::KeepNewest;
        let took = |part, ()| pulled.parts.push(part);
        state.parts.take_whole(max_bytes, one, took);
        if state.parts.is_empty() && (state.finished || state.abandoned) {
            pulled.end = Some(state.finished);
        }
        if !pulled.parts.is_empty() {
            self.cell.notify(guard);
        }
        pulled
    }

    /// Queues `part` if there is room (taking it): `None` to wait for
    /// room, the reason if the stream has ended.
    fn queue(
        &self,
        inner: &mut Inner<StreamState>,
        part: &mut Option<Bytes>,
        context: &Context,
    ) -> Option<Result<(), CloseReason>> {
        if let Some(reason) = inner.reason() {
            return Some(Err(reason));
        }
        let parts = &mut inner.state.parts;
        let len = part.as_ref().map_or(0, Bytes::len);
        if self.backlog == Backlog::KeepNewest {
            if parts.pop_newest().is_some() {
                Counters::incr(&context.stats.0.frames_replaced);
            }
        } else if !parts.is_empty() && !parts.fits(len, self.budget_bytes) {
            // An empty queue takes any part: one part may exceed the
            // budget on its own.
            return None;
        }
        if let Some(part) = part.take() {
            parts.push(part, ());
        }
        Some(Ok(()))
    }

    /// Ends the stream: every blocked or later send fails with `reason`.
    pub fn close(&self, reason: CloseReason) {
        self.cell.close(reason, |state, _| state.parts.clear());
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        self.cell.close_reason()
    }

    /// Runs `watcher` when the stream ends (at once if it has).
    pub fn on_close(&self, watcher: Watcher) {
        self.cell.on_close(watcher);
    }
}

/// The producer's end of a streaming response. Get one from
/// [`Exchange::stream`](crate::Exchange::stream).
///
/// Parts are [`Bytes`]: a `Vec<u8>`, `String` or `&'static` slice converts
/// into one, and a part shared by many streams (one video frame for every
/// viewer) is a cheap clone, not a copy.
///
/// Every part sent is written as it is: as one chunk (chunked coding) or as
/// raw bytes (close-delimited). Once the client leaves, sends fail with the
/// [`CloseReason`]: no producer keeps encoding frames for nobody.
///
/// Dropping the sender without [`finish`](StreamSender::finish) aborts the
/// body: what is queued is written, then the connection closes without the
/// final chunk, so the client can tell the body is incomplete.
pub struct StreamSender {
    shared: Arc<StreamShared>,
    context: Arc<Context>,
    id: ConnectionId,
    finished: bool,
}

impl StreamSender {
    pub(crate) fn new(shared: Arc<StreamShared>, context: Arc<Context>, id: ConnectionId) -> Self {
        StreamSender {
            shared,
            context,
            id,
            finished: false,
        }
    }

    /// The connection this stream is written to.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// Queues a part, blocking while the queue is over its budget (never in
    /// [`Backlog::KeepNewest`] mode). Fails at once, or wakes from blocking,
    /// when the stream has ended.
    ///
    /// On the reactor thread (in a handler or an `on_close` callback) it
    /// never blocks: a full queue fails with [`SendError::WouldDeadlock`].
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread while the queue is full (as long as the
    /// client takes to read). In async code use
    /// [`send_async`](StreamSender::send_async).
    pub fn send(&mut self, part: impl Into<Bytes>) -> Result<(), SendError> {
        match self.push(part.into(), Wait::Forever) {
            // Waiting without a deadline only gives up on the reactor thread.
            Err(SendError::Full) => Err(SendError::WouldDeadlock),
            other => other,
        }
    }

    /// Queues a part if there is room now; [`SendError::Full`] if not.
    pub fn try_send(&mut self, part: impl Into<Bytes>) -> Result<(), SendError> {
        self.push(part.into(), Wait::Now)
    }

    /// Queues a part, waiting up to `timeout` for room (not at all on the
    /// reactor thread, where waiting would hold up the reactor itself).
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread up to `timeout`. In async code use
    /// [`send_async`](StreamSender::send_async) with your runtime's
    /// timeout.
    pub fn send_timeout(
        &mut self,
        part: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<(), SendError> {
        self.push(part.into(), Wait::at_most(timeout))
    }

    /// Queues a part, waiting without a thread while the queue is over its
    /// budget: the async [`send`](StreamSender::send), for a producer on an
    /// async runtime (any: only `std::task` is used). Fails as `send` does
    /// when the stream has ended, and can wait on any thread.
    ///
    /// A Redis- or channel-fed SSE stream needs no thread per subscriber:
    /// one task per stream awaits its source and then this.
    pub async fn send_async(&mut self, part: impl Into<Bytes>) -> Result<(), SendError> {
        let mut part = Some(part.into());
        if part.as_ref().is_some_and(Bytes::is_empty) {
            return self.push(Bytes::new(), Wait::Now);
        }
        let (shared, context, id) = (&*self.shared, &*self.context, self.id);
        std::future::poll_fn(|task| {
            let stopped = || shared.close(CloseReason::Shutdown);
            let (guard, queued) = shared
                .cell
                .poll_for(task.waker(), context, &stopped, |inner| {
                    shared.queue(inner, &mut part, context)
                });
            match queued {
                Poll::Ready(Ok(())) => {
                    shared.cell.wake_reactor(guard, context, id);
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Err(reason)) => Poll::Ready(Err(SendError::Closed(reason))),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// Queues `part`, waiting for room as `wait` allows.
    fn push(&mut self, part: Bytes, wait: Wait) -> Result<(), SendError> {
        if part.is_empty() {
            // An empty chunk would end a chunked body.
            return match self.shared.close_reason() {
                Some(reason) => Err(SendError::Closed(reason)),
                None => Ok(()),
            };
        }
        let shared = &*self.shared;
        let mut part = Some(part);
        let stopped = || shared.close(CloseReason::Shutdown);
        let (guard, queued) = shared
            .cell
            .wait_for(wait, &self.context, &stopped, |inner| {
                shared.queue(inner, &mut part, &self.context)
            });
        match queued {
            Some(Ok(())) => {
                shared.cell.wake_reactor(guard, &self.context, self.id);
                Ok(())
            }
            Some(Err(reason)) => Err(SendError::Closed(reason)),
            // No room in time (or none to wait for, on the reactor thread).
            None => Err(SendError::Full),
        }
    }

    /// Ends the body (the final chunk, or a close for a close-delimited
    /// body) once everything queued is written.
    pub fn finish(mut self) -> Result<(), SendError> {
        self.finished = true;
        self.end(true)
    }

    fn end(&self, finished: bool) -> Result<(), SendError> {
        let mut guard = self.shared.lock();
        if let Some(reason) = guard.reason() {
            return Err(SendError::Closed(reason));
        }
        if finished {
            guard.state.finished = true;
        } else {
            guard.state.abandoned = true;
        }
        self.shared.cell.wake_reactor(guard, &self.context, self.id);
        Ok(())
    }

    /// True once the stream has ended (the client left, or the server closed).
    pub fn is_closed(&self) -> bool {
        self.shared.cell.is_closed()
    }

    /// Why the stream ended, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.shared.close_reason()
    }

    /// Blocks until the stream ends or `timeout` passes; `None` on timeout
    /// (and at once on the reactor's own thread, where waiting would wait
    /// for the reactor itself).
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread up to `timeout`. In async code await
    /// [`closed`](StreamSender::closed) instead.
    pub fn wait_closed(&self, timeout: Duration) -> Option<CloseReason> {
        let shared = &*self.shared;
        let stopped = || shared.close(CloseReason::Shutdown);
        shared.cell.wait_closed(timeout, &self.context, &stopped)
    }

    /// A future that resolves when the stream ends, with why: the async
    /// [`wait_closed`](StreamSender::wait_closed) (no runtime assumed;
    /// `'static`, so it can be spawned or raced with `select!`).
    pub fn closed(&self) -> impl Future<Output = CloseReason> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        let context = Arc::clone(&self.context);
        let mut waited = false;
        std::future::poll_fn(move |task| {
            let stopped = || shared.close(CloseReason::Shutdown);
            shared
                .cell
                .poll_closed(task.waker(), &mut waited, &context, &stopped)
        })
    }

    /// Runs `callback` (on the reactor thread: keep it short, never block)
    /// when the stream ends; at once if it has. Use it to wake whatever the
    /// producer waits on — a channel, a condvar.
    pub fn on_close(&self, callback: impl FnOnce(CloseReason) + Send + 'static) {
        self.shared.on_close(Box::new(callback));
    }

    /// Bytes queued and not yet taken by the reactor.
    pub fn queued_bytes(&self) -> usize {
        self.shared.lock().state.parts.bytes()
    }
}

impl Drop for StreamSender {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.end(false);
        }
    }
}

impl fmt::Debug for StreamSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamSender")
            .field("id", &self.id)
            .field("backlog", &self.shared.backlog)
            .field("closed", &self.close_reason())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::StatsHandle;

    #[test]
    fn a_blocked_send_does_not_outlive_a_stopped_reactor() {
        let (context, _commands) = Context::detached(StatsHandle::default(), 4);
        let options = StreamOptions::default();
        let shared = Arc::new(StreamShared::new(options, 4, StatsHandle::default()));
        let id = ConnectionId::default();
        let mut sender = StreamSender::new(Arc::clone(&shared), Arc::clone(&context), id);
        sender.send("full").unwrap();
        // Stopped without settling this stream (the reactor always does;
        // this is the backstop). Nobody will ever pull the queue: without
        // the backstop the send blocks for good.
        context.reactor.mark_stopped();
        let blocked = sender.send("more");
        assert_eq!(blocked, Err(SendError::Closed(CloseReason::Shutdown)));
    }
}
