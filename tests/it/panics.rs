//! Code that runs on the reactor thread is untrusted: a panicking handler or
//! `on_close` callback is contained and counted, and the reactor goes on
//! serving everyone else — including a worker blocked in `respond` for a
//! client that does not read.

use crate::util;

use std::io::Read;
use std::sync::mpsc;
use std::time::Duration;

use tether::{Action, CloseReason, Config, Response};
use util::{serve, wait_for, Client, PATIENCE};

/// A handler that panics on `/boom`, answers `/hello` inline, and hands the
/// rest to workers.
fn fragile(req: &tether::Request) -> Action {
    match req.path() {
        "/boom" => panic!("handler bug"),
        "/hello" => Action::Respond(Response::text(200, "Hello, World!")),
        _ => Action::handoff(),
    }
}

#[test]
fn a_panicking_handler_answers_500_and_the_reactor_keeps_serving() {
    let mut config = Config::default();
    config.shutdown_timeout = Duration::from_secs(1);
    let server = serve(config, fragile);
    // Another client holds a pending response with a 32 MiB body it does not
    // read: its worker is blocked in `respond` while the handler panics.
    let (outcome_tx, outcome_rx) = mpsc::channel();
    server.workers(1, move |exchange| {
        let big = Response::new(200).with_body(vec![b'x'; 32 << 20]);
        let _ = outcome_tx.send(exchange.respond(big));
    });
    let mut holder = Client::connect(server.local_addr());
    holder.send(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for("the big response to be pending", || {
        server.stats().responses >= 1
    });

    let mut victim = Client::connect(server.local_addr());
    victim.send(b"GET /boom HTTP/1.1\r\nHost: t\r\n\r\n");
    let reply = victim.read_reply(false);
    assert_eq!(reply.status, 500);
    assert!(reply.closes(), "a failed request closes its connection");
    assert!(victim.expect_eof());

    // The reactor is alive: new clients are served.
    let mut next = Client::connect(server.local_addr());
    assert_eq!(next.get("/hello").text(), "Hello, World!");
    wait_for("the panic to be counted", || {
        let stats = server.stats();
        stats.handler_panics == 1 && stats.closed.get(CloseReason::ServerError) == 1
    });

    // Shutdown returns, and the blocked worker learns its response was not
    // delivered, with a reason.
    server.shutdown();
    let outcome = outcome_rx.recv_timeout(PATIENCE).expect("respond returned");
    let back = outcome.expect_err("the client never read it");
    assert_eq!(back.reason, CloseReason::Shutdown);
    drop(holder);
}

#[test]
fn a_panicking_on_close_callback_is_contained_and_counted() {
    let server = serve(Config::default(), fragile);
    let (left_tx, left_rx) = mpsc::channel();
    server.workers(1, move |exchange| {
        exchange.on_close(|_| panic!("callback bug"));
        let tx = left_tx.clone();
        exchange.on_close(move |reason| {
            let _ = tx.send(reason);
        });
        let _ = exchange.wait_closed(PATIENCE);
    });
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET /wait HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for("the exchange to be pending", || {
        server.stats().pending_responses == 1
    });
    client.reset();
    // The callback after the panicking one still ran.
    assert_eq!(left_rx.recv_timeout(PATIENCE), Ok(CloseReason::PeerReset));
    wait_for("the callback panic to be counted", || {
        server.stats().callback_panics == 1
    });
    let mut next = Client::connect(server.local_addr());
    assert_eq!(next.get("/hello").status, 200);
    drop(next);
    util::assert_quiet(&server);
}

#[test]
fn a_panicking_handler_on_a_pipelined_request_answers_what_came_before() {
    let server = serve(Config::default(), fragile);
    let mut client = Client::connect(server.local_addr());
    client.send(
        b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /boom HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(client.read_reply(false).status, 200);
    assert_eq!(client.read_reply(false).status, 500);
    // Nothing after the failed request is run.
    let mut rest = Vec::new();
    let _ = client.stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}
