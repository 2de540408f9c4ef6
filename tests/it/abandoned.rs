//! A worker that stops because its client left is doing the right thing:
//! that is counted as `abandoned`, not as `dropped` (which means a waiting
//! client was answered `500`). `Exchange::abandon` says so explicitly; if
//! the client is in fact still there it is answered `503` and the
//! connection stays usable.

use crate::util;

use tether::{CloseReason, Config};
use util::*;

/// A client asks, waits until a worker holds its exchange, and leaves; the
/// worker's giving up is then counted.
fn leave_while_a_worker_holds_it(server: &tether::Server) {
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET /job HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for("the worker to hold it", || {
        server.stats().pending_responses == 1
    });
    drop(client);
    wait_for("the abandonment to be counted", || {
        server.stats().abandoned == 1
    });
}

#[test]
fn dropping_an_exchange_whose_client_left_is_abandonment_not_a_drop() {
    let server = serve_workers(Config::default(), 1, |exchange| {
        // What the README teaches: wait for the client to leave, then stop.
        assert_eq!(
            exchange.wait_closed(PATIENCE),
            Some(CloseReason::PeerClosed)
        );
        drop(exchange);
    });
    leave_while_a_worker_holds_it(&server);
    assert_quiet(&server);
    let stats = server.stats();
    assert_eq!(stats.dropped, 0, "nobody was answered 500: {stats:?}");
    assert_eq!(stats.closed.get(CloseReason::Unanswered), 0);
}

#[test]
fn abandon_answers_a_client_still_waiting_503_and_keeps_the_connection() {
    let server = serve_workers(Config::default(), 1, |exchange| {
        if exchange.request().path() == "/give-up" {
            exchange.abandon();
        } else {
            exchange
                .respond(tether::Response::text(200, "fine"))
                .unwrap();
        }
    });
    let mut client = Client::connect(server.local_addr());
    let reply = client.get("/give-up");
    assert_eq!(reply.status, 503);
    assert!(!reply.closes());
    assert_eq!(client.get("/next").text(), "fine");
    let stats = server.stats();
    assert_eq!((stats.abandoned, stats.dropped), (1, 0), "{stats:?}");
}

#[test]
fn abandon_after_the_client_left_is_quiet() {
    let (abandoned, worker_done) = std::sync::mpsc::channel();
    let server = serve_workers(Config::default(), 1, move |exchange| {
        exchange.wait_closed(PATIENCE);
        exchange.abandon();
        let _ = abandoned.send(());
    });
    leave_while_a_worker_holds_it(&server);
    worker_done
        .recv_timeout(PATIENCE)
        .expect("the worker abandoned it");
    let stats = server.stats();
    assert_eq!((stats.dropped, stats.undelivered), (0, 0), "{stats:?}");
    assert_quiet(&server);
}
