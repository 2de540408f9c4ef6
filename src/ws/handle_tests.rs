//! Unit tests of the socket's queues: slices, shared frames, the budget,
//! the backpressure policies and the share of pending events.
use super::*;
use crate::ws::events::{Message, WsEvent};
use std::sync::atomic::Ordering::Relaxed;

/// A socket with a send budget, a policy and a memory limit, on a
/// context whose reactor nobody runs.
pub(crate) fn socket(budget: usize, policy: WsBackpressure, memory: u64) -> WebSocket {
    let stats = StatsHandle::default();
    let (context, _commands) = Context::detached(stats.clone(), 4);
    let shared = Arc::new(WsShared::new((4, 64), budget, policy, memory, stats));
    WebSocket::new(
        shared,
        context,
        ConnectionId::default(),
        ("/ws", Captures::default()),
        None,
    )
}

fn held(socket: &WebSocket) -> u64 {
    socket.context.stats.0.memory_held.load(Relaxed)
}

fn pulled(out: &Outgoing) -> usize {
    out.frames.iter().map(Bytes::len).sum()
}

#[test]
fn a_frame_goes_out_in_slices_of_the_room() {
    let ws = socket(1 << 20, WsBackpressure::Fail, u64::MAX);
    ws.send_binary(&[7; 100_000]).unwrap();
    assert_eq!(held(&ws), 98 * 1024, "100,010 bytes, held in whole steps");
    let first = ws.shared().pull(65_536);
    assert_eq!(pulled(&first), 65_536);
    assert!(first.mid_frame);
    assert_eq!(ws.shared().lock().state.frames.bytes(), 100_010 - 65_536);
    assert_eq!(held(&ws), 35 * 1024, "what is still queued, and a step");
    let rest = ws.shared().pull(65_536);
    assert_eq!(pulled(&rest), 100_010 - 65_536);
    assert!(!rest.mid_frame);
    // Pulled into the connection's output, it is the output's to hold.
    assert_eq!(held(&ws), 1024, "one spare step");
    ws.shared().close(CloseReason::PeerClosed);
    assert_eq!(held(&ws), 0, "closed: all given back");
}

#[test]
fn an_echo_holds_one_step_not_a_charge_per_frame() {
    let ws = socket(1 << 20, WsBackpressure::Fail, u64::MAX);
    for _ in 0..1000 {
        ws.send_text("sixteen bytes!!!").unwrap();
        ws.send_text("sixteen bytes!!!").unwrap();
        assert_eq!(pulled(&ws.shared().pull(usize::MAX)), 36);
        assert_eq!(held(&ws), 1024);
    }
}

#[test]
fn a_broadcast_frame_is_shared_and_held_once() {
    let a = socket(1 << 20, WsBackpressure::Fail, u64::MAX);
    let b = WebSocket::new(
        Arc::new(WsShared::new(
            (4, 64),
            1 << 20,
            WsBackpressure::Fail,
            u64::MAX,
            a.context.stats.clone(),
        )),
        Arc::clone(&a.context),
        ConnectionId::default(),
        ("/ws", Captures::default()),
        None,
    );
    let frame = a.encode(OP_BINARY, &[1; 200_000]).unwrap();
    a.send_frame(frame.clone()).unwrap();
    b.send_frame(frame).unwrap();
    assert_eq!(held(&a), 200_010, "two queues, one charge");
    let (from_a, from_b) = (a.shared().pull(1000), b.shared().pull(1000));
    assert_eq!(
        from_a.frames[0].as_ptr(),
        from_b.frames[0].as_ptr(),
        "both slices are the one encoding"
    );
    drop((from_a, from_b)); // written: the output no longer needs them
    a.shared().close(CloseReason::PeerClosed);
    assert_eq!(held(&a), 200_010, "b still holds it");
    b.shared().close(CloseReason::PeerClosed);
    assert_eq!(held(&a), 0);
}

#[test]
fn a_frame_larger_than_the_budget_meets_the_policy_on_an_empty_queue() {
    for policy in [WsBackpressure::Fail, WsBackpressure::DropOldest] {
        let ws = socket(1000, policy, u64::MAX);
        assert_eq!(ws.send_binary(&[0; 2000]), Err(SendError::Full));
        assert!(ws.shared().pull(usize::MAX).frames.is_empty());
        assert_eq!(held(&ws), 0);
    }
    let ws = socket(1000, WsBackpressure::Close, u64::MAX);
    assert_eq!(ws.send_binary(&[0; 2000]), Err(SendError::Closing));
    assert!(ws.shared().pull(usize::MAX).slow_consumer);
}

#[test]
fn drop_oldest_keeps_the_frame_in_transit() {
    let ws = socket(1000, WsBackpressure::DropOldest, u64::MAX);
    ws.send_binary(&[1; 600]).unwrap();
    assert!(ws.shared().pull(100).mid_frame);
    // 504 bytes of the first frame remain; the second cannot displace it.
    assert_eq!(ws.send_binary(&[2; 600]), Err(SendError::Full));
    ws.send_binary(&[3; 400]).unwrap();
    ws.send_binary(&[4; 400]).unwrap(); // drops the 3s, not the 1s
    let out = ws.shared().pull(usize::MAX);
    assert_eq!(pulled(&out), 504 + 404);
    assert_eq!(out.frames[0][out.frames[0].len() - 1], 1);
    assert_eq!(out.frames[1][4], 4);
}

#[test]
fn a_sockets_share_of_pending_events_shrinks_as_the_total_grows() {
    let ws = socket(1 << 20, WsBackpressure::Fail, u64::MAX); // 4 of 64
    let pending = &ws.context.stats.0.ws_events_pending;
    assert_eq!(ws.shared().share(), 4);
    pending.store(1, Relaxed);
    assert_eq!(
        ws.shared().share(),
        4,
        "a little held: still the whole share"
    );
    pending.store(32, Relaxed);
    assert_eq!(ws.shared().share(), 2, "half the room left: half the share");
    pending.store(63, Relaxed);
    assert_eq!(ws.shared().share(), 1, "never below one");
    pending.store(1000, Relaxed);
    assert_eq!(ws.shared().share(), 1);
}

#[test]
fn a_paused_socket_is_woken_by_the_next_drop() {
    let ws = socket(1 << 20, WsBackpressure::Fail, u64::MAX);
    let held: Vec<WsEvent> = (0..4)
        .map(|_| {
            WsEvent::message(
                ws.clone(),
                Message::Text("m".into()),
                Charge::new(&ws.context.stats),
            )
        })
        .collect();
    assert!(ws.shared().is_inbound_full());
    assert!(ws.shared().paused.load(Relaxed));
    drop(held);
    assert!(
        !ws.shared().paused.load(Relaxed),
        "the drop took the flag (and woke the reactor)"
    );
    assert!(!ws.shared().is_inbound_full());
}

#[test]
fn a_send_the_memory_budget_cannot_hold_fails_full() {
    let ws = socket(1 << 20, WsBackpressure::Fail, 10_000);
    ws.send_binary(&[0; 9_000]).unwrap();
    assert_eq!(ws.send_binary(&[0; 2_000]), Err(SendError::Full));
    let stats = &ws.context.stats.0;
    assert_eq!(stats.memory_refusals.load(Relaxed), 1);
    assert_eq!(held(&ws), 9 * 1024, "9,004 bytes in whole steps");
}
