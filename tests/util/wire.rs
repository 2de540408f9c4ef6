//! What a behaviour test's client speaks: plain TCP or, with feature `tls`,
//! TLS. A test written once as `fn case(over: Over)` runs over both with
//! [`over_both!`](crate::over_both): the same assertions hold, because
//! the test client closes the way well-behaved clients do (over TLS,
//! `close_notify` before its FIN).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::Deref;
use std::os::fd::{AsFd, BorrowedFd};

use tether::{Builder, Server};

use super::PATIENCE;

/// The transport a test runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    Plain,
    #[cfg(feature = "tls")]
    Tls,
}

impl Over {
    /// A server builder serving this transport.
    pub fn builder(self) -> Builder {
        super::init();
        match self {
            Over::Plain => Server::builder(),
            #[cfg(feature = "tls")]
            Over::Tls => Server::builder().tls(std::sync::Arc::clone(&tls::shared().server)),
        }
    }

    /// A connected client socket (over TLS, with the handshake done).
    pub fn connect(self, addr: SocketAddr) -> Wire {
        let tcp = TcpStream::connect(addr).expect("connect");
        tcp.set_read_timeout(Some(PATIENCE)).unwrap();
        tcp.set_nodelay(true).unwrap();
        match self {
            Over::Plain => Wire::Plain(tcp),
            #[cfg(feature = "tls")]
            Over::Tls => Wire::Tls(Box::new(tls::TlsWire::handshake(tcp))),
        }
    }
}

/// Runs each named `fn name(over: Over)` as a test over plain TCP
/// (`name::plain`) and, with feature `tls`, over TLS (`name::tls`).
#[macro_export]
macro_rules! over_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn plain() {
                super::$name(super::util::wire::Over::Plain)
            }
            #[cfg(feature = "tls")]
            #[test]
            fn tls() {
                super::$name(super::util::wire::Over::Tls)
            }
        }
    )*};
}

/// A client socket: reads and writes plaintext either way. Derefs to the
/// TCP socket underneath for socket options and half-closes (which over
/// TLS bypass the session, as a raw TCP action would).
#[derive(Debug)]
pub enum Wire {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<tls::TlsWire>),
}

impl Wire {
    /// Makes the close a reset (`SO_LINGER` 0), with no `close_notify`.
    pub fn reset(self) {
        let tcp = self.into_tcp();
        socket2::SockRef::from(&tcp)
            .set_linger(Some(std::time::Duration::ZERO))
            .unwrap();
        drop(tcp);
    }

    /// Half-closes: over TLS, `close_notify` and then FIN, as a client
    /// finishing its side in order does.
    pub fn finish_sending(&mut self) {
        #[cfg(feature = "tls")]
        if let Wire::Tls(tls) = self {
            tls.close_notify();
        }
        self.shutdown(std::net::Shutdown::Write).unwrap();
    }

    /// The TCP socket, leaving any TLS session without a word.
    pub fn into_tcp(self) -> TcpStream {
        match self {
            Wire::Plain(tcp) => tcp,
            #[cfg(feature = "tls")]
            Wire::Tls(tls) => tls.into_tcp(),
        }
    }
}

impl Deref for Wire {
    type Target = TcpStream;

    fn deref(&self) -> &TcpStream {
        match self {
            Wire::Plain(tcp) => tcp,
            #[cfg(feature = "tls")]
            Wire::Tls(tls) => tls.tcp(),
        }
    }
}

impl AsFd for Wire {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.deref().as_fd()
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(tcp) => tcp.read(buf),
            #[cfg(feature = "tls")]
            Wire::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(tcp) => tcp.write(buf),
            #[cfg(feature = "tls")]
            Wire::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Wire::Plain(tcp) => tcp.flush(),
            #[cfg(feature = "tls")]
            Wire::Tls(tls) => tls.flush(),
        }
    }
}

#[cfg(feature = "tls")]
pub mod tls {
    use std::io::{self, Read, Write};
    use std::net::TcpStream;
    use std::sync::{Arc, OnceLock};
    use std::time::Duration;

    use rustls::pki_types::ServerName;
    use rustls::{ClientConnection, ServerConfig, StreamOwned};

    use crate::util::tls::{pki, Pki};

    /// One certificate for every test in the binary. The server sends no
    /// session tickets: a client that closes with them unread would reset
    /// the connection instead of closing it.
    pub fn shared() -> &'static Pki {
        static PKI: OnceLock<Pki> = OnceLock::new();
        PKI.get_or_init(|| {
            let made = pki("localhost");
            let mut server = ServerConfig::clone(&made.server);
            server.send_tls13_tickets = 0;
            Pki {
                server: Arc::new(server),
                client: made.client,
            }
        })
    }

    /// A TLS client session that sends `close_notify` when dropped.
    #[derive(Debug)]
    pub struct TlsWire {
        tls: Option<StreamOwned<ClientConnection, TcpStream>>,
        notified: bool,
    }

    impl TlsWire {
        pub fn handshake(mut tcp: TcpStream) -> TlsWire {
            let name = ServerName::try_from("localhost").unwrap();
            let mut session = ClientConnection::new(Arc::clone(&shared().client), name).unwrap();
            while session.is_handshaking() {
                session.complete_io(&mut tcp).expect("a TLS handshake");
            }
            TlsWire {
                tls: Some(StreamOwned::new(session, tcp)),
                notified: false,
            }
        }

        fn stream(&mut self) -> &mut StreamOwned<ClientConnection, TcpStream> {
            self.tls.as_mut().expect("open")
        }

        pub fn tcp(&self) -> &TcpStream {
            &self.tls.as_ref().expect("open").sock
        }

        /// Sends `close_notify`, best effort, once.
        pub fn close_notify(&mut self) {
            if std::mem::replace(&mut self.notified, true) {
                return;
            }
            let tls = self.stream();
            tls.conn.send_close_notify();
            // Never hang a test on a peer that stopped reading.
            let _ = tls.sock.set_write_timeout(Some(Duration::from_secs(1)));
            while tls.conn.wants_write() {
                if tls.conn.write_tls(&mut tls.sock).is_err() {
                    break;
                }
            }
        }

        pub fn into_tcp(mut self) -> TcpStream {
            self.tls.take().expect("open").sock
        }
    }

    impl Drop for TlsWire {
        fn drop(&mut self) {
            if self.tls.is_some() {
                self.close_notify();
            }
        }
    }

    impl Read for TlsWire {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.stream().read(buf)
        }
    }

    impl Write for TlsWire {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.stream().write(buf)
        }

        fn flush(&mut self) -> io::Result<()> {
            self.stream().flush()
        }
    }
}
