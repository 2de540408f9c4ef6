//! The server-wide memory budget: what peers make tether hold (bodies being
//! read, WebSocket messages being assembled or waiting for the application,
//! responses they do not read) stays within `memory_budget_bytes` however
//! many connections do it at once. Past it a body or a response is answered
//! `503` and a message closed with `1009`, all recorded as `memory_budget`,
//! and everyone else is still served. One client (one address) holds only
//! its share of a busy budget, so it cannot take the budget from a
//! newcomer.

use crate::util;

use std::io::Write;

use tether::ws::{Upgrade, WsEventKind};
use tether::{Action, CloseReason, Config, Request, Response};
use util::ws::{frame, RawWs, BINARY, FIN};
use util::{assert_quiet, wait_closed_count, wait_for, Client};

const BUDGET: usize = 2 * 1024 * 1024;
const DECLARED: usize = 1_000_000;
const SENT: usize = 800_000;

/// These fill the whole budget from one address (loopback), so each
/// client's share is off; `one_client_leaves_room_for_a_newcomer` tests it.
fn config() -> Config {
    let mut config = Config::default();
    config.memory_share_per_client = false;
    config.memory_budget_bytes = BUDGET;
    config.max_body_bytes = 1024 * 1024;
    config.ws_max_message_bytes = 1024 * 1024;
    config
}

fn post_head() -> String {
    format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {DECLARED}\r\n\r\n")
}

#[test]
fn a_body_past_the_budget_is_refused_503_and_the_others_complete() {
    let server = util::serve(config(), |req: &Request| {
        Action::Respond(Response::text(200, format!("{} bytes", req.body().len())))
    });
    let addr = server.local_addr();
    // Two uploads stop part-way: 1.6 MB of the 2 MiB budget is held.
    let mut holders: Vec<Client> = (0..2)
        .map(|_| {
            let mut client = Client::connect(addr);
            client.send(post_head().as_bytes());
            client.send(&vec![b'x'; SENT]);
            client
        })
        .collect();
    wait_for("two bodies held", || {
        server.stats().memory_held >= 2 * SENT as u64
    });

    // A third cannot fit: refused, and blamed on the server, not the peer.
    let mut third = Client::connect(addr);
    third.send(post_head().as_bytes());
    let _ = third.stream.write_all(&vec![b'x'; SENT]);
    let reply = third.read_reply(false);
    assert_eq!(reply.status, 503);
    assert_eq!(
        reply.header("retry-after"),
        Some("1"),
        "the server is busy, not the body bad"
    );
    assert!(reply.closes());
    let stats = wait_closed_count(&server, CloseReason::MemoryBudget, 1);
    assert!(stats.memory_refusals >= 1, "{stats:?}");
    assert!(stats.memory_held <= BUDGET as u64, "{stats:?}");

    // A request without a body is served meanwhile.
    assert_eq!(Client::connect(addr).get("/").status, 200);

    // The held uploads finish, one after the other, within the budget.
    for holder in &mut holders {
        holder.send(&vec![b'y'; DECLARED - SENT]);
        assert_eq!(holder.read_reply(false).text(), "1000000 bytes");
    }
    drop(holders);
    drop(third);
    assert_quiet(&server);
}

#[test]
fn a_message_past_the_budget_is_closed_1009_and_held_messages_count_until_dropped() {
    let server = util::serve(config(), |_: &Request| Action::Upgrade(Upgrade::new()));
    let events = server.ws_events();
    let addr = server.local_addr();
    let whole = frame(FIN | BINARY, &vec![7u8; DECLARED], true);
    let header = whole.len() - DECLARED;
    let mut holders: Vec<RawWs> = (0..2)
        .map(|_| {
            let mut ws = RawWs::connect(addr, "/ws");
            ws.stream.write_all(&whole[..header + SENT]).unwrap();
            ws
        })
        .collect();
    wait_for("two messages in assembly held", || {
        server.stats().memory_held >= 2 * SENT as u64
    });

    let mut third = RawWs::connect(addr, "/ws");
    let _ = third.stream.write_all(&whole[..header + SENT]);
    assert_eq!(third.read_close_code(), Some(1009));
    let stats = wait_closed_count(&server, CloseReason::MemoryBudget, 1);
    assert_eq!(stats.closed.get(CloseReason::ProtocolError), 0, "{stats:?}");
    assert!(stats.memory_refusals >= 1, "{stats:?}");

    // Finished messages wait in the event stream, still held.
    for ws in &mut holders {
        ws.stream.write_all(&whole[header + SENT..]).unwrap();
    }
    let mut messages = Vec::new();
    while messages.len() < 2 {
        let event = events.recv_timeout(util::PATIENCE).expect("an event");
        if matches!(event.kind, WsEventKind::Message(_)) {
            messages.push(event);
        }
    }
    assert!(server.stats().memory_held >= 2 * DECLARED as u64);
    drop(messages);
    wait_for("the dropped messages to be given back", || {
        server.stats().memory_held == 0
    });
    drop(holders);
    drop(third);
    while events.try_recv().is_ok() {}
    assert_quiet(&server);
}

