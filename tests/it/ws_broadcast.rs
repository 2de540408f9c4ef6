//! Broadcast to 1,000 sockets while 10% vanish (FIN, RST, silence): no
//! panic, no send reaches a connection that reused a slot, dead members leave
//! the group, live ones get every message in order.

use crate::util;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use tether::ws::{Upgrade, WsEventKind, WsGroup};
use tether::{Action, CloseReason, Config, ConnectionId};
use util::ws::{frame, parse_frame, RawWs, FIN, PING, PONG, TEXT};
use util::*;

const SOCKETS: usize = 1000;
const MESSAGES: usize = 50;

#[derive(PartialEq)]
enum Fate {
    Live,
    Fin,
    Rst,
    Silent,
}

struct Peer {
    /// `None` once it has vanished.
    stream: Option<mio::net::TcpStream>,
    buf: Vec<u8>,
    texts: Vec<String>,
    fate: Fate,
}

impl Peer {
    /// Reads what arrived, answering pings as a live client does.
    fn pump(&mut self) {
        let Some(stream) = &mut self.stream else {
            return;
        };
        let mut chunk = [0u8; 16384];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
        while let Some((first, payload, used)) = parse_frame(&self.buf) {
            self.buf.drain(..used);
            match first & 0x0F {
                TEXT => self.texts.push(String::from_utf8(payload).unwrap()),
                PING => {
                    let _ = stream.write_all(&frame(FIN | PONG, &payload, true));
                }
                _ => {}
            }
        }
    }
}

/// Lets peers that have bytes read them and answer pings: every peer
/// during setup (`setup`), afterwards only the live ones.
fn pump_ready(
    poll: &mut Poll,
    events: &mut Events,
    peers: &mut [Peer],
    timeout: Duration,
    setup: bool,
) {
    poll.poll(events, Some(timeout)).unwrap();
    for event in events.iter() {
        let peer = &mut peers[event.token().0];
        if setup || peer.fate == Fate::Live {
            peer.pump();
        }
    }
}

