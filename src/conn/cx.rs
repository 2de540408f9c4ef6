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
use crate::id::ConnectionId;
use crate::proto::request::Request;
use crate::stats::{Counters, TurnGauge};
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
    /// Notes handler calls for the reactor's stall detector.
    pub stall: &'a mut StallWatch,
}

/// The handler calls of this turn, for the stall detector to name: how
/// many ran, and the last few. No clock is read per call (a call costs a
/// counter, a slot and a store); the reactor times the turn, and a stalled
/// turn with one call was held by that call.
#[derive(Debug, Default)]
pub(crate) struct StallWatch {
    calls: u32,
    /// The last calls' route slots and connections, oldest overwritten.
    recent: [(u32, ConnectionId); RECENT_CALLS],
    /// The turn as other threads see it (the watchdog): `None` while
    /// health is off, when nothing is noted.
    gauge: Option<Arc<TurnGauge>>,
    /// Turns begun, to number them for the gauge.
    turns: u64,
}

/// Calls a stalled turn's log line names.
const RECENT_CALLS: usize = 4;

/// This turn's handler calls, as the stall detector reports them (no
/// allocation: taken every turn).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TurnCalls {
    pub calls: u32,
    /// Route slot (0: none) and connection of the last calls, newest
    /// first; the first `min(calls, 4)` are set.
    recent: [(u32, ConnectionId); RECENT_CALLS],
}

impl TurnCalls {
    /// The last calls, newest first.
    pub fn recent(&self) -> &[(u32, ConnectionId)] {
        &self.recent[..(self.calls as usize).min(RECENT_CALLS)]
    }
}

impl StallWatch {
    /// Publishing each turn to `gauge` too.
    pub fn new(gauge: Arc<TurnGauge>) -> StallWatch {
        StallWatch {
            gauge: Some(gauge),
            ..StallWatch::default()
        }
    }

    /// This thread runs the reactor: the router may name routes to it.
    pub fn install(&self) {
        if let Some(gauge) = &self.gauge {
            gauge.install();
        }
    }

    /// A turn began (`poll` returned).
    pub fn began(&mut self) {
        if let Some(gauge) = &self.gauge {
            self.turns = self.turns.wrapping_add(1).max(1);
            gauge.began(self.turns);
        }
    }

    /// A handler is about to run; the router names its route, if any.
    pub fn calling(&self) {
        if let Some(gauge) = &self.gauge {
            gauge.calling(0);
        }
    }

    /// A handler ran for a request of `route_slot` on `id`.
    pub fn called(&mut self, route_slot: u32, id: ConnectionId) {
        if self.gauge.is_none() {
            return;
        }
        self.recent[self.calls as usize % RECENT_CALLS] = (route_slot, id);
        self.calls = self.calls.saturating_add(1);
    }

    /// The turn ended: no calls yet in the next, and none in progress.
    pub fn clear(&mut self) {
        self.calls = 0;
        if let Some(gauge) = &self.gauge {
            gauge.ended();
        }
    }

    /// The turn's calls (when it stalled), and a fresh count for the next.
    pub fn take(&mut self) -> TurnCalls {
        let calls = std::mem::take(&mut self.calls);
        let mut recent = [(0, ConnectionId::default()); RECENT_CALLS];
        let kept = (calls as usize).min(RECENT_CALLS);
        for (back, slot) in recent.iter_mut().enumerate().take(kept) {
            *slot = self.recent[(calls as usize - 1 - back) % RECENT_CALLS];
        }
        TurnCalls { calls, recent }
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
