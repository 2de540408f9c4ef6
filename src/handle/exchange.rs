//! The exchange a worker holds: a request and the means to answer it.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::delivery::Delivery;
use super::exchange_shared::{ExchangeShared, Reply, Undelivered};
use super::recycle::Recycler;
use super::stream::{StreamSender, StreamShared};
use super::upload::{BodyReader, UploadShared};
use crate::channel::queue::Receiver;
use crate::handle::context::Context;
use crate::id::ConnectionId;
use crate::proto::request::Request;
use crate::proto::response::Response;
use crate::reason::CloseReason;
use crate::stats::Counters;
use crate::stream_options::StreamOptions;

/// A request handed to a worker, and a generation-checked handle to its
/// connection.
///
/// While a worker holds an exchange the connection is `response_pending`:
/// neither the request's `Connection: close` nor the idle timeout closes it,
/// and the reactor keeps watching it, so the worker learns at once if the
/// client leaves ([`is_closed`](Exchange::is_closed),
/// [`wait_closed`](Exchange::wait_closed)).
///
/// Dropping an exchange without responding (a worker that panics drops it
/// too) makes the server answer `500` with `Connection: close`.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::io::{Read, Write};
/// use tether::{Action, Response, Server};
///
/// let server = Server::builder()
///     .handler(|_req: &tether::Request| Action::handoff())
///     .bind("127.0.0.1:0")?;
/// server.workers(1, |exchange: tether::Exchange| {
///     let body = format!("you asked for {}", exchange.request().path());
///     // Err(Undelivered) hands the response back if the client left.
///     let _ = exchange.respond(Response::text(200, body));
/// });
///
/// let mut client = std::net::TcpStream::connect(server.local_addr())?;
/// client.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")?;
/// let mut reply = String::new();
/// client.read_to_string(&mut reply)?;
/// assert!(reply.starts_with("HTTP/1.1 200 OK"));
/// assert!(reply.ends_with("you asked for /x"));
/// # Ok(())
/// # }
/// ```
pub struct Exchange {
    request: Request,
    link: Arc<ExchangeShared>,
    context: Arc<Context>,
    /// Where the request's buffers and the cell go when the exchange ends.
    recycler: Arc<Recycler>,
    answered: bool,
    value: Option<Box<dyn Any + Send + Sync>>,
    /// When it was queued, until a worker takes it.
    queued_at: Option<Instant>,
    /// Its hand-off queue's place among the server's (for its wait).
    queue: usize,
    /// The body, still arriving, for a route that streams it.
    upload: Option<Arc<UploadShared>>,
    /// The link goes back to the reactor for reuse when the exchange ends
    /// (not when a `Delivery` or a stream carries it on).
    recycle_link: bool,
}

impl Exchange {
    pub(crate) fn new(
        request: Request,
        link: Arc<ExchangeShared>,
        context: Arc<Context>,
        recycler: Arc<Recycler>,
        value: Option<Box<dyn Any + Send + Sync>>,
        upload: Option<Arc<UploadShared>>,
        queue: usize,
    ) -> Self {
        Exchange {
            request,
            link,
            context,
            recycler,
            answered: false,
            value,
            queued_at: Some(Instant::now()),
            queue,
            upload,
            recycle_link: true,
        }
    }

    /// The request body as it arrives, for a route that streams its body
    /// ([`Router::upload`](crate::Router::upload),
    /// [`Builder::uploads`](crate::Builder::uploads)): given
    /// once, `None` after that and for a buffered body (read that with
    /// [`Request::body`]). At most [`UPLOAD_PIPE_BYTES`](crate::BodyReader::PIPE_BYTES)
    /// wait unread; past that the server stops reading the socket, so a
    /// slow worker slows the client down instead of growing a buffer. If the
    /// client leaves mid-body, `read` fails at once with the reason.
    /// Respond after reading the body to keep the connection; a response
    /// sent before the body ends closes it after the response.
    pub fn body_reader(&mut self) -> Option<BodyReader> {
        let shared = self.upload.take()?;
        Some(BodyReader::new(
            shared,
            Arc::clone(&self.context),
            self.id(),
        ))
    }

    /// A worker took it from its queue: time the wait.
    fn taken(mut self) -> Self {
        if let Some(at) = self.queued_at.take() {
            let stats = &self.context.stats.0;
            let waited = at.elapsed();
            stats.queue_wait.observe(waited);
            if let Some(queue) = stats.queues.get().and_then(|all| all.get(self.queue)) {
                queue.wait.observe(waited);
            }
        }
        self
    }

