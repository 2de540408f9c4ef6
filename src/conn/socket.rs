//! The socket a reactor's connection runs over: plain TCP, or (feature
//! `tls`) a TLS session on it. Above both transports (`transport.rs`'s
//! trait, `tls.rs`), so neither imports the other.

use std::io::{self, Read, Write};

use mio::net::TcpStream;

use super::transport::Transport;

/// The socket a reactor's connection runs over: plain TCP, or (feature
/// `tls`) a TLS session on it. One enum, so the reactor's slab holds one
/// connection type and the connection code is the same for both.
#[derive(Debug)]
pub(crate) enum Socket {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<super::tls::TlsSocket>),
}

/// Calls `$method` on whichever socket this is.
macro_rules! each {
    ($self:ident, $s:ident => $body:expr) => {
        match $self {
            Socket::Plain($s) => $body,
            #[cfg(feature = "tls")]
            Socket::Tls($s) => $body,
        }
    };
}

impl Socket {
    /// The TCP socket under it, for the reactor's registry.
    pub fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Socket::Plain(s) => s,
            #[cfg(feature = "tls")]
            Socket::Tls(s) => s.tcp_mut(),
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        each!(self, s => s.read(buf))
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        each!(self, s => s.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        each!(self, s => s.flush())
    }
}

impl Transport for Socket {
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Socket::Plain(s) => Transport::take_error(s),
            #[cfg(feature = "tls")]
            Socket::Tls(s) => Transport::take_error(&**s),
        }
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        each!(self, s => s.shutdown_write())
    }

    fn reset_on_close(&self) {
        each!(self, s => s.reset_on_close())
    }

    fn limit_unsent(&self, bytes: u32) {
        each!(self, s => s.limit_unsent(bytes))
    }

    fn has_pending_output(&self) -> bool {
        each!(self, s => s.has_pending_output())
    }

    fn flush_pending(&mut self) -> io::Result<()> {
        each!(self, s => s.flush_pending())
    }

    fn may_have_more(&self) -> bool {
        each!(self, s => s.may_have_more())
    }

    fn orderly_close(&self) -> crate::reason::CloseReason {
        each!(self, s => s.orderly_close())
    }

    fn is_handshaking(&self) -> bool {
        each!(self, s => s.is_handshaking())
    }

    fn say_goodbye(&mut self) {
        each!(self, s => s.say_goodbye())
    }
}
