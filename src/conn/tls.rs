//! TLS as one more [`Transport`]: a `rustls::ServerConnection` over the
//! TCP socket, driven the way the rustls project's mio server drives it
//! (`read_tls` → `process_new_packets` → `reader`, `writer` → `write_tls`).
//!
//! What the connection sees stays the plain-socket story:
//! - plaintext `Ok(0)` only after the client's `close_notify` (then FIN):
//!   an orderly close, `peer_closed`;
//! - TCP EOF without `close_notify`: `UnexpectedEof`, recorded as
//!   `tls_truncated`;
//! - an alert, a record that is not TLS, a failed handshake: `InvalidData`,
//!   recorded as `tls_error` (after the alert rustls queued is sent);
//! - a reset or any socket error: as from the socket.
//!
//! `write` accepts plaintext only once every earlier record is in the
//! kernel, and `has_pending_output` tells the connection about records
//! still waiting, so "delivered" keeps meaning "taken by the kernel".

use std::io::{self, Read, Write};

use mio::net::TcpStream;
use rustls::ServerConnection;

use super::transport::Transport;
use crate::reason::CloseReason;

/// Most plaintext rustls holds for sending beyond what is encrypted and
/// written: the connection keeps the rest in its own output buffer, under
/// its own high-water mark.
const TLS_PLAINTEXT_LIMIT: usize = 16 * 1024;

#[derive(Debug)]
pub(crate) struct TlsSocket {
    tcp: TcpStream,
    tls: ServerConnection,
    /// TCP reported EOF.
    eof: bool,
    /// The client's close_notify has been processed.
    close_notify_seen: bool,
    /// The last socket read would have blocked, or was short (the kernel
    /// had no more to give), and no read since was served from what rustls
    /// held: until new bytes bring a new edge, only that can be read.
    drained: bool,
}

impl TlsSocket {
    /// The TCP socket under the session, for the reactor's registry.
    pub fn tcp_mut(&mut self) -> &mut TcpStream {
        &mut self.tcp
    }

    pub fn new(tcp: TcpStream, mut tls: ServerConnection) -> Self {
        tls.set_buffer_limit(Some(TLS_PLAINTEXT_LIMIT));
        TlsSocket {
            tcp,
            tls,
            eof: false,
            close_notify_seen: false,
            drained: false,
        }
    }

    fn failed(err: rustls::Error) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }
}

impl Read for TlsSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut socket_read = false;
        loop {
            match self.tls.reader().read(buf) {
                // `Ok(0)` here means close_notify: an orderly close.
                Ok(n) => {
                    if !socket_read {
                        // Served from what rustls held: what the socket
                        // said earlier is stale (its next edge may be the
                        // one that brought us here).
                        self.drained = false;
                    }
                    return Ok(n);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(err),
            }
            if self.eof {
                // rustls answers UnexpectedEof once EOF was seen without
                // close_notify; never loop on a closed socket.
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            socket_read = true;
            let mut socket = Measured {
                tcp: &mut self.tcp,
                short: false,
            };
            match self.tls.read_tls(&mut socket) {
                Ok(0) => self.eof = true,
                Ok(_) => {
                    // As over plain TCP, a short read drained the socket:
                    // no second read just to hear it would block.
                    self.drained = socket.short;
                    match self.tls.process_new_packets() {
                        Ok(state) => self.close_notify_seen |= state.peer_has_closed(),
                        Err(err) => {
                            // Send the alert rustls queued, best effort.
                            let _ = self.flush_pending();
                            return Err(Self::failed(err));
                        }
                    }
                    // Handshake messages to answer with. If the socket is
                    // full they stay pending and the connection's flush
                    // asks for writability.
                    match self.flush_pending() {
                        Ok(()) => {}
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                        Err(err) => return Err(err),
                    }
                }
                Err(err) => {
                    if err.kind() == io::ErrorKind::WouldBlock {
                        self.drained = true;
                    }
                    return Err(err);
                }
            }
        }
    }
}

