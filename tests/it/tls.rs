//! TLS on the reactor (feature `tls`): HTTPS served, and every way a TLS
//! client can leave told apart and told to the worker, as over plain TCP.
//!
//! This file holds what is TLS's own. The behaviour tests that hold for
//! any transport (tests/it/disconnect.rs, pipelining.rs, connection_close.rs,
//! streaming.rs, and the WebSocket zombie in websocket.rs) run over TLS
//! too, written once with `over_both!` (tests/util/wire.rs).
#![cfg(feature = "tls")]

use crate::util;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tether::{Action, CloseReason, Config, Response, Server};
use util::tls::*;
use util::*;

const GET: &str = "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";

fn tls_server(pki: &Pki, config: Config) -> Server {
    init();
    Server::builder()
        .config(config)
        .tls(Arc::clone(&pki.server))
        .handler(|req: &tether::Request| match req.path() {
            "/hello" => Response::text(200, "hello over TLS").into(),
            _ => Action::handoff(),
        })
        .bind("127.0.0.1:0")
        .expect("bind")
}

#[test]
fn https_is_served_with_alpn_http_1_1_and_keep_alive() {
    let pki = pki("localhost");
    let server = tls_server(&pki, Config::default());
    let mut tls = connect(server.local_addr(), &pki);
    for _ in 0..3 {
        assert_eq!(request(&mut tls, GET), (200, "hello over TLS".into()));
    }
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(server.stats().accepted, 1);
}

#[test]
fn close_notify_then_fin_is_an_orderly_close() {
    let pki = pki("localhost");
    let server = tls_server(&pki, Config::default());
    let mut tls = connect(server.local_addr(), &pki);
    assert_eq!(request(&mut tls, GET).0, 200);
    tls.conn.send_close_notify();
    tls.flush().unwrap();
    tls.conn.complete_io(&mut tls.sock).ok();
    tls.sock.shutdown(Shutdown::Write).unwrap();
    wait_closed_count(&server, CloseReason::PeerClosed, 1);
    assert_eq!(server.stats().closed.get(CloseReason::TlsTruncated), 0);
}

#[test]
fn fin_without_close_notify_is_recorded_as_truncated() {
    let pki = pki("localhost");
    let server = tls_server(&pki, Config::default());
    let mut tls = connect(server.local_addr(), &pki);
    assert_eq!(request(&mut tls, GET).0, 200);
    tls.sock.shutdown(Shutdown::Write).unwrap();
    wait_closed_count(&server, CloseReason::TlsTruncated, 1);
    assert_eq!(server.stats().closed.get(CloseReason::PeerClosed), 0);
}

#[test]
fn a_record_that_is_not_tls_is_a_tls_error() {
    let pki = pki("localhost");
    let server = tls_server(&pki, Config::default());
    let mut plain = TcpStream::connect(server.local_addr()).unwrap();
    plain.write_all(GET.as_bytes()).unwrap();
    wait_closed_count(&server, CloseReason::TlsError, 1);
    assert_eq!(server.stats().requests, 0);
}

#[test]
fn a_client_that_rejects_the_certificate_sends_an_alert_recorded_as_tls_error() {
    let served = pki("localhost");
    let trusted_elsewhere = pki("localhost");
    let server = tls_server(&served, Config::default());
    // The client trusts another certificate: it fails the handshake and
    // says so with an alert (bad_certificate or unknown_ca).
    let mut refusing = connect(server.local_addr(), &trusted_elsewhere);
    let failed = refusing
        .write_all(GET.as_bytes())
        .and_then(|()| refusing.flush());
    let err = failed.expect_err("the handshake fails");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
    wait_closed_count(&server, CloseReason::TlsError, 1);
    assert_eq!(server.stats().requests, 0);
    assert_eq!(server.stats().closed.get(CloseReason::TlsTruncated), 0);
}

#[test]
fn a_client_that_stops_mid_handshake_is_a_handshake_timeout() {
    let pki = pki("localhost");
    let config = Config::default().head_timeout(Duration::from_millis(300));
    let server = tls_server(&pki, config);
    // A ClientHello cut short: the record header promises more.
    let mut stalled = TcpStream::connect(server.local_addr()).unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    wait_closed_count(&server, CloseReason::HandshakeTimeout, 1);
    assert_eq!(server.stats().closed.get(CloseReason::HeadTimeout), 0);
}

/// Keeps the socket open until the server closes it. Closing it with
/// unread bytes (rustls's session tickets) would send an RST after the
/// FIN, and Linux then reports the FIN's connection as reset (EPIPE)
/// without the close_notify still queued: the test would not be testing
/// a FIN.
fn read_until_closed(mut sock: TcpStream) {
    let mut sink = Vec::new();
    let _ = sock.read_to_end(&mut sink);
}

