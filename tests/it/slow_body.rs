//! A body that trickles in (R-U-Dead-Yet: one byte just before every
//! `body_timeout`) is cut: each window of `body_timeout` must bring
//! `min_body_rate` × its length, or it is answered `408` and closed as
//! `body_too_slow` — also after a fast start. An honest slow upload is not.

use crate::util;

use std::io::Write;
use std::time::{Duration, Instant};

use tether::{Action, CloseReason, Config, Response};
use util::{wait_closed_count, Client, PATIENCE};

fn server() -> tether::Server {
    let mut config = Config::default();
    config.body_timeout = Duration::from_secs(1);
    config.min_body_rate = 1000;
    util::serve(config, |req: &tether::Request| {
        Action::Respond(Response::text(200, format!("{} bytes", req.body().len())))
    })
}

/// Ten bytes a second from another thread until the server stops taking
/// them: never a gap of body_timeout, far below the rate.
fn trickle(client: &Client) -> std::thread::JoinHandle<()> {
    let mut trickle = client.stream.try_clone().unwrap();
    std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < PATIENCE + PATIENCE / 2 {
            if trickle.write_all(b"x").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

#[test]
fn a_trickling_body_is_answered_408_and_closed_as_body_too_slow() {
    let server = server();
    let mut client = Client::connect(server.local_addr());
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n");
    let writer = trickle(&client);
    let reply = client.read_reply(false);
    assert_eq!(reply.status, 408);
    assert!(reply.closes());
    wait_closed_count(&server, CloseReason::BodyTooSlow, 1);
    drop(client);
    writer.join().unwrap();
}

#[test]
fn an_upload_that_keeps_up_the_rate_completes() {
    let server = server();
    let mut client = Client::connect(server.local_addr());
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 20000\r\n\r\n");
    // 10,000 bytes a second for two seconds: ten times the minimum rate.
    for _ in 0..20 {
        client.send(&[b'y'; 1000]);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(client.read_reply(false).text(), "20000 bytes");
    assert_eq!(server.stats().closed.get(CloseReason::BodyTooSlow), 0);
}

/// A body that arrives fast and then trickles: its head start buys nothing
/// (averaged since the start, 100 KB at 1,000 B/s bought 100 s).
#[test]
fn a_fast_start_then_a_trickle_is_cut_within_two_windows() {
    let server = server();
    let mut client = Client::connect(server.local_addr());
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n");
    client.send(&[b'f'; 100_000]);
    let writer = trickle(&client);
    let reply = client.read_reply(false);
    assert_eq!(reply.status, 408);
    wait_closed_count(&server, CloseReason::BodyTooSlow, 1);
    drop(client);
    writer.join().unwrap();
}
