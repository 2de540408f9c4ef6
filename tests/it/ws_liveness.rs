//! `ping_timeout` blames the peer, so it is recorded only when the peer is
//! silent: bytes of a large frame still arriving are proof of life, and a
//! socket that we stopped decoding because the application holds its
//! messages is not reset for pongs we never read.

use crate::util;

use std::io::Write;
use std::time::{Duration, Instant};

use tether::ws::{Message, Upgrade, WsEventKind};
use tether::{Action, CloseReason, Config};
use util::ws::{frame, RawWs, BINARY, FIN, TEXT};

fn quick_heartbeats() -> Config {
    let mut config = Config::default();
    // A silent peer is reset within ~2 s; the tests below run for 2x that.
    config.ws_ping_interval = Duration::from_secs(1);
    config.ws_pong_timeout = Duration::from_secs(1);
    config
}

fn ws_server(config: Config) -> (tether::Server, tether::ws::WsEvents) {
    let server = util::serve(
        config,
        |_: &tether::Request| Action::Upgrade(Upgrade::new()),
    );
    let events = server.ws_events();
    (server, events)
}

#[test]
fn a_client_sending_one_large_frame_slowly_is_not_reset_as_ping_timeout() {
    let (server, events) = ws_server(quick_heartbeats());
    let mut client = RawWs::connect(server.local_addr(), "/ws");
    let payload = vec![7u8; 400 * 1024];
    let bytes = frame(FIN | BINARY, &payload, true);
    // Four seconds for one frame, without reading (so without answering a
    // ping): only its bytes say the client is alive.
    let started = Instant::now();
    for piece in bytes.chunks(bytes.len() / 40 + 1) {
        client.stream.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(started.elapsed() >= Duration::from_secs(4));
    let event = loop {
        let event = events.recv_timeout(util::PATIENCE).expect("an event");
        if !matches!(event.kind, WsEventKind::Open(_)) {
            break event;
        }
    };
    match event.kind {
        WsEventKind::Message(Message::Binary(data)) => assert_eq!(data.len(), payload.len()),
        other => panic!("expected the message, got {other:?}"),
    }
    assert_eq!(server.stats().closed.get(CloseReason::PingTimeout), 0);
}

#[test]
fn a_live_client_is_not_reset_while_the_application_holds_its_messages() {
    let mut config = quick_heartbeats();
    config.ws_max_inbound_messages = 1;
    let (server, events) = ws_server(config);
    let mut client = RawWs::connect(server.local_addr(), "/ws");
    client.send(FIN | TEXT, b"one");
    client.send(FIN | TEXT, b"two");
    let mut held = Vec::new();
    while held.len() < 2 {
        held.push(events.recv_timeout(util::PATIENCE).expect("open, then one"));
    }
    assert!(matches!(&held[1].kind, WsEventKind::Message(Message::Text(t)) if t == "one"));
    // The application sits on "one" for 4 s: the server decodes nothing of
    // this client meanwhile (it could not see a pong), and must not blame it.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(server.stats().closed.get(CloseReason::PingTimeout), 0);
    assert!(!held[1].socket.is_closed());
    held.clear();
    let two = events
        .recv_timeout(util::PATIENCE)
        .expect("the next message");
    assert!(matches!(&two.kind, WsEventKind::Message(Message::Text(t)) if t == "two"));
}

/// `Upgrade::ping` gives one route its own heartbeat: a silent client of
/// the quick route is reset as `ping_timeout` while an equally silent one
/// of a route on the server's (long) heartbeat is left alone.
#[test]
fn an_upgrade_with_its_own_ping_terms_finds_a_silent_client_sooner() {
    let server = util::serve(Config::default(), |req: &tether::Request| {
        let upgrade = Upgrade::new();
        match req.path() {
            "/quick" => upgrade.ping(Duration::from_millis(200), Duration::from_millis(200)),
            _ => upgrade,
        }
        .into()
    });
    let events = server.ws_events();
    // Neither client ever reads, so neither answers a ping.
    let _slow = RawWs::connect(server.local_addr(), "/slow");
    let _quick = RawWs::connect(server.local_addr(), "/quick");
    let closed = loop {
        let event = events
            .recv_timeout(util::PATIENCE)
            .expect("a close within PATIENCE");
        if let WsEventKind::Closed { reason, .. } = event.kind {
            break (event.socket.path().to_string(), reason);
        }
    };
    assert_eq!(closed, ("/quick".to_string(), CloseReason::PingTimeout));
    let stats = server.stats();
    assert_eq!(stats.closed.get(CloseReason::PingTimeout), 1);
    assert_eq!(
        stats.ws_active, 1,
        "the server's heartbeat (30 s) spares /slow"
    );
}
