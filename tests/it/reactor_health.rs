//! A reactor's health from its own figures: busy ratio, turns and their
//! durations, timer lateness, and the stall detector catching a handler
//! that blocks the reactor — named by route, in `Stats`, JSON and
//! OpenMetrics — and all of it off with `stall_threshold` `never`.

use crate::util;

use std::time::{Duration, Instant};

use tether::{Config, Request, Response, Router, Server};
use util::*;

/// `/slow/{n}` blocks the reactor for 60 ms: what no handler should do.
fn server(config: Config) -> Server {
    let router = Router::new()
        .get("/slow/{n}", |_: &Request| {
            std::thread::sleep(Duration::from_millis(60));
            Response::text(200, "slow")
        })
        .get("/fast", |_: &Request| Response::text(200, "fast"));
    serve_router(config, router)
}

#[test]
fn a_handler_that_blocks_the_reactor_is_a_stall_counted_on_its_reactor() {
    init();
    let server = server(Config::default());
    let mut client = Client::connect(server.local_addr());
    assert_eq!(client.get("/fast").text(), "fast");
    assert_eq!(client.get("/slow/1").text(), "slow");
    // A stall publishes the turns counted so far (else each probe does).
    wait_for("the stall and its turn recorded", || {
        let stats = server.stats();
        let reactor = &stats.reactors[0];
        reactor.stall_duration.count() >= 1
            && reactor.busy >= Duration::from_millis(60)
            && reactor.turn_duration.count() >= 2
    });
    let stats = server.stats();
    let reactor = &stats.reactors[0];
    // The turn that ran the 60 ms handler is at least that long.
    let stall = reactor.stall_duration.quantile(1.0).expect("one stall");
    assert!(stall >= Duration::from_millis(55), "{stall:?}");
    assert!(reactor.turns >= 2 && reactor.events >= 2, "{reactor:?}");
    // The probe timer fires every 100 ms, so lateness is measured even
    // on an idle reactor.
    wait_for("the probe timer fired", || {
        server.stats().reactors[0].timer_lateness.count() >= 2
    });

    let json = server.stats().to_json();
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let reactor = &parsed["reactors"][0];
    assert!(
        reactor["stall_duration_us"]["count"].as_u64() >= Some(1),
        "{json}"
    );
    assert!(
        reactor["stall_duration_us"]["p99"].as_u64() >= Some(55_000),
        "{json}"
    );
    assert!(reactor["turns"].as_u64() >= Some(2), "{json}");
    assert!(reactor["busy_ratio"].as_f64().is_some(), "{json}");
    assert!(reactor["turn_running_us"].as_u64().is_some(), "{json}");
    #[cfg(feature = "prometheus")]
    openmetrics_names_every_health_figure(&server);
}

#[cfg(feature = "prometheus")]
fn openmetrics_names_every_health_figure(server: &Server) {
    let text = server.stats().to_prometheus();
    for name in [
        "tether_reactor_turns_total{reactor=\"0\"}",
        "tether_reactor_events_total{reactor=\"0\"}",
        "tether_reactor_busy_seconds_total{reactor=\"0\"}",
        "tether_reactor_busy_ratio{reactor=\"0\"}",
        "tether_reactor_turn_duration_seconds_count{reactor=\"0\"}",
        "tether_reactor_timer_lateness_seconds_bucket{le=\"0.0001\",reactor=\"0\"}",
        "tether_reactor_stall_duration_seconds_sum{reactor=\"0\"}",
        "tether_reactor_turn_running_seconds{reactor=\"0\"}",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
}

#[test]
fn a_reactor_kept_in_handlers_reads_as_saturated_and_recovers() {
    init();
    let server = server(Config::default());
    let mut client = Client::connect(server.local_addr());
    // A second and a half of back-to-back 60 ms handler calls: the
    // reactor does little but sit in them.
    let until = Instant::now() + Duration::from_millis(1_500);
    while Instant::now() < until {
        assert_eq!(client.get("/slow/2").text(), "slow");
    }
    let ratio = server.stats().reactors[0].busy_ratio();
    assert!(ratio > 0.5, "busy ratio {ratio} while blocked in handlers");
    // Idle again: the next full window reads low.
    wait_for("the busy ratio falls once idle", || {
        server.stats().reactors[0].busy_ratio() < 0.5
    });
}

#[test]
fn never_turns_the_health_figures_off() {
    init();
    let server = server(Config::default().stall_threshold(Duration::MAX));
    let mut client = Client::connect(server.local_addr());
    assert_eq!(client.get("/slow/3").text(), "slow");
    assert_eq!(client.get("/fast").text(), "fast");
    let stats = server.stats();
    let reactor = &stats.reactors[0];
    assert_eq!(reactor.stall_duration.count(), 0);
    assert_eq!(reactor.turns, 0);
    assert_eq!(reactor.busy, Duration::ZERO);
    assert_eq!(reactor.accepted, 1);
}
