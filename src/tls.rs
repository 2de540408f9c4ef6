//! The TLS configuration a server accepts with (feature `tls`): one
//! `rustls::ServerConfig`, shared by every reactor and replaceable while
//! the server runs, for certificate rotation without a restart.

use std::io;
use std::sync::{Arc, RwLock};

use mio::net::TcpStream;
use rustls::{ServerConfig, ServerConnection};

use crate::conn::{Socket, TlsSocket};

/// What every reactor of a TLS server reads at each accept.
#[derive(Debug, Clone)]
pub(crate) struct TlsAcceptor(Arc<RwLock<Arc<ServerConfig>>>);

impl TlsAcceptor {
    pub fn new(config: Arc<ServerConfig>) -> Self {
        TlsAcceptor(Arc::new(RwLock::new(with_alpn(config))))
    }

    /// New connections use `config`; open ones keep theirs.
    pub fn replace(&self, config: Arc<ServerConfig>) {
        let config = with_alpn(config);
        match self.0.write() {
            Ok(mut current) => *current = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
    }

    /// Wraps an accepted socket in a TLS session.
    pub fn accept(&self, tcp: TcpStream) -> io::Result<Socket> {
        let config = match self.0.read() {
            Ok(current) => Arc::clone(&current),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        };
        let session = ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(Socket::Tls(Box::new(TlsSocket::new(tcp, session))))
    }
}

/// ALPN says `http/1.1`, and `http/1.0` to a client offering only that,
/// unless the application chose protocols itself: with ALPN set, rustls
/// refuses the handshake of a client offering none of them (`curl
/// --http1.0` offers only `http/1.0`).
fn with_alpn(config: Arc<ServerConfig>) -> Arc<ServerConfig> {
    if !config.alpn_protocols.is_empty() {
        return config;
    }
    let mut config = (*config).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec(), b"http/1.0".to_vec()];
    Arc::new(config)
}
