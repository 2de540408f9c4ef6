//! Socket options, set through socket2 on mio's sockets (no unsafe needed).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};

use crate::Config;

/// Binds a non-blocking listener with `SO_REUSEADDR` and the configured backlog.
pub(crate) fn bind_listener(addr: SocketAddr, config: &Config) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(config.backlog)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// Options for an accepted connection: no Nagle delay, keepalive probing and
/// `TCP_USER_TIMEOUT` so dead peers are found even when nothing is sent.
/// A failure is logged and the connection kept: none of these is essential.
pub(crate) fn configure_accepted(stream: &TcpStream, config: &Config) {
    let sock = SockRef::from(stream);
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
    if let Some(timeout) = config.tcp_user_timeout {
        if let Err(err) = sock.set_tcp_user_timeout(Some(timeout)) {
            log::debug!("TCP_USER_TIMEOUT failed: {err}");
        }
    }
}

/// Makes the coming close send RST instead of FIN (`SO_LINGER` 0), for a
/// connection that must not be held any longer.
pub(crate) fn reset_on_close(stream: &TcpStream) {
    if let Err(err) = SockRef::from(stream).set_linger(Some(Duration::ZERO)) {
        log::debug!("SO_LINGER failed: {err}");
    }
}
