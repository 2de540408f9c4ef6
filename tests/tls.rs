//! TLS on the reactor (feature `tls`): HTTPS served, and every way a TLS
//! client can leave told apart and told to the worker, as over plain TCP.
#![cfg(feature = "tls")]

mod util;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, StreamOwned};
use tether::{Action, CloseReason, Config, Response, Server};
use util::*;

struct Pki {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

fn pki(name: &str) -> Pki {
    let cert = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("a certificate");
    let der = CertificateDer::from(cert.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
    let server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .expect("a server config");
    let mut roots = RootCertStore::empty();
    roots.add(der).expect("a root");
    let mut client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    Pki {
        server: Arc::new(server),
        client: Arc::new(client),
    }
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

fn connect(addr: SocketAddr, pki: &Pki) -> Tls {
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let session = ClientConnection::new(Arc::clone(&pki.client), name).expect("a session");
    StreamOwned::new(session, tcp)
}

/// Sends a request and reads one `Content-Length` response: (status, body).
fn request(tls: &mut Tls, head: &str) -> (u16, String) {
    tls.write_all(head.as_bytes()).expect("send");
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    loop {
        let n = tls.read(&mut buf).expect("read");
        assert!(n > 0, "closed before a whole response: {got:?}");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map_or(0, |v| v.trim().parse().unwrap());
            if got.len() >= end + 4 + length {
                let status = text[9..12].parse().unwrap();
                return (status, text[end + 4..end + 4 + length].to_string());
            }
        }
    }
}

const GET: &str = "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";

fn tls_server(pki: &Pki, config: Config) -> Server {
    init();
    Server::builder()
        .config(config)
        .tls(Arc::clone(&pki.server))
        .handler(|req: &tether::Request| match req.path() {
            "/hello" => Response::text(200, "hello over TLS").into(),
            _ => Action::Handoff,
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

/// A way for a TLS client to leave.
type Leave = fn(Tls);

/// A worker holding the exchange is woken by each way the client leaves.
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
    let leave: [(&str, Leave, CloseReason); 3] = [
        (
            "close_notify",
            |mut tls| {
                tls.conn.send_close_notify();
                tls.conn.complete_io(&mut tls.sock).ok();
                tls.sock.shutdown(Shutdown::Write).unwrap();
            },
            CloseReason::PeerClosed,
        ),
        (
            "bare FIN",
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
        let tcp = TcpStream::connect(server.local_addr()).unwrap();
        tcp.set_read_timeout(Some(PATIENCE)).unwrap();
        let server_name = ServerName::try_from(name.to_string()).unwrap();
        let session = ClientConnection::new(Arc::clone(&pki.client), server_name).unwrap();
        let mut tls = StreamOwned::new(session, tcp);
        let host = format!("GET /hello HTTP/1.1\r\nHost: {name}\r\n\r\n");
        assert_eq!(request(&mut tls, &host).0, 200);
        assert_eq!(&shown(&tls), der, "{name}");
    }
}
