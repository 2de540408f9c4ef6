//! The end of a connection's life and its clocks: finishing a drain with a
//! lingering close, every deadline (head, body, idle, response, write stall,
//! heartbeats, linger), and graceful shutdown.

use std::time::{Duration, Instant};

use super::cx::Cx;
use super::flags::Flags;
use super::state::Connection;
use super::state::Phase;
use super::transport::Transport;
use crate::config::Config;
use crate::proto::encode;
use crate::reason::CloseReason;
use crate::time::deadline;

impl<T: Transport> Connection<T> {
    /// After I/O: finish draining, finish a half-closed connection, give
    /// back idle buffers.
    pub(super) fn after_io(&mut self, cx: &mut Cx<'_>) {
        if self.is_closed() {
            return;
        }
        let draining = self.is_draining();
        let held_back = self.is_output_held_back();
        if let Phase::ReadingHead { started } = &mut self.phase {
            if held_back {
                // Parsing waits for the client to read what we owe it: the
                // heads in our buffer wait on us, not on the client. The
                // write stall judges a client that never reads.
                *started = None;
            } else if started.is_none() && !self.input.is_empty() && !draining {
                // The head timer starts only for a head left incomplete: a
                // request that arrives whole arms nothing (no timer churn on
                // the keep-alive path).
                *started = Some(cx.now);
            }
        }
        let flushed = !self.has_output();
        if let (Some(reason), true, true) = (self.drain, self.is_reading_head(), flushed) {
            // Everything owed is out: shut our write side (FIN) and linger.
            self.linger(reason, cx);
            return;
        }
        if self.is_uploading() && self.flags.contains(Flags::READ_CLOSED) && self.input.is_empty() {
            // Half-closed mid-body: the body can never be complete.
            self.close(CloseReason::PeerClosed, cx);
            return;
        }
        if matches!(
            self.phase,
            Phase::ReadingHead { .. } | Phase::ReadingBody { .. }
        ) && self.flags.contains(Flags::READ_CLOSED)
            && flushed
        {
            // Half-closed client, everything it sent is answered (what
            // is left is at most a partial request that cannot complete).
            self.close(CloseReason::PeerClosed, cx);
            return;
        }
        self.input.release_if_empty(cx.pool);
    }

    /// Shuts our write side and reads what the client still sends until it
    /// closes or `linger_timeout` passes, so it reads our last response
    /// rather than a reset.
    fn linger(&mut self, reason: CloseReason, cx: &mut Cx<'_>) {
        self.start_lingering(reason, deadline(cx.now, cx.config.linger_timeout));
        if let Err(err) = self.io.shutdown_write() {
            log::debug!("{} shutdown failed: {err}", self.id);
            self.close(reason, cx);
            return;
        }
        if self.flags.contains(Flags::READ_CLOSED) {
            // The client already finished sending; nothing to wait for.
            self.close(reason, cx);
            return;
        }
        // Unread bytes (or the FIN) already signalled are read now;
        // anything later brings its own edge-triggered event.
        if self.flags.contains(Flags::READ_READY) {
            let read = self.read_discard(cx);
            self.after_read(read, cx);
        }
        if !self.is_closed() {
            self.input.release_if_empty(cx.pool);
        }
    }

    /// Time for the head from its start: while a TLS handshake is still
    /// going, no more than `handshake_timeout` of it.
    fn head_allowance(&self, config: &Config) -> Duration {
        if self.io.is_handshaking() {
            config.head_timeout.min(config.handshake_timeout)
        } else {
            config.head_timeout
        }
    }

