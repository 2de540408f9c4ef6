//! The reactor's side of one WebSocket: frames in, control replies,
//! heartbeats, the closing handshake, and the one terminal event.

use std::time::{Duration, Instant};

use crate::channel::queue::Sender;

use super::events::{Message, WsEvent};
use super::frame::{
    encode_close, encode_frame, Assembly, Decoder, Incoming, Limits, CLOSE_NORMAL, OP_PING,
    OP_PONG, OVER_BUDGET,
};
use super::handle::WebSocket;
use crate::budget::Charge;
use crate::config::Config;
use crate::reason::CloseReason;
use crate::time::deadline;

/// Incoming frames handled per call, before other connections get a go.
const FRAMES_PER_TURN: usize = 64;
/// Close code sent when the server shuts down.
const CLOSE_GOING_AWAY: u16 = 1001;

/// What the connection must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Continue,
    /// Flush what is queued (the close frame last), then close.
    Drain(CloseReason),
    /// Close now.
    Close(CloseReason),
    /// Close now with a reset: the peer is not reading.
    Reset(CloseReason),
}

/// What a session needs from the reactor.
pub(crate) struct WsCx<'a> {
    pub config: &'a Config,
    pub now: Instant,
}

/// The message being assembled grows only while the server's memory budget
/// can hold it.
struct Budgeted<'a> {
    charge: &'a mut Charge,
    limit: u64,
}

impl Assembly for Budgeted<'_> {
    fn may_grow_to(&mut self, total: usize) -> bool {
        self.charge.grow_to(total as u64, self.limit)
    }
}

#[derive(Debug)]
pub(crate) struct Session {
    socket: WebSocket,
    /// The stream this socket's events go to.
    events: Sender<WsEvent>,
    decoder: Decoder,
    /// The message being assembled, held against the memory budget; it
    /// travels with the message into its event.
    charge: Charge,
    /// When the client was last heard from (any frame).
    last_seen: Instant,
    /// A ping is out, unanswered, since then.
    ping_sent: Option<Instant>,
    close_sent: bool,
    /// After our close frame: how long the client has to answer it.
    close_deadline: Option<Instant>,
    /// The client's close code, if it started the close.
    peer_code: Option<u16>,
    /// This socket's own ping interval and pong timeout (its upgrade's);
    /// `None`: the server's.
    ping: Option<(Duration, Duration)>,
    ended: bool,
    /// Part of a data frame is written and the rest is still queued: a
    /// control frame now would land inside it.
    mid_frame: bool,
    /// Control frames (pongs, pings, the close) that wait for the frame in
    /// transit to end. Bounded: pongs only while they fit the output's room
    /// (less what waits here), then one latest.
    held: Vec<u8>,
}

impl Session {
    /// A session whose messages are held against `charge` (the peer's
    /// share of the memory budget) while assembled and until dropped.
    pub fn new(socket: WebSocket, events: Sender<WsEvent>, charge: Charge, now: Instant) -> Self {
        Session {
            events,
            charge,
            socket,
            decoder: Decoder::default(),
            last_seen: now,
            ping_sent: None,
            close_sent: false,
            close_deadline: None,
            peer_code: None,
            ping: None,
            ended: false,
            mid_frame: false,
            held: Vec::new(),
        }
    }

    /// This socket's heartbeat, from its upgrade; a zero half keeps the
    /// server's.
    pub fn with_ping(mut self, ping: Option<(Duration, Duration)>) -> Self {
        self.ping = ping;
        self
    }

    /// The ping interval and pong timeout that apply to this socket.
    fn ping_terms(&self, config: &Config) -> (Duration, Duration) {
        let (interval, timeout) = self.ping.unwrap_or_default();
        let or = |mine: Duration, server: Duration| if mine.is_zero() { server } else { mine };
        (
            or(interval, config.ws_ping_interval),
            or(timeout, config.ws_pong_timeout),
        )
    }

