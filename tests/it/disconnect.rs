//! A client that leaves while a worker holds its exchange is noticed at once:
//! `wait_closed` wakes with the reason and `respond` hands the response back.
//! Also with an unanswered body read and with pipelined bytes buffered —
//! the cases Go and hyper miss.
//!
//! Each test runs over plain TCP and, with feature `tls`, over TLS.

use crate::util;

use std::sync::mpsc;
use std::time::Duration;

use tether::{CloseReason, Config, Exchange, Response, Undelivered};
use util::*;

/// What the watching worker saw: the reason `wait_closed` returned, and
/// what `respond` returned after it.
type Report = (Option<CloseReason>, Result<(), Undelivered>);

/// Serves with one worker that reports (reason seen by wait_closed, what
/// respond returned) for every exchange.
fn watching_server(over: Over) -> (tether::Server, mpsc::Receiver<Report>) {
    let (tx, rx) = mpsc::channel();
    let server = serve_workers_over(over, Config::default(), 1, move |exchange: Exchange| {
        let seen = exchange.wait_closed(PATIENCE);
        let outcome = exchange.respond(Response::text(200, "late event"));
        let _ = tx.send((seen, outcome));
    });
    (server, rx)
}

fn expect_told(rx: &mpsc::Receiver<Report>, reason: CloseReason) {
    let (seen, outcome) = rx.recv_timeout(PATIENCE).expect("worker reported");
    assert_eq!(seen, Some(reason));
    let back = outcome.expect_err("the response comes back");
    assert_eq!(back.reason, reason);
    assert_eq!(back.response.body(), b"late event");
}

fn wait_pending(server: &tether::Server) {
    wait_for("the exchange to reach the worker", || {
        server.stats().pending_responses == 1
    });
}

