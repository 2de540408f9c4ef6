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

/// Two servers in one process: a group or broker shared by both tells
/// their connections apart by id, so no two may share one.
#[test]
fn connection_ids_are_unique_across_servers_in_one_process() {
    init();
    let id_server = || {
        let server = Server::builder()
            .handler(|_| Action::handoff())
            .bind("127.0.0.1:0")
            .unwrap();
        server.workers(1, |exchange| {
            let id = exchange.id().to_string();
            let _ = exchange.respond(Response::text(200, id));
        });
        server
    };
    let (a, b) = (id_server(), id_server());
    let mut ids = HashSet::new();
    for _ in 0..3 {
        for server in [&a, &b] {
            let reply = Client::connect(server.local_addr()).get("/");
            assert!(
                ids.insert(reply.text().to_string()),
                "{} twice",
                reply.text()
            );
        }
    }
}
