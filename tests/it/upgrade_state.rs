//! What a handler decides at the upgrade travels with the socket: a value
//! (who authenticated), headers on the `101`, and the event stream its
//! events go to.

use crate::util;

use std::time::Duration;

use tether::ws::{Message, Upgrade, WsEventKind};
use tether::{Request, Response, Server};
use util::ws::RawWs;
use util::*;

struct User(String);

fn handler(req: &Request) -> tether::Action {
    match (req.path(), req.query_value("token").as_deref()) {
        ("/chat", Some("ada-token")) => Upgrade::new()
            .with(User("ada".into()))
            .header("Set-Cookie", "session=ada; HttpOnly")
            .events("chat")
            .into(),
        ("/chat", _) => Response::text(401, "no token").into(),
        _ => Upgrade::new().into(),
    }
}

fn chat_server() -> Server {
    Server::builder()
        .ws_events("chat")
        .handler(handler)
        .bind("127.0.0.1:0")
        .expect("bind")
}

/// An upgrade request for `target`, sent by hand (to see refusals).
fn upgrade_request(target: &str) -> Vec<u8> {
    format!(
        "GET {target} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn the_value_headers_and_stream_chosen_at_upgrade_reach_the_application() {
    init();
    let server = chat_server();
    let chat = server.ws_events_from("chat").expect("declared");
    let (mut client, head) = RawWs::connect_with_head(server.local_addr(), "/chat?token=ada-token");
    assert!(
        head.contains("Set-Cookie: session=ada; HttpOnly\r\n"),
        "{head}"
    );

    let open = chat.recv_timeout(Duration::from_secs(10)).expect("open");
    assert!(matches!(open.kind, WsEventKind::Open(_)));
    let user = open.socket.value::<User>().map(|u| u.0.clone());
    assert_eq!(user.as_deref(), Some("ada"));

    client.send_text("hi");
    let message = chat.recv_timeout(Duration::from_secs(10)).expect("message");
    assert!(matches!(&message.kind, WsEventKind::Message(Message::Text(t)) if t == "hi"));
    // Every handle to the socket carries the value.
    assert_eq!(
        message.socket.value::<User>().map(|u| u.0.as_str()),
        Some("ada")
    );

    // A socket on the default stream does not land on "chat", and the
    // other way round.
    let _plain = RawWs::connect(server.local_addr(), "/plain");
    let default = server.ws_events();
    let open = default.recv_timeout(Duration::from_secs(10)).expect("open");
    assert!(open.socket.value::<User>().is_none());
    assert!(chat.try_recv().is_err());
    server.shutdown();
}

#[test]
fn a_refused_token_gets_the_handlers_answer_and_no_socket() {
    init();
    let server = chat_server();
    let mut client = Client::connect(server.local_addr());
    client.send(&upgrade_request("/chat?token=wrong"));
    assert_eq!(client.read_reply(false).status, 401);
    assert!(server.ws_events_from("chat").unwrap().try_recv().is_err());
    server.shutdown();
}

#[test]
fn an_undeclared_stream_is_the_servers_mistake() {
    init();
    let server = Server::builder()
        .handler(|_: &Request| Upgrade::new().events("nowhere").into())
        .bind("127.0.0.1:0")
        .expect("bind");
    let mut client = Client::connect(server.local_addr());
    client.send(&upgrade_request("/"));
    assert_eq!(client.read_reply(false).status, 500);
    server.shutdown();
}
