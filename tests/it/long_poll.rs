//! Long polling without lost events: a worker waits on its own channel for
//! "a message, or the client leaving" (the close notification is delivered
//! into that channel), and a message taken for a client that left comes back
//! to be requeued.

use crate::util;

use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::Instant;

use tether::{CloseReason, Config, Exchange, Response};
use util::*;

enum Wake {
    Message(String),
    ClientLeft(CloseReason),
}

/// What woke the worker: the departure (reason, when), or `None` for a message.
type Woken = Option<(CloseReason, Instant)>;

/// A worker that waits on its own channel for a message or the departure,
/// and registers that channel where the test (the publisher) can reach it.
fn channel_worker() -> (
    tether::Server,
    mpsc::Receiver<mpsc::Sender<Wake>>,
    mpsc::Receiver<Woken>,
) {
    let (register_tx, register) = mpsc::channel();
    let register_tx = std::sync::Mutex::new(register_tx);
    let (report_tx, report) = mpsc::channel();
    let server = serve_workers(Config::default(), 1, move |exchange: Exchange| {
        let (tx, rx) = mpsc::channel();
        let left = tx.clone();
        exchange.on_close(move |reason| {
            let _ = left.send(Wake::ClientLeft(reason));
        });
        register_tx.lock().unwrap().send(tx).unwrap();
        let woke = match rx.recv_timeout(PATIENCE) {
            Ok(Wake::Message(message)) => {
                exchange.respond(Response::text(200, message)).unwrap();
                None
            }
            Ok(Wake::ClientLeft(reason)) => Some((reason, Instant::now())),
            Err(_) => panic!("nothing woke the worker"),
        };
        report_tx.send(woke).unwrap();
    });
    (server, register, report)
}

#[test]
fn a_worker_waits_on_its_own_channel_for_a_message_or_the_departure() {
    let (server, register, report) = channel_worker();

    let mut client = Client::connect(server.local_addr());
    client.send(b"GET /poll HTTP/1.1\r\nHost: t\r\n\r\n");
    let publish = register.recv_timeout(PATIENCE).unwrap();
    publish.send(Wake::Message("news".into())).unwrap();
    assert_eq!(client.read_reply(false).text(), "news");
    assert_eq!(report.recv_timeout(PATIENCE).unwrap(), None);

    for (leave, reason) in [
        (drop as fn(Client), CloseReason::PeerClosed),
        (Client::reset, CloseReason::PeerReset),
    ] {
        client.send(b"GET /poll HTTP/1.1\r\nHost: t\r\n\r\n");
        let _publisher = register.recv_timeout(PATIENCE).unwrap();
        let left_at = Instant::now();
        leave(client);
        let (seen, woke_at) = report
            .recv_timeout(PATIENCE)
            .unwrap()
            .expect("woken by the departure");
        assert_eq!(seen, reason);
        assert!(woke_at >= left_at);
        assert_quiet(&server);
        client = Client::connect(server.local_addr());
    }
}

#[test]
fn a_message_taken_for_a_poller_that_reset_is_handed_back_and_reaches_the_next() {
    let server = serve(Config::default(), |_| tether::Action::handoff());
    let exchanges = server.exchanges();
    let mut queue: VecDeque<String> = VecDeque::from(["the event".to_string()]);

    let mut first = Client::connect(server.local_addr());
    first.send(b"GET /poll HTTP/1.1\r\nHost: t\r\n\r\n");
    let waiting = exchanges.recv().unwrap();
    first.reset();
    // The worker did not look before taking the event (the worst case).
    waiting.wait_closed(PATIENCE);
    let event = queue.pop_front().unwrap();
    let back = waiting.respond(Response::text(200, event)).unwrap_err();
    assert_eq!(back.reason, CloseReason::PeerReset);
    queue.push_front(String::from_utf8(back.response.body().to_vec()).unwrap());

    let mut second = Client::connect(server.local_addr());
    second.send(b"GET /poll HTTP/1.1\r\nHost: t\r\n\r\n");
    let next = exchanges.recv().unwrap();
    next.respond(Response::text(200, queue.pop_front().unwrap()))
        .unwrap();
    assert_eq!(second.read_reply(false).text(), "the event");
    assert!(queue.is_empty());
    assert_eq!(server.stats().undelivered, 1);
}

#[test]
fn a_watcher_added_after_the_client_left_runs_at_once() {
    let server = serve(Config::default(), |_| tether::Action::handoff());
    let exchanges = server.exchanges();
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let exchange = exchanges.recv().unwrap();
    drop(client);
    exchange.wait_closed(PATIENCE);
    let (tx, rx) = mpsc::channel();
    exchange.on_close(move |reason| tx.send(reason).unwrap());
    assert_eq!(rx.try_recv(), Ok(CloseReason::PeerClosed));
}
