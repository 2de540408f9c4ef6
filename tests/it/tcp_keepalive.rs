//! TCP keepalive (not HTTP keep-alive: that is keep_alive.rs). Accepted
//! sockets carry the configured TCP keepalive, so a peer that
//! vanishes without FIN or RST is still found. Checked from outside, as the
//! kernel reports it (`ss -o`, from iproute2). `TCP_USER_TIMEOUT` also ends
//! a live client that keeps its window shut, and that is recorded as what
//! it is: output that made no progress, not a vanished peer.

use crate::util;

use std::process::Command;
use std::time::Duration;

use tether::{Action, CloseReason, Config, Keepalive, Request, Response};
use util::*;

#[test]
fn accepted_sockets_arm_the_configured_keepalive_timer() {
    let mut config = Config::default();
    config.keepalive = Some(Keepalive {
        idle: Duration::from_secs(7),
        interval: Duration::from_secs(2),
        retries: 2,
    });
    let server = serve(config, hello);
    let port = server.local_addr().port();
    let mut client = Client::connect(server.local_addr());
    assert_eq!(client.get("/").status, 200);

    let output = Command::new("ss")
        .args([
            "-tnoH",
            "state",
            "established",
            &format!("( sport = :{port} )"),
        ])
        .output()
        .expect("ss (iproute2) is installed");
    let text = String::from_utf8_lossy(&output.stdout);
    let timer = text
        .split("timer:(")
        .nth(1)
        .unwrap_or_else(|| panic!("no timer on the server socket: {text:?}"));
    assert!(timer.starts_with("keepalive,"), "{text:?}");
    // The time left before the first probe, e.g. "keepalive,6.984ms,0)":
    // iproute2 versions differ in the unit they print for it, so read the
    // number only. The default idle (10 s) would read about 10.
    let left: f64 = timer["keepalive,".len()..]
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("unreadable timer {timer:?}"));
    assert!((5.0..=7.0).contains(&left), "expected about 7 s: {text:?}");
}

#[test]
fn a_reader_that_keeps_its_window_shut_is_a_write_stall_not_a_vanished_peer() {
    let mut config = Config::default();
    config.tcp_user_timeout = Some(Duration::from_secs(1));
    // Our own stall timer would end it later: the kernel's acts first.
    config.write_stall_timeout = Duration::from_secs(600);
    let server = serve(config, |_: &Request| {
        Action::Respond(Response::text(200, vec![b'z'; 8 << 20]))
    });
    // There, with a 4 KiB window, and never reading: its kernel answers
    // every window probe, so it has not vanished.
    let mut reader = attack::small_window(server.local_addr());
    std::io::Write::write_all(&mut reader, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let stats = wait_closed_count(&server, CloseReason::WriteStall, 1);
    assert_eq!(
        stats.closed.get(CloseReason::KeepaliveFailed),
        0,
        "{stats:?}"
    );
    drop(reader);
}
