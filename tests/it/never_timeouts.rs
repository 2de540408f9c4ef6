//! `Duration::MAX` is the obvious way to say "never": every timeout the
//! config accepts must work, on the reactor thread, without overflowing.

use crate::util;

use std::time::Duration;

use tether::ws::Upgrade;
use tether::{Action, Config, Response};
use util::{Client, PATIENCE};

#[test]
fn timeouts_of_duration_max_mean_never_and_the_server_keeps_serving() {
    let mut config = Config::default();
    config.idle_timeout = Duration::MAX;
    config.head_timeout = Duration::MAX;
    config.body_timeout = Duration::MAX;
    config.response_timeout = Duration::MAX;
    config.write_stall_timeout = Duration::MAX;
    config.linger_timeout = Duration::MAX;
    config.shutdown_timeout = Duration::MAX;
    config.ws_ping_interval = Duration::MAX;
    config.ws_pong_timeout = Duration::MAX;
    config.validate().expect("MAX is a valid 'never'");
    let server = util::serve(config, |req: &tether::Request| match req.path() {
        "/ws" => Action::Upgrade(Upgrade::new()),
        "/work" => Action::handoff(),
        _ => Action::Respond(Response::text(200, "ok")),
    });
    server.workers(1, |exchange| {
        let _ = exchange.respond(Response::text(200, "worked"));
    });
    for _ in 0..3 {
        let mut client = Client::connect(server.local_addr());
        assert_eq!(client.get("/").text(), "ok");
        assert_eq!(client.get("/work").text(), "worked");
        // A partial head arms the head timer.
        client.send(b"GET / HTTP/1.1\r\n");
        std::thread::sleep(Duration::from_millis(20));
        client.send(b"Host: t\r\n\r\n");
        assert_eq!(client.read_reply(false).text(), "ok");
        client.send(b"POST /work HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab");
        std::thread::sleep(Duration::from_millis(20));
        client.send(b"cd");
        assert_eq!(client.read_reply(false).text(), "worked");
        client.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert_eq!(client.read_reply(false).text(), "ok");
    }
    let (mut ws, _) =
        tungstenite::connect(format!("ws://{}/ws", server.local_addr())).expect("upgrade");
    ws.close(None).unwrap();
    // Still alive after all of that.
    let mut client = Client::connect(server.local_addr());
    assert_eq!(client.get("/").status, 200);
    drop(client);
    drop(ws);
    let started = std::time::Instant::now();
    server.shutdown();
    assert!(started.elapsed() < PATIENCE, "shutdown waited for 'never'");
}
