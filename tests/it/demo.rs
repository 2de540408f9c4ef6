//! The demo's contract, tried as a user would: the example binary, its
//! endpoints, its `/stats` and `/metrics` names, and a graceful exit on
//! SIGTERM (through `Server::shutdown_on_signals`).

use crate::util;

use util::demo::Demo;
use util::*;

#[test]
fn the_demo_serves_its_contract() {
    let demo = Demo::start();
    let mut client = Client::connect(demo.addr);

    let hello = client.get("/hello");
    assert_eq!((hello.status, hello.text()), (200, "Hello, World!"));

    let work = client.get("/work?ms=30");
    assert_eq!((work.status, work.text()), (200, "worked 30 ms"));

    client.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n\r\npayload");
    let echo = client.read_reply(false);
    assert_eq!((echo.status, echo.text()), (200, "payload"));
    // Reflected, so never as something a browser would render.
    assert_eq!(
        echo.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(echo.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(client.get("/nope").status, 404);

    // A client that leaves before its minute of work is done: the worker
    // waits on wait_closed, so it stops at once and says so (abandoned).
    let mut leaver = Client::connect(demo.addr);
    leaver.send(b"GET /work?ms=60000 HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for("the worker to hold it", || {
        demo.stats()["pending_responses"].as_u64() == Some(1)
    });
    drop(leaver);
    wait_for("the worker to stop at once", || {
        demo.stats()["abandoned"].as_u64() == Some(1)
    });

    // HEAD works where GET does; a wrong method gets 405 with Allow.
    client.send(b"HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = client.read_reply(true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("13"));
    client.send(b"DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    let refused = client.read_reply(false);
    assert_eq!(refused.status, 405);
    assert_eq!(refused.header("allow"), Some("GET, HEAD"));

    let stats = demo.stats();
    for name in [
        "accepted",
        "active",
        "requests",
        "pending_responses",
        "undelivered",
        "dropped",
        "abandoned",
    ] {
        assert!(stats[name].is_u64(), "/stats lacks {name}: {stats}");
    }
    for name in [
        "peer_closed",
        "peer_reset",
        "idle_timeout",
        "head_timeout",
        "response_timeout",
        "bad_request",
        "drained",
        "shutdown",
    ] {
        assert!(
            stats["closed"][name].is_u64(),
            "/stats lacks closed.{name}: {stats}"
        );
    }
    assert!(stats["closed"]["peer_closed"].as_u64().unwrap() >= 1);
    assert!(stats["queues"]["polls"]["depth"].is_u64(), "{stats}");

    // The same figures for a scraper, closes labelled by reason.
    let metrics = client.get("/metrics");
    assert_eq!(metrics.status, 200);
    let content_type = metrics.header("content-type").unwrap_or("");
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = metrics.text();
    assert!(
        text.contains("tether_closed_total{reason=\"peer_closed\"}"),
        "{text}"
    );
    assert!(text.contains("tether_abandoned_total 1"), "{text}");
    assert!(
        text.contains("tether_queue_depth{queue=\"polls\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE tether_response_latency_seconds histogram"),
        "{text}"
    );
    drop(client);
    demo.terminate();
}

#[test]
fn the_demo_bounds_its_publish_queue_in_bytes() {
    let demo = Demo::start();
    let mut client = Client::connect(demo.addr);
    let message = vec![b'm'; 1_000_000];
    let publish = |client: &mut Client| {
        let head = format!(
            "POST /publish HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            message.len()
        );
        client.send(head.as_bytes());
        client.send(&message);
        client.read_reply(false)
    };
    // Nobody polls: 16 MB wait, the 17th is refused with a hint to retry.
    for _ in 0..16 {
        assert_eq!(publish(&mut client).status, 202);
    }
    let refused = publish(&mut client);
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    // A poller takes one; there is room again.
    let taken = client.get("/poll?timeout_ms=1000");
    assert_eq!((taken.status, taken.body.len()), (200, 1_000_000));
    assert_eq!(publish(&mut client).status, 202);
    drop(client);
    demo.terminate();
}

#[test]
fn a_parked_long_poll_is_answered_when_the_demo_is_told_to_stop() {
    let demo = Demo::start();
    let mut poller = Client::connect(demo.addr);
    poller.send(b"GET /poll?timeout_ms=60000 HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for("the poll to be parked", || {
        demo.stats()["pending_responses"].as_u64() == Some(1)
    });
    let stopper = std::thread::spawn(move || demo.terminate());
    // Answered by the hub as shutdown begins, not cut off at its timeout.
    let reply = poller.read_reply(false);
    assert_eq!((reply.status, reply.text()), (503, "shutting down\n"));
    stopper.join().unwrap();
}

/// Four requests that would keep a worker busy for a minute each: one
/// client address gets its share of the `/work` workers and `503` past it,
/// and everything else — streams, publishes, another client's `/work` —
/// is served at once rather than after the response timeout.
#[test]
fn one_client_cannot_hold_every_worker() {
    let demo = Demo::start(); // two workers
    let holders: Vec<Client> = (0..4)
        .map(|_| {
            let mut holder = Client::connect(demo.addr);
            holder.send(b"GET /work?ms=60000 HTTP/1.1\r\nHost: t\r\n\r\n");
            holder
        })
        .collect();
    wait_for("a worker held, the rest refused", || {
        demo.stats()["responses"].as_u64() >= Some(3)
    });

    let mut events = Client::connect(demo.addr);
    events.send(b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(events.read_reply(true).status, 200);
    let mut publisher = Client::connect(demo.addr);
    publisher.send(b"POST /publish HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(publisher.read_reply(false).status, 202);
    let other: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let mut neighbour = Client::connect_from(other, demo.addr);
    assert_eq!(neighbour.get("/work?ms=1").text(), "worked 1 ms");

    // Three replies were counted before the checks above; the fourth
    // client's worker is still busy.
    let (mut refused, mut held) = (0, 0);
    for mut holder in holders {
        holder
            .stream
            .set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        match holder.try_read_reply(false) {
            Ok(reply) => {
                assert_eq!(reply.status, 503, "{}", reply.text());
                assert!(reply.header("retry-after").is_some());
                refused += 1;
            }
            Err(_) => held += 1,
        }
    }
    assert_eq!((refused, held), (3, 1));
}

/// `/work` sets its own deadline: a job longer than the server's response
/// timeout is answered, not cut off with `503`.
#[test]
fn work_longer_than_the_response_timeout_is_answered() {
    let demo = Demo::start_with(&["--response-timeout", "1s"]);
    let mut client = Client::connect(demo.addr);
    assert_eq!(client.get("/work?ms=1500").text(), "worked 1500 ms");
}

/// `POST /upload` reads a streamed body as it arrives: a chunked 5 MiB
/// upload, five times `max_body_bytes`, is counted in full.
#[test]
fn the_demo_reads_a_streamed_upload_as_it_arrives() {
    let demo = Demo::start();
    let mut client = Client::connect(demo.addr);
    client.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    let chunk = vec![b'u'; 64 * 1024];
    for _ in 0..80 {
        client.send(format!("{:x}\r\n", chunk.len()).as_bytes());
        client.send(&chunk);
        client.send(b"\r\n");
    }
    client.send(b"0\r\n\r\n");
    let reply = client.read_reply(false);
    assert_eq!(
        (reply.status, reply.text()),
        (200, "received 5242880 bytes\n")
    );
}
