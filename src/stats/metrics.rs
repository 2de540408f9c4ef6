//! The figures of a [`Stats`] reading described for exporters: name, kind
//! and help text; and the JSON `/stats` is written from them.

use std::fmt::Write as _;

use super::latency::Latency;
use super::reading::Stats;

/// Whether a figure only grows (a counter) or goes up and down (a gauge),
/// as metrics exporters need to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only grows (until the server restarts).
    Counter,
    /// Goes up and down: how many now.
    Gauge,
}

/// One top-level figure of [`Stats`], described for an exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// The stable name, as in `/stats` (snake_case).
    pub name: &'static str,
    /// Counter or gauge.
    pub kind: MetricKind,
    /// One line saying what it counts.
    pub help: &'static str,
    /// Its value in this reading.
    pub value: u64,
}

impl Stats {
    /// Every top-level figure with its kind and help text, in a fixed order
    /// (the per-reason close counts are in [`Stats::closed`]). An exporter
    /// built on this keeps up with new figures by itself.
    ///
    /// ```
    /// use tether::stats::{MetricKind, Stats};
    /// let stats = Stats::default();
    /// let active = stats.metrics().find(|m| m.name == "active").unwrap();
    /// assert_eq!(active.kind, MetricKind::Gauge);
    /// assert!(stats.metrics().all(|m| !m.help.is_empty()));
    /// ```
    pub fn metrics(&self) -> impl Iterator<Item = Metric> + '_ {
        use MetricKind::{Counter, Gauge};
        let table: [(&'static str, MetricKind, &'static str, u64); 23] = [
            ("accepted", Counter, "Connections accepted.", self.accepted),
            ("active", Gauge, "Connections open now.", self.active),
            (
                "requests",
                Counter,
                "Complete requests parsed.",
                self.requests,
            ),
            (
                "responses",
                Counter,
                "Responses queued for writing.",
                self.responses,
            ),
            (
                "pending_responses",
                Gauge,
                "Exchanges in workers' hands now.",
                self.pending_responses,
            ),
            (
                "undelivered",
                Counter,
                "Worker responses handed back because the client was gone.",
                self.undelivered,
            ),
            (
                "dropped",
                Counter,
                "Exchanges dropped unanswered while their client waited (answered 500).",
                self.dropped,
            ),
            (
                "abandoned",
                Counter,
                "Exchanges given up after their client left, or by abandon().",
                self.abandoned,
            ),
            (
                "worker_panics",
                Counter,
                "Panics caught in the worker pool.",
                self.worker_panics,
            ),
            (
                "handler_panics",
                Counter,
                "Panics caught in the handler on the reactor thread.",
                self.handler_panics,
            ),
            (
                "callback_panics",
                Counter,
                "Panics caught in on_close callbacks.",
                self.callback_panics,
            ),
            (
                "handoff_rejected",
                Counter,
                "Requests answered 503 because the hand-off queue was full.",
                self.handoff_rejected,
            ),
            (
                "accept_paused",
                Counter,
                "Times accepting paused for lack of descriptors.",
                self.accept_paused,
            ),
            (
                "streams_active",
                Gauge,
                "Streaming responses being written now.",
                self.streams_active,
            ),
            (
                "frames_sent",
                Counter,
                "Stream parts taken for writing.",
                self.frames_sent,
            ),
            (
                "frames_replaced",
                Counter,
                "Stream parts replaced by a newer one before being written.",
                self.frames_replaced,
            ),
            ("ws_active", Gauge, "WebSockets open now.", self.ws_active),
            (
                "ws_dropped",
                Counter,
                "WebSocket messages dropped from full queues.",
                self.ws_dropped,
            ),
            (
                "ws_events_pending",
                Gauge,
                "WebSocket events held by the application now.",
                self.ws_events_pending,
            ),
            (
                "ws_refused",
                Counter,
                "WebSocket upgrades refused because too many events were pending.",
                self.ws_refused,
            ),
            (
                "memory_held",
                Gauge,
                "Bytes held now against the memory budget.",
                self.memory_held,
            ),
            (
                "memory_refusals",
                Counter,
                "Bodies, messages and read-ahead refused for lack of memory budget.",
                self.memory_refusals,
            ),
            (
                "memory_share_refusals",
                Counter,
                "Memory refusals where the client already held its share of a busy budget.",
                self.memory_share_refusals,
            ),
        ];
        table.into_iter().map(|(name, kind, help, value)| Metric {
            name,
            kind,
            help,
            value,
        })
    }

    /// The counters as a JSON object: the top-level names above, `closed`
    /// as an object keyed by [`CloseReason::as_str`](crate::CloseReason::as_str),
    /// and `connections` keyed by [`ConnectionState::as_str`](crate::stats::ConnectionState::as_str).
    pub fn to_json(&self) -> String {
        self.to_json_with(&[])
    }

    /// [`Stats::to_json`] with the application's own counters added at the
    /// top level (names are written as given: use plain identifiers).
    ///
    /// ```
    /// let json = tether::stats::Stats::default().to_json_with(&[("messages_requeued", 3)]);
    /// assert!(json.contains("\"messages_requeued\":3,"));
    /// ```
    pub fn to_json_with(&self, extra: &[(&str, u64)]) -> String {
        let mut out = String::with_capacity(512);
        out.push('{');
        let own = self.metrics().map(|metric| (metric.name, metric.value));
        for (name, value) in own.chain(extra.iter().copied()) {
            let _ = write!(out, "\"{name}\":{value},");
        }
        out.push_str("\"closed\":{");
        for (i, (reason, count)) in self.closed.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(out, "{sep}\"{}\":{count}", reason.as_str());
        }
        out.push_str("},\"connections\":{");
        for (i, (state, count)) in self.connections.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(out, "{sep}\"{}\":{count}", state.as_str());
        }
        out.push_str("},\"queues\":{");
        for (i, queue) in self.queues.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            // Queue names are the application's: escaped as JSON strings.
            let _ = write!(
                out,
                "{sep}{}:{{\"depth\":{},\"bound\":{},\"queue_wait_us\":",
                json_string(&queue.name),
                queue.depth,
                queue.bound
            );
            write_latency(&mut out, &queue.queue_wait);
            out.push('}');
        }
        out.push_str("},\"reactors\":[");
        for (i, reactor) in self.reactors.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(
                out,
                "{sep}{{\"accepted\":{},\"active\":{},\"turns\":{},\"events\":{},\
                 \"busy_us\":{},\"busy_ratio\":{:.4},\"turn_running_us\":{}",
                reactor.accepted,
                reactor.active,
                reactor.turns,
                reactor.events,
                reactor.busy.as_micros(),
                reactor.busy_ratio(),
                reactor.turn_running.as_micros(),
            );
            let histograms = [
                ("turn_duration_us", &reactor.turn_duration),
                ("timer_lateness_us", &reactor.timer_lateness),
                ("stall_duration_us", &reactor.stall_duration),
            ];
            write_named(&mut out, &histograms);
            out.push('}');
        }
        out.push_str("],\"routes\":{");
        let mut previous: Option<&str> = None;
        for route in &self.routes {
            // Sorted by route already: one object per route, its classes in it.
            if previous != Some(route.route.as_str()) {
                if previous.is_some() {
                    out.push_str("},");
                }
                let _ = write!(out, "{}:{{", json_string(&route.route));
            } else {
                out.push(',');
            }
            previous = Some(route.route.as_str());
            let _ = write!(
                out,
                "\"{}\":{{\"requests\":{},\"response_latency_us\":",
                route.class_label(),
                route.requests
            );
            write_latency(&mut out, &route.response_latency);
            out.push('}');
        }
        if previous.is_some() {
            out.push('}');
        }
        out.push('}');
        // Each histogram under its own name (the figure's, with its unit),
        // as in rustdoc and Prometheus; `latency_us` keeps the first names.
        let named = [
            ("response_latency_us", &self.response_latency),
            ("queue_wait_us", &self.queue_wait),
            ("departure_notice_us", &self.departure_notice),
        ];
        write_named(&mut out, &named);
        out.push_str(",\"latency_us\":{");
        let latencies = [
            ("response", &self.response_latency),
            ("queue_wait", &self.queue_wait),
            ("departure_notice", &self.departure_notice),
        ];
        for (i, (name, latency)) in latencies.into_iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(out, "{sep}\"{name}\":");
            write_latency(&mut out, latency);
        }
        out.push_str("}}");
        out
    }
}

/// A histogram as JSON, in microseconds: count, sum, p50 and p99 (`null`
/// without samples).
fn write_latency(out: &mut String, latency: &Latency) {
    let quantile = |q| {
        latency
            .quantile(q)
            .map_or("null".to_string(), |d| d.as_micros().to_string())
    };
    let _ = write!(
        out,
        "{{\"count\":{},\"sum\":{},\"p50\":{},\"p99\":{}}}",
        latency.count(),
        latency.sum().as_micros(),
        quantile(0.5),
        quantile(0.99)
    );
}

/// `,"name":{…}` for each histogram.
fn write_named(out: &mut String, histograms: &[(&str, &Latency)]) {
    for (name, latency) in histograms {
        let _ = write!(out, ",\"{name}\":");
        write_latency(out, latency);
    }
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