/// A way for a TLS client to leave.
type Leave = fn(Tls);

/// A worker holding the exchange is woken by each way the client leaves.
#[test]
fn handshake_timeout_limits_the_handshake_and_not_the_head_after_it() {
    let pki = pki("localhost");
    // The head has a minute, the handshake two seconds: only
    // handshake_timeout can close the stalled client within PATIENCE.
    let config = Config::default()
        .head_timeout(Duration::from_secs(60))
        .handshake_timeout(Duration::from_secs(2));
    let server = tls_server(&pki, config);
    let mut stalled = TcpStream::connect(server.local_addr()).unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    // A client that finishes its handshake, then takes longer than
    // handshake_timeout to send its request, is served.
    let mut slow = connect(server.local_addr(), &pki);
    while slow.conn.is_handshaking() {
        slow.conn.complete_io(&mut slow.sock).expect("a handshake");
    }
    wait_closed_count(&server, CloseReason::HandshakeTimeout, 1);
    // Now past handshake_timeout since `slow` was accepted too.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(request(&mut slow, GET), (200, "hello over TLS".into()));
    assert_eq!(server.stats().closed.get(CloseReason::HandshakeTimeout), 1);
}

#[test]
fn a_worker_holding_the_exchange_is_told_each_way_the_client_leaves() {
    let pki = pki("localhost");
    let server = tls_server(&pki, Config::default());
    let (told_tx, told) = mpsc::channel();
    let (held_tx, held) = mpsc::channel();
    server.workers(2, move |exchange| {
        let _ = held_tx.send(());
        let reason = exchange.wait_closed(Duration::from_secs(60));
        let _ = told_tx.send(reason);
        exchange.abandon();
    });
    let leave: [(&str, Leave, CloseReason); 4] = [
        (
            "close_notify",
            |mut tls| {
                tls.conn.send_close_notify();
                tls.conn.complete_io(&mut tls.sock).ok();
                tls.sock.shutdown(Shutdown::Write).unwrap();
                read_until_closed(tls.sock);
            },
            CloseReason::PeerClosed,
        ),
        (
            "bare FIN",
            |tls| {
                tls.sock.shutdown(Shutdown::Write).unwrap();
                read_until_closed(tls.sock);
            },
            CloseReason::TlsTruncated,
        ),
        (
            // What most clients do: FIN, then close with the server's
            // session tickets unread, which sends an RST after the FIN.
            "bare FIN, then RST",
            |tls| tls.sock.shutdown(Shutdown::Write).unwrap(),
            CloseReason::TlsTruncated,
        ),
        (
            "RST",
            |tls| {
                let sock = socket2::SockRef::from(&tls.sock);
                sock.set_linger(Some(Duration::ZERO)).unwrap();
            },
            CloseReason::PeerReset,
        ),
    ];
    for (how, leave, reason) in leave {
        let mut tls = connect(server.local_addr(), &pki);
        tls.write_all(b"GET /work HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        tls.flush().unwrap();
        held.recv_timeout(PATIENCE).expect("the worker took it");
        leave(tls);
        let told_reason = told.recv_timeout(PATIENCE).expect("the worker was told");
        assert_eq!(told_reason, Some(reason), "{how}");
    }
}

#[test]
fn the_server_ends_with_close_notify_so_the_client_sees_a_clean_close() {
    let pki = pki("localhost");
    let server = tls_server(&pki, Config::default());
    let mut tls = connect(server.local_addr(), &pki);
    let (status, _) = request(
        &mut tls,
        "GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200);
    // rustls answers UnexpectedEof were the close not announced.
    let mut rest = Vec::new();
    tls.read_to_end(&mut rest).expect("a clean end");
    drop(server);
}

/// The certificate a client was shown.
fn shown(tls: &Tls) -> Vec<u8> {
    tls.conn.peer_certificates().expect("a certificate")[0].to_vec()
}

#[test]
fn a_rotated_certificate_reaches_new_connections_while_open_ones_keep_working() {
    let old = pki("localhost");
    let new = pki("localhost");
    let server = tls_server(&old, Config::default());
    let mut kept = connect(server.local_addr(), &old);
    assert_eq!(request(&mut kept, GET).0, 200);
    let old_cert = shown(&kept);

    assert!(server.set_tls_config(Arc::clone(&new.server)));
    // The open connection keeps its session.
    assert_eq!(request(&mut kept, GET), (200, "hello over TLS".into()));
    // A new one gets the new certificate...
    let mut fresh = connect(server.local_addr(), &new);
    assert_eq!(request(&mut fresh, GET).0, 200);
    assert_ne!(shown(&fresh), old_cert);
    // ...and a client that trusts only the old one is refused.
    let mut stale = connect(server.local_addr(), &old);
    let refused = stale.write_all(GET.as_bytes()).and_then(|()| stale.flush());
    let mut buf = [0; 16];
    let refused = refused.and_then(|()| stale.read(&mut buf));
    assert!(refused.is_err(), "the old certificate was still served");
}

#[test]
fn the_applications_certificate_resolver_picks_by_sni() {
    use rustls::crypto::ring::sign::any_supported_type;
    use rustls::server::ResolvesServerCertUsingSni;
    use rustls::sign::CertifiedKey;

    let mut resolver = ResolvesServerCertUsingSni::new();
    let mut roots = RootCertStore::empty();
    let mut ders = Vec::new();
    for name in ["a.test", "b.test"] {
        let cert = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        let der = CertificateDer::from(cert.cert.der().to_vec());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
        let key = any_supported_type(&key).expect("a signing key");
        resolver
            .add(name, CertifiedKey::new(vec![der.clone()], key))
            .expect("added");
        roots.add(der.clone()).unwrap();
        ders.push(der.to_vec());
    }
    let server_config = ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    let client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let pki = Pki {
        server: Arc::new(server_config),
        client: Arc::new(client),
    };
    let server = tls_server(&pki, Config::default());
    for (name, der) in ["a.test", "b.test"].iter().zip(&ders) {
        let mut tls = connect_as(server.local_addr(), &pki, name);
        let host = format!("GET /hello HTTP/1.1\r\nHost: {name}\r\n\r\n");
        assert_eq!(request(&mut tls, &host).0, 200);
        assert_eq!(&shown(&tls), der, "{name}");
    }
}

#[test]
fn websocket_over_tls_echoes_while_the_client_answers_pings() {
    use util::ws::{frame, parse_frame, FIN, PING, TEXT};
    let pki = pki("localhost");
    let config = Config::default()
        .ws_ping_interval(Duration::from_millis(200))
        .ws_pong_timeout(Duration::from_millis(400));
    init();
    let server = Server::builder()
        .config(config)
        .tls(Arc::clone(&pki.server))
        .handler(|_: &tether::Request| Action::Upgrade(tether::ws::Upgrade::new()))
        .bind("127.0.0.1:0")
        .expect("bind");
    let events = server.ws_events();
    std::thread::spawn(move || {
        while let Some(event) = events.recv() {
            if let tether::ws::WsEventKind::Message(tether::ws::Message::Text(text)) = &event.kind {
                let _ = event.socket.send_text(text);
            }
        }
    });

    // An echo, answering pings as a browser does.
    let (mut tls, mut buf) = upgrade(server.local_addr(), &pki);
    tls.write_all(&frame(FIN | TEXT, b"over TLS", true))
        .unwrap();
    loop {
        read_until(&mut tls, &mut buf, |b| parse_frame(b).is_some());
        let (first, payload, used) = parse_frame(&buf).unwrap();
        buf.drain(..used);
        if first == FIN | PING {
            tls.write_all(&frame(FIN | 0xA, &payload, true)).unwrap();
            continue;
        }
        assert_eq!((first, payload.as_slice()), (FIN | TEXT, &b"over TLS"[..]));
        break;
    }
    drop(tls);
    // (A zombie over TLS, reaped by ping_timeout: tests/it/websocket.rs.)
}

#[test]
fn a_stream_over_tls_fails_its_next_send_when_the_client_leaves() {
    let pki = pki("localhost");
    let server = tls_server(&pki, Config::default());
    let (sender_tx, sender_rx) = mpsc::channel();
    server.workers(1, move |exchange| {
        let head = Response::new(200).with_header("Content-Type", "text/plain");
        let _ = sender_tx.send(exchange.stream(head).expect("client there"));
    });
    let mut tls = connect(server.local_addr(), &pki);
    tls.write_all(b"GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut sender = sender_rx.recv_timeout(PATIENCE).expect("streaming");
    sender
        .send(&b"part one\n"[..])
        .expect("the client is there");
    let mut buf = Vec::new();
    read_until(&mut tls, &mut buf, |b| {
        b.windows(8).any(|w| w == b"part one")
    });
    drop(tls); // no close_notify: a truncation, and a departure
    let mut sent = 0;
    let err = loop {
        match sender.send(&b"more\n"[..]) {
            Ok(()) => sent += 1,
            Err(err) => break err,
        }
        assert!(sent < 10_000, "sends kept succeeding");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(
        matches!(err, tether::SendError::Closed(CloseReason::TlsTruncated)),
        "{err}"
    );
    assert_eq!(server.stats().streams_active, 0);
}

#[test]
fn a_large_response_over_tls_is_delivered_whole_to_a_slow_reader() {
    let pki = pki("localhost");
    let server = tls_server(&pki, Config::default());
    let body: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
    let expected = body.clone();
    let (verdict_tx, verdict) = mpsc::channel();
    server.workers(1, move |exchange| {
        let result = exchange.respond(Response::new(200).with_body(body.clone()));
        let _ = verdict_tx.send(result.is_ok());
    });
    let mut tls = connect(server.local_addr(), &pki);
    tls.write_all(b"GET /large HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    // The worker's respond waits: the kernel cannot take 4 MiB unread. Once
    // the server's socket holds bytes the client has not acknowledged, the
    // response is being written and cannot have been written whole.
    let addr = server.local_addr();
    wait_for("the response under way", || gate::unacked_bytes(addr) > 0);
    assert!(
        verdict.try_recv().is_err(),
        "delivered before the client read"
    );
    let mut buf = Vec::new();
    read_until(&mut tls, &mut buf, |b| b.len() >= expected.len());
    let start = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    read_until(&mut tls, &mut buf, |b| b.len() >= start + expected.len());
    assert!(buf[start..] == expected[..], "the body arrived changed");
    assert_eq!(verdict.recv_timeout(PATIENCE), Ok(true));
}

#[test]
fn a_large_request_body_over_tls_is_read_whole() {
    let pki = pki("localhost");
    init();
    let server = Server::builder()
        .tls(Arc::clone(&pki.server))
        .handler(|req: &tether::Request| {
            Response::text(200, format!("{} bytes", req.body().len())).into()
        })
        .bind("127.0.0.1:0")
        .expect("bind");
    let mut tls = connect(server.local_addr(), &pki);
    let body = vec![b'x'; 900 * 1024];
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(&[head.as_bytes(), &body].concat()).unwrap();
    let (status, text) = request(&mut tls, "");
    assert_eq!((status, text.as_str()), (200, "921600 bytes"));
}

#[test]
fn https_beside_plain_http_is_one_server_with_one_set_of_stats() {
    init();
    let pki = pki("localhost");
    let server = Server::builder()
        .reactors(2)
        .tls_on("127.0.0.1:0".parse().unwrap(), Arc::clone(&pki.server))
        .handler(|_: &tether::Request| Response::text(200, "hello").into())
        .bind("127.0.0.1:0")
        .expect("bind");
    let https = server.tls_addr().expect("an HTTPS address");
    assert_ne!(https.port(), 0);
    assert_ne!(https, server.local_addr());
    // Several of each, so that both reactors accept on both ports.
    for _ in 0..4 {
        assert_eq!(request(&mut connect(https, &pki), GET).0, 200);
        let mut plain = TcpStream::connect(server.local_addr()).unwrap();
        plain.set_read_timeout(Some(PATIENCE)).unwrap();
        plain.write_all(GET.as_bytes()).unwrap();
        let mut buf = [0; 12];
        plain.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
    }
    // Plain HTTP on the HTTPS port is not TLS.
    let mut wrong = TcpStream::connect(https).unwrap();
    wrong.write_all(GET.as_bytes()).unwrap();
    read_until_closed(wrong);
    let stats = wait_closed_count(&server, CloseReason::TlsError, 1);
    assert_eq!(stats.accepted, 9);
    wait_for("every connection closed", || server.stats().active == 0);
}

#[test]
fn an_http_1_0_client_offering_alpn_http_1_0_is_served() {
    let pki = pki("localhost");
    let server = tls_server(&pki, Config::default());
    let mut client = (*pki.client).clone();
    client.alpn_protocols = vec![b"http/1.0".to_vec()];
    let old = Pki {
        server: Arc::clone(&pki.server),
        client: Arc::new(client),
    };
    let mut tls = connect(server.local_addr(), &old);
    let get = "GET /hello HTTP/1.0\r\nHost: localhost\r\n\r\n";
    assert_eq!(request(&mut tls, get), (200, "hello over TLS".into()));
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.0"[..]));
}

#[test]
fn an_idle_connection_the_server_ends_gets_close_notify() {
    let pki = pki("localhost");
    let config = Config::default().idle_timeout(Duration::from_millis(300));
    let server = tls_server(&pki, config);
    let mut tls = connect(server.local_addr(), &pki);
    assert_eq!(request(&mut tls, GET).0, 200);
    // Idle past idle_timeout: the end is clean (rustls reports a cut as
    // UnexpectedEof, a close_notify as end of stream).
    let mut rest = Vec::new();
    assert_eq!(tls.read_to_end(&mut rest).map_err(|e| e.kind()), Ok(0));
    wait_closed_count(&server, CloseReason::IdleTimeout, 1);
}