    /// The value the handler attached with [`Handoff::with`](crate::Handoff::with),
    /// if it is a `T`.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::io::{Read, Write};
    /// use tether::{Handoff, Request, Response, Server};
    ///
    /// struct User(&'static str);
    ///
    /// let server = Server::builder()
    ///     // Authenticated once, on the reactor; the worker need not again.
    ///     .handler(|_req: &Request| Handoff::new().with(User("ada")).into())
    ///     .bind("127.0.0.1:0")?;
    /// server.workers(1, |exchange| {
    ///     let name = exchange.value::<User>().map_or("nobody", |user| user.0);
    ///     let _ = exchange.respond(Response::text(200, format!("hello, {name}")));
    /// });
    /// let mut client = std::net::TcpStream::connect(server.local_addr())?;
    /// client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?;
    /// assert!(reply.ends_with("hello, ada"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn value<T: Any>(&self) -> Option<&T> {
        self.value.as_deref()?.downcast_ref()
    }

    /// Takes the handler's value out of the exchange, if it is a `T`
    /// (otherwise it stays).
    pub fn take_value<T: Any>(&mut self) -> Option<T> {
        match self.value.take()?.downcast::<T>() {
            Ok(value) => Some(*value),
            Err(other) => {
                self.value = Some(other);
                None
            }
        }
    }

    /// Drops an exchange that never reached a worker, without counting it
    /// as unanswered.
    pub(crate) fn disarm(mut self) {
        self.answered = true;
    }

    /// The request.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The request, mutably (to take its body, for instance).
    pub fn request_mut(&mut self) -> &mut Request {
        &mut self.request
    }

    /// The connection this exchange belongs to.
    pub fn id(&self) -> ConnectionId {
        self.request.connection_id()
    }

    /// Sends the response, and returns once it has been written to the socket
    /// in full, or with [`Undelivered`] (carrying the response back) if the
    /// connection ended first: the client left, the response timeout passed,
    /// the server shut down.
    ///
    /// Waiting is bounded by the write-stall timeout, and ends with
    /// [`Undelivered`] if the reactor stops for any reason (shutdown, or a
    /// failure of its own: reason [`ServerError`](CloseReason::ServerError)).
    /// Called on the reactor's own thread (which it should not be), it
    /// cannot wait: it queues the response and returns `Ok` without the
    /// delivery guarantee.
    ///
    /// The wait costs the worker a wake-up per response; to keep the
    /// guarantee without it, use [`send_response`](Exchange::send_response)
    /// and [`Delivery::on_outcome`].
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread until the verdict (at most the write-stall
    /// timeout). On an async runtime's thread this stalls every task on it:
    /// await the [`Delivery`] of [`send_response`](Exchange::send_response)
    /// instead (`exchange.send_response(r)?.await`).
    pub fn respond(self, response: Response) -> Result<(), Undelivered> {
        self.send_response(response)?.wait()
    }

    /// Sends the response and returns at once with its [`Delivery`]: the
    /// verdict (written in full, or handed back as [`Undelivered`]) to wait
    /// for now, later, or hand to a callback, so a worker or a long-poll hub
    /// can move on while the reactor writes. Returns [`Undelivered`] at
    /// once when the client is already known to be gone.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::io::{Read, Write};
    /// use tether::{Response, Server};
    ///
    /// let server = Server::builder().bind("127.0.0.1:0")?;
    /// server.workers(1, |exchange| {
    ///     let Ok(delivery) = exchange.send_response(Response::text(200, "hi")) else {
    ///         return; // the client left before the response was ready
    ///     };
    ///     // ... other work while the reactor writes ...
    ///     assert!(delivery.wait().is_ok());
    /// });
    /// let mut client = std::net::TcpStream::connect(server.local_addr())?;
    /// client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?;
    /// assert!(reply.ends_with("hi"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn send_response(mut self, response: Response) -> Result<Delivery, Undelivered> {
        self.hand_over(Reply::Ready(response), false)?;
        self.recycle_link = false;
        Ok(Delivery::new(
            Arc::clone(&self.link),
            Arc::clone(&self.context),
            Arc::clone(&self.recycler),
            self.id(),
        ))
    }

    /// Sends the response and returns at once, without waiting for it to be
    /// written. Use it when the worker does not need the response back: if
    /// the client leaves before it is written, it is dropped and counted in
    /// [`Stats::undelivered`](crate::stats::Stats::undelivered). Returns
    /// [`Undelivered`] only when the client is already known to be gone.
    ///
    /// The same as [`send_response`](Exchange::send_response) followed by
    /// [`Delivery::detach`]; [`respond`](Exchange::respond) and
    /// [`Delivery::on_outcome`] keep the guarantee that nothing is lost
    /// silently.
    pub fn respond_detached(self, response: Response) -> Result<(), Undelivered> {
        self.send_response(response).map(Delivery::detach)
    }

    /// Gives the exchange up on purpose, counted in
    /// [`Stats::abandoned`](crate::stats::Stats::abandoned) rather than `dropped`.
    ///
    /// The usual case is a client that has left: `wait_closed` returned, and
    /// there is nobody to answer (dropping the exchange then counts the
    /// same). If the client is in fact still waiting, it is answered
    /// `503 Service Unavailable` — no worker will answer — and its
    /// connection stays open for its next request.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::io::{Read, Write};
    /// use tether::{Action, Server};
    ///
    /// let server = Server::builder().bind("127.0.0.1:0")?;
    /// server.workers(1, |exchange| exchange.abandon());
    /// let mut client = std::net::TcpStream::connect(server.local_addr())?;
    /// client.write_all(b"GET /job HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?;
    /// assert!(reply.starts_with("HTTP/1.1 503 "));
    /// assert_eq!(server.stats().abandoned, 1);
    /// assert_eq!(server.stats().dropped, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn abandon(mut self) {
        self.answered = true;
        Counters::incr(&self.context.stats.0.abandoned);
        if self.link.is_closed() {
            return;
        }
        let response = Response::text(503, "the server gave this request up\n");
        if self.link.offer(Reply::Ready(response), true).is_ok() {
            self.link.wake_reactor(&self.context, self.id());
        }
    }

    /// Gives the reactor this exchange's reply and wakes it. A reply refused
    /// because the client is already gone comes back, counted as
    /// undelivered.
    fn hand_over(&mut self, reply: Reply, detached: bool) -> Result<(), Undelivered> {
        self.answered = true;
        if let Err((reply, reason)) = self.link.offer(reply, detached) {
            Counters::incr(&self.context.stats.0.undelivered);
            return Err(Undelivered {
                response: reply_into_response(reply),
                reason,
            });
        }
        if !self.link.wake_reactor(&self.context, self.id()) {
            // The reactor has stopped; it closed every link on its way out,
            // but make sure the reply comes back (or the stream ends) anyway.
            self.link.close(CloseReason::Shutdown);
        }
        Ok(())
    }

    /// Turns the exchange into a streaming response with `head`'s status and
    /// headers (its body is ignored), using chunked coding for HTTP/1.1
    /// clients and a close-delimited body for HTTP/1.0 ones. Parts queue up
    /// to [`Config::stream_budget_bytes`](crate::Config::stream_budget_bytes).
    ///
    /// If the client already left, `head` comes back as [`Undelivered`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::io::{Read, Write};
    /// use tether::{Action, Response, Server};
    ///
    /// let server = Server::builder().bind("127.0.0.1:0")?;
    /// server.workers(1, |exchange| {
    ///     let head = Response::new(200).with_header("Content-Type", "text/plain");
    ///     let Ok(mut stream) = exchange.stream(head) else { return };
    ///     for line in ["one\n", "two\n"] {
    ///         if stream.send(line).is_err() {
    ///             return; // the client left: stop producing
    ///         }
    ///     }
    ///     let _ = stream.finish();
    /// });
    /// let mut client = std::net::TcpStream::connect(server.local_addr())?;
    /// client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?;
    /// assert!(reply.contains("Transfer-Encoding: chunked"));
    /// assert!(reply.ends_with("4\r\none\n\r\n4\r\ntwo\n\r\n0\r\n\r\n"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn stream(self, head: Response) -> Result<StreamSender, Undelivered> {
        self.stream_with(head, StreamOptions::default())
    }

    /// [`Exchange::stream`] with a backlog policy and framing of your choice.
    pub fn stream_with(
        mut self,
        head: Response,
        options: StreamOptions,
    ) -> Result<StreamSender, Undelivered> {
        let id = self.id();
        let shared = Arc::new(StreamShared::new(
            options,
            self.context.stream_budget_bytes,
            self.context.stats.clone(),
        ));
        let reply = Reply::Stream {
            head,
            stream: Arc::clone(&shared),
            close_delimited: options.close_delimited,
        };
        self.hand_over(reply, false)?;
        // The stream's connection holds the link for as long as it runs.
        self.recycle_link = false;
        Ok(StreamSender::new(shared, Arc::clone(&self.context), id))
    }

    /// Runs `callback` when the connection ends while this exchange is
    /// outstanding (at once if it already has). It runs on the reactor thread:
    /// keep it short and never block — send on a channel, notify a condvar.
    /// This is how a worker waits for "a message, a deadline, or the client
    /// leaving" alongside whatever else it waits on.
    ///
    /// ```
    /// # fn wait(exchange: tether::Exchange) {
    /// use std::sync::mpsc;
    /// enum Wake { Message(String), ClientLeft(tether::CloseReason) }
    /// let (tx, rx) = mpsc::channel();
    /// let left = tx.clone();
    /// exchange.on_close(move |reason| { let _ = left.send(Wake::ClientLeft(reason)); });
    /// // ... hand `tx` to whoever publishes messages ...
    /// match rx.recv_timeout(std::time::Duration::from_secs(30)) {
    ///     Ok(Wake::Message(m)) => { let _ = exchange.respond(tether::Response::text(200, m)); }
    ///     Ok(Wake::ClientLeft(_)) => {} // nobody to answer; nothing was taken
    ///     Err(_) => { let _ = exchange.respond(tether::Response::new(204)); }
    /// }
    /// # }
    /// ```
    pub fn on_close(&self, callback: impl FnOnce(CloseReason) + Send + 'static) {
        self.link.on_close(Box::new(callback));
    }

    /// True once the connection has ended (or the exchange timed out).
    pub fn is_closed(&self) -> bool {
        self.link.is_closed()
    }

    /// Why the connection ended, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.link.close_reason()
    }

    /// True once the server has begun shutting down: a long poll or a
    /// long job should answer now rather than be cut off when
    /// [`Config::shutdown_timeout`](crate::Config::shutdown_timeout) runs
    /// out. To be woken instead of asking, wait on
    /// [`Server::shutdown_signal`](crate::Server::shutdown_signal).
    pub fn is_shutting_down(&self) -> bool {
        self.context.shutdown.is_shutting_down()
    }

    /// Gives this exchange its own response timeout, counted from now, in
    /// place of [`Config::response_timeout`](crate::Config::response_timeout):
    /// longer for a long poll, shorter for a job that is useless late. Past
    /// it the client is answered `503` and the exchange ends as
    /// [`ResponseTimeout`](CloseReason::ResponseTimeout), as with the
    /// server-wide timeout. `Duration::MAX` means never. Call it again to
    /// move the deadline. It stops once the response has started: a stream
    /// is not timed by it after its head is sent.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use tether::{Config, Response, Server};
    ///
    /// let mut config = Config::default();
    /// config.response_timeout = Duration::from_secs(2); // for quick jobs
    /// let server = Server::builder().config(config).bind("127.0.0.1:0")?;
    /// server.workers(1, |exchange| {
    ///     // This one is a long poll: up to two minutes.
    ///     exchange.set_response_timeout(Duration::from_secs(120));
    ///     let _ = exchange.respond(Response::new(204));
    /// });
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_response_timeout(&self, timeout: Duration) {
        let at = crate::time::deadline(std::time::Instant::now(), timeout);
        if self.link.request_deadline(at) {
            self.link.wake_reactor(&self.context, self.id());
        }
    }

    /// Blocks until the connection ends or `timeout` passes; `None` on timeout.
    /// On the reactor's own thread (an `on_close` callback) it does not
    /// wait, since only the reactor could end the wait: `None` at once.
    /// Woken by the reactor the moment it sees the client leave: no polling.
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread up to `timeout`. In async code await
    /// [`closed`](Exchange::closed) instead.
    pub fn wait_closed(&self, timeout: Duration) -> Option<CloseReason> {
        self.link.wait_closed(timeout, &self.context)
    }

    /// A future that resolves when the connection ends, with why: the
    /// async [`wait_closed`](Exchange::wait_closed). Woken by the reactor the
    /// moment it sees the client leave; no thread waits and no runtime is
    /// assumed (only `std::task`), so it works on tokio, async-std, smol or
    /// a hand-made executor. It owns what it needs (`'static`): race it
    /// against the work with `select!`, or spawn it.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use std::task::{Context, Poll, Waker};
    /// use tether::{CloseReason, Server};
    ///
    /// let server = Server::builder().bind("127.0.0.1:0")?;
    /// let (told, heard) = std::sync::mpsc::channel();
    /// server.workers(1, move |exchange| {
    ///     let mut closed = pin!(exchange.closed());
    ///     // Still there: the future is pending.
    ///     let mut cx = Context::from_waker(Waker::noop());
    ///     assert!(closed.as_mut().poll(&mut cx).is_pending());
    ///     let _ = told.send(());
    ///     // A runtime would `.await` it; this spins for the doc's sake.
    ///     let reason = loop {
    ///         if let Poll::Ready(reason) = closed.as_mut().poll(&mut cx) {
    ///             break reason;
    ///         }
    ///         std::thread::yield_now();
    ///     };
    ///     assert_eq!(reason, CloseReason::PeerClosed);
    ///     exchange.abandon();
    /// });
    /// let mut client = std::net::TcpStream::connect(server.local_addr())?;
    /// std::io::Write::write_all(&mut client, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")?;
    /// heard.recv()?;
    /// drop(client);
    /// # server.shutdown();
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// A departure heard through it is timed in
    /// [`Stats::departure_notice`](crate::stats::Stats::departure_notice),
    /// as one heard in `wait_closed` is.
    pub fn closed(&self) -> impl Future<Output = CloseReason> + Send + 'static {
        let link = Arc::clone(&self.link);
        let context = Arc::clone(&self.context);
        let mut waited = false;
        std::future::poll_fn(move |task| link.poll_closed(task.waker(), &mut waited, &context))
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        self.report_unanswered();
        let recycler = &self.recycler;
        recycler.give_request(std::mem::take(&mut self.request));
        if self.recycle_link {
            recycler.give_link(&self.link);
        }
    }
}

