//! The demo over HTTPS and WSS (`--features tls`): every endpoint on
//! `--tls-addr` beside plain HTTP, one `/stats` counting both, and a TLS
//! client leaving a worker's exchange noticed as over plain TCP.
#![cfg(feature = "tls")]

use crate::util;

use std::io::Write;

use util::demo::Demo;
use util::tls::*;
use util::ws::{frame, parse_frame, FIN, TEXT};
use util::*;

/// The demo serving HTTPS with a certificate from PEM files it is given,
/// written to a directory of the test's own (`test`).
fn demo_with_certificate(test: &str) -> (Demo, Pki, std::path::PathBuf) {
    let (pki, cert, key) = pki_with_pem("localhost");
    let dir = std::env::temp_dir().join(format!("tether-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    std::fs::write(dir.join("key.pem"), key).unwrap();
    let demo = Demo::start_with(&[
        "--tls-addr",
        "127.0.0.1:0",
        "--tls-cert",
        dir.join("cert.pem").to_str().unwrap(),
        "--tls-key",
        dir.join("key.pem").to_str().unwrap(),
    ]);
    (demo, pki, dir)
}

fn counted(demo: &Demo, name: &str) -> u64 {
    demo.stats()[name].as_u64().unwrap()
}

#[test]
fn every_endpoint_is_served_over_https_and_wss_counted_in_one_stats() {
    let (demo, pki, dir) = demo_with_certificate("demo-tls-endpoints");
    let https = demo.tls_addr.expect("an HTTPS address");
    let mut tls = connect(https, &pki);
    let get = "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_eq!(request(&mut tls, get), (200, "Hello, World!".into()));
    let echo = "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello";
    assert_eq!(request(&mut tls, echo), (200, "hello".into()));
    // A WebSocket over TLS shows in the plain listener's /stats.
    let (mut ws, mut buf) = upgrade(https, &pki);
    wait_for("the socket counted", || counted(&demo, "ws_active") == 1);
    ws.write_all(&frame(FIN | TEXT, b"over wss", true)).unwrap();
    read_until(&mut ws, &mut buf, |b| parse_frame(b).is_some());
    let (first, payload, _) = parse_frame(&buf).unwrap();
    assert_eq!((first, payload.as_slice()), (FIN | TEXT, &b"over wss"[..]));
    drop(ws);
    wait_for("the socket closed", || counted(&demo, "ws_active") == 0);
    let stats = demo.stats();
    assert!(stats["accepted"].as_u64().unwrap() >= 3, "{stats}");
    assert!(stats["requests"].as_u64().unwrap() >= 3, "{stats}");
    drop(tls);
    demo.terminate();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_tls_client_leaving_a_worker_is_noticed_and_the_worker_stops() {
    let (demo, pki, dir) = demo_with_certificate("demo-tls-departure");
    let https = demo.tls_addr.unwrap();
    let abandoned = counted(&demo, "abandoned");
    let mut tls = connect(https, &pki);
    tls.write_all(b"GET /work?ms=60000 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    tls.flush().unwrap();
    wait_for("the worker holds it", || {
        counted(&demo, "pending_responses") == 1
    });
    // Gone without close_notify: TCP's FIN alone. (Dropping the socket
    // would reset it instead: the session tickets sent after the handshake
    // are unread.)
    tls.sock.shutdown(std::net::Shutdown::Write).unwrap();
    wait_for("the worker told", || {
        counted(&demo, "abandoned") == abandoned + 1
    });
    let stats = demo.stats();
    assert_eq!(stats["closed"]["tls_truncated"], 1, "{stats}");
    assert_eq!(stats["pending_responses"], 0);
    drop(tls);
    demo.terminate();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn tls_flags_that_cannot_work_are_refused_with_a_reason() {
    for (flags, says) in [
        (&["--tls-addr", "127.0.0.1:0"][..], "needs --tls-cert"),
        (&["--tls-cert", "a.pem"][..], "go together"),
        (
            &["--tls-cert", "/nonexistent.pem", "--tls-key", "/k.pem"][..],
            "/nonexistent.pem",
        ),
        (
            &["--tls-self-signed", "--tls-cert", "a", "--tls-key", "b"][..],
            "not both",
        ),
    ] {
        let (code, said) = Demo::refuse(flags);
        assert_eq!(code, Some(2), "{flags:?}: {said}");
        assert!(said.contains(says), "{flags:?}: {said}");
    }
}
