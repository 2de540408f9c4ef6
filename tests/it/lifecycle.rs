//! The server's lifecycle as an application sees it: `wait` blocks until
//! the server has stopped, a `ServerHandle` begins the shutdown from
//! another thread, and the shutdown signal reaches application threads the
//! moment shutdown begins, so parked work answers instead of being cut off.

use crate::util;

use std::sync::mpsc;

use tether::{Config, Response};
use util::*;

#[test]
fn wait_blocks_until_a_handle_shuts_the_server_down() {
    let server = serve(Config::default(), hello);
    let addr = server.local_addr();
    let handle = server.handle();
    let (done_tx, done_rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let outcome = server.wait();
        done_tx.send(()).unwrap();
        outcome
    });
    // Still serving while someone waits on it.
    assert_eq!(Client::connect(addr).get("/").status, 200);
    assert!(done_rx.try_recv().is_err(), "wait returned before shutdown");
    assert!(!handle.is_shutting_down());
    handle.shutdown();
    assert!(handle.is_shutting_down());
    waiter.join().unwrap().expect("a clean stop");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the port is closed"
    );
}

#[test]
fn parked_work_hears_of_the_shutdown_and_answers_before_the_cut() {
    let mut config = Config::default();
    config.shutdown_timeout = PATIENCE;
    let server = serve(config, |_: &tether::Request| tether::Action::handoff());
    let signal = server.shutdown_signal();
    let exchanges = server.exchanges();
    let (seen_tx, seen_rx) = mpsc::channel();
    // A long-poll hub: parks what it gets until shutdown begins.
    let hub = std::thread::spawn(move || {
        let parked = exchanges.recv_timeout(PATIENCE).expect("a poll");
        seen_tx.send(parked.is_shutting_down()).unwrap();
        assert!(signal.wait(PATIENCE * 3), "woken by the shutdown");
        assert!(parked.is_shutting_down());
        parked
            .respond(Response::text(503, "shutting down"))
            .unwrap();
    });
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET /poll HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(seen_rx.recv_timeout(PATIENCE), Ok(false));
    let stopper = std::thread::spawn(move || server.shutdown());
    // Answered by the application, not cut off when shutdown_timeout ends.
    let reply = client.read_reply(false);
    assert_eq!((reply.status, reply.text()), (503, "shutting down"));
    hub.join().unwrap();
    stopper.join().unwrap();
}
