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
pub(crate) struct TlsStream {
    tcp: TcpStream,
    tls: ServerConnection,
    /// TCP reported EOF.
    eof: bool,
    /// The client's close_notify has been processed.
    close_notify_seen: bool,
    /// The last socket read would have blocked: until new bytes bring a
    /// new edge, only what rustls already holds can be read.
    drained: bool,
}

impl TlsStream {
    pub fn new(tcp: TcpStream, mut tls: ServerConnection) -> Self {
        tls.set_buffer_limit(Some(TLS_PLAINTEXT_LIMIT));
        TlsStream {
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

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                // `Ok(0)` here means close_notify: an orderly close.
                Ok(n) => return Ok(n),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(err),
            }
            if self.eof {
                // rustls answers UnexpectedEof once EOF was seen without
                // close_notify; never loop on a closed socket.
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            match self.tls.read_tls(&mut self.tcp) {
                Ok(0) => self.eof = true,
                Ok(_) => {
                    self.drained = false;
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

impl Write for TlsStream {
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

impl Transport for TlsStream {
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
        crate::socket::reset_on_close(&self.tcp);
    }

    fn want_writable(&mut self, registry: &mio::Registry, token: mio::Token) -> io::Result<()> {
        self.tcp.want_writable(registry, token)
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

    /// A FIN is orderly over TLS only after close_notify.
    fn orderly_close(&self) -> CloseReason {
        if self.close_notify_seen {
            CloseReason::PeerClosed
        } else {
            CloseReason::TlsTruncated
        }
    }
}
