//! The TLS methods of [`Builder`] and [`Server`] (feature `tls`).

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::ServerConfig;

use crate::server::{Builder, Server};
use crate::tls::TlsAcceptor;

impl Builder {
    /// Serves HTTPS (and WSS) with `config` on the address given to
    /// [`bind`](Builder::bind) (feature `tls`): every connection is a TLS
    /// session, driven by the reactor like any other, with the same
    /// disconnect guarantees; a client's TLS close is told apart as
    /// `peer_closed` (close_notify), `tls_truncated` (TCP closed without
    /// it), `tls_error` or `handshake_timeout`. ALPN advertises `http/1.1`
    /// (and `http/1.0`, chosen only by a client offering nothing else)
    /// unless `config` names protocols of its own. Its SNI and certificate
    /// resolver (`ResolvesServerCert`) are used as given.
    ///
    /// A server has one TLS configuration; the last of `tls` and
    /// [`tls_on`](Builder::tls_on) called sets it.
    pub fn tls(mut self, config: Arc<ServerConfig>) -> Self {
        self.tls.acceptor = Some(TlsAcceptor::new(config));
        self
    }

    /// Serves HTTPS (and WSS) with `config` on `addr` as well, while the
    /// address given to [`bind`](Builder::bind) stays plain HTTP (feature
    /// `tls`). Both are served by the same reactors, handlers and routes,
    /// and counted in the same [`Stats`](crate::stats::Stats); port 0 picks a port
    /// ([`Server::tls_addr`] says which). Otherwise as [`tls`](Builder::tls).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let made = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    /// # let key = rustls::pki_types::PrivatePkcs8KeyDer::from(made.key_pair.serialize_der());
    /// # let config = std::sync::Arc::new(
    /// #     rustls::ServerConfig::builder()
    /// #         .with_no_client_auth()
    /// #         .with_single_cert(vec![made.cert.der().clone()], key.into())?,
    /// # );
    /// let server = tether::Server::builder()
    ///     .tls_on("127.0.0.1:0".parse()?, config) // HTTPS
    ///     .bind("127.0.0.1:0")?; // plain HTTP
    /// let https = server.tls_addr().expect("serves HTTPS");
    /// assert_ne!(https.port(), server.local_addr().port());
    /// # Ok(()) }
    /// ```
    pub fn tls_on(mut self, addr: SocketAddr, config: Arc<ServerConfig>) -> Self {
        self.tls.acceptor = Some(TlsAcceptor::new(config));
        self.tls.addr = Some(addr);
        self
    }
}

impl Server {
    /// Replaces the TLS configuration for connections accepted from now on
    /// (certificate rotation without a restart); open connections keep the
    /// session they have. `false` if the server does not serve TLS.
    pub fn set_tls_config(&self, config: Arc<ServerConfig>) -> bool {
        match &self.tls.acceptor {
            Some(acceptor) => {
                acceptor.replace(config);
                true
            }
            None => false,
        }
    }

    /// The address HTTPS is served on: the one [`Builder::tls_on`] was
    /// given, as bound, or [`local_addr`](Server::local_addr) after
    /// [`Builder::tls`]; `None` without TLS.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.acceptor.as_ref()?;
        Some(self.tls.addr.unwrap_or(self.local_addr()))
    }
}
