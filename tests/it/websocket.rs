//! WebSocket: handshake, echo, fragmentation, ping/pong and the close
//! handshake with an independent client (tungstenite); protocol violations
//! with raw frames; one terminal event per socket; sends to ended sockets.

use crate::util;

use std::net::TcpStream;
use std::time::Duration;

use tether::ws::{Message, Upgrade, WsEventKind, WsEvents};
use tether::SendError;
use tether::{Action, CloseReason, Config};
use tungstenite::protocol::frame::coding::CloseCode;
use util::ws::{RawWs, BINARY, CLOSE, FIN, PING, PONG, TEXT};
use util::*;

fn ws_server(config: Config) -> (tether::Server, WsEvents) {
    ws_server_over(Over::Plain, config)
}

fn ws_server_over(over: Over, config: Config) -> (tether::Server, WsEvents) {
    let server = serve_over(over, config, |req| match req.path() {
        "/ws" => Action::Upgrade(Upgrade::new()),
        "/ws/proto" => {
            let chosen = tether::ws::offered_protocols(req).find(|p| *p == "chat.v2");
            Action::Upgrade(Upgrade::new().protocol(chosen.unwrap_or("chat.v1")))
        }
        "/ws/same" => Action::Upgrade(Upgrade::new().same_origin()),
        "/ws/listed" => Action::Upgrade(Upgrade::new().allow_origin("https://ok.example")),
        _ => Action::Respond(tether::Response::new(404)),
    });
    let events = server.ws_events();
    (server, events)
}

/// Echoes every message until the server goes.
fn echo(events: WsEvents) {
    std::thread::spawn(move || {
        while let Some(event) = events.recv() {
            match &event.kind {
                WsEventKind::Message(Message::Text(text)) => {
                    let _ = event.socket.send_text(text);
                }
                WsEventKind::Message(Message::Binary(data)) => {
                    let _ = event.socket.send_binary(data);
                }
                _ => {}
            }
        }
    });
}

/// The terminal event of the next socket to close.
fn next_closed(events: &WsEvents) -> (tether::ConnectionId, CloseReason, Option<u16>) {
    loop {
        let event = events.recv_timeout(PATIENCE).expect("an event");
        if let WsEventKind::Closed { reason, code } = event.kind {
            return (event.socket.id(), reason, code);
        }
    }
}

fn tungstenite_client(addr: std::net::SocketAddr, path: &str) -> tungstenite::WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let (client, _) = tungstenite::client(format!("ws://{addr}{path}"), stream).expect("handshake");
    client
}

#[test]
fn an_independent_client_gets_its_messages_echoed() {
    let (server, events) = ws_server(Config::default());
    echo(events);
    let mut client = tungstenite_client(server.local_addr(), "/ws");
    client.send(tungstenite::Message::text("hello")).unwrap();
    assert_eq!(client.read().unwrap(), tungstenite::Message::text("hello"));
    let big = vec![7u8; 300_000];
    client
        .send(tungstenite::Message::binary(big.clone()))
        .unwrap();
    assert_eq!(client.read().unwrap(), tungstenite::Message::binary(big));
    assert_eq!(server.stats().ws_active, 1);
    client.close(None).unwrap();
    // tungstenite reads until the server's close and FIN.
    loop {
        match client.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(err) => panic!("{err}"),
        }
    }
    assert_quiet(&server);
    assert_eq!(server.stats().ws_active, 0);
}

#[test]
fn pings_are_answered_and_close_codes_echoed() {
    let (server, events) = ws_server(Config::default());
    let mut client = tungstenite_client(server.local_addr(), "/ws");
    client
        .send(tungstenite::Message::Ping(b"are you there".to_vec().into()))
        .unwrap();
    assert_eq!(
        client.read().unwrap(),
        tungstenite::Message::Pong(b"are you there".to_vec().into())
    );
    client
        .close(Some(tungstenite::protocol::CloseFrame {
            code: CloseCode::Away,
            reason: "bye".into(),
        }))
        .unwrap();
    match client.read() {
        Ok(tungstenite::Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected the close echoed, got {other:?}"),
    }
    let (_, reason, code) = next_closed(&events);
    assert_eq!((reason, code), (CloseReason::PeerClosed, Some(1001)));
}

#[test]
fn the_handler_chooses_the_subprotocol() {
    let (server, _events) = ws_server(Config::default());
    let stream = TcpStream::connect(server.local_addr()).unwrap();
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://{}/ws/proto",
        server.local_addr()
    ))
    .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "chat.v1, chat.v2".parse().unwrap(),
    );
    let (_client, response) = tungstenite::client(request, stream).unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v2");
}

