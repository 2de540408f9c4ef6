//! Head, body, idle, response and write-stall timeouts, each with its reason.

use crate::util;

use std::io::Read;
use std::sync::mpsc;
use std::time::Duration;

use tether::{Action, CloseReason, Config, Exchange, Response};
use util::*;

fn quick() -> Config {
    let mut config = Config::default();
    config.head_timeout = Duration::from_millis(150);
    config.body_timeout = Duration::from_millis(150);
    config.idle_timeout = Duration::from_millis(150);
    config.response_timeout = Duration::from_millis(150);
    config.write_stall_timeout = Duration::from_millis(300);
    config
}

#[test]
fn a_slow_head_is_cut_with_head_timeout() {
    let server = serve(quick(), hello);
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET / HTTP/1.1\r\nHost:");
    assert!(client.expect_eof());
    wait_closed_count(&server, CloseReason::HeadTimeout, 1);
    assert_quiet(&server);
}

#[test]
fn a_silent_new_connection_is_cut_with_head_timeout() {
    let server = serve(quick(), hello);
    let mut client = Client::connect(server.local_addr());
    assert!(client.expect_eof());
    wait_closed_count(&server, CloseReason::HeadTimeout, 1);
}

#[test]
fn an_idle_keep_alive_connection_is_cut_with_idle_timeout() {
    let server = serve(quick(), hello);
    let mut client = Client::connect(server.local_addr());
    assert_eq!(client.get("/").status, 200);
    assert!(client.expect_eof());
    wait_closed_count(&server, CloseReason::IdleTimeout, 1);
}

#[test]
fn a_stalled_body_is_cut_with_body_timeout() {
    let server = serve(quick(), hello);
    let mut client = Client::connect(server.local_addr());
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    assert!(client.expect_eof());
    wait_closed_count(&server, CloseReason::BodyTimeout, 1);
}

#[test]
fn a_slow_worker_gets_503_sent_and_its_response_back() {
    let (tx, rx) = mpsc::channel();
    let server = serve_workers(quick(), 1, move |exchange: Exchange| {
        let seen = exchange.wait_closed(PATIENCE);
        let _ = tx.send((seen, exchange.respond(Response::text(200, "too late"))));
    });
    let mut client = Client::connect(server.local_addr());
    let reply = client.get("/");
    assert_eq!(reply.status, 503);
    assert!(reply.closes());
    let (seen, outcome) = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(seen, Some(CloseReason::ResponseTimeout));
    let back = outcome.unwrap_err();
    assert_eq!(
        (back.reason, back.response.body()),
        (CloseReason::ResponseTimeout, &b"too late"[..])
    );
    assert!(client.expect_eof());
    drop(client);
    wait_closed_count(&server, CloseReason::ResponseTimeout, 1);
    assert_quiet(&server);
}

#[test]
fn idle_timeout_never_fires_while_a_response_is_pending() {
    let mut config = quick();
    config.response_timeout = Duration::from_secs(5);
    let server = serve_workers(config, 1, |exchange: Exchange| {
        std::thread::sleep(Duration::from_millis(400));
        exchange
            .respond(Response::text(200, "slow but welcome"))
            .unwrap();
    });
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(client.read_reply(false).text(), "slow but welcome");
}

#[test]
fn a_client_that_never_reads_is_reset_with_write_stall() {
    let big = vec![b'x'; 32 * 1024 * 1024];
    let server = serve(quick(), move |_| {
        Action::Respond(Response::new(200).with_body(big.clone()))
    });
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_closed_count(&server, CloseReason::WriteStall, 1);
    // The server reset rather than waiting for us: reading ends in an error
    // or a short stream, never the full 32 MiB.
    let mut sink = Vec::new();
    let _ = client.stream.read_to_end(&mut sink);
    assert!(sink.len() < 32 * 1024 * 1024);
    assert_quiet(&server);
}

#[test]
fn respond_to_a_draining_client_that_never_reads_comes_back_with_write_stall() {
    let (tx, rx) = mpsc::channel();
    // Only the write stall may end this exchange: the worker gets all the
    // time a loaded machine needs to build and hand over 32 MiB.
    let mut config = quick();
    config.response_timeout = PATIENCE * 6;
    let server = serve_workers(config, 1, move |exchange: Exchange| {
        let big = vec![b'x'; 32 * 1024 * 1024];
        let _ = tx.send(exchange.respond(Response::new(200).with_body(big)));
    });
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let back = rx.recv_timeout(PATIENCE).unwrap().unwrap_err();
    assert_eq!(back.reason, CloseReason::WriteStall);
    assert_eq!(
        back.response.body().len(),
        32 * 1024 * 1024,
        "handed back whole"
    );
    drop(client);
    assert_quiet(&server);
}
