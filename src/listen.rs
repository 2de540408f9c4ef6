//! The sockets a reactor accepts on: the address given to `bind`, and with
//! feature `tls` an HTTPS address beside it. Each reactor has its own
//! listener per address, sharing the port through `SO_REUSEPORT`.

use std::io;
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use crate::config::Config;
use crate::conn::Socket;
use crate::socket_options;

/// The token of listener 0; listener `i` has `FIRST - i`, below the waker's.
const FIRST: usize = usize::MAX - 1;

/// One address the server listens on.
#[derive(Debug, Clone)]
pub(crate) struct Address {
    pub addr: SocketAddr,
    /// Connections accepted here are TLS sessions with this configuration.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::TlsAcceptor>,
}

/// One reactor's listener on one [`Address`].
pub(crate) struct Listener {
    socket: TcpListener,
    /// It may have connections waiting (readiness is edge-triggered).
    pub ready: bool,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsAcceptor>,
}

impl Listener {
    /// Which listener a readiness token is for, if any.
    pub fn index_of(token: Token, count: usize) -> Option<usize> {
        let index = FIRST.checked_sub(token.0)?;
        (index < count).then_some(index)
    }

    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.socket.accept()
    }

    /// The connection's stream: a TLS session on it where this listener
    /// serves TLS.
    pub fn session(&self, tcp: TcpStream) -> io::Result<Socket> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.accept(tcp);
        }
        Ok(Socket::Plain(tcp))
    }

    /// Stops listening: the port is released now.
    pub fn close(mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.socket);
    }
}

/// Binds one reactor's listeners, one per address, and registers them.
/// Port 0 is resolved on the first call and written back into `addresses`,
/// so the other reactors join the same ports.
pub(crate) fn bind(
    addresses: &mut [Address],
    config: &Config,
    shared: bool,
    registry: &Registry,
) -> io::Result<Vec<Listener>> {
    let mut listeners = Vec::with_capacity(addresses.len());
    for (index, address) in addresses.iter_mut().enumerate() {
        let mut listener = socket_options::bind_listener(address.addr, config, shared)?;
        address.addr = listener.local_addr()?;
        registry.register(&mut listener, Token(FIRST - index), Interest::READABLE)?;
        listeners.push(Listener {
            socket: listener,
            ready: true,
            #[cfg(feature = "tls")]
            tls: address.tls.clone(),
        });
    }
    Ok(listeners)
}

/// Where a server serves TLS: on the address given to `bind`
/// (`Builder::tls`), or on an address of its own beside it
/// (`Builder::tls_on`).
#[cfg(feature = "tls")]
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsSetup {
    pub acceptor: Option<crate::tls::TlsAcceptor>,
    /// The HTTPS address when it is not the one given to `bind`; once bound,
    /// the port it got.
    pub addr: Option<SocketAddr>,
}

#[cfg(feature = "tls")]
impl TlsSetup {
    /// The addresses to listen on, `bind`'s first.
    pub fn addresses(&self, main: SocketAddr) -> Vec<Address> {
        match self.addr {
            None => vec![Address {
                addr: main,
                tls: self.acceptor.clone(),
            }],
            Some(addr) => vec![
                Address {
                    addr: main,
                    tls: None,
                },
                Address {
                    addr,
                    tls: self.acceptor.clone(),
                },
            ],
        }
    }

    /// The setup with the HTTPS port as bound (port 0 resolved).
    pub fn bound(mut self, addresses: &[Address]) -> Self {
        if self.addr.is_some() {
            self.addr = addresses.get(1).map(|address| address.addr);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_map_back_to_their_listeners() {
        assert_eq!(Listener::index_of(Token(FIRST), 2), Some(0));
        assert_eq!(Listener::index_of(Token(FIRST - 1), 2), Some(1));
        assert_eq!(Listener::index_of(Token(FIRST - 2), 2), None);
        assert_eq!(Listener::index_of(Token(usize::MAX), 2), None);
        assert_eq!(Listener::index_of(Token(0), 2), None);
    }
}
