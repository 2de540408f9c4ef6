//! The handler that runs on the reactor thread and decides, per request, how
//! it is answered.

use crate::proto::request::Request;
use crate::proto::response::Response;

/// What the handler does with a request.
#[derive(Debug)]
#[non_exhaustive]
pub enum Action {
    /// Answer now, on the reactor thread: the fast path, no thread hop. Keep
    /// this for work that never blocks.
    Respond(Response),
    /// Hand the request to a worker as an [`Exchange`](crate::Exchange),
    /// through [`Server::exchanges`](crate::Server::exchanges) or
    /// [`Server::workers`](crate::Server::workers). The connection is then
    /// `response_pending` until the worker responds.
    Handoff,
    /// Upgrade to WebSocket (a `GET` with `Upgrade: websocket`): the reactor
    /// completes the handshake, or answers `400`/`426` if the request is not
    /// a valid upgrade. The socket's events arrive on
    /// [`Server::ws_events`](crate::Server::ws_events).
    Upgrade(crate::Upgrade),
}

/// The handler every reactor calls (shared when there are several).
pub(crate) type Handler = std::sync::Arc<dyn Fn(&Request) -> Action + Send + Sync>;
