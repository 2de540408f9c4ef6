//! The demo's WebSocket endpoints as an independent client (tungstenite)
//! sees them, and their `/stats` names.

use crate::util;

use std::net::TcpStream;

use tungstenite::Message;
use util::demo::Demo;
use util::*;

fn connect(demo: &Demo, path: &str) -> tungstenite::WebSocket<TcpStream> {
    let stream = TcpStream::connect(demo.addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    tungstenite::client(format!("ws://{}{path}", demo.addr), stream)
        .expect("handshake")
        .0
}

#[test]
fn ws_echoes_and_ws_chat_broadcasts() {
    let demo = Demo::start();
    let mut echo = connect(&demo, "/ws");
    echo.send(Message::text("ping?")).unwrap();
    assert_eq!(echo.read().unwrap(), Message::text("ping?"));
    echo.send(Message::binary(vec![1, 2, 3])).unwrap();
    assert_eq!(echo.read().unwrap(), Message::binary(vec![1, 2, 3]));

    let mut alice = connect(&demo, "/ws/chat");
    let mut bob = connect(&demo, "/ws/chat");
    wait_for("three sockets", || demo.stats()["ws_active"] == 3);
    alice.send(Message::text("hi all")).unwrap();
    assert_eq!(alice.read().unwrap(), Message::text("hi all"));
    assert_eq!(bob.read().unwrap(), Message::text("hi all"));

    drop((echo, alice));
    wait_for("one socket left", || demo.stats()["ws_active"] == 1);
    bob.send(Message::text("anyone?")).unwrap();
    assert_eq!(bob.read().unwrap(), Message::text("anyone?"));
    let stats = demo.stats();
    assert!(stats["closed"]["ping_timeout"].is_u64(), "{stats}");
    demo.terminate();
}

#[test]
fn an_echo_larger_than_the_send_budget_is_refused_with_1009() {
    let demo = Demo::start();
    let mut echo = connect(&demo, "/ws");
    // Over the 1 MiB send budget, under the 16 MiB message limit.
    echo.send(Message::binary(vec![0; 2 << 20])).unwrap();
    match echo.read().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected a 1009 close, got {other:?}"),
    }
    // With room, the budget is per socket: a smaller echo on another works.
    let mut small = connect(&demo, "/ws");
    small.send(Message::binary(vec![1; 900_000])).unwrap();
    assert_eq!(small.read().unwrap(), Message::binary(vec![1; 900_000]));
}

#[test]
fn the_chat_refuses_a_page_of_another_origin() {
    let demo = Demo::start();
    let attempt = |origin: &str| {
        let stream = TcpStream::connect(demo.addr).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let request = tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{}/ws/chat",
            demo.addr
        ))
        .map(|mut r| {
            r.headers_mut().insert("Origin", origin.parse().unwrap());
            r
        })
        .unwrap();
        match tungstenite::client(request, stream) {
            Ok(_) => 101,
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                response.status().as_u16()
            }
            Err(other) => panic!("{other:?}"),
        }
    };
    assert_eq!(attempt("https://evil.example"), 403);
    assert_eq!(attempt(&format!("http://{}", demo.addr)), 101);
}
