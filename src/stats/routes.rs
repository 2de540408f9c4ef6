//! Requests and response latency by route pattern × status class.
//!
//! Bounded: a server's routes are its router's patterns (known at bind,
//! never the paths clients invent), plus one slot for requests no route
//! matched; each has five status classes. A class's histogram is made at
//! its first sample, so routes never answered with a `5xx` cost a pointer
//! there.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::latency::{Latency, Recorder};

/// What requests no route matched are labelled: no router, `404`, `405`,
/// and requests refused before routing.
pub const UNROUTED: &str = "unrouted";

/// `1xx` to `5xx`.
const CLASSES: usize = 5;

#[derive(Debug, Default)]
struct Class {
    requests: AtomicU64,
    response_latency: OnceLock<Box<Recorder>>,
}

/// Every route's figures, slot 0 for the unrouted.
#[derive(Debug)]
pub(crate) struct RouteTable {
    names: Vec<Arc<str>>,
    slots: Box<[[Class; CLASSES]]>,
}

impl RouteTable {
    /// One slot per pattern (in the router's order), after the unrouted one.
    pub fn new(patterns: &[Arc<str>]) -> RouteTable {
        let names: Vec<Arc<str>> = std::iter::once(Arc::from(UNROUTED))
            .chain(patterns.iter().cloned())
            .collect();
        let slots = names.iter().map(|_| Default::default()).collect();
        RouteTable { names, slots }
    }

    /// Slot `route`'s pattern ([`UNROUTED`] for 0, or one out of range).
    pub fn name(&self, route: u32) -> &str {
        self.names.get(route as usize).map_or(UNROUTED, |name| name)
    }

    fn class(&self, route: u32, status: u16) -> Option<&Class> {
        let class = usize::from(status / 100).checked_sub(1)?;
        self.slots.get(route as usize)?.get(class)
    }

    /// A response with `status` was queued for a request of `route`.
    pub fn count(&self, route: u32, status: u16) {
        if let Some(class) = self.class(route, status) {
            class.requests.fetch_add(1, Relaxed);
        }
    }

    /// A response with `status` for a request of `route` took `latency`.
    pub fn observe(&self, route: u32, status: u16, latency: Duration) {
        if let Some(class) = self.class(route, status) {
            class
                .response_latency
                .get_or_init(Box::default)
                .observe(latency);
        }
    }

    /// Every route and class that saw a request.
    pub fn read(&self) -> Vec<RouteStats> {
        let mut out = Vec::new();
        for (name, classes) in self.names.iter().zip(self.slots.iter()) {
            for (i, class) in classes.iter().enumerate() {
                let requests = class.requests.load(Relaxed);
                if requests == 0 {
                    continue;
                }
                out.push(RouteStats {
                    route: name.to_string(),
                    status_class: (i as u16 + 1) * 100,
                    requests,
                    response_latency: class
                        .response_latency
                        .get()
                        .map(|r| r.read())
                        .unwrap_or_default(),
                });
            }
        }
        out
    }
}

/// One route and status class in a [`Stats`](super::Stats) reading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteStats {
    /// The router's pattern (`/jobs/{id}`), or [`UNROUTED`].
    pub route: String,
    /// 100, 200, 300, 400 or 500: the class of the responses counted here.
    pub status_class: u16,
    /// Responses of this class queued for requests of this route.
    pub requests: u64,
    /// Request complete → its response taken by the kernel, as
    /// [`Stats::response_latency`](super::Stats::response_latency).
    pub response_latency: Latency,
}

impl RouteStats {
    /// `"2xx"` for 200, as the JSON and the Prometheus label write it.
    pub fn class_label(&self) -> &'static str {
        match self.status_class {
            100 => "1xx",
            200 => "2xx",
            300 => "3xx",
            400 => "4xx",
            _ => "5xx",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_counted_by_route_and_class_and_nothing_else_grows() {
        let table = RouteTable::new(&[Arc::from("/jobs/{id}")]);
        table.count(1, 200);
        table.count(1, 204);
        table.observe(1, 204, Duration::from_millis(3));
        table.count(0, 404);
        // Out of range: ignored, never a panic or a new slot.
        table.count(7, 200);
        table.count(1, 700);
        table.count(1, 42);
        let read = table.read();
        assert_eq!(read.len(), 2, "{read:?}");
        assert_eq!(read[0].route, UNROUTED);
        assert_eq!((read[0].class_label(), read[0].requests), ("4xx", 1));
        assert_eq!(read[1].route, "/jobs/{id}");
        assert_eq!((read[1].class_label(), read[1].requests), ("2xx", 2));
        assert_eq!(read[1].response_latency.count(), 1);
    }
}
