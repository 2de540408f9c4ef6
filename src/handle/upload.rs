//! A request body streamed to the worker as it arrives: the reactor pushes
//! decoded bytes into a bounded pipe, the worker reads them with
//! [`BodyReader`] (`std::io::Read`). A full pipe stops the reactor taking
//! input, so reading from the socket pauses and TCP pushes back on the
//! client; the worker reading makes room and wakes the reactor.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::task::{Poll, Waker};

use bytes::{Buf, Bytes};

use super::cell::{Cell, Guard, Inner, Wait};
use crate::handle::context::Context;
use crate::id::ConnectionId;
use crate::reason::CloseReason;
use crate::stats::StatsHandle;

/// Bytes of a streamed body the pipe holds before the reactor stops taking
/// input for it.
pub(crate) const UPLOAD_PIPE_BYTES: usize = 64 * 1024;

#[derive(Debug, Default)]
struct PipeState {
    chunks: VecDeque<Bytes>,
    bytes: usize,
    /// The whole body arrived.
    finished: bool,
    /// The reactor stopped feeding because the pipe was full: the next read
    /// that makes room must wake it.
    reactor_waits: bool,
    /// Why the body will not complete (the connection may live on: the
    /// worker answered first, or the body was too large).
    failed: Option<&'static str>,
}

/// The pipe between the reactor and the worker.
#[derive(Debug)]
pub(crate) struct UploadShared {
    cell: Cell<PipeState>,
}

impl UploadShared {
    pub fn new(stats: StatsHandle) -> Self {
        UploadShared {
            cell: Cell::new(PipeState::default(), stats),
        }
    }

    // ---- reactor side ----

    /// Room left before the pipe is full; when none, marks the reactor as
    /// waiting for the worker to make some.
    pub fn room(&self) -> usize {
        let mut guard = self.cell.lock();
        guard.clear_wake();
        let room = UPLOAD_PIPE_BYTES.saturating_sub(guard.state.bytes);
        guard.state.reactor_waits = room == 0;
        room
    }

    /// Adds decoded body bytes.
    pub fn push(&self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        let mut guard = self.cell.lock();
        guard.state.bytes += data.len();
        guard.state.chunks.push_back(data);
        self.cell.notify(guard);
    }

    /// The body is complete.
    pub fn finish(&self) {
        let mut guard = self.cell.lock();
        guard.state.finished = true;
        self.cell.notify(guard);
    }

    /// The body will not complete, though the connection may go on.
    pub fn fail(&self, why: &'static str) {
        let mut guard = self.cell.lock();
        if !guard.state.finished {
            guard.state.failed = Some(why);
        }
        self.cell.notify(guard);
    }

    /// The connection ended.
    pub fn close(&self, reason: CloseReason) {
        self.cell.close(reason, |_, _| ());
    }

    // ---- worker side ----

    /// Copies what has arrived into `buf`, waiting for some if none has;
    /// wakes the reactor when it waits for the room this made.
    fn read(&self, buf: &mut [u8], context: &Context, id: ConnectionId) -> io::Result<usize> {
        let stopped = || self.close(CloseReason::Shutdown);
        let (guard, read) = self
            .cell
            .wait_for(Wait::Forever, context, &stopped, |inner| pour(inner, buf));
        let Some(read) = read else {
            drop(guard);
            let why = "a streamed body cannot be read on the reactor thread";
            return Err(io::Error::new(io::ErrorKind::WouldBlock, why));
        };
        self.after_read(guard, read, context, id)
    }

