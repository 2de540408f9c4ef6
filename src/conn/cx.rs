//! What the reactor lends a connection while it works.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::buffer::BufferPool;
use crate::channel::outlets::Outlets;
use crate::config::Config;
use crate::handle::context::Context;
use crate::handle::exchange::Exchange;
use crate::handle::exchange_shared::ExchangeShared;
use crate::handle::recycle::Recycler;
use crate::handler::{BodyPolicy, Handler};
use crate::id::ConnectionId;
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
    /// Times handler calls for the reactor's stall detector.
    pub stall: &'a mut StallWatch,
}

/// Times this turn's handler calls with one clock read each: a call's
/// time is from the previous reading (the turn's start, or the previous
/// call's return) to its own return, so it includes any reactor work in
/// between — microseconds, against a threshold of milliseconds.
#[derive(Debug)]
pub(crate) struct StallWatch {
    checkpoint: Instant,
    /// The slowest call past the threshold this turn.
    slowest: Option<SlowCall>,
}

/// A handler call that took longer than the stall threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SlowCall {
    /// At most this long (see [`StallWatch`]).
    pub took: Duration,
    /// The route's pattern, or the method and path where no router named one.
    pub what: String,
    pub id: ConnectionId,
}

impl StallWatch {
    pub fn new(now: Instant) -> StallWatch {
        StallWatch {
            checkpoint: now,
            slowest: None,
        }
    }

    /// A turn begins at `now`.
    pub fn begin(&mut self, now: Instant) {
        self.checkpoint = now;
    }

    /// The turn ended: its slowest call past the threshold, if any.
    pub fn take_slowest(&mut self) -> Option<SlowCall> {
        self.slowest.take()
    }

    /// A handler call returned at `at`; `what` names it if it was slow.
    pub fn returned(
        &mut self,
        at: Instant,
        threshold: Duration,
        id: ConnectionId,
        what: impl FnOnce() -> String,
    ) {
        let took = at.saturating_duration_since(self.checkpoint);
        self.checkpoint = at;
        if took > threshold && self.slowest.as_ref().is_none_or(|s| took > s.took) {
            self.slowest = Some(SlowCall {
                took,
                what: what(),
                id,
            });
        }
    }
}

impl Cx<'_> {
    pub fn ws(&self) -> WsCx<'_> {
        WsCx {
            config: self.config,
            now: self.now,
        }
    }
}
