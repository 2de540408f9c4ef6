//! Graceful shutdown: stop accepting, let owed responses finish up to the
//! deadline, close the rest, release the port.

use crate::util;

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tether::{CloseReason, Config, Response};
use util::*;

#[test]
fn owed_responses_finish_and_the_port_is_released() {
    let (tx, rx) = mpsc::channel();
    let gate = Gate::default();
    let worker_gate = gate.clone();
    let server = serve_workers(Config::default(), 2, move |exchange| {
        worker_gate.wait();
        let _ = tx.send(exchange.respond(Response::text(200, "finished")));
    });
    let addr = server.local_addr();
    gate.pass(2);
    let mut busy = Client::connect(addr);
    busy.send(b"GET /work HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut idle = Client::connect(addr);
    assert_eq!(idle.get("/").text(), "finished");
    assert_eq!(busy.read_reply(false).text(), "finished");
    rx.recv().unwrap().unwrap();
    rx.recv().unwrap().unwrap();
    busy.send(b"GET /work HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for("the exchange in hand", || {
        server.stats().pending_responses == 1
    });

    let stats = server.stats_handle();
    // The owed response comes once the shutdown has begun: the idle
    // connection is closed at its start.
    let opener = std::thread::spawn({
        let stats = stats.clone();
        move || {
            wait_for("the shutdown to begin", || {
                stats.snapshot().closed.get(CloseReason::Shutdown) >= 1
            });
            gate.pass(1);
        }
    });
    server.shutdown();
    opener.join().unwrap();
    let reply = busy.read_reply(false);
    assert_eq!(reply.text(), "finished", "the owed response was delivered");
    assert!(reply.closes());
    assert!(busy.expect_eof());
    assert!(idle.expect_eof(), "idle connections are closed");
    rx.recv().unwrap().unwrap();
    TcpListener::bind(addr).expect("the port is free again");
    let stats = stats.snapshot();
    assert_eq!(stats.active, 0);
    assert_eq!(stats.closed.get(CloseReason::Shutdown), 2);
}

#[test]
fn past_the_deadline_exchanges_are_handed_back() {
    let mut config = Config::default();
    config.shutdown_timeout = Duration::from_millis(200);
    let server = serve(config, |_| tether::Action::handoff());
    let exchanges = server.exchanges();
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET /forever HTTP/1.1\r\nHost: t\r\n\r\n");
    let exchange = exchanges.recv().unwrap();
    let started = Instant::now();
    server.shutdown();
    assert!(started.elapsed() < PATIENCE);
    assert_eq!(exchange.close_reason(), Some(CloseReason::Shutdown));
    let back = exchange.respond(Response::text(200, "late")).unwrap_err();
    assert_eq!(back.reason, CloseReason::Shutdown);
    assert!(exchanges.recv().is_none(), "the queue ends with the server");
    assert!(client.expect_eof(), "the connection was closed");
}
