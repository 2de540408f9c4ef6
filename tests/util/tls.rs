//! TLS clients for the TLS behaviour tests (feature `tls`), with rustls
//! and a certificate rcgen makes for each test.

use std::io::Read;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, StreamOwned};

use super::PATIENCE;

/// A server's TLS configuration and a client's that trusts it.
pub struct Pki {
    pub server: Arc<ServerConfig>,
    pub client: Arc<ClientConfig>,
}

/// A self-signed certificate for `name`, and a client trusting only it.
pub fn pki(name: &str) -> Pki {
    pki_with_pem(name).0
}

/// As [`pki`], with the certificate and its key as PEM text too.
pub fn pki_with_pem(name: &str) -> (Pki, String, String) {
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
    let pki = Pki {
        server: Arc::new(server),
        client: Arc::new(client),
    };
    (pki, cert.cert.pem(), cert.key_pair.serialize_pem())
}

/// A blocking TLS client connection.
pub type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A TLS client of `addr` asking for `localhost`.
pub fn connect(addr: SocketAddr, pki: &Pki) -> Tls {
    connect_as(addr, pki, "localhost")
}

/// A TLS client of `addr` asking for `name` (SNI); the handshake happens
/// with the first read or write.
pub fn connect_as(addr: SocketAddr, pki: &Pki, name: &str) -> Tls {
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let name = ServerName::try_from(name.to_string()).expect("a server name");
    let session = ClientConnection::new(Arc::clone(&pki.client), name).expect("a session");
    StreamOwned::new(session, tcp)
}

/// Sends a request and reads one `Content-Length` response: (status, body).
pub fn request(tls: &mut Tls, head: &str) -> (u16, String) {
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

/// Reads from `tls` into `buf` until `done(buf)` holds.
pub fn read_until(tls: &mut Tls, buf: &mut Vec<u8>, done: impl Fn(&[u8]) -> bool) {
    let mut chunk = [0; 16 * 1024];
    while !done(buf) {
        let n = tls.read(&mut chunk).expect("read");
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(buf));
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A WebSocket upgrade of `/ws` over TLS: the client, and the bytes that
/// came after the 101's head.
pub fn upgrade(addr: SocketAddr, pki: &Pki) -> (Tls, Vec<u8>) {
    let mut tls = connect(addr, pki);
    tls.write_all(
        b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut buf = Vec::new();
    read_until(&mut tls, &mut buf, |b| {
        b.windows(4).any(|w| w == b"\r\n\r\n")
    });
    assert!(
        buf.starts_with(b"HTTP/1.1 101"),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    (tls, buf.split_off(end))
}