#[test]
fn fragments_and_interleaved_control_frames_reassemble() {
    let (server, events) = ws_server(Config::default());
    echo(events);
    let mut client = RawWs::connect(server.local_addr(), "/ws");
    client.send(TEXT, "frag".as_bytes());
    client.send(FIN | PING, b"mid");
    client.send(0, "mented wö".as_bytes());
    client.send(FIN, "rld".as_bytes());
    let (first, payload) = client.read_frame().unwrap();
    assert_eq!((first, payload.as_slice()), (FIN | PONG, &b"mid"[..]));
    let (first, payload) = client.read_frame().unwrap();
    assert_eq!(
        (first, String::from_utf8(payload).unwrap()),
        (FIN | TEXT, "fragmented wörld".to_string())
    );
    client.send(FIN | BINARY, &[0, 1, 2]);
    assert_eq!(client.read_frame().unwrap(), (FIN | BINARY, vec![0, 1, 2]));
}

#[test]
fn protocol_violations_get_the_right_close_code() {
    let mut config = Config::default();
    config.ws_max_message_bytes = 1000;
    let (server, events) = ws_server(config);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "unmasked frame",
            util::ws::frame(FIN | TEXT, b"hi", false),
            1002,
        ),
        (
            "reserved bits",
            util::ws::frame(FIN | 0x40 | TEXT, b"hi", true),
            1002,
        ),
        (
            "reserved opcode",
            util::ws::frame(FIN | 0x3, b"", true),
            1002,
        ),
        (
            "bad UTF-8",
            util::ws::frame(FIN | TEXT, &[0xC3, 0x28], true),
            1007,
        ),
        (
            "oversized",
            util::ws::frame(FIN | BINARY, &[0; 1001], true),
            1009,
        ),
        (
            "bad close code",
            util::ws::frame(FIN | CLOSE, &1004u16.to_be_bytes(), true),
            1002,
        ),
        ("continuation first", util::ws::frame(FIN, b"x", true), 1002),
    ];
    for (what, bytes, code) in cases {
        let mut client = RawWs::connect(server.local_addr(), "/ws");
        std::io::Write::write_all(&mut client.stream, &bytes).unwrap();
        assert_eq!(client.read_close_code(), Some(code), "{what}");
        let (_, reason, _) = next_closed(&events);
        assert_eq!(reason, CloseReason::ProtocolError, "{what}");
    }
    wait_closed_count(&server, CloseReason::ProtocolError, 7);
    assert_quiet(&server);
}

#[test]
fn a_bad_handshake_is_refused() {
    let (server, _events) = ws_server(Config::default());
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    let reply = client.read_reply(false);
    assert_eq!(
        (reply.status, reply.header("sec-websocket-version")),
        (426, Some("13"))
    );
    // RFC 9110 §15.5.22: a 426 MUST name the protocol in Upgrade.
    assert_eq!(reply.header("upgrade"), Some("websocket"));
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n");
    assert_eq!(client.read_reply(false).status, 400);
}

#[test]
fn an_upgrade_can_require_an_allowed_origin() {
    let (server, _events) = ws_server(Config::default());
    let status = |path: &str, origin: Option<&str>| {
        let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
        let mut client = Client::connect(server.local_addr());
        client.send(
            format!(
                "GET {path} HTTP/1.1\r\nHost: t:8080\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{origin}\r\n"
            )
            .as_bytes(),
        );
        client.read_reply(true).status
    };
    assert_eq!(
        status("/ws", Some("https://evil.example")),
        101,
        "any by default"
    );
    assert_eq!(status("/ws/same", Some("http://T:8080")), 101);
    assert_eq!(
        status("/ws/same", Some("http://t:9090")),
        403,
        "another port"
    );
    assert_eq!(status("/ws/same", Some("https://evil.example")), 403);
    assert_eq!(status("/ws/same", None), 101, "not a browser");
    assert_eq!(status("/ws/listed", Some("https://OK.example")), 101);
    assert_eq!(status("/ws/listed", Some("https://ok.example.evil")), 403);
    assert_eq!(status("/ws/listed", None), 101);
}

#[test]
fn contradictory_or_duplicated_upgrade_headers_are_refused() {
    let (server, _events) = ws_server(Config::default());
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let version = "Sec-WebSocket-Version: 13\r\n";
    let cases = [
        // Upgrade and close at once: never both a 101 and a close.
        format!("Connection: Upgrade, close\r\n{key}{version}"),
        format!("Connection: Upgrade\r\nConnection: close\r\n{key}{version}"),
        // One key and one version, exactly.
        format!("Connection: Upgrade\r\n{key}{key}{version}"),
        format!("Connection: Upgrade\r\n{key}{version}{version}"),
    ];
    for headers in cases {
        let mut client = Client::connect(server.local_addr());
        client.send(
            format!("GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n{headers}\r\n")
                .as_bytes(),
        );
        let reply = client.read_reply(false);
        assert_eq!(reply.status, 400, "{headers}");
        assert!(reply.closes() && client.expect_eof(), "{headers}");
    }
    assert_eq!(server.stats().ws_active, 0);
}

/// A way for a client to go.
type Leave = fn(RawWs);

