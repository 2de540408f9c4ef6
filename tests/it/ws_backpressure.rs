//! Bounded WebSocket queues: each outgoing-queue policy when a client stops
//! reading, and the inbound allowance that pauses reading a socket whose
//! messages the application has not consumed.

use crate::util;

use std::time::Duration;

use tether::ws::{Message, Upgrade, WebSocket, WsBackpressure, WsEventKind, WsEvents};
use tether::SendError;
use tether::{Action, CloseReason, Config};
use util::ws::{RawWs, FIN, TEXT};
use util::*;

fn server(config: Config) -> (tether::Server, WsEvents) {
    let server = serve(config, |_| Action::Upgrade(Upgrade::new()));
    let events = server.ws_events();
    (server, events)
}

fn opened(events: &WsEvents) -> WebSocket {
    let event = events.recv_timeout(PATIENCE).unwrap();
    assert!(matches!(event.kind, WsEventKind::Open(_)));
    event.socket
}

fn config(policy: WsBackpressure) -> Config {
    let mut config = Config::default();
    config.ws_send_budget_bytes = 16 * 1024;
    config.ws_backpressure = policy;
    config
}

/// Sends 1 KiB messages to a client that never reads until one fails.
fn flood(socket: &WebSocket) -> (usize, SendError) {
    let message = "x".repeat(1024);
    for sent in 0..1_000_000 {
        if let Err(err) = socket.send_text(&message) {
            return (sent, err);
        }
    }
    panic!("a million messages queued for a client that never reads");
}

#[test]
fn fail_policy_refuses_sends_past_the_budget() {
    let (server, events) = server(config(WsBackpressure::Fail));
    let _client = RawWs::connect(server.local_addr(), "/ws");
    let socket = opened(&events);
    let (_, err) = flood(&socket);
    assert_eq!(err, SendError::Full);
    assert!(!socket.is_closed(), "the socket lives on");
}

#[test]
fn drop_oldest_policy_keeps_sending_and_counts_drops() {
    let (server, events) = server(config(WsBackpressure::DropOldest));
    let _client = RawWs::connect(server.local_addr(), "/ws");
    let socket = opened(&events);
    let message = "y".repeat(1024);
    for _ in 0..20_000 {
        socket.send_text(&message).unwrap();
    }
    assert!(server.stats().ws_dropped > 0);
}

#[test]
fn close_policy_ends_a_slow_consumer() {
    let (server, events) = server(config(WsBackpressure::Close));
    let _client = RawWs::connect(server.local_addr(), "/ws");
    let socket = opened(&events);
    let (_, err) = flood(&socket);
    assert_eq!(err, SendError::Closing);
    loop {
        let event = events.recv_timeout(PATIENCE).unwrap();
        if let WsEventKind::Closed { reason, .. } = event.kind {
            assert_eq!(reason, CloseReason::SlowConsumer);
            break;
        }
    }
    assert!(matches!(
        socket.send_text("x"),
        Err(SendError::Closed(CloseReason::SlowConsumer))
    ));
}

#[test]
fn reading_pauses_while_the_application_holds_its_allowance() {
    let mut config = Config::default();
    config.ws_max_inbound_messages = 2;
    let (server, events) = server(config);
    let mut client = RawWs::connect(server.local_addr(), "/ws");
    let _socket = opened(&events);
    for i in 0..10 {
        client.send(FIN | TEXT, format!("{i}").as_bytes());
    }
    let held: Vec<_> = (0..2)
        .map(|_| events.recv_timeout(PATIENCE).unwrap())
        .collect();
    assert!(
        events.recv_timeout(Duration::from_millis(200)).is_err(),
        "no third message while two are held"
    );
    drop(held);
    let mut rest = Vec::new();
    while rest.len() < 8 {
        let event = events.recv_timeout(PATIENCE).unwrap();
        if let WsEventKind::Message(Message::Text(text)) = &event.kind {
            rest.push(text.clone());
        }
    }
    assert_eq!(rest, ["2", "3", "4", "5", "6", "7", "8", "9"]);
}
