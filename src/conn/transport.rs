//! What a connection runs over. The connection is generic over
//! [`Transport`], as hyper's `Conn` is over its I/O: the reactor uses a `mio`
//! TCP stream; unit tests script one. mio's `Event` cannot be made outside
//! mio, so readiness arrives as a plain [`Readiness`].

use std::io::{self, Read, Write};
use std::net::Shutdown;

use mio::event::Event;
use mio::net::TcpStream;

/// What a connection needs from its socket.
pub(crate) trait Transport: Read + Write {
    /// The pending socket error (`SO_ERROR`), taken.
    fn take_error(&self) -> io::Result<Option<io::Error>>;
    /// Shuts the write side (sends FIN).
    fn shutdown_write(&mut self) -> io::Result<()>;
    /// Makes the coming close send RST (`SO_LINGER` 0).
    fn reset_on_close(&self);
    /// Bytes the transport holds that the kernel has not taken yet (TLS
    /// records already made from written plaintext). A plain socket holds
    /// none: what `write` accepted is in the kernel.
    fn has_pending_output(&self) -> bool {
        false
    }
    /// Hands what the transport holds to the kernel; `WouldBlock` when the
    /// socket is full.
    fn flush_pending(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// A short read may not have drained the socket: bytes can wait with
    /// no new readiness edge to announce them (TLS reads records ahead and
    /// hands out their plaintext in pieces). A plain socket's short read
    /// means drained.
    fn may_have_more(&self) -> bool {
        false
    }
    /// What a close that began with the client's FIN is (an RST that
    /// follows its FIN is reported as `EPIPE`): `peer_closed` over TCP.
    fn orderly_close(&self) -> crate::reason::CloseReason {
        crate::reason::CloseReason::PeerClosed
    }
    /// Still in a handshake: no request can have begun.
    fn is_handshaking(&self) -> bool {
        false
    }
    /// The server ends a connection between exchanges: tell the peer it is
    /// a clean end, not a cut (over TLS, `close_notify`). Best effort;
    /// never blocks. Nothing to say over plain TCP: the FIN says it.
    fn say_goodbye(&mut self) {}
    /// Keeps at most `bytes` unsent in the kernel (`TCP_NOTSENT_LOWAT`).
    /// Best effort: a failure is logged.
    fn limit_unsent(&self, _bytes: u32) {}
}

impl Transport for TcpStream {
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        TcpStream::take_error(self)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    fn reset_on_close(&self) {
        crate::socket_options::reset_on_close(self);
    }

    fn limit_unsent(&self, bytes: u32) {
        crate::socket_options::limit_unsent(self, bytes);
    }
}

/// One readiness event, as the connection needs it (mio's `Event` cannot be
/// made outside mio, so tests build this instead).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Readiness {
    pub readable: bool,
    pub writable: bool,
    /// EPOLLRDHUP (or EPOLLHUP): the peer may have closed its side.
    pub read_closed: bool,
    /// EPOLLHUP: our side cannot write either.
    pub write_closed: bool,
    /// EPOLLERR: `SO_ERROR` holds something.
    pub error: bool,
}

impl From<&Event> for Readiness {
    fn from(event: &Event) -> Self {
        Readiness {
            readable: event.is_readable(),
            writable: event.is_writable(),
            read_closed: event.is_read_closed(),
            write_closed: event.is_write_closed(),
            error: event.is_error(),
        }
    }
}
