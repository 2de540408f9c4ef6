//! A bad client never hurts the server: garbage, truncated requests and
//! abrupt departures in every phase end one connection each, with a reason,
//! and the server keeps serving.

use crate::util;

use std::time::Duration;

use tether::{Config, Response};
use util::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const VALID: &[u8] = b"POST /echo?x=1 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n5\r\nhello\r\n0\r\n\r\n";

/// A request with random damage: cut short, bytes flipped, or noise.
fn damaged(rng: &mut Rng) -> Vec<u8> {
    let mut bytes = VALID.to_vec();
    match rng.next() % 4 {
        0 => bytes.truncate((rng.next() as usize) % bytes.len()),
        1 => {
            for _ in 0..1 + rng.next() % 4 {
                let i = (rng.next() as usize) % bytes.len();
                bytes[i] = rng.next() as u8;
            }
        }
        2 => bytes = (0..rng.next() % 512).map(|_| rng.next() as u8).collect(),
        _ => {
            let i = (rng.next() as usize) % bytes.len();
            bytes.insert(i, b"\r\n\0 :;"[(rng.next() % 6) as usize]);
        }
    }
    bytes
}

#[test]
fn damaged_requests_end_one_connection_each_and_the_server_goes_on() {
    let mut config = Config::default();
    config.head_timeout = Duration::from_millis(200);
    config.body_timeout = Duration::from_millis(200);
    let server = serve_workers(config, 2, |exchange| {
        let body = exchange.request().body().to_vec();
        let _ = exchange.respond(Response::new(200).with_body(body));
    });
    let mut rng = Rng(0x5EED);
    for round in 0..300 {
        let mut client = Client::connect(server.local_addr());
        client.send(&damaged(&mut rng));
        match round % 3 {
            0 => drop(client),
            1 => client.reset(),
            // Wait for the server's verdict: a response or a close.
            _ => {
                client.finish_sending();
                let _ = client.expect_eof();
            }
        }
    }
    let mut client = Client::connect(server.local_addr());
    client.send(VALID);
    assert_eq!(client.read_reply(false).status, 100);
    assert_eq!(client.read_reply(false).text(), "hello");
    drop(client);
    assert_quiet(&server);
    let stats = server.stats();
    assert_eq!(
        stats.closed.total(),
        stats.accepted,
        "every connection ended with one reason"
    );
}

#[test]
fn random_bytes_never_panic_the_parser_path() {
    // Byte-at-a-time delivery of damaged requests, over one connection each.
    let server = serve(Config::default(), hello);
    let mut rng = Rng(0xBAD);
    for _ in 0..50 {
        let mut client = Client::connect(server.local_addr());
        for byte in damaged(&mut rng) {
            if client.stream.set_nodelay(true).is_err() {
                break;
            }
            if std::io::Write::write_all(&mut client.stream, &[byte]).is_err() {
                break;
            }
        }
        drop(client);
    }
    assert_eq!(Client::connect(server.local_addr()).get("/").status, 200);
    assert_quiet(&server);
}