#[test]
fn broadcast_survives_vanishing_members_and_never_reaches_a_reused_slot() {
    let mut config = Config::default();
    // Silent members are found within about six seconds; live ones answer
    // every ping, during setup too (see `pump_ready`), and get five seconds
    // to do it, however starved of CPU this process is.
    config.ws_ping_interval = Duration::from_secs(1);
    config.ws_pong_timeout = Duration::from_secs(5);
    let server = serve(config, |req| match req.path() {
        "/ws/chat" | "/ws" => Action::Upgrade(Upgrade::new()),
        _ => Action::Respond(tether::Response::new(404)),
    });
    let group = WsGroup::new();
    let terminal: Arc<Mutex<HashMap<ConnectionId, (usize, CloseReason)>>> = Arc::default();
    let outsiders: Arc<Mutex<Vec<ConnectionId>>> = Arc::default();
    {
        let (events, group, terminal) = (server.ws_events(), group.clone(), Arc::clone(&terminal));
        let outsiders = Arc::clone(&outsiders);
        std::thread::spawn(move || {
            while let Some(event) = events.recv() {
                match event.kind {
                    WsEventKind::Open(request) if request.path() == "/ws/chat" => {
                        group.join(event.socket)
                    }
                    WsEventKind::Open(_) => outsiders.lock().unwrap().push(event.socket.id()),
                    WsEventKind::Closed { reason, .. } => {
                        let mut terminal = terminal.lock().unwrap();
                        let entry = terminal.entry(event.socket.id()).or_insert((0, reason));
                        entry.0 += 1;
                    }
                    _ => {}
                }
            }
        });
    }

    let mut poll = Poll::new().unwrap();
    let mut events = Events::with_capacity(1024);
    let mut peers: Vec<Peer> = Vec::with_capacity(SOCKETS);
    for i in 0..SOCKETS {
        let peer = {
            let mut raw = RawWs::connect(server.local_addr(), "/ws/chat");
            let buf = raw.take_buffered();
            raw.stream.set_nonblocking(true).unwrap();
            let mut stream = mio::net::TcpStream::from_std(raw.stream.into_tcp());
            poll.registry()
                .register(&mut stream, Token(i), Interest::READABLE)
                .unwrap();
            let fate = match (i % 10, i % 3) {
                (3, 0) => Fate::Fin,
                (3, 1) => Fate::Rst,
                (3, _) => Fate::Silent,
                _ => Fate::Live,
            };
            Peer {
                stream: Some(stream),
                buf,
                texts: Vec::new(),
                fate,
            }
        };
        peers.push(peer);
        if i % 16 == 0 {
            pump_ready(&mut poll, &mut events, &mut peers, Duration::ZERO, true);
        }
    }
    let deadline = Instant::now() + PATIENCE;
    while group.len() != SOCKETS {
        assert!(Instant::now() < deadline, "group has {}", group.len());
        pump_ready(
            &mut poll,
            &mut events,
            &mut peers,
            Duration::from_millis(5),
            true,
        );
    }

    // A tenth vanish: FIN, RST, or silence (from now on the socket stays
    // open but nothing is read or answered).
    for peer in peers
        .iter_mut()
        .filter(|p| p.fate == Fate::Fin || p.fate == Fate::Rst)
    {
        if let Some(mut stream) = peer.stream.take() {
            if peer.fate == Fate::Rst {
                socket2::SockRef::from(&stream)
                    .set_linger(Some(Duration::ZERO))
                    .unwrap();
            }
            let _ = poll.registry().deregister(&mut stream);
        }
    }

    let broadcaster = {
        let group = group.clone();
        std::thread::spawn(move || {
            let mut counts = Vec::new();
            for k in 0..MESSAGES {
                counts.push(group.broadcast_text(&format!("m{k}")));
                std::thread::sleep(Duration::from_millis(20));
            }
            counts
        })
    };

    // Bounds a failure only: the loop ends as soon as its state holds.
    let deadline = Instant::now() + 4 * PATIENCE;
    let live = |peers: &[Peer]| {
        peers
            .iter()
            .filter(|p| p.fate == Fate::Live)
            .all(|p| p.texts.len() >= MESSAGES)
    };
    while !(broadcaster.is_finished() && live(&peers) && group.len() == SOCKETS * 9 / 10) {
        assert!(
            Instant::now() < deadline,
            "timed out: group has {}",
            group.len()
        );
        pump_ready(
            &mut poll,
            &mut events,
            &mut peers,
            Duration::from_millis(20),
            false,
        );
    }
    let counts = broadcaster.join().unwrap();
    assert!(
        counts
            .iter()
            .all(|&c| (SOCKETS * 9 / 10..=SOCKETS).contains(&c)),
        "{counts:?}"
    );

    let expected: Vec<String> = (0..MESSAGES).map(|k| format!("m{k}")).collect();
    for peer in peers.iter().filter(|p| p.fate == Fate::Live) {
        assert_eq!(peer.texts, expected, "every message, in order");
    }

    // Every vanished socket ended exactly once, with its own reason.
    wait_for("terminal events for all the vanished", || {
        terminal.lock().unwrap().len() == SOCKETS / 10
    });
    let terminal = terminal.lock().unwrap().clone();
    assert!(
        terminal.values().all(|(count, _)| *count == 1),
        "one terminal event each"
    );
    let reasons: Vec<CloseReason> = terminal.values().map(|(_, r)| *r).collect();
    assert!(
        reasons.contains(&CloseReason::PingTimeout),
        "silent members were found out"
    );
    assert!(
        reasons.contains(&CloseReason::PeerClosed) || reasons.contains(&CloseReason::PeerReset)
    );

    // New connections take the freed slots; a broadcast never reaches them.
    let newcomers: Vec<RawWs> = (0..SOCKETS / 10)
        .map(|_| RawWs::connect(server.local_addr(), "/ws"))
        .collect();
    wait_for("the newcomers' open events", || {
        outsiders.lock().unwrap().len() == SOCKETS / 10
    });
    let reused: Vec<ConnectionId> = outsiders
        .lock()
        .unwrap()
        .iter()
        .copied()
        .filter(|new| {
            terminal
                .keys()
                .any(|old| old.key() == new.key() && old.generation() != new.generation())
        })
        .collect();
    assert!(!reused.is_empty(), "newcomers took freed slots");
    let delivered = group.broadcast_text("members only");
    assert_eq!(delivered, SOCKETS * 9 / 10);
    for mut newcomer in newcomers {
        newcomer
            .stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        // Pings may come (they are not members' business); text must not.
        while let Ok((first, payload)) = newcomer.read_frame() {
            assert_ne!(
                first & 0x0F,
                TEXT,
                "a newcomer in a reused slot got {payload:?}"
            );
        }
    }
}
