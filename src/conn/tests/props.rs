//! The state machine under arbitrary orders of peer bytes, hangups,
//! resets, kernel room, time, worker replies and shutdown: it never
//! panics, its output stays bounded, and when it ends every counter that
//! follows a phase is back to zero.

use super::*;
use crate::conn::state::OUTPUT_HIGH_WATER_BYTES;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Send(Vec<u8>),
    Fin,
    Reset,
    Room(usize),
    Advance(u64),
    Respond,
    Drop,
    Stream,
    Shutdown,
}

fn op() -> impl Strategy<Value = Op> {
    let requests = prop::sample::select(vec![
        &b"GET /i HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        &b"GET /w HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        &b"GET /w HTTP/1.0\r\n\r\n"[..],
        &b"POST /w HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"[..],
        &b"POST /w HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"[..],
        &b"POST /w HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"[..],
        &b"GET /i HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"[..],
        &b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"[..],
        &b"\x89\x80\x01\x02\x03\x04"[..],
        &b"\x81\x83\x01\x02\x03\x04abc"[..],
        &b"GET / HTTP/1.1\r\n"[..],
        &b"\r\n\r\n"[..],
    ]);
    prop_oneof![
        6 => requests.prop_map(|r| Op::Send(r.to_vec())),
        1 => prop::collection::vec(any::<u8>(), 1..40).prop_map(Op::Send),
        1 => Just(Op::Fin),
        1 => Just(Op::Reset),
        2 => prop::sample::select(vec![0usize, 7, 100, 4096, usize::MAX]).prop_map(Op::Room),
        2 => (0u64..45).prop_map(Op::Advance),
        2 => Just(Op::Respond),
        1 => Just(Op::Drop),
        1 => Just(Op::Stream),
        1 => Just(Op::Shutdown),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_order_of_events_keeps_the_machine_sound(ops in prop::collection::vec(op(), 1..40)) {
        let mut bed = Bed::new(|req: &Request| match req.path() {
            "/i" => Action::Respond(Response::text(200, "inline")),
            "/ws" => Action::Upgrade(crate::ws::Upgrade::new()),
            _ => Action::handoff(),
        });
        let mut conn = bed.conn(usize::MAX);
        let mut streams = Vec::new();
        for op in ops {
            if conn.is_closed() {
                break;
            }
            match op {
                Op::Send(bytes) => bed.client_sends(&mut conn, &bytes),
                Op::Fin => bed.client_fin(&mut conn),
                Op::Reset => socket_error(&mut conn, &mut bed, io::ErrorKind::ConnectionReset),
                Op::Room(room) => {
                    conn.io.room = room;
                    conn.on_event(readable(), &mut bed.cx());
                }
                Op::Advance(secs) => {
                    bed.now += Duration::from_secs(secs);
                    conn.on_deadline(&mut bed.cx());
                }
                Op::Respond => {
                    if let Ok(exchange) = bed.exchanges.try_recv() {
                        let _ = exchange.respond_detached(Response::text(200, "worker"));
                    }
                }
                Op::Drop => drop(bed.exchanges.try_recv()),
                Op::Stream => {
                    if let Ok(exchange) = bed.exchanges.try_recv() {
                        if let Ok(mut sender) = exchange.stream(Response::new(200)) {
                            let _ = sender.try_send("part");
                            streams.push(sender);
                        }
                    }
                }
                Op::Shutdown => {
                    conn.begin_shutdown(&mut bed.cx());
                }
            }
            // What the worker side sent reaches the connection, as the
            // reactor would deliver it.
            while let Ok(Command::Update(_)) = bed.commands.try_recv() {
                conn.on_update(&mut bed.cx());
            }
            prop_assert!(conn.unsent() <= OUTPUT_HIGH_WATER_BYTES * 2 + 1024);
            prop_assert!(conn.input.len() <= bed.config.max_buffered_bytes);
        }
        // However it went, closing settles everything.
        drop(streams);
        while let Ok(exchange) = bed.exchanges.try_recv() {
            drop(exchange);
        }
        while let Ok(Command::Update(_)) = bed.commands.try_recv() {
            conn.on_update(&mut bed.cx());
        }
        conn.close(CloseReason::Shutdown, &mut bed.cx());
        let stats = bed.stats.snapshot();
        prop_assert_eq!(stats.pending_responses, 0);
        prop_assert_eq!(stats.streams_active, 0);
        prop_assert_eq!(stats.ws_active, 0);
        prop_assert!(conn.deliveries.is_empty());
    }
}
