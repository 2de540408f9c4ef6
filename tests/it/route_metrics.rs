//! Figures by route and by queue: requests and response latency per route
//! pattern × status class (never per raw path), queue wait per hand-off
//! queue, the request's arrival time, a departure heard through an
//! `on_close` callback, and tether's metrics in the application's own
//! Prometheus registry.

use crate::util;

use std::sync::mpsc;
use std::time::Instant;

use tether::stats::{RouteStats, UNROUTED};
use tether::{CloseReason, Handoff, Request, Response, Router, Server};
use util::*;

fn route<'a>(routes: &'a [RouteStats], pattern: &str, class: u16) -> Option<&'a RouteStats> {
    routes
        .iter()
        .find(|r| r.route == pattern && r.status_class == class)
}

#[test]
fn requests_and_latency_by_route_and_status_class_and_wait_by_queue() {
    init();
    let router = Router::new()
        .get("/jobs/{id}", |_: &Request| Handoff::to("jobs"))
        .hands_off_to("jobs")
        .get("/hello", |_: &Request| Response::text(200, "hello"))
        .get("/fail", |_: &Request| Response::text(500, "failed"));
    let server = Server::builder()
        .queue("jobs", 8)
        .router(router)
        .bind("127.0.0.1:0")
        .expect("bind");
    let (arrived_tx, arrived) = mpsc::channel();
    server
        .pool("jobs")
        .expect("declared")
        .workers(1, move |exchange| {
            let _ = arrived_tx.send(exchange.request().received_at());
            let _ = exchange.respond(Response::text(200, "done"));
        });
    let before = Instant::now();
    let mut client = Client::connect(server.local_addr());
    for path in [
        "/jobs/1",
        "/jobs/2",
        "/hello",
        "/fail",
        "/nope",
        "/nope/again",
    ] {
        client.get(path);
    }
    for _ in 0..2 {
        let at = arrived
            .recv()
            .unwrap()
            .expect("a served request has its arrival");
        assert!(at >= before && at <= Instant::now(), "{at:?}");
    }
    wait_for("every response's latency recorded", || {
        let stats = server.stats();
        route(&stats.routes, "/jobs/{id}", 200).is_some_and(|r| r.response_latency.count() == 2)
    });
    let stats = server.stats();
    let jobs = route(&stats.routes, "/jobs/{id}", 200).unwrap();
    assert_eq!(jobs.requests, 2);
    assert_eq!(route(&stats.routes, "/hello", 200).unwrap().requests, 1);
    assert_eq!(route(&stats.routes, "/fail", 500).unwrap().requests, 1);
    // Paths no route matched share one label, however many there are.
    assert_eq!(route(&stats.routes, UNROUTED, 400).unwrap().requests, 2);
    assert_eq!(stats.routes.len(), 4, "{:?}", stats.routes);
    let wait = |name: &str| {
        let queue = stats.queues.iter().find(|q| q.name == name).unwrap();
        queue.queue_wait.count()
    };
    assert_eq!((wait("jobs"), wait("default")), (2, 0));

    let json: serde_json::Value = serde_json::from_str(&stats.to_json()).expect("valid JSON");
    assert_eq!(json["routes"]["/jobs/{id}"]["2xx"]["requests"], 2, "{json}");
    assert_eq!(json["routes"][UNROUTED]["4xx"]["requests"], 2, "{json}");
    let jobs_latency = &json["routes"]["/jobs/{id}"]["2xx"]["response_latency_us"];
    assert_eq!(jobs_latency["count"], 2, "{json}");
    assert_eq!(
        json["queues"]["jobs"]["queue_wait_us"]["count"], 2,
        "{json}"
    );
    // One name per figure: the histograms under their own names too.
    assert_eq!(
        json["response_latency_us"]["count"],
        json["latency_us"]["response"]["count"]
    );
    assert_eq!(json["queue_wait_us"]["count"], 2, "{json}");

    #[cfg(feature = "prometheus")]
    {
        let text = stats.to_prometheus();
        for line in [
            "tether_route_requests_total{route=\"/jobs/{id}\",status=\"2xx\"} 2",
            "tether_route_requests_total{route=\"unrouted\",status=\"4xx\"} 2",
            "tether_route_response_latency_seconds_count{route=\"/fail\",status=\"5xx\"} 1",
            "tether_queue_wait_seconds_count{queue=\"jobs\"} 2",
            "tether_queue_wait_seconds_count{queue=\"default\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}

#[test]
fn a_departure_heard_through_on_close_is_timed_as_a_notice() {
    let server = serve_workers(tether::Config::default(), 1, |exchange| {
        let (told, heard) = mpsc::channel();
        exchange.on_close(move |reason| {
            let _ = told.send(reason);
        });
        // Nobody waits in `wait_closed`: the callback is how it hears.
        let reason = heard.recv_timeout(PATIENCE).expect("told");
        assert_eq!(reason, CloseReason::PeerClosed);
        exchange.abandon();
    });
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for("the worker holds it", || {
        server.stats().pending_responses == 1
    });
    drop(client);
    wait_for("the departure timed", || {
        server.stats().departure_notice.count() == 1
    });
    assert_quiet(&server);
}

#[cfg(feature = "prometheus")]
#[test]
fn tether_s_metrics_join_the_application_s_registry() {
    use tether::stats::prometheus_client::metrics::counter::Counter;
    use tether::stats::prometheus_client::registry::Registry;

    let server = serve(tether::Config::default(), hello);
    let mut registry = Registry::default();
    let orders = Counter::<u64>::default();
    registry.register("orders", "Orders taken.", orders.clone());
    server.stats_handle().register(&mut registry);
    orders.inc();
    Client::connect(server.local_addr()).get("/");
    let scrape = || {
        let mut text = String::new();
        tether::stats::prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    };
    // Each scrape reads the counters afresh.
    wait_for("the request counted in the registry", || {
        scrape().contains("tether_requests_total 1")
    });
    let text = scrape();
    assert!(text.contains("orders_total 1"), "{text}");
    assert_eq!(text.matches("# EOF").count(), 1, "{text}");
}
