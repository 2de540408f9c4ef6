//! The demo's contract, tried as a user would: the example binary, its
//! endpoints, its `/stats` names, and a graceful exit on SIGTERM.

mod util;

use std::time::Duration;

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
    assert_eq!(client.get("/nope").status, 404);

    // A client that leaves before its work is done: counted as undelivered.
    let mut leaver = Client::connect(demo.addr);
    leaver.send(b"GET /work?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n");
    std::thread::sleep(Duration::from_millis(50));
    drop(leaver);
    wait_for("the undelivered response to be counted", || {
        demo.stats()["undelivered"].as_u64() == Some(1)
    });

    let stats = demo.stats();
    for name in [
        "accepted",
        "active",
        "requests",
        "pending_responses",
        "undelivered",
        "dropped",
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
    drop(client);
    demo.terminate();
}
