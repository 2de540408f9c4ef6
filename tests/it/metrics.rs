//! Metrics a scraper can read: latency histograms filled by real traffic,
//! per-queue depth, per-reactor figures, closes labelled by reason — in
//! `/stats` JSON and in OpenMetrics text.

use crate::util;

use std::time::Duration;

use tether::{CloseReason, Handoff, Request, Response, Server};
use util::*;

#[test]
fn traffic_fills_the_histograms_and_labelled_figures() {
    init();
    let server = Server::builder()
        .queue("jobs", 8)
        .reactors(2)
        .handler(|req: &Request| match req.path() {
            "/inline" => Response::text(200, "inline").into(),
            _ => Handoff::to("jobs").into(),
        })
        .bind("127.0.0.1:0")
        .expect("bind");
    let (waiting_tx, waiting) = std::sync::mpsc::channel();
    let (left_tx, left) = std::sync::mpsc::channel();
    server
        .pool("jobs")
        .expect("declared")
        .workers(1, move |exchange| {
            if exchange.request().path() == "/leave" {
                let _ = waiting_tx.send(());
                let _ = left_tx.send(exchange.wait_closed(Duration::from_secs(30)));
                return exchange.abandon();
            }
            let _ = exchange.respond(Response::text(200, "worked"));
        });
    let mut client = Client::connect(server.local_addr());
    assert_eq!(client.get("/inline").text(), "inline");
    assert_eq!(client.get("/work").text(), "worked");
    // A departure is timed when it wakes a worker blocked in wait_closed.
    // The worker says it is about to block; should the client's leaving
    // still beat it there (a descheduled worker), try again.
    let mut leavers = 0;
    while server.stats().departure_notice.count() == 0 {
        assert!(leavers < 5, "no departure woke a waiting worker");
        leavers += 1;
        let mut leaver = Client::connect(server.local_addr());
        leaver.send(b"GET /leave HTTP/1.1\r\nHost: t\r\n\r\n");
        waiting
            .recv_timeout(Duration::from_secs(10))
            .expect("the worker took it");
        drop(leaver);
        let reason = left
            .recv_timeout(Duration::from_secs(10))
            .expect("worker told");
        assert_eq!(reason, Some(CloseReason::PeerClosed));
    }

    // The worker abandons each exchange after reporting on it.
    wait_for("every left exchange abandoned", || {
        server.stats().abandoned == leavers
    });

    let stats = server.stats();
    assert!(
        stats.response_latency.count() >= 2,
        "{:?}",
        stats.response_latency
    );
    assert!(stats.queue_wait.count() >= 2, "{:?}", stats.queue_wait);
    let woken = stats.departure_notice.count();
    assert!((1..=leavers).contains(&woken), "{woken} of {leavers}");
    let names: Vec<_> = stats.queues.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names, ["default", "jobs"]);
    assert_eq!(stats.queues[1].bound, 8);
    assert_eq!(stats.reactors.len(), 2);
    let accepted: u64 = stats.reactors.iter().map(|r| r.accepted).sum();
    assert_eq!(accepted, stats.accepted);

    let json: serde_json::Value = serde_json::from_str(&stats.to_json()).expect("valid JSON");
    assert_eq!(json["queues"]["jobs"]["bound"], 8);
    assert_eq!(json["reactors"].as_array().map(Vec::len), Some(2));
    assert_eq!(json["latency_us"]["departure_notice"]["count"], woken);
    assert_eq!(json["closed"]["peer_closed"], leavers);
    assert!(json["connections"]["reading"].is_u64(), "{json}");

    #[cfg(feature = "prometheus")]
    {
        let text = stats.to_prometheus();
        assert!(
            text.contains(&format!(
                "tether_closed_total{{reason=\"peer_closed\"}} {leavers}"
            )),
            "{text}"
        );
        assert!(
            text.contains("tether_queue_bound{queue=\"jobs\"} 8"),
            "{text}"
        );
        assert!(
            text.contains("tether_reactor_active{reactor=\"1\"}"),
            "{text}"
        );
        assert!(
            text.contains(&format!("tether_departure_notice_seconds_count {woken}")),
            "{text}"
        );
        assert!(
            text.contains("tether_connections{state=\"reading\"}"),
            "{text}"
        );
        let abandoned = format!("tether_abandoned_total {leavers}");
        assert!(text.contains(&abandoned), "{text}");
    }
    server.shutdown();
}
