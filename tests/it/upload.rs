//! Streamed request bodies: a route hands off after the head and the
//! worker reads the body as it arrives — bounded in bytes (a worker that
//! does not read stops the client through TCP), told at once when the client
//! leaves mid-body, refused past `max_upload_bytes`.

use crate::util;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tether::{Config, Handoff, Request, Response, Router, Server};
use util::*;

fn upload_server(config: Config) -> Server {
    let router = Router::new().upload("PUT", "/files/{name}", |_: &Request| Handoff::new());
    serve_router(config, router)
}

/// The worker reads the whole body and answers its length and a checksum.
fn count_and_answer(mut exchange: tether::Exchange) {
    let mut reader = exchange.body_reader().expect("a streamed body");
    let (mut total, mut sum) = (0u64, 0u64);
    let mut buf = [0u8; 16 * 1024];
    let answer = loop {
        match reader.read(&mut buf) {
            Ok(0) => break Response::text(200, format!("{total} {sum}")),
            Ok(n) => {
                total += n as u64;
                sum = buf[..n].iter().fold(sum, |s, &b| s.wrapping_add(b as u64));
            }
            Err(err) => break Response::text(400, err.to_string()),
        }
    };
    let _ = exchange.respond(answer);
}

#[test]
fn a_body_larger_than_any_buffer_streams_through_in_order() {
    init();
    let server = upload_server(Config::default());
    server.workers(1, count_and_answer);
    // 8 MiB, eight times max_body_bytes, sent chunked.
    let mut client = Client::connect(server.local_addr());
    client.send(b"PUT /files/big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let mut expected = 0u64;
    for _ in 0..128 {
        client.send(format!("{:x}\r\n", chunk.len()).as_bytes());
        client.send(&chunk);
        client.send(b"\r\n");
        expected = chunk
            .iter()
            .fold(expected, |s, &b| s.wrapping_add(b as u64));
    }
    client.send(b"0\r\n\r\n");
    let reply = client.read_reply(false);
    assert_eq!(reply.text(), format!("{} {expected}", 128 * 64 * 1024));
    // The connection stays open for the next request.
    client.send(b"PUT /files/small HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(client.read_reply(false).text(), "3 294");
    server.shutdown();
}

#[test]
fn a_worker_that_does_not_read_stops_the_client_not_the_memory() {
    init();
    let server = upload_server(Config::default());
    let (go_tx, go) = mpsc::channel::<()>();
    let go = std::sync::Mutex::new(go);
    server.workers(1, move |exchange| {
        // Do not read until told: the client must be held back meanwhile.
        let _ = go.lock().unwrap().recv_timeout(Duration::from_secs(60));
        count_and_answer(exchange);
    });
    const TOTAL: usize = 64 << 20;
    let mut client = TcpStream::connect(server.local_addr()).unwrap();
    let head = format!("PUT /files/x HTTP/1.1\r\nHost: t\r\nContent-Length: {TOTAL}\r\n\r\n");
    client.write_all(head.as_bytes()).unwrap();
    client.set_nonblocking(true).unwrap();
    let chunk = vec![7u8; 256 * 1024];
    let mut written = 0usize;
    // Write until the server has taken nothing for a whole second.
    let mut last_progress = Instant::now();
    while written < TOTAL && last_progress.elapsed() < Duration::from_secs(1) {
        let end = chunk.len().min(TOTAL - written);
        match client.write(&chunk[..end]) {
            Ok(n) => {
                written += n;
                last_progress = Instant::now();
            }
            Err(err) if err.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(err) => panic!("write failed: {err}"),
        }
    }
    // Held back by TCP: at most the kernel's buffers and ours, far below
    // the body's 64 MiB.
    assert!(
        written < TOTAL / 2,
        "the server took {written} bytes unread"
    );
    go_tx.send(()).unwrap();
    client.set_nonblocking(false).unwrap();
    let rest = vec![7u8; TOTAL - written];
    client.write_all(&rest).unwrap();
    let mut reply = Vec::new();
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&reply).contains(&TOTAL.to_string()) {
        let n = client.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed before the answer: {}",
            String::from_utf8_lossy(&reply)
        );
        reply.extend_from_slice(&buf[..n]);
    }
    server.shutdown();
}

