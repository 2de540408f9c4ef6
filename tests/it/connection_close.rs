//! Mongoose 7.15's bug: a request with `Connection: close` answered later by a
//! worker was closed before the reply existed. Here `Connection: close` only
//! means "drain after the response is flushed".
//!
//! Both run over plain TCP and, with feature `tls`, over TLS.

use crate::util;

use tether::{CloseReason, Config, Response};
use util::*;

fn a_late_worker_reply_to_connection_close_arrives_in_full_then_fin(over: Over) {
    let body = "x".repeat(100_000);
    let expected = body.clone();
    let gate = Gate::default();
    let worker_gate = gate.clone();
    let server = serve_workers_over(over, Config::default(), 1, move |exchange| {
        worker_gate.wait();
        exchange.respond(Response::text(200, body.clone())).unwrap();
    });
    let mut client = Client::connect_over(over, server.local_addr());
    client.send(b"GET /work HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    // The reply comes late: after the reactor has the whole request.
    wait_for("the worker to hold it", || {
        server.stats().pending_responses == 1
    });
    gate.open();
    let reply = client.read_reply(false);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), expected);
    assert!(reply.closes());
    assert!(client.expect_eof(), "an orderly FIN follows the response");
    drop(client);
    wait_closed_count(&server, CloseReason::Drained, 1);
    assert_quiet(&server);
}

fn the_response_may_also_ask_to_close(over: Over) {
    let server = serve_over(over, Config::default(), |_| {
        tether::Action::Respond(Response::text(200, "bye").with_header("Connection", "close"))
    });
    let mut client = Client::connect_over(over, server.local_addr());
    let reply = client.get("/");
    assert!(reply.closes());
    assert!(client.expect_eof());
}

crate::over_both!(
    a_late_worker_reply_to_connection_close_arrives_in_full_then_fin,
    the_response_may_also_ask_to_close,
);
