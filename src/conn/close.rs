//! How a connection ends: `close` and `reset`, what the peer's FIN and the
//! socket's errors say happened, and acting on what a read brought (io.rs
//! reports it in a [`Read`]). Directly above `state.rs`; every other file
//! calls down into it and none of it calls up.

use super::cx::Cx;
use super::flags::Flags;
use super::state::{Connection, Phase};
use super::transport::Transport;
use crate::config::HalfClosePolicy;
use crate::handle::exchange_shared::Undelivered;
use crate::reason::CloseReason;

/// What a read brought. The reader reports; its caller decides.
#[derive(Debug)]
pub(super) enum Read {
    /// Bytes taken into the input.
    Bytes(usize),
    /// Bytes read and thrown away: draining, lingering, or looking for a
    /// FIN behind a full buffer.
    Discarded(usize),
    /// Nothing to take now: none signalled, the socket drained, or the
    /// input full (the read waits: `READ_READY` stays set).
    WouldBlock,
    /// The peer sent FIN: a read returned zero bytes.
    Fin,
    /// The socket failed, for this reason.
    Failed(CloseReason),
}

/// What a flush did. The writer reports; its caller decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flush {
    /// Nothing owed is left.
    Done,
    /// Output waits: the socket is full (or not yet writable).
    Blocked,
    /// The socket failed, for this reason.
    Failed(CloseReason),
}

impl<T: Transport> Connection<T> {
    /// Ends the connection now. Wakes the worker holding its exchange and
    /// hands back every response not yet written. Idempotent.
    pub fn close(&mut self, reason: CloseReason, cx: &mut Cx<'_>) {
        if self.is_closed() {
            return;
        }
        if reason.is_peer_gone() && self.is_response_pending() {
            log::debug!("{} client gone: {reason}; telling the worker", self.id);
        } else if reason.is_peer_gone() {
            log::debug!(
                "{} client gone: {reason} (in {})",
                self.id,
                self.phase.name()
            );
        } else {
            log::debug!("{} closing: {reason} (in {})", self.id, self.phase.name());
        }
        // An idle connection we end is a clean end for the client, not a
        // cut: it owes nothing and is owed nothing.
        let between_exchanges = matches!(self.phase, Phase::ReadingHead { started: None });
        if between_exchanges
            && matches!(reason, CloseReason::IdleTimeout | CloseReason::Shutdown)
            && !self.has_output()
        {
            self.io.say_goodbye();
        }
        match self.enter_closed(reason, cx) {
            Phase::ResponsePending { link, upload, .. } => {
                link.close(reason);
                if let Some(upload) = upload {
                    upload.shared.close(reason);
                }
            }
            Phase::Streaming { stream, .. } => stream.close(reason),
            Phase::WebSocket(mut session) => session.end(reason),
            _ => {}
        }
        self.discard_io(reason, cx);
    }

    /// Ends the connection with a reset: for a client that will not read.
    pub(super) fn reset(&mut self, reason: CloseReason, cx: &mut Cx<'_>) {
        self.io.reset_on_close();
        self.close(reason, cx);
    }

    /// The peer sent FIN (a read returned zero bytes).
    pub(super) fn peer_finished(&mut self, cx: &mut Cx<'_>) {
        self.flags.remove(Flags::READ_READY | Flags::HUP_HINT);
        match (&self.phase, cx.config.half_close) {
            (Phase::Lingering { reason, .. }, _) => {
                let reason = *reason;
                self.close(reason, cx)
            }
            (_, HalfClosePolicy::Abort) => self.close(CloseReason::PeerClosed, cx),
            (_, HalfClosePolicy::Finish) => {
                log::debug!(
                    "{} client half-closed; finishing what was received",
                    self.id
                );
                self.flags.insert(Flags::READ_CLOSED);
            }
        }
    }

    /// What an error the socket reported says the peer did. Linux reports
    /// an RST that follows the peer's FIN (CLOSE_WAIT) as `EPIPE`. Unless we
    /// had already taken that FIN (the `Finish` policy, where a reset is a
    /// later act of its own), the peer's first act was an orderly close and
    /// the RST only answered bytes we wrote after it: `peer_closed`.
    pub(super) fn peer_error(&self, err: &std::io::Error) -> CloseReason {
        match CloseReason::from_read_error(err) {
            CloseReason::PeerReset
                if err.kind() == std::io::ErrorKind::BrokenPipe
                    && !self.flags.contains(Flags::READ_CLOSED) =>
            {
                // Over TLS, a FIN without close_notify is a truncation.
                self.io.orderly_close()
            }
            other => self.unless_output_owed(other, err),
        }
    }

    /// A kernel timeout (`ETIMEDOUT`) while our output waits on the client
    /// ended bytes the client did not take — its window held shut (a live
    /// slow reader) or the client gone; keepalive probes, which would mean
    /// "gone", only run when nothing is outstanding. Our output made no
    /// progress: `write_stall`, not `keepalive_failed`.
    pub(super) fn unless_output_owed(
        &self,
        reason: CloseReason,
        err: &std::io::Error,
    ) -> CloseReason {
        if reason == CloseReason::KeepaliveFailed
            && err.kind() == std::io::ErrorKind::TimedOut
            && self.has_output()
            && !self.flags.contains(Flags::WRITABLE)
        {
            CloseReason::WriteStall
        } else {
            reason
        }
    }

    /// While lingering, the response is already out: the lingering reason
    /// stands whatever the client does next.
    pub(super) fn reason_after(&self, peer_reason: CloseReason) -> CloseReason {
        match self.phase {
            Phase::Lingering { reason, .. } => reason,
            _ => peer_reason,
        }
    }

    /// Drops every buffer and hands back every response not fully written:
    /// the connection has ended.
    pub(super) fn discard_io(&mut self, reason: CloseReason, cx: &mut Cx<'_>) {
        for delivery in self.deliveries.drain(..) {
            delivery.link.settle(Err(Undelivered {
                response: delivery.response,
                reason,
            }));
        }
        self.input.clear();
        self.input.release_if_empty(cx.pool);
        self.output.clear();
        self.output_pos = 0;
        self.output_charge = None;
        cx.pool.give(std::mem::take(&mut self.output));
    }

    /// Acts on what a read brought: a FIN or a failure ends the connection
    /// (or, under the `Finish` policy, its input). True when bytes came.
    pub(super) fn after_read(&mut self, read: Read, cx: &mut Cx<'_>) -> bool {
        // A read changes neither the phase nor `drain`: this is what the
        // read saw.
        let discarding = self.is_discarding();
        match read {
            Read::Discarded(n) if !discarding => {
                // Bytes stood between us and a hangup hint's FIN: pipelined
                // input we can no longer parse in order. The client has gone.
                log::debug!(
                    "{} hangup hint without FIN behind a full buffer ({n} bytes dropped)",
                    self.id
                );
                self.close(CloseReason::PeerClosed, cx);
                true
            }
            Read::Bytes(n) | Read::Discarded(n) => n > 0,
            Read::WouldBlock => false,
            Read::Fin => {
                self.peer_finished(cx);
                false
            }
            Read::Failed(reason) => {
                self.close(reason, cx);
                false
            }
        }
    }
}
