//! A worker learns a response's fate without waiting for it: the verdict
//! (written, or handed back with the reason) comes to a callback, to a
//! later look, or is dropped and counted. Every sent response gets exactly
//! one verdict.

use crate::util;

use std::io::Read;
use std::sync::mpsc;
use std::time::Duration;

use tether::{CloseReason, Config, Delivery, Response, Undelivered};
use util::*;

const GET: &[u8] = b"GET /job HTTP/1.1\r\nHost: t\r\n\r\n";

/// A body larger than the socket buffers hold while the client does not
/// read (4 MiB to send, ~128 KiB to receive here): unread, it cannot be
/// written in full.
const LARGE: usize = 8 << 20;

fn large_body() -> Vec<u8> {
    vec![b'x'; LARGE]
}

/// A client asks, waits until the worker has sent the (large) response,
/// reads a little of it — so it is surely under way — then resets.
fn reset_mid_response(server: &tether::Server, worker_sent: &mpsc::Receiver<()>) {
    let mut client = Client::connect(server.local_addr());
    client.send(GET);
    worker_sent.recv_timeout(PATIENCE).unwrap();
    let mut some = [0u8; 1024];
    client.stream.read_exact(&mut some).unwrap();
    client.reset();
}

#[test]
fn the_callback_hears_delivered_and_the_worker_does_not_wait() {
    let (verdicts, heard) = mpsc::channel();
    let (returned, worker_done) = mpsc::channel();
    let server = serve_workers(Config::default(), 1, move |exchange| {
        let delivery = exchange
            .send_response(Response::text(200, "done"))
            .expect("client waits");
        let verdicts = verdicts.clone();
        delivery.on_outcome(move |outcome| verdicts.send(outcome.is_ok()).unwrap());
        returned.send(()).unwrap();
    });
    let mut client = Client::connect(server.local_addr());
    client.send(GET);
    assert_eq!(client.read_reply(false).text(), "done");
    worker_done.recv_timeout(PATIENCE).unwrap();
    assert_eq!(heard.recv_timeout(PATIENCE), Ok(true));
    assert_eq!(server.stats().undelivered, 0);
}

#[test]
fn the_callback_gets_the_response_back_when_the_client_resets_mid_write() {
    let (verdicts, heard) = mpsc::channel::<Result<(), Undelivered>>();
    let (sent, worker_sent) = mpsc::channel();
    let server = serve_workers(Config::default(), 1, move |exchange| {
        let delivery = exchange
            .send_response(Response::new(200).with_body(large_body()))
            .expect("client waits");
        let verdicts = verdicts.clone();
        delivery.on_outcome(move |outcome| verdicts.send(outcome).unwrap());
        sent.send(()).unwrap();
    });
    reset_mid_response(&server, &worker_sent);
    let back = heard
        .recv_timeout(PATIENCE)
        .expect("a verdict")
        .expect_err("undelivered");
    assert_eq!(back.reason, CloseReason::PeerReset);
    assert_eq!(
        back.response.body().len(),
        LARGE,
        "the response comes back whole"
    );
    assert_eq!(server.stats().undelivered, 1);
    assert!(
        heard.recv_timeout(Duration::from_millis(50)).is_err(),
        "one verdict"
    );
}

#[test]
fn a_delivery_kept_for_later_answers_once_the_verdict_is_in() {
    let (deliveries, kept) = mpsc::channel::<Delivery>();
    let server = serve_workers(Config::default(), 1, move |exchange| {
        let delivery = exchange
            .send_response(Response::new(200).with_body(large_body()))
            .expect("client waits");
        deliveries.send(delivery).unwrap();
    });
    let mut client = Client::connect(server.local_addr());
    client.send(GET);
    let delivery = kept.recv_timeout(PATIENCE).unwrap();
    // The client reads nothing yet: the response cannot be written.
    let delivery = delivery.try_wait().expect_err("not decided while unread");
    let delivery = delivery
        .wait_timeout(Duration::from_millis(20))
        .expect_err("still not decided");
    let reader = std::thread::spawn(move || client.read_reply(false).body.len());
    let verdict = delivery
        .wait_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("no verdict once the client read"));
    assert!(verdict.is_ok());
    assert_eq!(reader.join().unwrap(), LARGE);
}

#[test]
fn a_dropped_delivery_that_fails_is_counted_once() {
    let (sent, worker_sent) = mpsc::channel();
    let server = serve_workers(Config::default(), 1, move |exchange| {
        let delivery = exchange
            .send_response(Response::new(200).with_body(large_body()))
            .expect("client waits");
        delivery.detach();
        sent.send(()).unwrap();
    });
    reset_mid_response(&server, &worker_sent);
    wait_for("the response counted undelivered", || {
        server.stats().undelivered == 1
    });
    assert_quiet(&server);
    assert_eq!(server.stats().undelivered, 1);
}

#[test]
fn a_callback_that_panics_is_contained_and_counted() {
    // These panics are planned; the others still print.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"the application's bug") {
            default_hook(info);
        }
    }));
    let server = serve_workers(Config::default(), 1, move |exchange| {
        if let Ok(delivery) = exchange.send_response(Response::text(200, "ok")) {
            delivery.on_outcome(|_| panic!("the application's bug"));
        }
    });
    for _ in 0..2 {
        let mut client = Client::connect(server.local_addr());
        client.send(GET);
        assert_eq!(client.read_reply(false).text(), "ok");
    }
    wait_for("both panics counted", || {
        server.stats().callback_panics == 2
    });
}
