//! examples/async_worker.rs as a black box: a route whose tokio task
//! awaits an upstream answers, and the upstream call is cancelled the
//! moment the client leaves — the upstream itself sees its caller go.

use crate::util;

use util::demo::Demo;
use util::*;

fn figure(example: &Demo, name: &str) -> u64 {
    example.stats()[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} in /stats"))
}

#[test]
fn an_async_worker_answers_and_cancels_its_upstream_call_when_the_client_leaves() {
    let example = Demo::example("async_worker");
    let mut client = Client::connect(example.addr);
    let reply = client.get("/quote?delay=20");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "quote after 20 ms\n");
    wait_for("the answer's delivery awaited", || {
        figure(&example, "answered") == 1
    });

    // A quote that takes a minute, and a client that leaves once the
    // upstream is working on it.
    let mut leaver = Client::connect(example.addr);
    leaver.send(b"GET /quote?delay=60000 HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for("the upstream asked", || {
        figure(&example, "upstream_calls") == 2
    });
    drop(leaver);
    wait_for("the upstream sees its caller hang up", || {
        figure(&example, "upstream_cancelled") == 1
    });
    let stats = example.stats();
    assert_eq!(stats["abandoned"], 1, "the exchange given up: {stats}");
    assert_eq!(stats["pending_responses"], 0, "{stats}");
    assert_eq!(
        stats["latency_us"]["departure_notice"]["count"], 1,
        "{stats}"
    );
}
