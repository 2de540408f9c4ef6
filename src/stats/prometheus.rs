//! The OpenMetrics text a Prometheus scraper reads, encoded by the
//! `prometheus-client` crate from a [`Stats`] reading (feature
//! `prometheus`, on by default).

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::latency::Latency;
use super::metrics::MetricKind;
use super::reading::{ReactorStats, Stats};
use super::routes::RouteStats;

/// The `Content-Type` of [`Stats::to_prometheus`]'s text.
pub const PROMETHEUS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One reading, encoded when the registry is.
#[derive(Debug)]
struct Reading(Stats);

impl Stats {
    /// This reading as OpenMetrics text (serve it with
    /// [`PROMETHEUS_CONTENT_TYPE`]), every name prefixed `tether_`: each
    /// figure of [`Stats::metrics`] (counters end in `_total`), closes by
    /// reason (`tether_closed_total{reason="peer_reset"}`), each hand-off
    /// queue's depth and bound, each reactor's connections, and the latency
    /// histograms in seconds.
    ///
    /// ```
    /// let text = tether::stats::Stats::default().to_prometheus();
    /// assert!(text.contains("tether_accepted_total 0"));
    /// assert!(text.contains("tether_closed_total{reason=\"peer_reset\"} 0"));
    /// assert!(text.contains("# TYPE tether_queue_wait_seconds histogram"));
    /// assert!(text.ends_with("# EOF\n"));
    /// ```
    pub fn to_prometheus(&self) -> String {
        let mut registry = Registry::with_prefix("tether");
        registry.register_collector(Box::new(Reading(self.clone())));
        let mut out = String::with_capacity(8192);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// A server's figures read afresh at each scrape, for a registry of the
/// application's own.
struct Live(Box<dyn Fn() -> Stats + Send + Sync>);

impl fmt::Debug for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Live")
    }
}

impl Collector for Live {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        Reading((self.0)()).encode(encoder)
    }
}

/// Registers the figures `read` returns, read at each scrape, under the
/// prefix `tether_` (see `StatsHandle::register`).
pub(super) fn register(registry: &mut Registry, read: impl Fn() -> Stats + Send + Sync + 'static) {
    registry
        .sub_registry_with_prefix("tether")
        .register_collector(Box::new(Live(Box::new(read))));
}

impl Collector for Reading {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let stats = &self.0;
        for metric in stats.metrics() {
            match metric.kind {
                MetricKind::Counter => {
                    let mut m = encoder.encode_descriptor(
                        metric.name,
                        metric.help,
                        None,
                        MetricType::Counter,
                    )?;
                    m.encode_counter::<NoLabelSet, _, u64>(&metric.value, None)?;
                }
                MetricKind::Gauge => {
                    let mut m = encoder.encode_descriptor(
                        metric.name,
                        metric.help,
                        None,
                        MetricType::Gauge,
                    )?;
                    m.encode_gauge(&metric.value)?;
                }
            }
        }
        let help = "Connections closed, by reason.";
        let mut family = encoder.encode_descriptor("closed", help, None, MetricType::Counter)?;
        for (reason, count) in stats.closed.iter() {
            let labels = [("reason", reason.as_str())];
            family
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&count, None)?;
        }
        let help = "Connections open now, by what they are doing.";
        let mut family = encoder.encode_descriptor("connections", help, None, MetricType::Gauge)?;
        for (state, count) in stats.connections.iter() {
            let labels = [("state", state.as_str())];
            family.encode_family(&labels)?.encode_gauge(&count)?;
        }
        let help = "Exchanges waiting for a worker, per hand-off queue.";
        let mut family = encoder.encode_descriptor("queue_depth", help, None, MetricType::Gauge)?;
        for queue in &stats.queues {
            let labels = [("queue", queue.name.as_str())];
            family.encode_family(&labels)?.encode_gauge(&queue.depth)?;
        }
        let help = "Exchanges a hand-off queue holds before answering 503.";
        let mut family = encoder.encode_descriptor("queue_bound", help, None, MetricType::Gauge)?;
        for queue in &stats.queues {
            let labels = [("queue", queue.name.as_str())];
            family.encode_family(&labels)?.encode_gauge(&queue.bound)?;
        }
        let help = "Connections open now, per reactor.";
        let mut family =
            encoder.encode_descriptor("reactor_active", help, None, MetricType::Gauge)?;
        for (index, reactor) in stats.reactors.iter().enumerate() {
            let labels = [("reactor", index.to_string())];
            family
                .encode_family(&labels)?
                .encode_gauge(&reactor.active)?;
        }
        let help = "Connections accepted, per reactor.";
        let mut family =
            encoder.encode_descriptor("reactor_accepted", help, None, MetricType::Counter)?;
        for (index, reactor) in stats.reactors.iter().enumerate() {
            let labels = [("reactor", index.to_string())];
            family
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&reactor.accepted, None)?;
        }
        encode_reactor_health(&mut encoder, stats)?;
        encode_routes(&mut encoder, stats)?;
        let help = "Exchange queued to a worker taking it, per hand-off queue.";
        let mut family = encoder.encode_descriptor(
            "queue_wait",
            help,
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for queue in &stats.queues {
            let labels = [("queue", queue.name.as_str())];
            encode_latency(family.encode_family(&labels)?, &queue.queue_wait)?;
        }
        let histograms = [
            (
                "response_latency",
                "Request complete to its response (a stream's head) taken by the kernel.",
                &stats.response_latency,
            ),
            (
                "departure_notice",
                "Connection closed to the application hearing of it, per way it heard.",
                &stats.departure_notice,
            ),
        ];
        for (name, help, latency) in histograms {
            let m = encoder.encode_descriptor(
                name,
                help,
                Some(&Unit::Seconds),
                MetricType::Histogram,
            )?;
            encode_latency(m, latency)?;
        }
        Ok(())
    }
}

