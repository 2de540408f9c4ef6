//! What the reactor lends a connection while it works.

use std::sync::Arc;
use std::time::Instant;

use crate::buffer::BufferPool;
use crate::channel::outlets::Outlets;
use crate::config::Config;
use crate::handle::context::Context;
use crate::handle::exchange::Exchange;
use crate::handle::exchange_shared::ExchangeShared;
use crate::handle::recycle::Recycler;
use crate::handler::{BodyPolicy, Handler};
use crate::proto::request::Request;
use crate::stats::Counters;
use crate::time::Clock;
use crate::ws::events::WsEvent;
use crate::ws::session::WsCx;

/// What the reactor lends a connection while it works.
pub(crate) struct Cx<'a> {
    pub config: &'a Config,
    pub stats: &'a Counters,
    /// When this turn began: what every deadline is judged against.
    pub now: Instant,
    /// For figures that must include this step's own work.
    pub clock: Clock,
    pub date: &'a str,
    pub handler: &'a mut Handler,
    /// Which requests stream their bodies (none without a policy).
    pub uploads: Option<&'a BodyPolicy>,
    /// The hand-off queues, by name.
    pub queues: &'a Outlets<Exchange>,
    pub context: &'a Arc<Context>,
    /// Where exchanges return their request and cell for reuse.
    pub recycler: &'a Arc<Recycler>,
    /// Responses written in full this turn, whose workers the reactor
    /// tells once the turn's writing is done (see `Reactor::settle_delivered`).
    pub delivered: &'a mut Vec<Arc<ExchangeShared>>,
    pub pool: &'a mut BufferPool,
    /// The request being parsed, reused for requests answered inline.
    pub scratch: &'a mut Request,
    /// Where discarded input goes.
    pub discard: &'a mut [u8],
    /// The WebSocket event streams, by name.
    pub ws_events: &'a Outlets<WsEvent>,
}

impl Cx<'_> {
    pub fn ws(&self) -> WsCx<'_> {
        WsCx {
            config: self.config,
            now: self.now,
        }
    }
}
