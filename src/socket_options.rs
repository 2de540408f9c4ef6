//! Socket options, set through socket2 on mio's sockets (no unsafe needed).
//!
//! # Platforms
//!
//! `TCP_USER_TIMEOUT` and `TCP_NOTSENT_LOWAT` are set on Linux and Android
//! only (socket2 offers them nowhere else): elsewhere a vanished peer is
//! found by keepalive alone, and a slow reader's kernel queue is bounded by
//! its send buffer. `SO_REUSEPORT`, which several reactors share a port
//! through, is Unix only: on other systems binding more than one reactor
//! fails with [`io::ErrorKind::Unsupported`].

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};

use crate::config::Config;

/// Binds a non-blocking listener with `SO_REUSEADDR` and the configured
/// backlog, carrying the options every accepted connection needs.
///
/// # Implementation notes
///
/// Linux copies a listening socket's `TCP_NODELAY`, keepalive settings and
/// `TCP_USER_TIMEOUT` to the sockets `accept` returns (checked by
/// `accepted_sockets_inherit_the_listeners_options` below), so setting them
/// once here saves six `setsockopt` calls per connection.
pub(crate) fn bind_listener(
    addr: SocketAddr,
    config: &Config,
    reuse_port: bool,
) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        // Several reactors, one port: the kernel spreads connections.
        share_port(&socket)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    set_connection_options(&SockRef::from(&socket), config);
    socket.listen(config.backlog)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// No Nagle delay, keepalive probing and `TCP_USER_TIMEOUT`, so dead peers
/// are found even when nothing is sent. A failure is logged: none of these
/// is essential to serving.
fn set_connection_options(sock: &SockRef<'_>, config: &Config) {
    if let Err(err) = sock.set_tcp_nodelay(true) {
        log::debug!("TCP_NODELAY failed: {err}");
    }
    if let Some(keepalive) = config.keepalive {
        let params = TcpKeepalive::new()
            .with_time(keepalive.idle)
            .with_interval(keepalive.interval)
            .with_retries(keepalive.retries);
        if let Err(err) = sock.set_tcp_keepalive(&params) {
            log::debug!("TCP keepalive failed: {err}");
        }
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(timeout) = config.tcp_user_timeout {
        if let Err(err) = sock.set_tcp_user_timeout(Some(timeout)) {
            log::debug!("TCP_USER_TIMEOUT failed: {err}");
        }
    }
}

#[cfg(unix)]
fn share_port(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_port(true)
}

#[cfg(not(unix))]
fn share_port(_: &Socket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "several reactors share a port through SO_REUSEPORT, which this system lacks",
    ))
}

/// Keeps at most `bytes` unsent in the socket's kernel queue
/// (`TCP_NOTSENT_LOWAT`). Set per connection once it carries bulk output:
/// on the listener it would cost every small exchange a little.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn limit_unsent(stream: &TcpStream, bytes: u32) {
    if let Err(err) = SockRef::from(stream).set_tcp_notsent_lowat(bytes) {
        log::debug!("TCP_NOTSENT_LOWAT failed: {err}");
    }
}

/// Not offered on this system: the send buffer alone bounds the queue.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn limit_unsent(_: &TcpStream, _: u32) {}

/// Makes the coming close send RST instead of FIN (`SO_LINGER` 0), for a
/// connection that must not be held any longer.
pub(crate) fn reset_on_close(stream: &TcpStream) {
    if let Err(err) = SockRef::from(stream).set_linger(Some(Duration::ZERO)) {
        log::debug!("SO_LINGER failed: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn accepted_sockets_inherit_the_listeners_options() {
        let config = Config {
            keepalive: Some(crate::Keepalive {
                idle: Duration::from_secs(7),
                interval: Duration::from_secs(3),
                retries: 4,
            }),
            tcp_user_timeout: Some(Duration::from_secs(11)),
            ..Config::default()
        };
        let listener = bind_listener("127.0.0.1:0".parse().unwrap(), &config, false).unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let accepted = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        };
        let sock = SockRef::from(&accepted);
        assert!(sock.tcp_nodelay().unwrap());
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(7));
        assert_eq!(
            sock.tcp_keepalive_interval().unwrap(),
            Duration::from_secs(3)
        );
        assert_eq!(sock.tcp_keepalive_retries().unwrap(), 4);
        assert_eq!(
            sock.tcp_user_timeout().unwrap(),
            Some(Duration::from_secs(11))
        );
    }
}
