//! One handler per reactor, made by a factory: each may keep mutable state
//! with no lock, because only its reactor's thread calls it.

use crate::util;

use std::cell::Cell;
use std::collections::HashSet;

use tether::{Action, Request, Response, Server};
use util::*;

#[test]
fn each_reactor_gets_a_handler_of_its_own() {
    init();
    let server = Server::builder()
        .reactors(2)
        .handler_factory(|reactor| {
            // A Cell: fine, since no other thread ever calls this handler.
            let served = Cell::new(0u64);
            move |_: &Request| {
                served.set(served.get() + 1);
                let body = format!("{reactor}:{}", served.get());
                Action::Respond(Response::text(200, body))
            }
        })
        .bind("127.0.0.1:0")
        .expect("bind");
    let mut seen = HashSet::new();
    let mut per_reactor = [0u64; 2];
    for _ in 0..40 {
        let reply = Client::connect(server.local_addr()).get("/");
        let (reactor, count) = reply.text().split_once(':').expect("index:count");
        let reactor: usize = reactor.parse().expect("index");
        per_reactor[reactor] += 1;
        assert_eq!(
            count.parse::<u64>().unwrap(),
            per_reactor[reactor],
            "counted alone"
        );
        seen.insert(reactor);
    }
    assert!(!seen.is_empty());
    server.shutdown();
}
