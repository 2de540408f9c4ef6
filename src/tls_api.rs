//! The TLS methods of [`Builder`] and [`Server`] (feature `tls`).

use std::sync::Arc;

use rustls::ServerConfig;

use crate::server::{Builder, Server};
use crate::tls::TlsAcceptor;

impl Builder {
    /// Serves HTTPS (and WSS) with `config` (feature `tls`): every
    /// connection is a TLS session, driven by the reactor like any other,
    /// with the same disconnect guarantees; a client's TLS close is told
    /// apart as `peer_closed` (close_notify), `tls_truncated` (TCP closed
    /// without it), `tls_error` or `handshake_timeout`. ALPN advertises
    /// `http/1.1` unless `config` names protocols of its own. Its SNI and
    /// certificate resolver (`ResolvesServerCert`) are used as given.
    pub fn tls(mut self, config: Arc<ServerConfig>) -> Self {
        self.tls = Some(TlsAcceptor::new(config));
        self
    }
}

impl Server {
    /// Replaces the TLS configuration for connections accepted from now on
    /// (certificate rotation without a restart); open connections keep the
    /// session they have. `false` if the server does not serve TLS.
    pub fn set_tls_config(&self, config: Arc<ServerConfig>) -> bool {
        match &self.tls {
            Some(acceptor) => {
                acceptor.replace(config);
                true
            }
            None => false,
        }
    }
}