/// The socket as rustls reads it, noting whether a read was short.
struct Measured<'a> {
    tcp: &'a mut TcpStream,
    short: bool,
}

impl Read for Measured<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.tcp.read(buf)?;
        self.short = n < buf.len();
        Ok(n)
    }
}

impl Write for TlsSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Earlier records first: nothing new is accepted while the kernel
        // has not taken them.
        self.flush_pending()?;
        let n = self.tls.writer().write(buf)?;
        match self.flush_pending() {
            Ok(()) => Ok(n),
            // Accepted and encrypted; the rest goes when writable.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(n),
            Err(err) => Err(err),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_pending()
    }
}

impl Transport for TlsSocket {
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.tcp.take_error()
    }

    /// `close_notify`, then FIN: the client can tell our end from a cut.
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.tls.send_close_notify();
        match self.flush_pending() {
            Ok(()) => {}
            // A full socket while lingering: the alert is lost, the FIN
            // still says we are done.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
        self.tcp.shutdown(std::net::Shutdown::Write)
    }

    fn reset_on_close(&self) {
        crate::socket_options::reset_on_close(&self.tcp);
    }

    fn limit_unsent(&self, bytes: u32) {
        crate::socket_options::limit_unsent(&self.tcp, bytes);
    }

    fn has_pending_output(&self) -> bool {
        self.tls.wants_write()
    }

    fn flush_pending(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// A short plaintext read empties rustls's buffer, but the socket is
    /// drained only once a read of it would have blocked.
    fn may_have_more(&self) -> bool {
        !self.drained
    }

    fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    fn say_goodbye(&mut self) {
        // Mid-handshake there is no session to end cleanly.
        if !self.tls.is_handshaking() {
            self.tls.send_close_notify();
            let _ = self.flush_pending();
        }
    }

    /// A FIN is orderly over TLS only after close_notify.
    fn orderly_close(&self) -> CloseReason {
        if self.close_notify_seen {
            CloseReason::PeerClosed
        } else {
            CloseReason::TlsTruncated
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, StreamOwned};

    use super::*;

    /// A server session on a real loopback socket, and a blocking client
    /// thread that sends `request` once the handshake is done.
    fn session(request: &'static [u8]) -> (TlsSocket, std::thread::JoinHandle<()>) {
        let (stream, client, _sent) = session_sending(request.to_vec());
        (stream, client)
    }

    /// As [`session`], with word once the client's kernel took it all.
    fn session_sending(
        request: Vec<u8>,
    ) -> (
        TlsSocket,
        std::thread::JoinHandle<()>,
        std::sync::mpsc::Receiver<()>,
    ) {
        let (stream, client, sent, _go) = session_in_parts(vec![request]);
        (stream, client, sent)
    }

    /// The client sends `parts` in turn: the first at once, each next one
    /// when told to go; word comes after each is in the client's kernel.
    fn session_in_parts(
        parts: Vec<Vec<u8>>,
    ) -> (
        TlsSocket,
        std::thread::JoinHandle<()>,
        std::sync::mpsc::Receiver<()>,
        std::sync::mpsc::Sender<()>,
    ) {
        let (sent_tx, sent) = std::sync::mpsc::channel();
        let (go, go_rx) = std::sync::mpsc::channel::<()>();
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let der = CertificateDer::from(made.cert.der().to_vec());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));
        let server = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![der.clone()], key)
            .unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(der).unwrap();
        let client = ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let tcp = std::net::TcpStream::connect(addr).unwrap();
            let name = ServerName::try_from("localhost").unwrap();
            let session = ClientConnection::new(Arc::new(client), name).unwrap();
            let mut tls = StreamOwned::new(session, tcp);
            for (i, part) in parts.iter().enumerate() {
                if i > 0 && go_rx.recv().is_err() {
                    break;
                }
                tls.write_all(part).unwrap();
                let _ = sent_tx.send(());
            }
            // Held open until the server side is done with it.
            let _ = tls.read(&mut [0; 16]);
        });
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_nonblocking(true).unwrap();
        let stream = TlsSocket::new(
            TcpStream::from_std(tcp),
            ServerConnection::new(Arc::new(server)).unwrap(),
        );
        (stream, client, sent, go)
    }

    /// Reads until plaintext arrives (the handshake is answered meanwhile).
    fn read_plaintext(stream: &mut TlsSocket, buf: &mut [u8]) -> usize {
        let give_up = Instant::now() + Duration::from_secs(10);
        loop {
            match stream.read(buf) {
                Ok(n) => return n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < give_up, "no plaintext came");
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(err) => panic!("{err}"),
            }
        }
    }

    #[test]
    fn a_short_socket_read_drains_the_socket_without_a_read_that_would_block() {
        let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
        let (mut stream, client) = session(request);
        let mut buf = [0; 4096];
        let n = read_plaintext(&mut stream, &mut buf);
        assert_eq!(&buf[..n], request);
        // The record came in one short socket read: nothing more to ask the
        // kernel for until a new readiness edge.
        assert!(!stream.may_have_more());
        drop(stream);
        client.join().unwrap();
    }

    #[test]
    fn a_short_plaintext_read_with_more_in_the_socket_says_so() {
        // Ten times what rustls reads from the socket at once, in records
        // of 16 KiB: a plaintext read comes up short at a record's end
        // while the socket still holds the rest, and no new readiness edge
        // will come for it. (Small enough to sit whole in the socket
        // buffers, so the client has sent it all.)
        const BURST: usize = 40 * 1024;
        let (mut stream, client, sent) = session_sending(vec![b'x'; BURST]);
        let mut buf = [0; 1000];
        let mut total = read_plaintext(&mut stream, &mut buf);
        // Over loopback, bytes the client's kernel took are in our socket.
        sent.recv_timeout(Duration::from_secs(10))
            .expect("all sent");
        // Read as the connection does: stop at a short read unless the
        // transport says more may wait.
        loop {
            match stream.read(&mut buf) {
                Ok(n) => {
                    total += n;
                    if n < buf.len() && !stream.may_have_more() {
                        break;
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => panic!("{err}"),
            }
        }
        assert_eq!(total, BURST, "stopped with bytes left in the socket");
        drop(stream);
        client.join().unwrap();
    }

    #[test]
    fn plaintext_left_from_a_short_socket_read_does_not_vouch_for_the_socket_later() {
        // One record that arrives whole (its last socket read is short),
        // read out in pieces; meanwhile a second record arrives, and its
        // readiness edge is taken by a read served from what rustls holds.
        // That read's end must not claim the socket drained.
        const RECORD: usize = 16 * 1024;
        let (mut stream, client, sent, go) =
            session_in_parts(vec![vec![b'a'; RECORD], vec![b'b'; RECORD]]);
        let mut buf = [0; 1000];
        // (The handshake happens here: the client sends after it.)
        let mut total = read_plaintext(&mut stream, &mut buf);
        sent.recv_timeout(Duration::from_secs(10))
            .expect("the first sent");
        while total < RECORD / 2 {
            total += stream.read(&mut buf).expect("the first record is held");
        }
        go.send(()).unwrap();
        sent.recv_timeout(Duration::from_secs(10))
            .expect("the second sent");
        // The rest of the first record, from rustls's buffer alone.
        loop {
            let n = stream.read(&mut buf).expect("held plaintext");
            total += n;
            if n < buf.len() {
                break;
            }
        }
        assert_eq!(total, RECORD);
        assert!(
            stream.may_have_more(),
            "the second record waits in the socket with no edge to come"
        );
        drop(stream);
        client.join().unwrap();
    }
}