#[test]
fn every_way_of_ending_gives_exactly_one_terminal_event_and_sends_fail_after() {
    let (server, events) = ws_server(Config::default());
    let leaves: Vec<(&str, Leave, CloseReason)> = vec![
        ("FIN", |c| drop(c), CloseReason::PeerClosed),
        (
            "RST",
            |c| {
                socket2::SockRef::from(&c.stream)
                    .set_linger(Some(Duration::ZERO))
                    .unwrap();
                drop(c)
            },
            CloseReason::PeerReset,
        ),
        (
            "close frame",
            |mut c| {
                c.send(FIN | CLOSE, &1000u16.to_be_bytes());
                let _ = c.read_close_code();
            },
            CloseReason::PeerClosed,
        ),
        (
            "protocol error",
            |mut c| c.send(FIN | 0x7, b""),
            CloseReason::ProtocolError,
        ),
    ];
    for (what, leave, expected) in leaves {
        let client = RawWs::connect(server.local_addr(), "/ws");
        let event = events.recv_timeout(PATIENCE).unwrap();
        let WsEventKind::Open(request) = &event.kind else {
            panic!("open first")
        };
        assert_eq!(request.path(), "/ws");
        let socket = event.socket.clone();
        leave(client);
        let (id, reason, _) = next_closed(&events);
        assert_eq!((id, reason), (socket.id(), expected), "{what}");
        assert_eq!(
            socket.send_text("too late"),
            Err(SendError::Closed(expected)),
            "{what}"
        );
        assert!(socket.is_closed());
        assert_quiet(&server);
        assert!(
            events.try_recv().is_err(),
            "{what}: no second terminal event"
        );
    }
}

#[test]
fn the_server_can_close_with_a_code() {
    let (server, events) = ws_server(Config::default());
    let mut client = RawWs::connect(server.local_addr(), "/ws");
    let socket = events.recv_timeout(PATIENCE).unwrap().socket;
    socket.send_text("last words").unwrap();
    socket.close(4000, "done here").unwrap();
    assert_eq!(socket.send_text("after close"), Err(SendError::Closing));
    assert_eq!(
        client.read_frame().unwrap(),
        (FIN | TEXT, b"last words".to_vec())
    );
    assert_eq!(client.read_close_code(), Some(4000));
    client.send(FIN | CLOSE, &4000u16.to_be_bytes());
    let (_, reason, _) = next_closed(&events);
    assert_eq!(reason, CloseReason::Drained);
    assert_quiet(&server);
}

fn a_zombie_that_never_answers_pings_is_ended_with_ping_timeout(over: Over) {
    let mut config = Config::default();
    config.ws_ping_interval = Duration::from_millis(200);
    config.ws_pong_timeout = Duration::from_millis(200);
    let (server, events) = ws_server_over(over, config);
    let started = std::time::Instant::now();
    let _zombie = RawWs::connect_over(over, server.local_addr(), "/ws"); // never reads, never answers
    let (_, reason, _) = next_closed(&events);
    let took = started.elapsed();
    assert_eq!(reason, CloseReason::PingTimeout);
    assert!(
        took >= Duration::from_millis(400),
        "not before ping interval + pong timeout: {took:?}"
    );
    assert!(
        took < Duration::from_secs(5),
        "within ping interval + pong timeout plus slack: {took:?}"
    );
    assert!(
        events.recv_timeout(Duration::from_millis(300)).is_err(),
        "one terminal event only"
    );
    assert_eq!(server.stats().closed.get(CloseReason::PingTimeout), 1);
}

#[test]
fn a_live_client_answering_pings_is_kept() {
    let mut config = Config::default();
    config.ws_ping_interval = Duration::from_millis(100);
    config.ws_pong_timeout = Duration::from_millis(100);
    let (server, _events) = ws_server(config);
    let mut client = tungstenite_client(server.local_addr(), "/ws");
    client
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let until = std::time::Instant::now() + Duration::from_millis(800);
    while std::time::Instant::now() < until {
        // tungstenite answers pings as it reads.
        match client.read() {
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(err) => panic!("{err}"),
        }
        let _ = client.flush();
    }
    assert_eq!(server.stats().ws_active, 1);
    assert_eq!(server.stats().closed.get(CloseReason::PingTimeout), 0);
}

#[test]
fn shutdown_says_going_away() {
    let (server, events) = ws_server(Config::default());
    let mut client = RawWs::connect(server.local_addr(), "/ws");
    let _open = events.recv_timeout(PATIENCE).unwrap();
    let closer = std::thread::spawn(move || server.shutdown());
    assert_eq!(client.read_close_code(), Some(1001));
    client.send(FIN | CLOSE, &1001u16.to_be_bytes());
    drop(client);
    closer.join().unwrap();
    let (_, reason, _) = next_closed(&events);
    assert_eq!(reason, CloseReason::Shutdown);
}

crate::over_both!(a_zombie_that_never_answers_pings_is_ended_with_ping_timeout,);