    /// Control frames written to `out` go after the frame in transit
    /// instead, when there is one.
    fn hold_while_mid_frame(&mut self, out: &mut Vec<u8>) {
        if self.mid_frame {
            self.held.append(out);
        }
    }

    /// Decodes buffered input, writing control replies to `out`. Returns the
    /// bytes consumed, what to do next, and whether a budget stopped it.
    ///
    /// Every ping is answered while the pongs fit in `room` (what the
    /// connection's output can still take below its high-water mark); past
    /// it, only the latest ping of the batch is (RFC 6455 §5.5.3 allows
    /// it). The connection stops decoding while its output is over the
    /// mark, so what a peer makes us send stays bounded.
    pub fn on_input(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        room: usize,
        cx: &WsCx<'_>,
    ) -> (usize, Step, bool) {
        let room = room.saturating_sub(self.held.len());
        let mut pong = Pongs { room, latest: None };
        let result = self.decode_batch(input, out, cx, &mut pong);
        pong.flush(out);
        self.hold_while_mid_frame(out);
        result
    }

    fn decode_batch(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        cx: &WsCx<'_>,
        pong: &mut Pongs,
    ) -> (usize, Step, bool) {
        let limits = Limits {
            max_frame_bytes: cx.config.ws_max_frame_bytes,
            max_message_bytes: cx.config.ws_max_message_bytes,
        };
        let mut used = 0;
        for _ in 0..FRAMES_PER_TURN {
            if self.socket.shared().is_inbound_full() {
                // Paused until the application drops messages it holds.
                return (used, Step::Continue, false);
            }
            let mut assembly = Budgeted {
                charge: &mut self.charge,
                limit: cx.config.memory_budget_bytes as u64,
            };
            let (n, incoming) = match self.decoder.decode(&input[used..], limits, &mut assembly) {
                Ok(decoded) => decoded,
                Err(err) => {
                    // Over the budget the server is full; the peer broke nothing.
                    let reason = if err == OVER_BUDGET {
                        self.charge.refused();
                        CloseReason::MemoryBudget
                    } else {
                        CloseReason::ProtocolError
                    };
                    log::debug!(
                        "{} WebSocket protocol error: {} ({})",
                        self.socket.id(),
                        err.why,
                        err.code
                    );
                    pong.flush(out);
                    self.send_close(out, err.code, err.why, cx.now);
                    return (used, Step::Drain(reason), false);
                }
            };
            used += n;
            if n > 0 {
                // Any bytes are proof of life, a slice of a large frame too:
                // a client busy sending cannot answer a ping mid-frame.
                self.last_seen = cx.now;
                self.ping_sent = None;
            }
            let Some(incoming) = incoming else {
                return (used, Step::Continue, false);
            };
            let message = match incoming {
                Incoming::Text(text) => Message::Text(text),
                Incoming::Binary(data) => Message::Binary(data),
                Incoming::Ping(payload) => {
                    if !self.close_sent {
                        pong.answer(out, payload);
                    }
                    continue;
                }
                Incoming::Pong(_) => continue,
                Incoming::Close(close) => {
                    self.peer_code = close.as_ref().map(|(code, _)| *code);
                    let reason = if self.close_sent {
                        // The answer to our close: the handshake is complete.
                        CloseReason::Drained
                    } else {
                        let code = self.peer_code.unwrap_or(CLOSE_NORMAL);
                        pong.flush(out);
                        self.send_close(out, code, "", cx.now);
                        CloseReason::PeerClosed
                    };
                    return (used, Step::Drain(reason), false);
                }
            };
            // The message's bytes stay held until the application drops it.
            let charge = self.charge.split();
            if self.close_sent {
                continue; // after our close, data is discarded (RFC 6455 §5.5.1)
            }
            let _ = self
                .events
                .send(WsEvent::message(self.socket.clone(), message, charge));
        }
        (used, Step::Continue, true)
    }

