//! A client that shuts down its write side after the request: the policy
//! decides between aborting (the default) and finishing the response.

use crate::util;

use std::sync::mpsc;

use tether::{CloseReason, Config, Exchange, HalfClosePolicy, Response};
use util::*;

/// A server under `policy` whose worker answers once `gate` is opened.
fn server_with(
    policy: HalfClosePolicy,
) -> (
    tether::Server,
    mpsc::Receiver<Result<(), tether::Undelivered>>,
    Gate,
) {
    let mut config = Config::default();
    config.half_close = policy;
    let (tx, rx) = mpsc::channel();
    let gate = Gate::default();
    let worker_gate = gate.clone();
    let server = serve_workers(config, 1, move |exchange: Exchange| {
        worker_gate.wait();
        let _ = tx.send(exchange.respond(Response::text(200, "answer")));
    });
    (server, rx, gate)
}

#[test]
fn abort_policy_ends_the_connection_and_returns_the_response() {
    let (server, rx, gate) = server_with(HalfClosePolicy::Abort);
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    client.finish_sending();
    // The worker answers only after the FIN has ended the connection.
    wait_closed_count(&server, CloseReason::PeerClosed, 1);
    gate.open();
    let back = rx.recv_timeout(PATIENCE).unwrap().unwrap_err();
    assert_eq!(back.reason, CloseReason::PeerClosed);
    assert!(client.expect_eof(), "no response, just FIN");
    assert_quiet(&server);
}

#[test]
fn finish_policy_answers_everything_received_then_closes() {
    let (server, rx, gate) = server_with(HalfClosePolicy::Finish);
    let addr = server.local_addr();
    let mut client = Client::connect(addr);
    client.send(b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\n\r\n");
    client.finish_sending();
    // The worker answers only after the FIN has reached the server.
    wait_for("the FIN at the server", || gate::fin_arrived(addr));
    gate.open();
    for _ in 0..2 {
        assert_eq!(client.read_reply(false).text(), "answer");
        rx.recv_timeout(PATIENCE).unwrap().unwrap();
    }
    assert!(client.expect_eof());
    wait_closed_count(&server, CloseReason::PeerClosed, 1);
    assert_quiet(&server);
}

#[test]
fn finish_policy_still_notices_a_reset() {
    let mut config = Config::default();
    config.half_close = HalfClosePolicy::Finish;
    let (tx, rx) = mpsc::channel();
    let server = serve_workers(config, 1, move |exchange: Exchange| {
        let _ = tx.send(exchange.wait_closed(PATIENCE));
    });
    let client = Client::connect(server.local_addr());
    let mut c = client;
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    c.finish_sending();
    wait_for("pending", || server.stats().pending_responses == 1);
    c.reset();
    assert_eq!(
        rx.recv_timeout(PATIENCE).unwrap(),
        Some(CloseReason::PeerReset)
    );
}