    /// [`read`](Self::read) for a task: `Pending` until bytes arrive.
    fn poll_read(
        &self,
        waker: &Waker,
        buf: &mut [u8],
        context: &Context,
        id: ConnectionId,
    ) -> Poll<io::Result<usize>> {
        let stopped = || self.close(CloseReason::Shutdown);
        let (guard, read) = self
            .cell
            .poll_for(waker, context, &stopped, |inner| pour(inner, buf));
        match read {
            Poll::Ready(read) => Poll::Ready(self.after_read(guard, read, context, id)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn after_read(
        &self,
        mut guard: Guard<'_, PipeState>,
        read: io::Result<usize>,
        context: &Context,
        id: ConnectionId,
    ) -> io::Result<usize> {
        if matches!(read, Ok(n) if n > 0) && std::mem::take(&mut guard.state.reactor_waits) {
            // The reactor waits for the room this read made.
            self.cell.wake_reactor(guard, context, id);
        }
        read
    }
}

/// Copies what the pipe holds into `buf`: `None` when there is nothing yet
/// and the body goes on.
fn pour(inner: &mut Inner<PipeState>, buf: &mut [u8]) -> Option<io::Result<usize>> {
    let state = &mut inner.state;
    if let Some(front) = state.chunks.front_mut() {
        let n = front.len().min(buf.len());
        buf[..n].copy_from_slice(&front[..n]);
        front.advance(n);
        if front.is_empty() {
            state.chunks.pop_front();
        }
        state.bytes -= n;
        return Some(Ok(n));
    }
    if state.finished {
        return Some(Ok(0));
    }
    if let Some(why) = state.failed {
        return Some(Err(io::Error::new(io::ErrorKind::InvalidData, why)));
    }
    let reason = inner.reason()?;
    let err = io::Error::new(io::ErrorKind::ConnectionAborted, reason.as_str());
    Some(Err(err))
}

/// A streamed request body, read as it arrives; see
/// [`Exchange::body_reader`](crate::Exchange::body_reader).
///
/// `read` blocks until bytes arrive (on the reactor's own thread it cannot
/// wait and fails with `WouldBlock`), and returns `Ok(0)` at the end of the
/// body. It fails with `ConnectionAborted` (the message names the
/// [`CloseReason`]) if the client leaves or the connection ends first. It
/// fails with `InvalidData` if the body breaks a limit, or if the worker
/// already responded. At most 64 KiB wait unread; past that the server
/// stops reading the socket until the worker catches up.
///
/// # Blocking
///
/// `read` (the [`Read`](io::Read) impl) blocks the calling thread until
/// bytes arrive. In async code use [`read_async`](BodyReader::read_async).
pub struct BodyReader {
    shared: Arc<UploadShared>,
    context: Arc<Context>,
    id: ConnectionId,
}

impl BodyReader {
    /// Bytes of a streamed body the pipe holds before the reactor stops
    /// taking input for it (backpressure to the client).
    pub const PIPE_BYTES: usize = UPLOAD_PIPE_BYTES;

    pub(crate) fn new(shared: Arc<UploadShared>, context: Arc<Context>, id: ConnectionId) -> Self {
        BodyReader {
            shared,
            context,
            id,
        }
    }

    /// Why the connection ended, if it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.shared.cell.close_reason()
    }

    /// Reads what has arrived into `buf`, as [`Read::read`](io::Read::read)
    /// does, waiting without a thread: for async code (any runtime; no
    /// runtime is assumed). `Ok(0)` at the end of the body; the same errors
    /// as `read`, except that it can wait on any thread.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::io::{Read, Write};
    /// # use tether::{Action, Handoff, Response, Server};
    /// let server = Server::builder()
    ///     .uploads(|_| true)
    ///     .handler(|_: &tether::Request| Action::handoff())
    ///     .bind("127.0.0.1:0")?;
    /// server.workers(1, |mut exchange| {
    ///     let mut body = exchange.body_reader().expect("a streamed body");
    ///     // In async code this is `.await`ed on a runtime's task; here a
    ///     // minimal executor (a thread that parks) stands in for one.
    ///     let total = block_on(async move {
    ///         let (mut total, mut buf) = (0, [0u8; 4096]);
    ///         while let Ok(n @ 1..) = body.read_async(&mut buf).await {
    ///             total += n;
    ///         }
    ///         total
    ///     });
    ///     let _ = exchange.respond(Response::text(200, format!("{total} bytes")));
    /// });
    /// let mut client = std::net::TcpStream::connect(server.local_addr())?;
    /// client.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")?;
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?;
    /// assert!(reply.ends_with("5 bytes"));
    /// # Ok(())
    /// # }
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     struct Unpark(std::thread::Thread);
    /// #     impl std::task::Wake for Unpark { fn wake(self: std::sync::Arc<Self>) { self.0.unpark() } }
    /// #     let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    /// #     let mut cx = std::task::Context::from_waker(&waker);
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) { return out; }
    /// #         std::thread::park();
    /// #     }
    /// # }
    /// ```
    pub async fn read_async(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let (shared, context, id) = (&self.shared, &self.context, self.id);
        std::future::poll_fn(|task| shared.poll_read(task.waker(), buf, context, id)).await
    }
}

impl io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.shared.read(buf, &self.context, self.id)
    }
}

impl fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyReader").field("id", &self.id).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::channel::notifier::Command;

    #[test]
    fn reads_see_pushes_then_the_end_and_a_full_pipe_asks_for_a_wake() {
        let (context, commands) = Context::detached(StatsHandle::default(), 4);
        let id = ConnectionId::default();
        let shared = Arc::new(UploadShared::new(StatsHandle::default()));
        shared.push(vec![b'a'; UPLOAD_PIPE_BYTES].into());
        let mut buf = [0u8; 1000];
        assert_eq!(shared.read(&mut buf, &context, id).unwrap(), 1000);
        assert!(commands.try_recv().is_err(), "the reactor did not wait");
        assert_eq!(shared.room(), 1000);
        shared.push(vec![b'a'; 1000].into());
        assert_eq!(shared.room(), 0, "full: the reactor waits");
        assert_eq!(shared.read(&mut buf, &context, id).unwrap(), 1000);
        assert!(matches!(commands.try_recv(), Ok(Command::Update(_))));
        assert_eq!(shared.room(), 1000);
        let reader = Arc::clone(&shared);
        let t = std::thread::spawn(move || {
            let mut all = 0;
            let mut buf = [0u8; 4096];
            loop {
                match reader.read(&mut buf, &context, id) {
                    Ok(0) => return Ok(all),
                    Ok(n) => all += n,
                    Err(err) => return Err(err),
                }
            }
        });
        shared.push(Bytes::from_static(b"tail"));
        shared.finish();
        assert_eq!(t.join().unwrap().unwrap(), UPLOAD_PIPE_BYTES - 1000 + 4);
    }

    #[test]
    fn a_departure_or_a_failure_ends_a_waiting_read_with_an_error() {
        let (context, _commands) = Context::detached(StatsHandle::default(), 4);
        let id = ConnectionId::default();
        let shared = Arc::new(UploadShared::new(StatsHandle::default()));
        let reader = Arc::clone(&shared);
        let waiter = Arc::clone(&context);
        let t = std::thread::spawn(move || reader.read(&mut [0u8; 8], &waiter, id));
        shared.close(CloseReason::PeerReset);
        let err = t.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
        assert_eq!(err.to_string(), "peer_reset");

        let failed = UploadShared::new(StatsHandle::default());
        failed.fail("request body too large");
        let err = failed.read(&mut [0u8; 8], &context, id).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
