//! Every limit has a clear outcome: 400/413/417/431/501/503 or a paused
//! accept, and error responses are read by the client rather than lost to a
//! reset (lingering close).

use crate::util;

use std::io::{Read, Write};
use std::time::Duration;

use tether::{Action, CloseReason, Config, Response};
use util::*;

/// Sends `raw` and returns the status of the answer, checking the server
/// closes afterwards with `bad_request`.
fn rejected_with(config: Config, raw: &[u8]) -> u16 {
    let server = serve(config, hello);
    let mut client = Client::connect(server.local_addr());
    client.send(raw);
    let reply = client.read_reply(false);
    assert!(reply.closes(), "an error response closes the connection");
    assert!(client.expect_eof(), "then an orderly FIN");
    drop(client);
    wait_closed_count(&server, CloseReason::BadRequest, 1);
    assert_quiet(&server);
    reply.status
}

#[test]
fn malformed_requests_get_400() {
    for raw in [
        &b"GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n"[..],
        b"GET\x00 / HTTP/1.1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(
            rejected_with(Config::default(), raw),
            400,
            "{}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn unsupported_transfer_coding_gets_501_and_unknown_expectation_417() {
    let gzip = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
    assert_eq!(rejected_with(Config::default(), gzip), 501);
    let expect = b"POST / HTTP/1.1\r\nHost: t\r\nExpect: tea\r\n\r\n";
    assert_eq!(rejected_with(Config::default(), expect), 417);
}

#[test]
fn a_head_over_the_limit_gets_431() {
    let mut config = Config::default();
    config.max_head_bytes = 512;
    let long = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Long: {}\r\n\r\n",
        "a".repeat(600)
    );
    assert_eq!(rejected_with(config.clone(), long.as_bytes()), 431);
    // Also when the head never ends.
    let endless = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(600));
    assert_eq!(rejected_with(config, endless.as_bytes()), 431);
}

#[test]
fn too_many_headers_get_431() {
    let mut config = Config::default();
    config.max_headers = 4;
    let raw = "GET / HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
    assert_eq!(rejected_with(config, raw.as_bytes()), 431);
}

#[test]
fn a_declared_body_over_the_limit_gets_413_before_it_is_sent() {
    let mut config = Config::default();
    config.max_body_bytes = 1000;
    let raw = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n";
    assert_eq!(rejected_with(config, raw), 413);
}

#[test]
fn a_chunked_body_over_the_limit_gets_413() {
    let mut config = Config::default();
    config.max_body_bytes = 1000;
    let mut raw = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        raw.extend_from_slice(b"190\r\n");
        raw.extend_from_slice(&[b'z'; 400]);
        raw.extend_from_slice(b"\r\n");
    }
    assert_eq!(rejected_with(config, &raw), 413);
}

#[test]
fn a_client_still_uploading_reads_its_413_instead_of_a_reset() {
    let mut config = Config::default();
    config.max_body_bytes = 1000;
    let server = serve(config, hello);
    let mut client = Client::connect(server.local_addr());
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4000000\r\n\r\n");
    // Keep uploading well past the point of refusal, as curl would.
    let chunk = vec![b'u'; 64 * 1024];
    for _ in 0..30 {
        if client.stream.write_all(&chunk).is_err() {
            break;
        }
    }
    let reply = client.read_reply(false);
    assert_eq!(reply.status, 413);
    client.finish_sending();
    let mut rest = Vec::new();
    client
        .stream
        .read_to_end(&mut rest)
        .expect("orderly close, not a reset");
}

#[test]
fn past_max_connections_accepting_pauses_until_a_slot_frees() {
    let mut config = Config::default();
    config.max_connections = 2;
    let server = serve(config, hello);
    let mut first = Client::connect(server.local_addr());
    let mut second = Client::connect(server.local_addr());
    assert_eq!(first.get("/").status, 200);
    assert_eq!(second.get("/").status, 200);
    // The third waits in the backlog: connected, but not served.
    let mut third = Client::connect(server.local_addr());
    third.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    third
        .stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(
        third.stream.read(&mut byte).is_err(),
        "not served while at the limit"
    );
    assert_eq!(server.stats().accepted, 2);
    drop(first);
    third.stream.set_read_timeout(Some(PATIENCE)).unwrap();
    assert_eq!(third.read_reply(false).status, 200);
}

#[test]
fn a_full_hand_off_queue_gets_503() {
    let mut config = Config::default();
    config.handoff_queue = 1;
    // Nobody takes exchanges: the first fills the queue.
    let server = serve(config, |_| Action::handoff());
    let _held = server.exchanges();
    let mut first = Client::connect(server.local_addr());
    first.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for("the first exchange queued", || {
        server.exchanges().len() == 1
    });
    let mut second = Client::connect(server.local_addr());
    let reply = second.get("/");
    assert_eq!(reply.status, 503);
    assert!(reply.closes());
    assert_eq!(server.stats().handoff_rejected, 1);
    assert_eq!(
        server.stats().dropped,
        0,
        "a refused hand-off is not an unanswered exchange"
    );
    let exchange = server.exchanges().recv().unwrap();
    exchange.respond(Response::text(200, "first")).unwrap();
    assert_eq!(first.read_reply(false).text(), "first");
}