#[test]
fn with_the_budget_spent_a_pipelining_client_reads_no_further_ahead_but_is_served() {
    let mut config = config();
    config.memory_budget_bytes = config.max_body_bytes;
    let max_body = config.max_body_bytes;
    let server = util::serve(config, |req: &Request| {
        // Up to the output's high-water mark: a response that would pass
        // its floor needs the (spent) budget, and is refused.
        let size = if req.path() == "/big" { 64 * 1024 } else { 2 };
        Action::Respond(Response::text(200, "z".repeat(size)))
    });
    let addr = server.local_addr();
    // One upload holds all but a few hundred bytes of the budget.
    let mut holder = Client::connect(addr);
    let almost_all = max_body - 500;
    holder.send(
        format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {max_body}\r\n\r\n").as_bytes(),
    );
    holder.send(&vec![b'x'; almost_all]);
    wait_for("the upload held", || {
        server.stats().memory_held >= almost_all as u64
    });

    // A client pipelines and reads nothing yet: once the kernel's buffers
    // are full its output passes the high-water mark, parsing pauses, and
    // its input reaches the floor, where reading further ahead would need
    // the spent budget.
    let mut pipeliner = Client::connect(addr);
    let padding = "a".repeat(500);
    let request = format!("GET /big HTTP/1.1\r\nHost: t\r\nX-Pad: {padding}\r\n\r\n");
    let requests = 100;
    let mut writer = pipeliner.stream.try_clone().unwrap();
    let all = request.repeat(requests);
    let writer = std::thread::spawn(move || writer.write_all(all.as_bytes()).unwrap());
    wait_for("read-ahead to wait on the budget", || {
        server.stats().memory_refusals >= 1
    });
    for _ in 0..requests {
        assert_eq!(pipeliner.read_reply(false).body.len(), 64 * 1024);
    }
    writer.join().unwrap();
    let stats = server.stats();
    assert!(stats.memory_held <= max_body as u64, "{stats:?}");
    drop(holder);
    drop(pipeliner);
    assert_quiet(&server);
}

/// A response larger than the budget can hold past the output's high-water
/// mark: the client is answered `503` (`memory_budget`) and the worker gets
/// its response back, rather than the bytes being held uncounted.
#[test]
fn a_response_the_budget_cannot_hold_is_handed_back_and_answered_503() {
    let (verdicts, verdict) = std::sync::mpsc::channel();
    let server = util::serve_workers(config(), 1, move |exchange| {
        let big = Response::text(200, vec![b'r'; 3 * 1024 * 1024]);
        let _ = verdicts.send(exchange.respond(big));
    });
    let mut client = Client::connect(server.local_addr());
    client.send(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    let reply = client.read_reply(false);
    assert_eq!(reply.status, 503);
    assert!(reply.closes());
    let back = verdict.recv_timeout(util::PATIENCE).unwrap().unwrap_err();
    assert_eq!(back.reason, CloseReason::MemoryBudget);
    assert_eq!(back.response.body().len(), 3 * 1024 * 1024);
    let stats = wait_closed_count(&server, CloseReason::MemoryBudget, 1);
    assert!(stats.memory_refusals >= 1, "{stats:?}");
    assert_eq!(stats.memory_held, 0, "{stats:?}");
}

/// One that fits is held against the budget while unwritten, then given
/// back.
#[test]
fn a_large_response_is_held_against_the_budget_until_written() {
    let server = util::serve(config(), |_: &Request| {
        Action::Respond(Response::text(200, vec![b'r'; 1024 * 1024]))
    });
    let addr = server.local_addr();
    let mut client = Client::connect(addr);
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for("the response held", || server.stats().memory_held > 0);
    let reply = client.read_reply(false);
    assert_eq!(reply.body.len(), 1024 * 1024);
    wait_for("given back once written", || {
        server.stats().memory_held == 0
    });
}

/// One client sends many nearly complete bodies (then trickles, so they
/// stay held). Without shares it took the whole budget and every other
/// client's upload got `503`; with them, the greedy client is the one
/// refused, once it holds half, and a newcomer's upload is served.
#[test]
fn one_client_leaves_room_for_a_newcomer() {
    let mut config = config();
    config.memory_share_per_client = true;
    let server = util::serve(config, |req: &Request| {
        Action::Respond(Response::text(200, format!("{} bytes", req.body().len())))
    });
    let addr = server.local_addr();
    let greedy: std::net::IpAddr = [127, 0, 0, 2].into();
    let part = 600_000;
    let mut holders: Vec<Client> = (0..4)
        .map(|_| {
            let mut client = Client::connect_from(greedy, addr);
            client.send(post_head().as_bytes());
            let _ = client.stream.write_all(&vec![b'x'; part]);
            client
        })
        .collect();
    // Held to its share, or to the whole budget without shares.
    wait_for("the greedy client refused", || {
        server.stats().memory_refusals >= 1
    });
    let held = server.stats().memory_held;

    let newcomer: std::net::IpAddr = [127, 0, 0, 3].into();
    let mut client = Client::connect_from(newcomer, addr);
    let body = 500_000;
    client.send(format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {body}\r\n\r\n").as_bytes());
    let _ = client.stream.write_all(&vec![b'n'; body]);
    let reply = client.read_reply(false);
    assert_eq!(
        (reply.status, reply.text()),
        (200, "500000 bytes"),
        "greedy client held {held} of {BUDGET}: {:?}",
        server.stats()
    );
    let stats = server.stats();
    assert!(held <= BUDGET as u64 / 2, "greedy held {held}");
    assert!(stats.memory_share_refusals >= 1, "{stats:?}");
    holders.clear();
    drop(client);
    assert_quiet(&server);
}