    /// Moves queued frames into `out` (up to `room` bytes; a frame that
    /// does not fit goes in slices), then the control frames that waited
    /// for a frame's end, then a requested close.
    pub fn pull(&mut self, out: &mut Vec<u8>, room: usize, now: Instant) -> Step {
        let outgoing = self.socket.shared().pull(room);
        if outgoing.slow_consumer {
            return Step::Reset(CloseReason::SlowConsumer);
        }
        for frame in &outgoing.frames {
            out.extend_from_slice(frame);
        }
        self.mid_frame = outgoing.mid_frame;
        if !self.mid_frame {
            out.append(&mut self.held);
        }
        if let Some((code, reason)) = outgoing.close {
            self.send_close(out, code, &reason, now);
        }
        Step::Continue
    }

    /// Before the connection drains: the rest of a frame in transit (at
    /// most the send budget), then the control frames held for it, so the
    /// close frame follows whole frames.
    pub fn finish_frames(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.mid_frame) {
            if let Some(rest) = self.socket.shared().take_in_transit() {
                out.extend_from_slice(&rest);
            }
        }
        out.append(&mut self.held);
    }

    fn send_close(&mut self, out: &mut Vec<u8>, code: u16, reason: &str, now: Instant) {
        if !self.close_sent {
            encode_close(out, code, reason);
            self.close_sent = true;
            self.close_deadline = Some(now);
        }
    }

    /// The server shuts down: say so (1001) and drain.
    pub fn going_away(&mut self, out: &mut Vec<u8>, now: Instant) -> Step {
        self.send_close(out, CLOSE_GOING_AWAY, "server shutting down", now);
        self.hold_while_mid_frame(out);
        Step::Drain(CloseReason::Shutdown)
    }

    pub fn next_deadline(&self, config: &Config) -> Option<Instant> {
        let close = self
            .close_deadline
            .map(|sent| deadline(sent, config.linger_timeout));
        let (interval, pong_timeout) = self.ping_terms(config);
        let heartbeat = match self.ping_sent {
            Some(sent) => deadline(sent, pong_timeout),
            None => deadline(self.last_seen, interval),
        };
        Some(close.map_or(heartbeat, |c| c.min(heartbeat)))
    }

    /// Sends a ping when the client has been quiet, ends a socket whose pong
    /// is late, and gives up on a close the client does not answer.
    pub fn on_deadline(&mut self, out: &mut Vec<u8>, cx: &WsCx<'_>) -> Step {
        let step = self.heartbeat(out, cx);
        self.hold_while_mid_frame(out);
        step
    }

    fn heartbeat(&mut self, out: &mut Vec<u8>, cx: &WsCx<'_>) -> Step {
        let now = cx.now;
        if self
            .close_deadline
            .is_some_and(|sent| deadline(sent, cx.config.linger_timeout) <= now)
        {
            return Step::Close(CloseReason::Drained);
        }
        if self.socket.shared().is_inbound_full() {
            // We stopped decoding this socket because the application holds
            // its messages: a pong may be waiting unread. That is not the
            // peer's silence, so no ping and no ping_timeout until decoding
            // resumes (a dead peer is still found by TCP keepalive and the
            // user timeout).
            self.last_seen = now;
            self.ping_sent = None;
            return Step::Continue;
        }
        let (interval, pong_timeout) = self.ping_terms(cx.config);
        match self.ping_sent {
            Some(sent) if deadline(sent, pong_timeout) <= now => {
                log::debug!("{} no pong within {pong_timeout:?}", self.socket.id());
                Step::Reset(CloseReason::PingTimeout)
            }
            None if deadline(self.last_seen, interval) <= now && !self.close_sent => {
                encode_frame(out, OP_PING, b"tether");
                self.ping_sent = Some(now);
                Step::Continue
            }
            _ => Step::Continue,
        }
    }

    /// The socket's end: sends fail from now on, and the application gets its
    /// one terminal event. Idempotent.
    pub fn end(&mut self, reason: CloseReason) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.socket.shared().close(reason);
        let reason = self.socket.close_reason().unwrap_or(reason);
        let _ = self
            .events
            .send(WsEvent::closed(self.socket.clone(), reason, self.peer_code));
    }
}