fn fin_while_a_worker_holds_the_exchange_is_peer_closed(over: Over) {
    let (server, rx) = watching_server(over);
    let mut client = Client::connect_over(over, server.local_addr());
    client.send(b"GET /work HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_pending(&server);
    drop(client);
    expect_told(&rx, CloseReason::PeerClosed);
    assert_quiet(&server);
    assert_eq!(server.stats().undelivered, 1);
}

fn rst_while_a_worker_holds_the_exchange_is_peer_reset(over: Over) {
    let (server, rx) = watching_server(over);
    let mut client = Client::connect_over(over, server.local_addr());
    client.send(b"GET /work HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_pending(&server);
    client.reset();
    expect_told(&rx, CloseReason::PeerReset);
    assert_quiet(&server);
}

fn a_client_that_leaves_after_a_post_body_is_noticed(over: Over) {
    let (server, rx) = watching_server(over);
    let mut client = Client::connect_over(over, server.local_addr());
    client.send(b"POST /work HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    wait_pending(&server);
    client.reset();
    expect_told(&rx, CloseReason::PeerReset);
}

fn a_client_that_leaves_with_pipelined_bytes_buffered_is_noticed(over: Over) {
    let (server, rx) = watching_server(over);
    let mut client = Client::connect_over(over, server.local_addr());
    let mut pipelined = Vec::new();
    for _ in 0..50 {
        pipelined.extend_from_slice(b"GET /work HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    client.send(&pipelined);
    wait_pending(&server);
    drop(client);
    expect_told(&rx, CloseReason::PeerClosed);
    assert_quiet(&server);
}

/// A server that buffers at most 1 KiB per connection, with a worker that
/// reports what `wait_closed` saw; and a client that has sent it `bytes` of
/// pipelined requests (far more than it buffers, so reading is paused) and
/// whose first request a worker holds.
fn client_behind_a_full_buffer(
    over: Over,
    bytes: usize,
) -> (tether::Server, Client, mpsc::Receiver<Option<CloseReason>>) {
    let mut config = Config::default();
    config.max_head_bytes = 1024;
    config.max_buffered_bytes = 1024;
    let (tx, rx) = mpsc::channel();
    let server = serve_workers_over(over, config, 1, move |exchange: Exchange| {
        let _ = tx.send(exchange.wait_closed(PATIENCE));
    });
    let mut client = Client::connect_over(over, server.local_addr());
    let mut pipelined = Vec::new();
    while pipelined.len() < bytes {
        pipelined.extend_from_slice(b"GET /work HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    client.send(&pipelined);
    wait_pending(&server);
    (server, client, rx)
}

fn a_client_that_leaves_behind_a_full_input_buffer_is_noticed(over: Over) {
    let (server, client, rx) = client_behind_a_full_buffer(over, 64 * 1024);
    // The server's buffer is full: the rest waits unread in the kernel.
    let addr = server.local_addr();
    wait_for("bytes left unread", || gate::unread_bytes(addr) > 0);
    client.reset();
    assert_eq!(
        rx.recv_timeout(PATIENCE).unwrap(),
        Some(CloseReason::PeerReset)
    );
    assert_quiet(&server);
}

fn a_fin_behind_a_full_input_buffer_is_noticed(over: Over) {
    let (server, mut client, rx) = client_behind_a_full_buffer(over, 16 * 1024);
    client.finish_sending();
    assert_eq!(
        rx.recv_timeout(PATIENCE).unwrap(),
        Some(CloseReason::PeerClosed)
    );
    assert_quiet(&server);
}

fn a_client_that_leaves_mid_body_is_closed(over: Over) {
    let server = serve_workers_over(over, Config::default(), 1, |_| {
        panic!("no request completes")
    });
    let mut client = Client::connect_over(over, server.local_addr());
    client.send(b"POST /work HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly a part");
    // The part is read: held against the memory budget as a body.
    wait_for("the body to start", || server.stats().memory_held > 0);
    drop(client);
    wait_closed_count(&server, CloseReason::PeerClosed, 1);
    assert_quiet(&server);
    assert_eq!(server.stats().requests, 0);
}

fn wait_closed_times_out_while_the_client_stays(over: Over) {
    let (tx, rx) = mpsc::channel();
    let server = serve_workers_over(over, Config::default(), 1, move |exchange: Exchange| {
        let seen = exchange.wait_closed(Duration::from_millis(50));
        let closed = exchange.is_closed();
        exchange.respond(Response::text(200, "still here")).unwrap();
        let _ = tx.send((seen, closed));
    });
    let mut client = Client::connect_over(over, server.local_addr());
    assert_eq!(client.get("/").text(), "still here");
    assert_eq!(rx.recv().unwrap(), (None, false));
}

fn a_detached_response_is_delivered_or_counted_as_undelivered(over: Over) {
    let (tx, rx) = mpsc::channel();
    let server = serve_workers_over(over, Config::default(), 1, move |exchange: Exchange| {
        if exchange.request().path() == "/late" {
            exchange.wait_closed(PATIENCE);
        }
        let _ = tx.send(exchange.respond_detached(Response::text(200, "detached")));
    });
    let mut client = Client::connect_over(over, server.local_addr());
    assert_eq!(client.get("/now").text(), "detached");
    rx.recv_timeout(PATIENCE).unwrap().unwrap();

    client.send(b"GET /late HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_pending(&server);
    drop(client);
    // The client is known to be gone: the response comes back at once.
    let back = rx.recv_timeout(PATIENCE).unwrap().unwrap_err();
    assert_eq!(back.reason, CloseReason::PeerClosed);
    assert_quiet(&server);
    assert_eq!(server.stats().undelivered, 1);
}

crate::over_both!(
    fin_while_a_worker_holds_the_exchange_is_peer_closed,
    rst_while_a_worker_holds_the_exchange_is_peer_reset,
    a_client_that_leaves_after_a_post_body_is_noticed,
    a_client_that_leaves_with_pipelined_bytes_buffered_is_noticed,
    a_client_that_leaves_behind_a_full_input_buffer_is_noticed,
    a_fin_behind_a_full_input_buffer_is_noticed,
    a_client_that_leaves_mid_body_is_closed,
    wait_closed_times_out_while_the_client_stays,
    a_detached_response_is_delivered_or_counted_as_undelivered,
);
