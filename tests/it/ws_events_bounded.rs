//! The WebSocket event stream is bounded: an application that stops
//! consuming events does not make the server keep one `Open` and one
//! `Closed` event per connection forever. Past
//! `Config::ws_max_pending_events`, upgrades are refused with `503`.

use crate::util;

use std::io::{Read, Write};
use std::net::TcpStream;

use tether::ws::Upgrade;
use tether::{Action, Config};
use util::{wait_for, PATIENCE};

/// Tries an upgrade; the status line's code.
fn upgrade_status(addr: std::net::SocketAddr) -> u16 {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    // Leave at once (FIN): an accepted socket ends, a refused one was closing.
    String::from_utf8_lossy(&head[9..12]).parse().unwrap()
}

#[test]
fn an_application_that_stops_consuming_events_gets_upgrades_refused_not_a_leak() {
    let mut config = Config::default();
    config.ws_max_pending_events = 8;
    let server = util::serve(
        config,
        |_: &tether::Request| Action::Upgrade(Upgrade::new()),
    );
    // Nobody consumes: every accepted socket leaves an Open and a Closed event.
    let events = server.ws_events();
    let mut accepted = 0;
    let mut refused = 0;
    for _ in 0..40 {
        match upgrade_status(server.local_addr()) {
            101 => accepted += 1,
            503 => refused += 1,
            other => panic!("unexpected status {other}"),
        }
        wait_for("the socket to end", || server.stats().active == 0);
    }
    assert!(
        accepted >= 4 && refused >= 20,
        "accepted {accepted}, refused {refused}"
    );
    let stats = server.stats();
    assert!(stats.ws_events_pending <= 8 + 1, "{stats:?}");
    assert_eq!(stats.ws_refused, refused);

    // Consuming the events frees the room again.
    let mut drained = 0;
    while events.try_recv().is_ok() {
        drained += 1;
    }
    assert_eq!(drained, 2 * accepted);
    assert_eq!(server.stats().ws_events_pending, 0);
    assert_eq!(upgrade_status(server.local_addr()), 101);
}

/// A few sockets flooding tiny messages the application is slow to take:
/// each one's share of the pending events shrinks as the total grows, so
/// they back up through TCP and a newcomer's upgrade is still accepted.
/// (With a fixed 16 each, 8 flooders held 128 of the 64 allowed, and
/// every upgrade got 503.)
#[test]
fn flooding_sockets_do_not_refuse_newcomers() {
    let mut config = Config::default();
    config.ws_max_pending_events = 64;
    config.ws_max_inbound_messages = 16;
    let server = util::serve(
        config,
        |_: &tether::Request| Action::Upgrade(Upgrade::new()),
    );
    let _events = server.ws_events(); // held, never consumed
    let burst: Vec<u8> = (0..200)
        .flat_map(|_| util::ws::frame(util::ws::FIN | util::ws::TEXT, b"m", true))
        .collect();
    let flooders: Vec<util::ws::RawWs> = (0..8)
        .map(|_| {
            let mut ws = util::ws::RawWs::connect(server.local_addr(), "/ws");
            ws.stream.write_all(&burst).unwrap();
            ws
        })
        .collect();
    // Until the reactor has taken what it will of the floods.
    let mut last = u64::MAX;
    wait_for("the pending events to settle", || {
        let now = server.stats().ws_events_pending;
        let settled = now == last && now > 8;
        last = now;
        std::thread::sleep(std::time::Duration::from_millis(100));
        settled
    });
    let pending = server.stats().ws_events_pending;
    assert!(pending < 64, "{pending} pending");
    assert_eq!(upgrade_status(server.local_addr()), 101);
    drop(flooders);
}
