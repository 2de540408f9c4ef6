//! An exchange dropped without a response, or held by a worker that panics,
//! is answered `500` with `Connection: close`, counted, and never leaks.

use crate::util;

use tether::{CloseReason, Config};
use util::*;

#[test]
fn a_dropped_exchange_is_answered_500() {
    let server = serve_workers(Config::default(), 1, drop);
    let mut client = Client::connect(server.local_addr());
    let reply = client.get("/");
    assert_eq!(reply.status, 500);
    assert!(reply.closes());
    assert!(client.expect_eof());
    drop(client);
    assert_quiet(&server);
    let stats = server.stats();
    assert_eq!(stats.dropped, 1);
    assert_eq!(stats.closed.get(CloseReason::Unanswered), 1);
}

#[test]
fn a_panicking_worker_gets_500_and_the_pool_goes_on() {
    let server = serve_workers(Config::default(), 1, |exchange| {
        if exchange.request().path() == "/panic" {
            panic!("worker bug");
        }
        exchange
            .respond(tether::Response::text(200, "fine"))
            .unwrap();
    });
    let mut client = Client::connect(server.local_addr());
    assert_eq!(client.get("/panic").status, 500);
    let mut again = Client::connect(server.local_addr());
    assert_eq!(
        again.get("/ok").text(),
        "fine",
        "the single worker survived"
    );
    drop((client, again));
    assert_quiet(&server);
    let stats = server.stats();
    assert_eq!((stats.worker_panics, stats.dropped), (1, 1));
}

#[test]
fn exchanges_from_the_queue_can_be_dropped_by_user_threads() {
    let server = serve(Config::default(), |_| tether::Action::handoff());
    let exchanges = server.exchanges();
    let worker = std::thread::spawn(move || {
        let exchange = exchanges.recv().unwrap();
        drop(exchange);
    });
    let mut client = Client::connect(server.local_addr());
    assert_eq!(client.get("/").status, 500);
    worker.join().unwrap();
}
