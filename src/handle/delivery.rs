//! The verdict on a response a worker sent: delivered or handed back, to
//! learn now, later, or from a callback.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use super::cell::Wait;
use super::exchange_shared::{ExchangeShared, Undelivered};
use super::recycle::Recycler;
use crate::handle::context::Context;
use crate::id::ConnectionId;

/// What became of a response sent with
/// [`Exchange::send_response`](crate::Exchange::send_response): it was
/// written to the socket in full, or it comes back as [`Undelivered`]. Every
/// sent response gets exactly one verdict.
///
/// The worker chooses how to hear it:
/// - [`wait`](Delivery::wait): block for it now (what
///   [`Exchange::respond`](crate::Exchange::respond) does);
/// - `.await` it (a `Delivery` is a [`Future`]): in async code, on any
///   runtime;
/// - [`on_outcome`](Delivery::on_outcome): a callback gets it, and the
///   worker moves on to its next exchange at once;
/// - [`try_wait`](Delivery::try_wait) / [`wait_timeout`](Delivery::wait_timeout):
///   look later, keeping the `Delivery` while it is undecided;
/// - drop it (or [`detach`](Delivery::detach)): nobody hears it; an
///   undelivered response is counted in
///   [`Stats::undelivered`](crate::stats::Stats::undelivered) and dropped, as with
///   [`respond_detached`](crate::Exchange::respond_detached).
///
/// A worker pool that must not lose a reply, without a wake-up per reply:
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::io::{Read, Write};
/// use tether::{Response, Server};
///
/// let server = Server::builder().bind("127.0.0.1:0")?;
/// let (returned, undelivered) = std::sync::mpsc::channel();
/// server.workers(1, move |exchange| {
///     let returned = returned.clone();
///     let sent = exchange.send_response(Response::text(200, "job done"));
///     match sent {
///         // Runs once the verdict is in; the worker is already elsewhere.
///         Ok(delivery) => delivery.on_outcome(move |outcome| {
///             if let Err(back) = outcome {
///                 let _ = returned.send(back.response); // redo, requeue, log
///             }
///         }),
///         Err(back) => { let _ = returned.send(back.response); } // client gone
///     }
/// });
/// let mut client = std::net::TcpStream::connect(server.local_addr())?;
/// client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
/// let mut reply = String::new();
/// client.read_to_string(&mut reply)?;
/// assert!(reply.ends_with("job done"));
/// assert!(undelivered.try_recv().is_err());
/// # Ok(())
/// # }
/// ```
#[must_use = "dropping a Delivery gives its verdict up; say so with `detach`"]
pub struct Delivery {
    link: Arc<ExchangeShared>,
    context: Arc<Context>,
    recycler: Arc<Recycler>,
    id: ConnectionId,
    /// The verdict was taken (or handed to a callback): dropping is quiet.
    settled: bool,
}

impl Delivery {
    pub(crate) fn new(
        link: Arc<ExchangeShared>,
        context: Arc<Context>,
        recycler: Arc<Recycler>,
        id: ConnectionId,
    ) -> Self {
        Delivery {
            link,
            context,
            recycler,
            id,
            settled: false,
        }
    }

    /// The connection the response went to.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// Blocks until the verdict: `Ok` once the response is in the kernel,
    /// [`Undelivered`] (carrying it back) if the connection ended first.
    ///
    /// Bounded by the write-stall timeout, and ends with [`Undelivered`] if
    /// the reactor stops for any reason. Called on the reactor's own thread
    /// (in a handler or a callback, which it should not be), it cannot wait:
    /// it returns `Ok` without the guarantee, and the verdict is dropped.
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread until the verdict. In async code `.await`
    /// the `Delivery` instead: it is a [`Future`].
    pub fn wait(mut self) -> Result<(), Undelivered> {
        if self.context.reactor.on_reactor_thread() {
            log::warn!(
                "{} delivery waited on the reactor thread; not waiting",
                self.id
            );
            return Ok(());
        }
        self.settled = true;
        // The reactor's thread was ruled out above: the verdict comes.
        let outcome = self.link.wait_outcome(Wait::Forever, &self.context);
        outcome.unwrap_or(Ok(()))
    }

    /// The verdict if it is in, or the `Delivery` back to ask again later.
    pub fn try_wait(self) -> Result<Result<(), Undelivered>, Delivery> {
        self.wait_timeout(Duration::ZERO)
    }

    /// Waits up to `timeout` for the verdict; the `Delivery` comes back if
    /// it is not in yet.
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread up to `timeout`. In async code `.await`
    /// the `Delivery` (with your runtime's timeout) instead.
    pub fn wait_timeout(mut self, timeout: Duration) -> Result<Result<(), Undelivered>, Delivery> {
        let outcome = self
            .link
            .wait_outcome(Wait::at_most(timeout), &self.context);
        match outcome {
            Some(outcome) => {
                self.settled = true;
                Ok(outcome)
            }
            None => Err(self),
        }
    }

    /// Hands the verdict to `callback` once it is in — at once, on this
    /// thread, if it is already. Otherwise it runs on the reactor thread:
    /// keep it short and never block (send on a channel). A panic in it is
    /// contained and counted in
    /// [`Stats::callback_panics`](crate::stats::Stats::callback_panics).
    pub fn on_outcome(mut self, callback: impl FnOnce(Result<(), Undelivered>) + Send + 'static) {
        self.settled = true;
        self.link.on_outcome(Box::new(callback));
    }

    /// Gives the verdict up (the same as dropping the `Delivery`).
    pub fn detach(self) {}
}

/// The verdict, awaited: `send_response(..)?.await` is the async
/// [`wait`](Delivery::wait) — no thread waits, and no runtime is assumed
/// (only `std::task`). Unlike `wait` it can be awaited on any thread.
impl Future for Delivery {
    type Output = Result<(), Undelivered>;

    fn poll(mut self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let polled = self.link.poll_outcome(task.waker(), &self.context);
        if polled.is_ready() {
            self.settled = true;
        }
        polled
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if !self.settled {
            self.link.detach();
        }
        self.recycler.give_link(&self.link);
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("id", &self.id)
            .field("settled", &self.settled)
            .finish()
    }
}
