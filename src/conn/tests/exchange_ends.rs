//! How an exchange a worker holds ends without a response: dropped, or
//! given up with `abandon`, while the client waits and after it left.

use std::sync::mpsc;

use super::*;

/// Records the reason an exchange's `on_close` callback hears.
fn hear_close(exchange: &Exchange) -> mpsc::Receiver<CloseReason> {
    let (tx, rx) = mpsc::channel();
    exchange.on_close(move |reason| {
        let _ = tx.send(reason);
    });
    rx
}

#[test]
fn a_dropped_exchange_is_counted_dropped_and_its_listener_hears_unanswered() {
    let mut bed = Bed::handoff();
    let (mut conn, exchange) = bed.pending();
    let heard = hear_close(&exchange);
    drop(exchange);
    bed.deliver_update(&mut conn);
    assert!(written(&conn).starts_with("HTTP/1.1 500"));
    assert!(written(&conn).contains("Connection: close\r\n"));
    assert_eq!(heard.try_recv(), Ok(CloseReason::Unanswered));
    let stats = bed.stats.snapshot();
    assert_eq!((stats.dropped, stats.abandoned), (1, 0));
    assert_eq!(stats.pending_responses, 0);
}

#[test]
fn an_exchange_dropped_after_its_client_left_is_abandoned_and_tells_nobody() {
    let mut bed = Bed::handoff();
    let (mut conn, exchange) = bed.pending();
    let heard = hear_close(&exchange);
    socket_error(&mut conn, &mut bed, io::ErrorKind::ConnectionReset);
    assert_eq!(conn.close_reason(), Some(CloseReason::PeerReset));
    assert_eq!(heard.try_recv(), Ok(CloseReason::PeerReset));
    drop(exchange);
    assert!(bed.commands.try_recv().is_err(), "no news for the reactor");
    let stats = bed.stats.snapshot();
    assert_eq!((stats.dropped, stats.abandoned), (0, 1));
}

#[test]
fn an_abandoned_exchange_answers_503_and_keeps_the_connection() {
    let mut bed = Bed::handoff();
    let (mut conn, exchange) = bed.pending();
    exchange.abandon();
    bed.deliver_update(&mut conn);
    assert!(written(&conn).starts_with("HTTP/1.1 503"));
    assert!(
        !conn.is_draining() && !conn.is_closed(),
        "a keep-alive answer"
    );
    assert_eq!(conn.state(), Some(ConnectionState::Reading));
    let stats = bed.stats.snapshot();
    assert_eq!((stats.dropped, stats.abandoned), (0, 1));
    // The next request is served as usual.
    bed.client_sends(&mut conn, GET);
    assert!(conn.is_response_pending());
}

#[test]
fn an_exchange_abandoned_after_its_client_left_sends_nothing() {
    let mut bed = Bed::handoff();
    let (mut conn, exchange) = bed.pending();
    socket_error(&mut conn, &mut bed, io::ErrorKind::ConnectionReset);
    exchange.abandon();
    assert!(bed.commands.try_recv().is_err(), "no news for the reactor");
    assert!(conn.io.written.is_empty());
    let stats = bed.stats.snapshot();
    assert_eq!((stats.dropped, stats.abandoned), (0, 1));
}
