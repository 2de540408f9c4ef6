//! Unit tests of the server's builder and shutdown, beside `server.rs`.

use super::*;
use crate::{CloseReason, Response};
use std::io::Write;
use std::time::Duration;

#[test]
fn a_reactor_that_dies_settles_every_connection_it_held() {
    let server = Server::builder().bind("127.0.0.1:0").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    server.workers(1, move |exchange| {
        // 32 MiB for a client that never reads: `respond` blocks.
        let big = Response::new(200).with_body(vec![b'x'; 32 << 20]);
        let _ = tx.send(exchange.respond(big));
    });
    let mut client = std::net::TcpStream::connect(server.local_addr()).unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.stats().responses == 0 {
        assert!(std::time::Instant::now() < deadline, "no response queued");
        std::thread::sleep(Duration::from_millis(2));
    }
    server.reactors[0].1.reactor.send(Command::Panic);
    let outcome = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("respond returned");
    assert_eq!(outcome.unwrap_err().reason, CloseReason::ServerError);
    let stats = server.stats();
    assert_eq!(stats.active, 0);
    assert_eq!(stats.closed.get(CloseReason::ServerError), 1);
    // Then the reactor is marked stopped: later hand-overs fail fast
    // rather than wait for it.
    while !server.reactors[0].1.reactor.is_stopped() {
        assert!(std::time::Instant::now() < deadline, "never marked stopped");
        std::thread::sleep(Duration::from_millis(2));
    }
    server.shutdown();
}

#[test]
fn wait_reports_a_reactor_that_died() {
    let server = Server::builder()
        .reactors(2)
        .bind("127.0.0.1:0")
        .expect("bind");
    server.reactors[1].1.reactor.send(Command::Panic);
    let outcome = server.wait();
    assert!(matches!(outcome, Err(Error::ReactorFailed)), "{outcome:?}");
}