#[test]
fn a_client_that_leaves_mid_body_wakes_the_reading_worker_with_the_reason() {
    init();
    let server = upload_server(Config::default());
    let (result_tx, result) = mpsc::channel();
    server.workers(1, move |mut exchange| {
        let mut reader = exchange.body_reader().expect("a streamed body");
        let mut sink = Vec::new();
        let _ = result_tx.send(reader.read_to_end(&mut sink).map_err(|e| e.to_string()));
    });
    let mut client = Client::connect(server.local_addr());
    client.send(b"PUT /files/x HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\nonly some");
    wait_for("the worker to hold the exchange", || {
        server.stats().pending_responses == 1
    });
    client.reset();
    let outcome = result
        .recv_timeout(Duration::from_secs(10))
        .expect("the worker woke");
    assert_eq!(outcome, Err("peer_reset".to_string()));
    server.shutdown();
}

#[test]
fn a_body_past_max_upload_bytes_is_refused_and_the_worker_told() {
    init();
    let server = upload_server(Config::default().max_upload_bytes(1000));
    let (result_tx, result) = mpsc::channel();
    server.workers(1, move |mut exchange| {
        let mut reader = exchange.body_reader().expect("a streamed body");
        let mut sink = Vec::new();
        let read = reader.read_to_end(&mut sink).map_err(|e| e.kind());
        let _ = result_tx.send(read);
    });
    // Declared too large: refused before any worker sees it.
    let mut declared = Client::connect(server.local_addr());
    declared.send(b"PUT /files/x HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n");
    assert_eq!(declared.read_reply(false).status, 413);
    // Chunked past the limit: refused as it crosses it.
    let mut client = Client::connect(server.local_addr());
    client.send(b"PUT /files/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    client.send(format!("{:x}\r\n{}\r\n", 1500, "z".repeat(1500)).as_bytes());
    assert_eq!(client.read_reply(false).status, 413);
    let outcome = result.recv_timeout(Duration::from_secs(10)).expect("told");
    assert_eq!(outcome, Err(ErrorKind::InvalidData));
    server.shutdown();
}

#[test]
fn an_answer_before_the_body_ends_closes_the_connection_after_it() {
    init();
    let server = upload_server(Config::default());
    server.workers(1, |exchange| {
        // Refuses without reading a byte.
        let _ = exchange.respond(Response::text(403, "not yours"));
    });
    let mut client = Client::connect(server.local_addr());
    client.send(
        b"PUT /files/x HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n",
    );
    let first = client.read_reply(false);
    // 100 Continue went out with the hand-off, then the refusal.
    let reply = if first.status == 100 {
        client.read_reply(false)
    } else {
        first
    };
    assert_eq!((reply.status, reply.text()), (403, "not yours"));
    assert!(reply.closes(), "the unread body is not taken as requests");
    server.shutdown();
}

#[test]
fn a_body_behind_connection_close_is_still_read() {
    init();
    let server = upload_server(Config::default());
    server.workers(1, count_and_answer);
    let mut client = Client::connect(server.local_addr());
    // `Connection: close` drains after the answer; the body is part of the
    // request being answered, so it is read all the same.
    client.send(
        b"PUT /files/x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    let reply = client.read_reply(false);
    assert_eq!((reply.status, reply.text()), (200, "5 532"));
    assert!(reply.closes());
    server.shutdown();
}

#[test]
fn a_handler_that_replaces_the_router_buffers_bodies_again() {
    init();
    let router = Router::new().upload("PUT", "/files/{name}", |_: &Request| Handoff::new());
    let server = Server::builder()
        .router(router)
        .handler(|_: &Request| tether::Action::handoff())
        .bind("127.0.0.1:0")
        .expect("bind");
    server.workers(1, |mut exchange| {
        let streamed = exchange.body_reader().is_some();
        let body = exchange.request().body().len();
        let _ = exchange.respond(Response::text(200, format!("{streamed} {body}")));
    });
    let mut client = Client::connect(server.local_addr());
    client.send(b"PUT /files/x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(client.read_reply(false).text(), "false 3");
    server.shutdown();
}