impl Exchange {
    /// An exchange ends unanswered: tell the reactor if the client waits.
    fn report_unanswered(&self) {
        if self.answered {
            return;
        }
        if self.link.mark_dropped() {
            // The client still waits: a bug (or a panic) in the worker.
            Counters::incr(&self.context.stats.0.dropped);
            log::warn!(
                "{} exchange dropped without a response; answering 500",
                self.id()
            );
            self.link.wake_reactor(&self.context, self.id());
        } else {
            // The client had gone: there was nobody to answer.
            Counters::incr(&self.context.stats.0.abandoned);
        }
    }
}

/// The response inside a reply the link handed back.
fn reply_into_response(reply: Reply) -> Response {
    match reply {
        Reply::Ready(response) | Reply::Stream { head: response, .. } => response,
        Reply::Waiting | Reply::Taken | Reply::Dropped => Response::new(500),
    }
}

impl fmt::Debug for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchange")
            .field("id", &self.id())
            .field("request", &self.request)
            .field("closed", &self.link.close_reason())
            .finish()
    }
}

/// The queue of exchanges waiting for a worker; clone it for each worker
/// thread. Bounded by [`Config::handoff_queue`](crate::Config::handoff_queue).
///
/// Receiving returns `None` once the server has shut down and the queue is
/// empty, which ends a worker loop:
///
/// ```no_run
/// # fn run(exchanges: tether::Exchanges) {
/// while let Some(exchange) = exchanges.recv() {
///     let _ = exchange.respond(tether::Response::text(200, "done"));
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Exchanges {
    pub(crate) rx: Receiver<Exchange>,
}

