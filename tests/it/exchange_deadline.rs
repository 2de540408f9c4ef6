//! An exchange can set its own response timeout: a long poll may wait past
//! the server-wide `response_timeout`, and a quick job can give up sooner —
//! one global value no longer forces 35 s on 2 s jobs.

use crate::util;

use std::sync::mpsc;
use std::time::Duration;

use tether::{CloseReason, Config, Response};
use util::*;

#[test]
fn a_worker_may_take_longer_than_the_server_wide_timeout_when_it_says_so() {
    let mut config = Config::default();
    config.response_timeout = Duration::from_secs(1);
    let server = serve_workers(config, 1, |exchange| {
        exchange.set_response_timeout(PATIENCE);
        // Well past the server-wide second.
        std::thread::sleep(Duration::from_secs(2));
        exchange
            .respond(Response::text(200, "late but allowed"))
            .unwrap();
    });
    let mut client = Client::connect(server.local_addr());
    let reply = client.get("/poll");
    assert_eq!((reply.status, reply.text()), (200, "late but allowed"));
    assert_eq!(server.stats().closed.get(CloseReason::ResponseTimeout), 0);
}

#[test]
fn a_worker_may_give_itself_less_time() {
    let (tx, rx) = mpsc::channel();
    let server = serve_workers(Config::default(), 1, move |exchange| {
        exchange.set_response_timeout(Duration::from_millis(100));
        let reason = exchange.wait_closed(PATIENCE);
        let outcome = exchange.respond(Response::text(200, "too late"));
        tx.send((reason, outcome.map_err(|u| u.reason))).unwrap();
    });
    let mut client = Client::connect(server.local_addr());
    assert_eq!(client.get("/job").status, 503);
    let (reason, outcome) = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(reason, Some(CloseReason::ResponseTimeout));
    assert_eq!(outcome, Err(CloseReason::ResponseTimeout));
}