/// The pongs one batch of input owes.
struct Pongs {
    /// Output bytes the connection can still take below its high-water mark.
    room: usize,
    /// Once out of room: the latest ping's payload, answered at the end.
    latest: Option<Vec<u8>>,
}

impl Pongs {
    fn answer(&mut self, out: &mut Vec<u8>, payload: Vec<u8>) {
        // A pong is the payload plus at most a 2-byte header (≤ 125 bytes).
        if self.latest.is_none() && out.len() + payload.len() + 2 <= self.room {
            encode_frame(out, OP_PONG, &payload);
        } else {
            self.latest = Some(payload);
        }
    }

    /// Writes the pending pong (before a close frame, or at the batch's end).
    fn flush(&mut self, out: &mut Vec<u8>) {
        if let Some(payload) = self.latest.take() {
            encode_frame(out, OP_PONG, &payload);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::queue::{channel, Receiver};
    use crate::config::WsBackpressure;
    use crate::ws::events::WsEventKind;
    use crate::ws::handle::tests::socket;
    use std::time::Duration;

    /// A masked ping from the client (mask 0: the payload reads as is).
    const PING: &[u8] = &[0x89, 0x84, 0, 0, 0, 0, b'p', b'i', b'n', b'g'];
    const PONG: &[u8] = &[0x8a, 0x04, b'p', b'i', b'n', b'g'];

    #[test]
    fn control_frames_wait_for_the_frame_in_transit() {
        let ws = socket(1 << 20, WsBackpressure::Fail, u64::MAX);
        let (events, _rx) = channel(None);
        let now = Instant::now();
        let mut session = Session::new(ws.clone(), events, Charge::new(&ws.context.stats), now);
        let config = Config::default();
        let cx = WsCx {
            config: &config,
            now,
        };
        ws.send_binary(&[9; 1000]).unwrap();
        let mut out = Vec::new();
        session.pull(&mut out, 100, now);
        assert_eq!(out.len(), 100, "a slice of the frame");
        out.clear();
        let (used, step, _) = session.on_input(PING, &mut out, 64 * 1024, &cx);
        assert_eq!((used, step), (PING.len(), Step::Continue));
        assert!(out.is_empty(), "no pong inside the frame: {out:?}");
        session.pull(&mut out, 64 * 1024, now);
        assert_eq!(out.len(), 904 + PONG.len());
        assert_eq!(&out[904..], PONG, "the pong right after the frame");
    }

    #[test]
    fn a_drain_mid_frame_finishes_the_frame_before_the_close() {
        let ws = socket(1 << 20, WsBackpressure::Fail, u64::MAX);
        let (events, _rx) = channel(None);
        let now = Instant::now();
        let mut session = Session::new(ws.clone(), events, Charge::new(&ws.context.stats), now);
        ws.send_text(&"x".repeat(1000)).unwrap();
        let mut out = Vec::new();
        session.pull(&mut out, 10, now);
        out.clear();
        assert_eq!(
            session.going_away(&mut out, now),
            Step::Drain(CloseReason::Shutdown)
        );
        assert!(out.is_empty(), "the close waits for the frame");
        session.finish_frames(&mut out);
        assert_eq!(out.len(), 994 + 2 + 2 + "server shutting down".len());
        assert_eq!(out[994], 0x88, "the close frame follows the frame's rest");
    }

    /// A session on a fresh socket, its event receiver, and the config.
    fn session(now: Instant) -> (Session, Receiver<WsEvent>, WebSocket) {
        let ws = socket(1 << 20, WsBackpressure::Fail, u64::MAX);
        let (events, rx) = channel(None);
        let session = Session::new(ws.clone(), events, Charge::new(&ws.context.stats), now);
        (session, rx, ws)
    }

    /// A masked client frame (mask 0: the payload reads as is).
    fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        assert!(payload.len() < 126);
        let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8, 0, 0, 0, 0];
        frame.extend_from_slice(payload);
        frame
    }

