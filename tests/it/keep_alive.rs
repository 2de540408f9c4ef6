//! HTTP keep-alive (not TCP keepalive: that is tcp_keepalive.rs): many
//! requests on one connection, HTTP/1.0 rules, HEAD.

use crate::util;

use tether::{Config, Response};
use util::*;

#[test]
fn a_thousand_requests_share_one_connection() {
    let server = serve(Config::default(), hello);
    let mut client = Client::connect(server.local_addr());
    for _ in 0..1000 {
        let reply = client.get("/hello");
        assert_eq!(reply.status, 200);
        assert_eq!(reply.text(), "Hello, World!");
        assert!(!reply.closes());
    }
    let stats = server.stats();
    assert_eq!((stats.accepted, stats.requests), (1, 1000));
    drop(client);
    assert_quiet(&server);
    assert_eq!(
        server.stats().closed.get(tether::CloseReason::PeerClosed),
        1
    );
}

#[test]
fn http10_closes_unless_asked_to_keep_alive() {
    let server = serve(Config::default(), hello);

    let mut client = Client::connect(server.local_addr());
    client.send(b"GET /hello HTTP/1.0\r\n\r\n");
    let reply = client.read_reply(false);
    assert_eq!(reply.text(), "Hello, World!");
    assert!(reply.closes());
    assert!(client.expect_eof(), "HTTP/1.0 response is followed by FIN");
    drop(client);

    let mut client = Client::connect(server.local_addr());
    for _ in 0..3 {
        client.send(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let reply = client.read_reply(false);
        assert_eq!(reply.header("connection"), Some("keep-alive"));
    }
    drop(client);
    assert_quiet(&server);
    assert_eq!(server.stats().closed.get(tether::CloseReason::Drained), 1);
}

#[test]
fn head_gets_the_length_but_no_body() {
    let server = serve(Config::default(), |_| {
        tether::Action::Respond(Response::text(200, "twelve bytes"))
    });
    let mut client = Client::connect(server.local_addr());
    client.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    let reply = client.read_reply(true);
    assert_eq!(reply.header("content-length"), Some("12"));
    // The next response must start right after the head: no body bytes sent.
    let reply = client.get("/");
    assert_eq!(reply.text(), "twelve bytes");
}
