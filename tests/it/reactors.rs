//! Several reactors share one port (SO_REUSEPORT), each with its own slab;
//! the handle API, stats and shutdown work the same, and connection ids stay
//! unique across reactors.

use crate::util;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tether::{Action, Response, Server};
use util::*;

#[test]
fn connections_spread_over_reactors_and_everything_else_is_unchanged() {
    init();
    let seen_threads = Arc::new(Mutex::new(HashSet::new()));
    let seen = Arc::clone(&seen_threads);
    let server = Server::builder()
        .reactors(2)
        .handler(move |req| {
            seen.lock()
                .unwrap()
                .insert(std::thread::current().name().unwrap_or("?").to_string());
            match req.path() {
                "/inline" => Action::Respond(Response::text(200, "inline")),
                _ => Action::handoff(),
            }
        })
        .bind("127.0.0.1:0")
        .unwrap();
    server.workers(2, |exchange| {
        let id = exchange.id();
        let _ = exchange.respond(Response::text(
            200,
            format!("{}.{}", id.key(), id.generation()),
        ));
    });
    let addr = server.local_addr();

    let mut ids = HashSet::new();
    let mut clients: Vec<Client> = (0..64).map(|_| Client::connect(addr)).collect();
    for client in &mut clients {
        assert_eq!(client.get("/inline").text(), "inline");
        let id = client.get("/worker").text().to_string();
        assert!(ids.insert(id.clone()), "connection id {id} seen twice");
    }
    let threads = seen_threads.lock().unwrap().clone();
    assert_eq!(
        threads.len(),
        2,
        "both reactors served connections: {threads:?}"
    );
    assert_eq!(server.stats().accepted, 64);
    drop(clients);
    assert_quiet(&server);

    server.shutdown();
    std::net::TcpListener::bind(addr).expect("the port is free once shutdown returns");
}
