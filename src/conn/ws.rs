//! A WebSocket on a connection: the upgrade, frames in through the session,
//! the application's frames out, and carrying out what the session decides.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::cx::Cx;
use super::state::Connection;
use super::state::Phase;
use super::transport::Transport;
use crate::proto::encode;
use crate::proto::parse::HeadInfo;
use crate::proto::request::Request;
use crate::reason::CloseReason;
use crate::stats::Counters;
use crate::ws::events::WsEvent;
use crate::ws::handle::{WebSocket, WsShared};
use crate::ws::handshake::respond as handshake_response;
use crate::ws::session::{Session, Step};
use crate::ws::{Upgrade, DEFAULT_WS_EVENTS};

impl<T: Transport> Connection<T> {
    /// Completes a WebSocket handshake (or refuses it) and enters `WebSocket`.
    pub(super) fn upgrade(
        &mut self,
        request: &mut Request,
        info: HeadInfo,
        upgrade: Upgrade,
        cx: &mut Cx<'_>,
    ) {
        let stream = upgrade.events.as_deref().unwrap_or(DEFAULT_WS_EVENTS);
        let Some(events) = cx.ws_events.get(stream) else {
            log::error!(
                "{} handler upgraded to event stream {stream:?}, which the server did not declare; answering 500",
                self.id
            );
            return self.answer_server_error(info, cx);
        };
        let events = events.clone();
        let response =
            match handshake_response(request, upgrade.protocol.as_deref(), &upgrade.origins) {
                Ok(response) => response,
                Err(refusal) => {
                    log::debug!(
                        "{} refused WebSocket upgrade: {}",
                        self.id,
                        refusal.status()
                    );
                    self.start_draining(CloseReason::BadRequest);
                    self.queue_response(&refusal, info, cx);
                    return;
                }
            };
        let pending = cx.stats.ws_events_pending.load(Ordering::Relaxed);
        if pending >= cx.config.ws_max_pending_events as u64 {
            // The application is not taking events: a new socket would only
            // add to them. Refused like a full hand-off queue.
            Counters::incr(&cx.stats.ws_refused);
            log::debug!(
                "{} {pending} WebSocket events pending; answering 503",
                self.id
            );
            self.start_draining(CloseReason::Drained);
            let refusal = encode::error_response(503, "server busy");
            self.queue_response(&refusal, info, cx);
            return;
        }
        let response = upgrade
            .headers
            .into_iter()
            .fold(response, |response, (name, value)| {
                response.with_checked_header(name, value)
            });
        self.queue_response(&response, info, cx);
        let config = cx.config;
        let shared = Arc::new(WsShared::new(
            (config.ws_max_inbound_messages, config.ws_max_pending_events),
            config.ws_send_budget_bytes,
            config.ws_backpressure,
            config.memory_budget_bytes as u64,
            cx.context.stats.clone(),
        ));
        let context = Arc::clone(cx.context);
        let origin = (request.path(), request.captures.clone());
        let socket = WebSocket::new(shared, context, self.id, origin, upgrade.value);
        let _ = events.send(WsEvent::open(socket.clone(), std::mem::take(request)));
        let charge = self.charge(cx);
        let session = Session::new(socket, events, charge, cx.now).with_ping(upgrade.ping);
        self.start_websocket(session, cx);
    }

    /// Feeds buffered input to the WebSocket session. True when a budget
    /// stopped it.
    pub(super) fn ws_input(&mut self, cx: &mut Cx<'_>) -> bool {
        let room = self.output_room();
        let Phase::WebSocket(session) = &mut self.phase else {
            return false;
        };
        let mut out = Vec::new();
        let (used, step, more) = session.on_input(self.input.data(), &mut out, room, &cx.ws());
        self.input.consume(used);
        self.queue_bytes(&out, cx);
        self.apply_ws_step(step, cx);
        more && !self.is_draining() && !self.is_closed()
    }

    /// Moves the application's queued frames into the output while it has
    /// room. True when it queued bytes.
    pub(super) fn pull_ws(&mut self, cx: &mut Cx<'_>) -> bool {
        let room = self.output_room();
        let Phase::WebSocket(session) = &mut self.phase else {
            return false;
        };
        if room == 0 {
            return false;
        }
        let mut out = Vec::new();
        let step = session.pull(&mut out, room, cx.now);
        self.queue_bytes(&out, cx);
        self.apply_ws_step(step, cx);
        !out.is_empty()
    }

    /// Heartbeats and the closing handshake's deadline.
    pub(super) fn ws_deadline(&mut self, cx: &mut Cx<'_>) {
        self.session_step(cx, |session, out, cx| session.on_deadline(out, &cx.ws()));
    }

    /// The server shuts down: a 1001 close frame, then drain.
    pub(super) fn ws_going_away(&mut self, cx: &mut Cx<'_>) {
        self.session_step(cx, |session, out, cx| session.going_away(out, cx.now));
    }

    /// Lets the session act, queues the frames it wrote, and carries out
    /// what it decided.
    fn session_step(
        &mut self,
        cx: &mut Cx<'_>,
        act: impl FnOnce(&mut Session, &mut Vec<u8>, &Cx<'_>) -> Step,
    ) {
        let Phase::WebSocket(session) = &mut self.phase else {
            return;
        };
        let mut out = Vec::new();
        let step = act(session, &mut out, cx);
        self.queue_bytes(&out, cx);
        self.apply_ws_step(step, cx);
    }

    /// Carries out what a WebSocket session decided.
    fn apply_ws_step(&mut self, step: Step, cx: &mut Cx<'_>) {
        match step {
            Step::Continue => {}
            Step::Drain(reason) => {
                if let Some(mut session) = self.end_websocket(cx) {
                    let mut out = Vec::new();
                    session.finish_frames(&mut out);
                    self.queue_bytes(&out, cx);
                    session.end(reason);
                }
                self.start_draining(reason);
            }
            Step::Close(reason) => self.close(reason, cx),
            Step::Reset(reason) => self.reset(reason, cx),
        }
    }
}