impl Exchanges {
    /// Waits for the next exchange; `None` when the server is gone.
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread; in async code use
    /// [`recv_async`](Exchanges::recv_async).
    pub fn recv(&self) -> Option<Exchange> {
        self.rx.recv().ok().map(Exchange::taken)
    }

    /// The next exchange, awaited without a thread: `None` when the server
    /// is gone. Any runtime (only `std::task` is used): one task receives
    /// and spawns a task per exchange, so async code needs no thread per
    /// request. examples/async_worker.rs does this with tokio.
    pub async fn recv_async(&self) -> Option<Exchange> {
        let rx = &self.rx;
        std::future::poll_fn(|task| rx.poll_recv(task.waker()))
            .await
            .ok()
            .map(Exchange::taken)
    }

    /// Waits up to `timeout` for the next exchange.
    ///
    /// ```
    /// use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
    /// use std::time::Duration;
    ///
    /// let server = tether::Server::builder().bind("127.0.0.1:0").unwrap();
    /// let exchanges = server.exchanges();
    /// let idle = exchanges.recv_timeout(Duration::from_millis(10));
    /// assert_eq!(idle.unwrap_err(), RecvTimeoutError::Timeout);
    /// assert_eq!(exchanges.try_recv().unwrap_err(), TryRecvError::Empty);
    /// server.shutdown();
    /// let gone = exchanges.recv_timeout(Duration::from_millis(10));
    /// assert_eq!(gone.unwrap_err(), RecvTimeoutError::Disconnected);
    /// ```
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread up to `timeout`; in async code use
    /// [`recv_async`](Exchanges::recv_async).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Exchange, RecvTimeoutError> {
        self.rx.recv_timeout(timeout).map(Exchange::taken)
    }

    /// The next exchange if one is waiting.
    pub fn try_recv(&self) -> Result<Exchange, TryRecvError> {
        self.rx.try_recv().map(Exchange::taken)
    }

    /// Exchanges waiting now.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// True when no exchange is waiting.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}