    fn cx(config: &Config, now: Instant) -> WsCx<'_> {
        WsCx { config, now }
    }

    #[test]
    fn a_message_becomes_one_event_and_any_bytes_are_proof_of_life() {
        let config = Config::default();
        let t0 = Instant::now();
        let (mut session, rx, _ws) = session(t0);
        let later = t0 + config.ws_ping_interval / 2;
        let input = client_frame(0x1, b"hello");
        let mut out = Vec::new();
        let (used, step, more) = session.on_input(&input, &mut out, 1 << 16, &cx(&config, later));
        assert_eq!((used, step, more), (input.len(), Step::Continue, false));
        assert!(out.is_empty(), "a message needs no reply");
        let event = rx.try_recv().expect("a message event");
        assert!(matches!(event.kind, WsEventKind::Message(Message::Text(ref t)) if t == "hello"));
        let ping_due = later + config.ws_ping_interval;
        assert_eq!(session.next_deadline(&config), Some(ping_due));
    }

    #[test]
    fn an_upgrade_s_own_ping_terms_replace_the_server_s() {
        let config = Config::default();
        let t0 = Instant::now();
        let (session, _rx, _ws) = session(t0);
        let (interval, pong) = (Duration::from_secs(1), Duration::from_millis(500));
        let mut session = session.with_ping(Some((interval, pong)));
        assert!(
            interval < config.ws_ping_interval,
            "shorter than the server's"
        );
        assert_eq!(session.next_deadline(&config), Some(t0 + interval));
        let mut out = Vec::new();
        let due = t0 + interval;
        assert_eq!(
            session.on_deadline(&mut out, &cx(&config, due)),
            Step::Continue
        );
        assert_eq!(out[0], 0x89, "a ping at the socket's own interval");
        assert_eq!(session.next_deadline(&config), Some(due + pong));
        assert_eq!(
            session.on_deadline(&mut out, &cx(&config, due + pong)),
            Step::Reset(CloseReason::PingTimeout)
        );
        // A zero half keeps the server's setting.
        let (session, _rx, _ws) = self::session(t0);
        let session = session.with_ping(Some((Duration::ZERO, pong)));
        assert_eq!(
            session.next_deadline(&config),
            Some(t0 + config.ws_ping_interval)
        );
    }

    #[test]
    fn a_quiet_client_is_pinged_then_reset_when_no_pong_comes() {
        let config = Config::default();
        let t0 = Instant::now();
        let (mut session, _rx, _ws) = session(t0);
        let mut out = Vec::new();
        let early = t0 + config.ws_ping_interval - Duration::from_millis(1);
        assert_eq!(
            session.on_deadline(&mut out, &cx(&config, early)),
            Step::Continue
        );
        assert!(out.is_empty(), "no ping before the interval");
        let due = t0 + config.ws_ping_interval;
        assert_eq!(
            session.on_deadline(&mut out, &cx(&config, due)),
            Step::Continue
        );
        assert_eq!(out[0], 0x89, "a ping");
        assert_eq!(
            session.next_deadline(&config),
            Some(due + config.ws_pong_timeout)
        );
        out.clear();
        let late = due + config.ws_pong_timeout;
        assert_eq!(
            session.on_deadline(&mut out, &cx(&config, late)),
            Step::Reset(CloseReason::PingTimeout)
        );
    }

    #[test]
    fn a_pong_in_time_keeps_the_socket() {
        let config = Config::default();
        let t0 = Instant::now();
        let (mut session, _rx, _ws) = session(t0);
        let mut out = Vec::new();
        let due = t0 + config.ws_ping_interval;
        session.on_deadline(&mut out, &cx(&config, due));
        let pong = client_frame(0xA, b"tether");
        session.on_input(&pong, &mut out, 1 << 16, &cx(&config, due));
        let late = due + config.ws_pong_timeout;
        out.clear();
        assert_eq!(
            session.on_deadline(&mut out, &cx(&config, late)),
            Step::Continue
        );
        assert!(out.is_empty(), "the next ping waits a whole interval");
    }

    #[test]
    fn pings_past_the_room_get_only_the_latest_answered() {
        let config = Config::default();
        let now = Instant::now();
        let (mut session, _rx, _ws) = session(now);
        let input: Vec<u8> = (0..10u8).flat_map(|i| client_frame(0x9, &[i])).collect();
        let mut out = Vec::new();
        // Room for three pongs of three bytes each.
        session.on_input(&input, &mut out, 9, &cx(&config, now));
        let expected: Vec<u8> = [0u8, 1, 2, 9]
            .iter()
            .flat_map(|i| [0x8a, 0x01, *i])
            .collect();
        assert_eq!(out, expected, "three in room, then only the latest");
    }

    #[test]
    fn the_clients_close_is_echoed_with_its_code_and_ends_with_one_event() {
        let config = Config::default();
        let now = Instant::now();
        let (mut session, rx, ws) = session(now);
        let close = client_frame(0x8, &[0x0f, 0xa0]); // 4000
        let mut out = Vec::new();
        let (_, step, _) = session.on_input(&close, &mut out, 1 << 16, &cx(&config, now));
        assert_eq!(step, Step::Drain(CloseReason::PeerClosed));
        assert_eq!(out, [0x88, 0x02, 0x0f, 0xa0], "the close echoed with 4000");
        session.end(CloseReason::PeerClosed);
        session.end(CloseReason::Shutdown);
        let event = rx.try_recv().expect("the closed event");
        assert!(matches!(
            event.kind,
            WsEventKind::Closed {
                reason: CloseReason::PeerClosed,
                code: Some(4000)
            }
        ));
        assert!(rx.try_recv().is_err(), "one terminal event");
        assert!(ws.send_text("late").is_err(), "sends fail once ended");
    }

    #[test]
    fn our_close_unanswered_ends_after_the_linger_timeout() {
        let config = Config::default();
        let now = Instant::now();
        let (mut session, rx, _ws) = session(now);
        let mut out = Vec::new();
        assert_eq!(
            session.going_away(&mut out, now),
            Step::Drain(CloseReason::Shutdown)
        );
        assert_eq!(&out[..4], [0x88, 22, 0x03, 0xe9], "1001 and its reason");
        // Data after our close is discarded (RFC 6455 §5.5.1).
        let text = client_frame(0x1, b"late");
        out.clear();
        session.on_input(&text, &mut out, 1 << 16, &cx(&config, now));
        assert!(rx.try_recv().is_err(), "no event after our close");
        let gone = now + config.linger_timeout;
        assert_eq!(
            session.on_deadline(&mut out, &cx(&config, gone)),
            Step::Close(CloseReason::Drained)
        );
    }

    #[test]
    fn an_unmasked_frame_is_a_protocol_error_closed_with_1002() {
        let config = Config::default();
        let now = Instant::now();
        let (mut session, _rx, _ws) = session(now);
        let unmasked = [0x81, 0x02, b'h', b'i'];
        let mut out = Vec::new();
        let (_, step, _) = session.on_input(&unmasked, &mut out, 1 << 16, &cx(&config, now));
        assert_eq!(step, Step::Drain(CloseReason::ProtocolError));
        assert_eq!(&out[..4], [0x88, out[1], 0x03, 0xea], "1002");
    }
}
