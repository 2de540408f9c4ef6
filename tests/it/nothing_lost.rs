//! Every request handed to a worker is resolved exactly once — delivered, or
//! handed back with the reason — while clients come, wait, and leave at
//! random (FIN or RST) and workers answer at random speeds.

use crate::util;

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use tether::{Config, Exchange, Response};
use util::*;

#[test]
fn every_handed_off_request_is_resolved_exactly_once() {
    const CLIENT_THREADS: u64 = 4;
    const REQUESTS_PER_THREAD: u64 = 60;

    let delivered = Arc::new(AtomicU64::new(0));
    let (undelivered_tx, undelivered_rx) = mpsc::channel();
    let counted = Arc::clone(&delivered);
    let server = serve_workers(Config::default(), 4, move |exchange: Exchange| {
        let id: u64 = exchange.request().path()[1..].parse().unwrap();
        // Work for up to 6 ms, stopping early if the client leaves; then
        // respond either way: a response for a departed client must come
        // back, not vanish.
        exchange.wait_closed(Duration::from_millis(id % 7));
        match exchange.respond(Response::text(200, id.to_string())) {
            Ok(()) => {
                counted.fetch_add(1, Ordering::SeqCst);
            }
            Err(back) => {
                assert_eq!(back.response.body(), id.to_string().as_bytes());
                undelivered_tx.send((id, back.reason)).unwrap();
            }
        }
    });
    let addr = server.local_addr();

    let clients: Vec<_> = (0..CLIENT_THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t + 1));
                let mut answered = 0u64;
                for i in 0..REQUESTS_PER_THREAD {
                    let id = t * 1000 + i;
                    let mut client = Client::connect(addr);
                    client.send(format!("GET /{id} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
                    match rng.below(3) {
                        0 => {
                            let reply = client.read_reply(false);
                            assert_eq!(reply.text(), id.to_string(), "the right answer");
                            answered += 1;
                        }
                        1 => {
                            std::thread::sleep(Duration::from_micros(rng.below(8000)));
                            drop(client);
                        }
                        _ => {
                            std::thread::sleep(Duration::from_micros(rng.below(8000)));
                            client.stream.flush().unwrap();
                            client.reset();
                        }
                    }
                }
                answered
            })
        })
        .collect();
    let answered: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();

    assert_quiet(&server);
    let total = CLIENT_THREADS * REQUESTS_PER_THREAD;
    // A request whose client reset right after writing it may be discarded
    // by the kernel before the server reads it (the read sees ECONNRESET):
    // it never reached a worker. Every request that did must be resolved.
    let handed_off = server.stats().requests;
    assert!(handed_off <= total && handed_off >= answered);
    // Counted as the workers heard it: `stats.undelivered` moves when the
    // verdict is made, a moment before the worker's `respond` returns it.
    let mut undelivered = Vec::new();
    wait_for("every exchange resolved and its worker told", || {
        undelivered.extend(undelivered_rx.try_iter());
        delivered.load(Ordering::SeqCst) + undelivered.len() as u64 == handed_off
    });
    let stats = server.stats();
    assert_eq!(undelivered.len() as u64, stats.undelivered);
    assert!(!undelivered.is_empty(), "the test must exercise departures");
    assert!(
        delivered.load(Ordering::SeqCst) >= answered,
        "every waiting client was answered"
    );
    assert!(
        undelivered.iter().all(|(_, reason)| reason.is_peer_gone()),
        "{undelivered:?}"
    );
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.accepted, total);
    assert_eq!(stats.closed.total(), total);
}
