//! The `service` example as a black box: what a production service built
//! on tether promises — jobs that stop when their client leaves, a
//! long-poll broker that loses nothing, SSE resumed by `Last-Event-ID`,
//! WebSocket users authenticated at the upgrade, metrics, and a graceful
//! SIGTERM.

use crate::util;

use util::demo::Demo;
use util::ws::RawWs;
use util::*;

fn metric(demo: &Demo, line_start: &str) -> Option<u64> {
    let text = Client::connect(demo.addr)
        .get("/metrics")
        .text()
        .to_string();
    text.lines()
        .find_map(|line| line.strip_prefix(line_start))
        .and_then(|value| value.trim().parse().ok())
}

#[test]
fn the_service_keeps_its_promises() {
    let service = Demo::service();
    let addr = service.addr;

    // Jobs: answered; a job whose client leaves stops at once.
    assert_eq!(Client::connect(addr).get("/jobs/5").text(), "worked 5ms\n");
    assert_eq!(Client::connect(addr).get("/jobs/oops").status, 400);
    let mut leaver = Client::connect(addr);
    leaver.send(b"GET /jobs/60000 HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for("the job to start", || {
        metric(&service, "tether_pending_responses ") == Some(1)
    });
    drop(leaver);
    wait_for("the job to stop", || {
        metric(&service, "tether_abandoned_total ") == Some(1)
    });

    // Broker: a message published before anyone polls waits for the poll;
    // a poll parked before the publish gets it.
    let mut publisher = Client::connect(addr);
    publisher.send(b"POST /topics/news HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nfirst");
    assert_eq!(publisher.read_reply(false).status, 202);
    assert_eq!(
        Client::connect(addr).get("/topics/news/poll").text(),
        "first"
    );
    let mut poller = Client::connect(addr);
    poller.send(b"GET /topics/news/poll HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for("the poll to park", || {
        metric(&service, "tether_pending_responses ") == Some(1)
    });
    publisher.send(b"POST /topics/news HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nsecond");
    assert_eq!(publisher.read_reply(false).status, 202);
    assert_eq!(poller.read_reply(false).text(), "second");

    // SSE: resumed after the client's cursor.
    let mut ticks = Client::connect(addr);
    ticks.send(b"GET /ticks HTTP/1.1\r\nHost: t\r\nLast-Event-ID: 41\r\n\r\n");
    let head = ticks.read_reply(true);
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    let mut seen = String::new();
    while !seen.contains("\n\n") || !seen.contains("id: ") {
        let chunk = ticks.read_chunk().expect("a tick").expect("not the end");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("id: 42\n"), "{seen}");

    // Chat: only known tokens get in; messages carry the sender's name.
    let mut refused = Client::connect(addr);
    refused.send(
        b"GET /chat?token=nope HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert_eq!(refused.read_reply(false).status, 401);
    let mut alice = RawWs::connect(addr, "/chat?token=alice-token");
    wait_for("alice to join", || {
        metric(&service, "tether_ws_active ") == Some(1)
    });
    alice.send_text("hello");
    let (_, echoed) = alice.read_frame().expect("a broadcast");
    assert_eq!(echoed, b"alice: hello");
    drop(alice);

    let text = Client::connect(addr).get("/metrics").text().to_string();
    assert!(
        text.contains("tether_queue_depth{queue=\"broker\"}"),
        "{text}"
    );
    assert!(
        text.contains("tether_closed_total{reason=\"peer_closed\"}"),
        "{text}"
    );

    // A parked poll is answered as shutdown begins; the exit is clean.
    let mut parked = Client::connect(addr);
    parked.send(b"GET /topics/quiet/poll HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for("the poll to park", || {
        metric(&service, "tether_pending_responses ") == Some(1)
    });
    let stopper = std::thread::spawn(move || service.terminate());
    let reply = parked.read_reply(false);
    assert_eq!(
        (reply.status, reply.header("retry-after")),
        (503, Some("5"))
    );
    stopper.join().unwrap();
}
