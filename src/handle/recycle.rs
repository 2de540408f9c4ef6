//! What a hand-off gives away and gets back: when an exchange ends, its
//! request's buffers and its cell return to the reactor that made them, so
//! the next hand-off allocates nothing.
//!
//! # Implementation notes
//!
//! - Bounded in count and bytes: at most [`RECYCLED`] requests and cells
//!   wait per reactor, and a request holding more than
//!   [`RECYCLED_REQUEST_BYTES`] of buffers is freed instead (a large body
//!   must not stay pinned by an idle server).
//! - A cell comes back from whoever lets go of it last — the worker's
//!   exchange or [`Delivery`](super::delivery::Delivery), or the reactor's
//!   delivery record — so only a cell nobody else holds is queued. (Two
//!   letting go at the same instant may both see the other and neither give
//!   it back: the cell is freed, and the next hand-off makes one.) The
//!   reactor checks again with `Arc::get_mut` before reusing one.
//! - Lock-free both ways (bounded crossbeam channels are arrays): a worker
//!   giving back never blocks, and a full queue just frees.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::exchange_shared::ExchangeShared;
use crate::proto::request::Request;
use crate::stats::StatsHandle;

/// Requests and cells kept for reuse per reactor: enough for the
/// exchanges of a busy pool coming back in a burst.
pub(crate) const RECYCLED: usize = 256;
/// A request whose buffers hold more than this is freed, not kept (so the
/// requests kept hold at most 2 MiB per reactor).
pub(crate) const RECYCLED_REQUEST_BYTES: usize = 8 * 1024;

/// The reactor's returns desk.
#[derive(Debug)]
pub(crate) struct Recycler {
    requests: (Sender<Request>, Receiver<Request>),
    links: (Sender<Arc<ExchangeShared>>, Receiver<Arc<ExchangeShared>>),
    stats: StatsHandle,
}

impl Recycler {
    pub fn new(stats: StatsHandle) -> Self {
        Recycler {
            requests: crossbeam_channel::bounded(RECYCLED),
            links: crossbeam_channel::bounded(RECYCLED),
            stats,
        }
    }

    /// Gives a request's buffers back (any thread), emptied.
    pub fn give_request(&self, mut request: Request) {
        if request.retained_bytes() > RECYCLED_REQUEST_BYTES {
            return;
        }
        request.clear();
        let _ = self.requests.0.try_send(request);
    }

    /// An empty request with buffers to reuse, or a new one without any.
    pub fn request(&self) -> Request {
        self.requests.1.try_recv().unwrap_or_default()
    }

    /// Called by a holder about to let go of an exchange's cell (any
    /// thread): keeps it for reuse if that is the last hold on it.
    pub fn give_link(&self, link: &Arc<ExchangeShared>) {
        // Nobody can clone a cell they do not hold: a count of one stays one.
        // (Between this and the caller's drop the count is two; a reactor
        // taking it in that instant makes a new one instead.)
        if Arc::strong_count(link) == 1 {
            let _ = self.links.0.try_send(Arc::clone(link));
        }
    }

    /// A cell for a new exchange: a returned one nobody else holds, reset,
    /// or a new one.
    pub fn link(&self) -> Arc<ExchangeShared> {
        if let Ok(mut link) = self.links.1.try_recv() {
            if let Some(only) = Arc::get_mut(&mut link) {
                only.reset();
                return link;
            }
        }
        Arc::new(ExchangeShared::new(self.stats.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason::CloseReason;

    #[test]
    fn a_returned_cell_is_reused_only_once_nothing_else_holds_it() {
        let recycler = Recycler::new(StatsHandle::default());
        let link = recycler.link();
        link.close(CloseReason::PeerClosed);
        let held = Arc::clone(&link);
        recycler.give_link(&link);
        drop(link);
        let fresh = recycler.link();
        assert!(!Arc::ptr_eq(&fresh, &held), "a held cell was reused");
        // The last to let go gives it back.
        recycler.give_link(&held);
        drop(held);
        let reused = recycler.link();
        assert!(!reused.is_closed(), "a reused cell starts open");
        assert_eq!(reused.close_reason(), None);
    }

    #[test]
    fn large_requests_are_freed_not_kept() {
        let recycler = Recycler::new(StatsHandle::default());
        let big = Request {
            body: vec![0; RECYCLED_REQUEST_BYTES + 1],
            ..Request::default()
        };
        recycler.give_request(big);
        assert_eq!(recycler.request().retained_bytes(), 0);
        let mut small = Request::default();
        small.head.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        recycler.give_request(small);
        let reused = recycler.request();
        assert!(reused.head.is_empty() && reused.head.capacity() > 0);
    }
}
