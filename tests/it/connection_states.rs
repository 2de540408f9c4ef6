//! `Stats::connections`: every open connection counted in exactly one state
//! — reading, awaiting a worker, streaming, WebSocket, draining — moving as
//! it does, and back to nothing when it closes.

use crate::util;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether::stats::ConnectionState;
use tether::ws::Upgrade;
use tether::{Action, Config, Request, Response, Server, StreamSender};
use util::ws::RawWs;
use util::*;

use ConnectionState::{Draining, Reading, ResponsePending, Streaming, WebSocket};

/// Polls until the reading has exactly these counts (the rest 0) and they
/// add up to `active`.
#[track_caller]
fn wait_for_states(server: &Server, expected: &[(ConnectionState, u64)]) {
    wait_for(&format!("connections {expected:?}"), || {
        let stats = server.stats();
        let sum: u64 = stats.connections.iter().map(|(_, n)| n).sum();
        sum == stats.active
            && ConnectionState::ALL.iter().all(|state| {
                let want = expected
                    .iter()
                    .find(|(s, _)| s == state)
                    .map_or(0, |(_, n)| *n);
                stats.connections.get(*state) == want
            })
    });
}

#[test]
fn each_connection_is_counted_in_the_state_it_is_in() {
    init();
    // Lingering after `Connection: close` lasts until the client closes.
    let config = Config::default().linger_timeout(Duration::from_secs(60));
    let server = Server::builder()
        .config(config)
        .handler(|req: &Request| match req.path() {
            "/hello" => Response::text(200, "hi").into(),
            "/ws" => Upgrade::new().into(),
            _ => Action::handoff(),
        })
        .bind("127.0.0.1:0")
        .expect("bind");
    let (held_tx, held) = mpsc::channel();
    let streams: Arc<Mutex<Vec<StreamSender>>> = Arc::default();
    let kept = Arc::clone(&streams);
    server.workers(2, move |exchange| match exchange.request().path() {
        "/stream" => {
            let sender = exchange
                .stream(Response::new(200).with_header("Content-Type", "text/plain"))
                .expect("client there");
            kept.lock().unwrap().push(sender);
        }
        _ => {
            let _ = held_tx.send(exchange);
        }
    });
    let addr = server.local_addr();

    let mut idle = Client::connect(addr);
    assert_eq!(idle.get("/hello").text(), "hi");
    wait_for_states(&server, &[(Reading, 1)]);

    let mut waiting = Client::connect(addr);
    waiting.send(b"GET /work HTTP/1.1\r\nHost: t\r\n\r\n");
    let exchange = held.recv_timeout(PATIENCE).expect("handed off");
    wait_for_states(&server, &[(Reading, 1), (ResponsePending, 1)]);

    let mut viewer = Client::connect(addr);
    viewer.send(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    viewer.read_reply(true);
    wait_for_states(
        &server,
        &[(Reading, 1), (ResponsePending, 1), (Streaming, 1)],
    );

    let ws = RawWs::connect(addr, "/ws");
    let all_four = [(Reading, 1), (ResponsePending, 1), (Streaming, 1)];
    wait_for_states(&server, &[all_four.as_slice(), &[(WebSocket, 1)]].concat());

    // Answered with `Connection: close`: the connection lingers, draining,
    // until this client closes.
    let mut leaving = Client::connect(addr);
    leaving.send(b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(leaving.read_reply(false).text(), "hi");
    let with_ws = [all_four.as_slice(), &[(WebSocket, 1)]].concat();
    wait_for_states(&server, &[with_ws.as_slice(), &[(Draining, 1)]].concat());

    // The worker answers: its connection goes back to reading.
    exchange
        .respond(Response::text(200, "done"))
        .expect("delivered");
    assert_eq!(waiting.read_reply(false).text(), "done");
    wait_for_states(
        &server,
        &[(Reading, 2), (Streaming, 1), (WebSocket, 1), (Draining, 1)],
    );

    // Everyone leaves: nothing is counted any more.
    drop((idle, waiting, viewer, ws, leaving));
    wait_for("the stream's end noticed", || {
        streams.lock().unwrap().iter().all(|s| s.is_closed())
    });
    wait_for_states(&server, &[]);
    assert_eq!(server.stats().active, 0);
}
