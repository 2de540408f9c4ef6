//! The handler that runs on the reactor thread and decides, per request, how
//! it is answered.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::proto::request::Request;
use crate::proto::response::Response;
use crate::ws::Upgrade;

/// The name of the hand-off queue that [`Action::handoff`] and
/// [`Handoff::new`] use, served by [`Server::workers`](crate::Server::workers).
pub(crate) const DEFAULT_QUEUE: &str = "default";

/// What the handler does with a request.
#[derive(Debug)]
#[non_exhaustive]
pub enum Action {
    /// Answer now, on the reactor thread: the fast path, no thread hop. Keep
    /// this for work that never blocks.
    Respond(Response),
    /// Hand the request to a worker as an [`Exchange`](crate::Exchange): of
    /// the queue the [`Handoff`] names, with its value and deadline (see
    /// [`Action::handoff`] for the default queue, as is). The worker takes
    /// it through [`Server::exchanges`](crate::Server::exchanges) or
    /// [`Server::workers`](crate::Server::workers); the connection is then
    /// `response_pending` until the worker responds.
    Handoff(Handoff),
    /// Upgrade to WebSocket (a `GET` with `Upgrade: websocket`): the reactor
    /// completes the handshake, or answers `400`/`426` if the request is not
    /// a valid upgrade. The socket's events arrive on
    /// [`Server::ws_events`](crate::Server::ws_events), or on the stream the
    /// [`Upgrade`] names.
    Upgrade(Upgrade),
}

impl Action {
    /// Hands the request to a worker of the [default
    /// queue](Handoff::DEFAULT_QUEUE): `Action::Handoff(Handoff::new())`.
    ///
    /// ```
    /// let handler = |_req: &tether::Request| tether::Action::handoff();
    /// # let _ = handler;
    /// ```
    pub fn handoff() -> Action {
        Action::Handoff(Handoff::new())
    }
}

impl From<Response> for Action {
    fn from(response: Response) -> Self {
        Action::Respond(response)
    }
}

impl From<Handoff> for Action {
    fn from(handoff: Handoff) -> Self {
        Action::Handoff(handoff)
    }
}

impl From<Upgrade> for Action {
    fn from(upgrade: Upgrade) -> Self {
        Action::Upgrade(upgrade)
    }
}

/// Where a handed-off request goes and what goes with it: the queue (each
/// with its own workers and bound, declared with
/// [`Builder::queue`](crate::Builder::queue)), a value the handler computed
/// (who the client is, say) that the worker reads with
/// [`Exchange::value`](crate::Exchange::value), and a response deadline in
/// place of [`Config::response_timeout`](crate::Config::response_timeout).
///
/// ```
/// use std::time::Duration;
/// use tether::{Action, Handoff, Request};
///
/// struct User(u64);
///
/// let handler = |_req: &Request| -> Action {
///     Handoff::to("polls")
///         .with(User(7))
///         .response_timeout(Duration::from_secs(60))
///         .into()
/// };
/// # let _ = handler;
/// ```
pub struct Handoff {
    pub(crate) queue: Cow<'static, str>,
    pub(crate) value: Option<Box<dyn Any + Send + Sync>>,
    pub(crate) response_timeout: Option<Duration>,
}

impl Handoff {
    /// The name of the hand-off queue that [`Action::handoff`] and
    /// [`Handoff::new`] use, served by [`Server::workers`](crate::Server::workers).
    pub const DEFAULT_QUEUE: &'static str = DEFAULT_QUEUE;

    /// To the default queue, with no value and the configured deadline.
    pub fn new() -> Self {
        Handoff::to(DEFAULT_QUEUE)
    }

    /// To the queue named `queue`. A name the server did not declare is
    /// answered `500` (and logged): it is the application's mistake, not
    /// the client's.
    pub fn to(queue: impl Into<Cow<'static, str>>) -> Self {
        Handoff {
            queue: queue.into(),
            value: None,
            response_timeout: None,
        }
    }

    /// Carries `value` to the worker: [`Exchange::value`](crate::Exchange::value)
    /// lends it, [`Exchange::take_value`](crate::Exchange::take_value) gives
    /// it away.
    pub fn with<T: Any + Send + Sync>(mut self, value: T) -> Self {
        self.value = Some(Box::new(value));
        self
    }

    /// The worker has `timeout` from now to answer (instead of
    /// [`Config::response_timeout`](crate::Config::response_timeout)); past
    /// it the client gets `503` and the worker's exchange is closed with
    /// [`CloseReason::ResponseTimeout`](crate::CloseReason::ResponseTimeout).
    /// It stops once the response has started: a stream is not timed by it
    /// after its head is sent.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = Some(timeout);
        self
    }

    /// The queue's name.
    pub fn queue(&self) -> &str {
        &self.queue
    }
}

impl Default for Handoff {
    fn default() -> Self {
        Handoff::new()
    }
}

impl fmt::Debug for Handoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handoff")
            .field("queue", &self.queue)
            .field("value", &self.value.is_some())
            .field("response_timeout", &self.response_timeout)
            .finish()
    }
}

/// One reactor's handler. It may keep state of its own: each reactor has
/// its own (see [`Builder::handler_factory`](crate::Builder::handler_factory)).
pub(crate) type Handler = Box<dyn FnMut(&mut Request) -> Action + Send>;

/// Says, from the head, which requests have their body streamed to the
/// worker instead of buffered.
pub(crate) type BodyPolicy = Arc<dyn Fn(&Request) -> bool + Send + Sync>;

/// Makes each reactor's handler, given the reactor's index.
pub(crate) type HandlerFactory = Arc<dyn Fn(usize) -> Handler + Send + Sync>;
