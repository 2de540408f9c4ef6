//! One contract for named broadcast groups, kept by each engine: two
//! handles (two clones in one process; two `Groups::redis` on one Redis,
//! as two processes would hold), each behind a server of its own, act as
//! one set of groups.

use std::net::SocketAddr;

use tether::cluster::{GroupError, Groups};
use tether::ws::{Message, Upgrade, WsEventKind};
use tether::{sse, Handoff, Request, Router, Server};

use crate::util::ws::{RawWs, TEXT};
use crate::util::{wait_for, Client};

/// A server whose `/ws/{room}` WebSockets join `room` and broadcast each
/// text they send to it, and whose `/sse/{room}` streams join it.
fn serve(groups: &Groups) -> Server {
    let router = Router::new()
        .get("/ws/{room}", |_: &Request| Upgrade::new())
        .get("/sse/{room}", |_: &Request| Handoff::to("streams"));
    let server = Server::builder()
        .queue("streams", 16)
        .router(router)
        .bind("127.0.0.1:0")
        .unwrap();
    let for_streams = groups.clone();
    server.pool("streams").unwrap().workers(1, move |exchange| {
        let room = exchange.request().param("room").unwrap_or("").to_string();
        let options = sse::options(sse::DEFAULT_HEARTBEAT);
        if let Ok(sender) = exchange.stream_with(sse::head(), options) {
            for_streams.join_stream(&room, sender).unwrap();
        }
    });
    let (events, groups) = (server.ws_events(), groups.clone());
    std::thread::spawn(move || {
        while let Some(event) = events.recv() {
            // The route's capture reaches the socket: no need to carry it.
            let room = event.socket.param("room").unwrap_or("").to_string();
            match &event.kind {
                WsEventKind::Open(_) => groups.join(&room, event.socket.clone()).unwrap(),
                WsEventKind::Message(Message::Text(text)) => {
                    groups.broadcast_text(&room, text).unwrap();
                }
                WsEventKind::Closed { .. } => groups.leave(&room, event.socket.id()),
                _ => {}
            }
        }
    });
    server
}

struct Side {
    groups: Groups,
    server: Server,
}

impl Side {
    fn new(groups: Groups) -> Side {
        Side {
            server: serve(&groups),
            groups,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// A member of `room` here, once the side counts it.
    fn member(&self, room: &str) -> RawWs {
        let before = self.groups.count(room);
        let ws = RawWs::connect(self.addr(), &format!("/ws/{room}"));
        wait_for("the member to join", || self.groups.count(room) > before);
        ws
    }
}

fn next_text(ws: &mut RawWs) -> String {
    let (first, payload) = ws.read_frame().expect("a frame");
    assert_eq!(first & 0x0F, TEXT);
    String::from_utf8(payload).unwrap()
}

/// Both sides hear each other's broadcasts in `room` (the shared engine
/// subscribes within a moment of a first member joining).
fn listening(sides: &[&Side], rooms: usize) {
    for side in sides {
        wait_for("the groups to listen", || {
            side.groups.stats().listening >= rooms
        });
    }
}

/// The contract. `pair()` gives two handles on one set of groups.
fn keeps_the_contract(pair: impl Fn() -> (Groups, Groups)) {
    crate::util::init();
    let (a, b) = pair();
    let (a, b) = (Side::new(a), Side::new(b));
    let mut on_a = a.member("r1");
    let mut also_on_a = a.member("r1");
    let mut on_b = b.member("r1");
    let mut elsewhere = b.member("r2");
    listening(&[&a, &b], 1);

    // A message from a member on one side reaches every member of its
    // room on both, once, in order; another room hears nothing of it.
    on_a.send_text("one");
    on_a.send_text("two");
    for ws in [&mut on_a, &mut also_on_a, &mut on_b] {
        assert_eq!([next_text(ws), next_text(ws)], ["one", "two"]);
    }
    on_b.send_text("three");
    for ws in [&mut on_a, &mut also_on_a, &mut on_b] {
        assert_eq!(next_text(ws), "three", "once, from the other side too");
    }
    elsewhere.send_text("r2 only");
    assert_eq!(
        next_text(&mut elsewhere),
        "r2 only",
        "nothing of r1 before it"
    );

    // A stream member gets the bytes unchanged.
    let before = b.groups.count("r1");
    let mut stream = Client::connect(b.addr());
    stream.send(b"GET /sse/r1 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(stream.read_reply(true).status, 200);
    wait_for("the stream to join", || b.groups.count("r1") == before + 1);
    let event = sse::Event::new("four").encode();
    let sent = a.groups.broadcast_binary("r1", &event).unwrap();
    let local = if a.groups.stats().engine == "memory" {
        4
    } else {
        2
    };
    assert_eq!(sent, local, "members here queued it");
    let chunk = stream.read_chunk().unwrap().unwrap();
    assert_eq!(chunk, event);

    // Members that end drop out by themselves.
    let before = b.groups.count("r1");
    drop(on_b);
    drop(stream);
    wait_for("b's r1 members to drop out", || {
        b.groups.count("r1") == before - 2
    });
    let before = a.groups.count("r1");
    drop(also_on_a);
    wait_for("a's member to drop out", || {
        a.groups.count("r1") == before - 1
    });

    assert_eq!(
        a.groups.broadcast_text("", "x"),
        Err(GroupError::InvalidName)
    );
    let long = "g".repeat(257);
    assert_eq!(
        a.groups.broadcast_text(&long, "x"),
        Err(GroupError::InvalidName)
    );
    assert_eq!(
        a.groups.broadcast_text("a\nb", "x"),
        Err(GroupError::InvalidName)
    );
}

#[test]
fn the_in_process_engine_keeps_the_contract() {
    keeps_the_contract(|| {
        let groups = Groups::new();
        (groups.clone(), groups)
    });
}

#[cfg(feature = "redis")]
mod on_redis {
    use super::*;
    use crate::util::redis::RedisServer;

    #[test]
    fn the_redis_engine_keeps_the_contract() {
        let Some(redis) = RedisServer::start("the_redis_engine_keeps_the_contract") else {
            return;
        };
        let url = redis.url();
        keeps_the_contract(|| {
            let open = || Groups::redis(&url).unwrap();
            (open(), open())
        });
    }

    #[test]
    fn local_members_keep_hearing_local_broadcasts_while_redis_is_down() {
        crate::util::init();
        let Some(mut redis) = RedisServer::start("local_members_keep_hearing") else {
            return;
        };
        let (a, b) = (
            Side::new(Groups::redis(&redis.url()).unwrap()),
            Side::new(Groups::redis(&redis.url()).unwrap()),
        );
        let (mut on_a, mut also_on_a, mut on_b) = (a.member("r"), a.member("r"), b.member("r"));
        listening(&[&a, &b], 1);
        redis.stop();
        wait_for("a to see Redis gone", || !a.groups.stats().connected);
        on_a.send_text("local");
        for ws in [&mut on_a, &mut also_on_a] {
            assert_eq!(next_text(ws), "local");
        }
        redis.restart_empty();
        // Back without new groups: both listen again, and hear each other.
        wait_for("both to reconnect", || {
            a.groups.stats().reconnects >= 1 && b.groups.stats().reconnects >= 1
        });
        listening(&[&a, &b], 1);
        on_b.send_text("across again");
        for ws in [&mut on_a, &mut also_on_a, &mut on_b] {
            assert_eq!(
                next_text(ws),
                "across again",
                "b missed 'local': PUB/SUB keeps nothing"
            );
        }
        assert!(a.groups.stats().relay_dropped >= 1);
    }
}
