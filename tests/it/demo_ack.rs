//! The demo's long polls with acknowledgement: every message has an id;
//! with `--poll-ack-timeout` a delivered message is owed an
//! acknowledgement (`POST /ack`, or `?ack=` on the next poll) and goes to
//! the next poller without one; with `off` (the default) the write is
//! final.

use crate::util::demo::{polled, post, publish, Demo};
use crate::util::{wait_for, Client};

#[test]
fn an_unacknowledged_message_is_delivered_again_by_its_id() {
    let demo = Demo::start_with(&["--poll-ack-timeout", "300ms"]);
    let mut client = Client::connect(demo.addr);
    let id = publish(&mut client, "owed");
    let first = polled(&client.get("/poll?timeout_ms=10000"));
    assert_eq!(first, (id.clone(), "owed".to_string()));
    // Not acknowledged: the next poll gets it again, same id.
    assert_eq!(polled(&client.get("/poll?timeout_ms=10000")), first);
    assert_eq!(post(&mut client, "/ack", &id).status, 204);
    assert_eq!(
        client.get("/poll?timeout_ms=500").status,
        204,
        "acknowledged"
    );
    // An acknowledgement is idempotent; junk is refused.
    assert_eq!(post(&mut client, "/ack", &id).status, 204);
    assert_eq!(post(&mut client, "/ack", "no such thing!").status, 400);
    let stats = demo.stats();
    let cluster = &stats["cluster"];
    assert_eq!(cluster["engine"], "memory");
    assert_eq!(cluster["acked"], 1, "{cluster}");
    assert_eq!(cluster["delivered"], 2, "{cluster}");
    assert!(cluster["requeued"].as_u64() >= Some(1), "{cluster}");
    assert_eq!(stats["messages_requeued"], cluster["requeued"]);
    assert_eq!(cluster["owed"], 0, "{cluster}");
}

#[test]
fn the_next_poll_acknowledges_with_ack_id() {
    let demo = Demo::start_with(&["--poll-ack-timeout", "300ms"]);
    let mut client = Client::connect(demo.addr);
    let first = publish(&mut client, "one");
    publish(&mut client, "two");
    assert_eq!(polled(&client.get("/poll?timeout_ms=10000")).0, first);
    let second = polled(&client.get(&format!("/poll?ack={first}&timeout_ms=10000")));
    assert_eq!(second.1, "two", "one was acknowledged: not again");
    let last = format!("/poll?ack={}&timeout_ms=500", second.0);
    assert_eq!(client.get(&last).status, 204);
    assert_eq!(client.get("/poll?ack=bad%20id").status, 400);
    wait_for("both acknowledgements", || {
        demo.stats()["cluster"]["acked"] == 2
    });
}

#[test]
fn without_an_ack_timeout_the_write_is_final() {
    let demo = Demo::start();
    let mut client = Client::connect(demo.addr);
    let id = publish(&mut client, "once");
    assert_eq!(polled(&client.get("/poll?timeout_ms=10000")).0, id);
    assert_eq!(client.get("/poll?timeout_ms=500").status, 204);
    assert_eq!(post(&mut client, "/ack", &id).status, 204, "nothing owed");
    let metrics = client.get("/metrics");
    let text = metrics.text();
    for line in [
        "tether_cluster_published_total 1",
        "tether_cluster_delivered_total 1",
        "tether_cluster_acked_total 0",
        "tether_cluster_engine_info{engine=\"memory\"} 1",
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn a_bad_duration_is_refused_with_what_would_do() {
    let (code, said) = Demo::refuse(&["--poll-ack-timeout", "soon"]);
    assert_eq!(code, Some(2));
    assert!(said.contains("such as 30s, or off"), "{said}");
}