/// One histogram's buckets, sum and count.
fn encode_latency(mut encoder: MetricEncoder<'_>, latency: &Latency) -> fmt::Result {
    let buckets = openmetrics_buckets(latency);
    let sum = latency.sum().as_secs_f64();
    encoder.encode_histogram::<NoLabelSet>(sum, latency.count(), &buckets, None)
}

/// Requests and latency by route pattern × status class.
fn encode_routes(encoder: &mut DescriptorEncoder, stats: &Stats) -> fmt::Result {
    let labels = |route: &RouteStats| {
        [
            ("route", route.route.clone()),
            ("status", route.class_label().to_string()),
        ]
    };
    let help = "Responses queued, by route pattern and status class.";
    let mut family =
        encoder.encode_descriptor("route_requests", help, None, MetricType::Counter)?;
    for route in &stats.routes {
        family
            .encode_family(&labels(route))?
            .encode_counter::<NoLabelSet, _, u64>(&route.requests, None)?;
    }
    let help =
        "Request complete to its response taken by the kernel, by route pattern and status class.";
    let mut family = encoder.encode_descriptor(
        "route_response_latency",
        help,
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    for route in &stats.routes {
        encode_latency(
            family.encode_family(&labels(route))?,
            &route.response_latency,
        )?;
    }
    Ok(())
}

/// A per-reactor figure: name, help, and how to read it.
type PerReactor<T> = (&'static str, &'static str, fn(&ReactorStats) -> T);
/// A per-reactor gauge: name, help, unit, and how to read it.
type PerReactorGauge = (
    &'static str,
    &'static str,
    Option<Unit>,
    fn(&ReactorStats) -> f64,
);
type PerReactorHistogram = (
    &'static str,
    &'static str,
    for<'a> fn(&'a ReactorStats) -> &'a Latency,
);

/// Each reactor's health, labelled `reactor`: turns, events, busy time and
/// ratio, and the turn, timer-lateness and stall histograms.
fn encode_reactor_health(encoder: &mut DescriptorEncoder, stats: &Stats) -> fmt::Result {
    let label = |index: usize| [("reactor", index.to_string())];
    let counters: [PerReactor<u64>; 2] = [
        (
            "reactor_turns",
            "Turns a reactor took: one poll and the work it brought.",
            |r| r.turns,
        ),
        (
            "reactor_events",
            "Readiness events a reactor handled.",
            |r| r.events,
        ),
    ];
    for (name, help, value) in counters {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (index, reactor) in stats.reactors.iter().enumerate() {
            family
                .encode_family(&label(index))?
                .encode_counter::<NoLabelSet, _, u64>(&value(reactor), None)?;
        }
    }
    let help = "Time a reactor spent in turns, not waiting in poll (its rate is the busy ratio).";
    let mut family = encoder.encode_descriptor(
        "reactor_busy",
        help,
        Some(&Unit::Seconds),
        MetricType::Counter,
    )?;
    for (index, reactor) in stats.reactors.iter().enumerate() {
        family
            .encode_family(&label(index))?
            .encode_counter::<NoLabelSet, _, u64>(&reactor.busy.as_secs_f64(), None)?;
    }
    let gauges: [PerReactorGauge; 2] = [
        (
            "reactor_busy_ratio",
            "A reactor's time in turns over wall time in the last second (1: saturated).",
            None,
            ReactorStats::busy_ratio,
        ),
        (
            "reactor_turn_running",
            "How long a reactor's turn in progress has run (0: waiting for events).",
            Some(Unit::Seconds),
            |r| r.turn_running.as_secs_f64(),
        ),
    ];
    for (name, help, unit, value) in gauges {
        let mut family = encoder.encode_descriptor(name, help, unit.as_ref(), MetricType::Gauge)?;
        for (index, reactor) in stats.reactors.iter().enumerate() {
            family
                .encode_family(&label(index))?
                .encode_gauge(&value(reactor))?;
        }
    }
    let histograms: [PerReactorHistogram; 3] = [
        (
            "reactor_turn_duration",
            "A reactor's turns, from poll returning to the next poll.",
            |r| &r.turn_duration,
        ),
        (
            "reactor_timer_lateness",
            "How late a reactor's probe timer fired (the loop lag).",
            |r| &r.timer_lateness,
        ),
        (
            "reactor_stall_duration",
            "A reactor's turns longer than the stall threshold.",
            |r| &r.stall_duration,
        ),
    ];
    for (name, help, latency) in histograms {
        let mut family =
            encoder.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
        for (index, reactor) in stats.reactors.iter().enumerate() {
            encode_latency(family.encode_family(&label(index))?, latency(reactor))?;
        }
    }
    Ok(())
}

/// (upper bound in seconds, samples in that bucket alone): the encoder
/// adds them up itself.
fn openmetrics_buckets(latency: &Latency) -> Vec<(f64, u64)> {
    let mut previous = 0;
    latency
        .buckets()
        .map(|(bound, below)| {
            let upper = bound.map_or(f64::INFINITY, |b| b.as_secs_f64());
            let alone = below - previous;
            previous = below;
            (upper, alone)
        })
        .collect()
}