    /// The earliest instant at which [`Connection::on_deadline`] has
    /// something to do.
    pub fn next_deadline(&self, config: &Config) -> Option<Instant> {
        let stall = self
            .has_output()
            .then(|| deadline(self.last_write, config.write_stall_timeout));
        let phase = match &self.phase {
            Phase::ReadingHead { .. } if self.is_draining() => None,
            Phase::ReadingHead { started } => match started {
                Some(started) => Some(deadline(*started, self.head_allowance(config))),
                None if !self.has_output() => Some(deadline(self.idle_since, config.idle_timeout)),
                None => None,
            },
            Phase::ReadingBody { rate, .. } => {
                let stalled = deadline(self.last_read, config.body_timeout);
                Some(rate.due(config).map_or(stalled, |due| due.min(stalled)))
            }
            Phase::ResponsePending {
                deadline: due,
                upload,
                ..
            } => {
                // A streamed body must keep arriving, unless the worker is
                // the one behind.
                let body = upload
                    .as_ref()
                    .filter(|upload| !upload.waiting_for_worker)
                    .map(|_| deadline(self.last_read, config.body_timeout));
                Some(body.map_or(*due, |body| body.min(*due)))
            }
            // A client that stops reading is caught by the write stall; a
            // quiet stream gets heartbeats if it asked for them.
            Phase::Streaming {
                stream, last_part, ..
            } => stream.heartbeat().map(|h| deadline(*last_part, h.every)),
            Phase::WebSocket(session) => session.next_deadline(config),
            Phase::Lingering { deadline, .. } => Some(*deadline),
            Phase::Closed(_) => return None,
        };
        match (stall, phase) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A deadline may have passed: acts on whichever did. True when what
    /// it did wants the connection driven (output to write).
    pub(super) fn expire(&mut self, cx: &mut Cx<'_>) -> bool {
        let now = cx.now;
        let config = cx.config;
        if self.has_output() && deadline(self.last_write, config.write_stall_timeout) <= now {
            log::debug!("{} write stalled; resetting", self.id);
            self.reset(CloseReason::WriteStall, cx);
            return false;
        }
        if matches!(self.phase, Phase::Streaming { .. }) {
            return self.stream_heartbeat(cx);
        }
        let stalled = deadline(self.last_read, config.body_timeout) <= now;
        if !stalled && self.body_too_slow(now, config) {
            log::debug!("{} request body below the minimum rate; 408", self.id);
            self.refuse(408, "request body too slow", CloseReason::BodyTooSlow, cx);
            return true;
        }
        match &self.phase {
            Phase::WebSocket(_) => {
                self.ws_deadline(cx);
                return true;
            }
            Phase::ResponsePending { deadline, .. } if *deadline <= now => {
                log::debug!("{} response timeout; answering 503", self.id);
                if let Some((link, info)) = self.end_response_pending(cx) {
                    link.close(CloseReason::ResponseTimeout);
                    self.start_draining(CloseReason::ResponseTimeout);
                    let response = encode::error_response(503, "response timed out");
                    self.queue_response(&response, info, cx);
                }
                return true;
            }
            Phase::ResponsePending {
                upload: Some(upload),
                ..
            } if !upload.waiting_for_worker
                && deadline(self.last_read, config.body_timeout) <= now =>
            {
                log::debug!("{} streamed body stalled", self.id);
                self.close(CloseReason::BodyTimeout, cx);
            }
            Phase::ReadingHead { started } if !self.is_draining() => {
                if started.is_some_and(|s| deadline(s, self.head_allowance(config)) <= now) {
                    // A TLS client still in its handshake never began a
                    // request: say which it was.
                    let reason = if self.io.is_handshaking() {
                        CloseReason::HandshakeTimeout
                    } else {
                        CloseReason::HeadTimeout
                    };
                    self.close(reason, cx);
                } else if started.is_none()
                    && !self.has_output()
                    && deadline(self.idle_since, config.idle_timeout) <= now
                {
                    self.close(CloseReason::IdleTimeout, cx);
                }
            }
            Phase::ReadingBody { .. } if deadline(self.last_read, config.body_timeout) <= now => {
                self.close(CloseReason::BodyTimeout, cx);
            }
            Phase::Lingering { reason, deadline } if *deadline <= now => {
                let reason = *reason;
                self.close(reason, cx);
            }
            _ => {}
        }
        false
    }

    /// Judges the body's rate window if it is due: true when it brought
    /// less than `min_body_rate` (a window that passes starts the next).
    fn body_too_slow(&mut self, now: Instant, config: &Config) -> bool {
        let Phase::ReadingBody { request, rate, .. } = &mut self.phase else {
            return false;
        };
        rate.due(config).is_some_and(|due| due <= now)
            && !rate.judge(request.body.len(), now, config)
    }

    /// The server is shutting down: close now if nothing is owed, otherwise
    /// drain (what is owed is finished, then the connection closes). True
    /// when the connection wants driving to finish it.
    pub(super) fn shut_down(&mut self, cx: &mut Cx<'_>) -> bool {
        match self.phase {
            Phase::ReadingHead { .. } | Phase::ReadingBody { .. } if !self.has_output() => {
                self.close(CloseReason::Shutdown, cx);
                false
            }
            Phase::ReadingBody { .. } => {
                self.end_body();
                self.start_draining(CloseReason::Shutdown);
                true
            }
            Phase::Closed(_) | Phase::Lingering { .. } => false,
            Phase::WebSocket(_) => {
                self.ws_going_away(cx);
                true
            }
            Phase::ResponsePending {
                upload: Some(_), ..
            } => {
                // What is left of a streamed body will not be read.
                if let Phase::ResponsePending { upload, .. } = &mut self.phase {
                    if let Some(upload) = upload.take() {
                        upload.shared.fail("the server is shutting down");
                    }
                }
                self.start_draining(CloseReason::Shutdown);
                true
            }
            Phase::Streaming { .. } => {
                // Producers stop now; what is queued is still written.
                self.stop_stream(CloseReason::Shutdown, cx);
                true
            }
            _ => {
                self.start_draining(CloseReason::Shutdown);
                true
            }
        }
    }
}
