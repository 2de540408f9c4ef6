//! One connection: its phase, its flags, its buffers, and every transition.
//!
//! # The files
//!
//! Top to bottom: a file calls only files below it, and files on one row
//! never call each other (`scripts/conn_calls.py` checks it in CI).
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | the entry points (`on_event`, `drive`, `write_out` and its `pull_output`, `on_update`, `on_deadline`, `begin_shutdown`) |
//! | `h1.rs`, `lifecycle.rs` | HTTP/1.1: parse → dispatch → hand-off → the worker's reply; settling after I/O, lingering close, deadlines, shutdown |
//! | `upload.rs`, `stream.rs`, `ws.rs` | a streamed request body fed into its pipe; streaming responses; WebSocket upgrade and session plumbing |
//! | `respond.rs` | refusals, the server's own errors, and queueing a response against the memory budget |
//! | `io.rs` | reads, writes, the output buffer and its charge, deliveries; reports outcomes, never decides |
//! | `close.rs` | `close`, `reset`, what the peer's FIN and the socket's errors say happened, and acting on a read's outcome |
//! | `state.rs` | [`Connection`], [`Phase`] with each phase's data, every transition, and the counters that follow them |
//! | `cx.rs`, `flags.rs`, `rate.rs`, `transport.rs` | [`Cx`], what the reactor lends a connection while it works; [`Flags`], the bits that hold in any phase; a request body's rate, judged window by window; the [`Transport`] trait and [`Readiness`] |
//! | `socket.rs`, `tls.rs` | [`Socket`], the plain-or-TLS transport the reactor's slab holds; TLS as a transport (feature `tls`) |
//! | `tests/` | the machine driven over a scripted transport, without sockets, a poll or a real clock |
//!
//! # The state
//!
//! A connection is in exactly one phase. `response_pending` (Mongoose's
//! `is_resp`) *is* the phase `ResponsePending`; `draining` (Mongoose's
//! `is_draining`: flush, then close) is the field `drain`, holding why. Other
//! bits live in [`Flags`]. Only the methods in `state.rs` change the phase or
//! `drain`, and each logs the transition at `trace`.
//!
//! # Reading never stops
//!
//! The socket stays registered for readability and hangup for the whole life
//! of the connection — while a response is pending, while a body or
//! pipelined bytes wait, while the input buffer is full. A full buffer only
//! means the next read is deferred (`READ_READY` stays set); a reset still
//! arrives as EPOLLERR and is taken from `SO_ERROR`, and a FIN under the
//! abort policy is confirmed by reading and discarding.

mod close;
mod cx;
mod flags;
mod h1;
mod io;
mod lifecycle;
mod rate;
mod respond;
mod socket;
mod state;
mod stream;
#[cfg(test)]
mod tests;
#[cfg(feature = "tls")]
mod tls;
mod transport;
mod upload;
mod ws;

use self::close::Flush;
pub(crate) use self::cx::{Cx, StallWatch};
use self::flags::Flags;
use self::h1::Parsed;
pub(crate) use self::socket::Socket;
pub(crate) use self::state::Connection;
use self::state::Phase;
#[cfg(feature = "tls")]
pub(crate) use self::tls::TlsSocket;
pub(crate) use self::transport::{Readiness, Transport};
use crate::reason::CloseReason;

/// Reads per connection per turn.
const READS_PER_TURN: usize = 4;
/// Output refills (of up to the high-water mark each) per turn: 1 MiB
/// before other connections get a go.
const REFILLS_PER_TURN: usize = 16;

impl<T: Transport> Connection<T> {
    /// Handles a readiness event. Returns true when the connection wants
    /// another turn (a budget ran out).
    pub fn on_event(&mut self, event: Readiness, cx: &mut Cx<'_>) -> bool {
        if event.error {
            // EPOLLERR is a hint; SO_ERROR says what happened.
            match self.io.take_error() {
                Ok(Some(err)) => {
                    let reason = self.reason_after(self.peer_error(&err));
                    self.close(reason, cx);
                    return false;
                }
                Ok(None) => {}
                Err(err) => {
                    self.close(self.peer_error(&err), cx);
                    return false;
                }
            }
        }
        if event.writable {
            self.flags.insert(Flags::WRITABLE);
        }
        if event.readable || event.read_closed {
            self.flags.insert(Flags::READ_READY);
        }
        if event.read_closed {
            self.flags.insert(Flags::HUP_HINT);
        }
        let wants_turn = self.drive(cx);
        if event.read_closed && event.write_closed && !self.is_closed() {
            // EPOLLHUP: both directions are gone, so nothing we write can
            // arrive, whatever the half-close policy.
            let reason = self.reason_after(CloseReason::PeerHangup);
            self.close(reason, cx);
            return false;
        }
        wants_turn
    }

    /// Does what can be done now: write, read, parse, dispatch, write again.
    /// Returns true when it stopped on a budget and wants another turn.
    pub fn drive(&mut self, cx: &mut Cx<'_>) -> bool {
        let mut more_output = self.write_out(cx);
        let mut more_input = false;
        for _ in 0..READS_PER_TURN {
            if self.is_closed() {
                return false;
            }
            let read = self.read(cx);
            let read = self.after_read(read, cx);
            if self.is_closed() {
                // A FIN or an error ended it: nothing left to parse or write.
                return false;
            }
            let parsed = self.process_input(cx);
            more_output = self.write_out(cx);
            // A flush that emptied the output frees the parsing it held
            // back; no writable event would come to resume it.
            more_input = parsed == Parsed::MoreWaiting
                || (parsed == Parsed::HeldBack && !self.is_output_held_back());
            if !read && !more_input {
                break;
            }
        }
        self.after_io(cx);
        self.trim_read_ahead(cx.config);
        !self.is_closed() && (more_input || more_output || self.can_read(cx.config))
    }

    /// Writes, refilling the output from a stream or WebSocket queue as the
    /// kernel takes it: a socket that takes everything sends no writable
    /// event, so what is still queued would wait for the producer's next
    /// send. True when it stopped with more to pull (another turn, so other
    /// connections get theirs first).
    fn write_out(&mut self, cx: &mut Cx<'_>) -> bool {
        for _ in 0..REFILLS_PER_TURN {
            let pulled = self.pull_output(cx);
            if let Flush::Failed(reason) = self.flush(cx) {
                self.close(reason, cx);
            }
            if !pulled || self.is_closed() || !self.flags.contains(Flags::WRITABLE) {
                return false;
            }
        }
        true
    }

    /// Moves what a streaming response's producer or a WebSocket's
    /// application queued into the output, while it has room. True when it
    /// queued bytes.
    fn pull_output(&mut self, cx: &mut Cx<'_>) -> bool {
        match self.phase {
            Phase::Streaming { .. } => self.pull_stream(cx),
            Phase::WebSocket(_) => self.pull_ws(cx),
            _ => false,
        }
    }

    /// A deadline may have passed: act on whichever did.
    pub fn on_deadline(&mut self, cx: &mut Cx<'_>) -> bool {
        self.expire(cx) && self.drive(cx)
    }

    /// The server is shutting down: close now if nothing is owed, otherwise
    /// drain (what is owed is finished, then the connection closes).
    pub fn begin_shutdown(&mut self, cx: &mut Cx<'_>) -> bool {
        self.shut_down(cx) && self.drive(cx)
    }

    /// A worker's exchange or stream has news: take its response, its drop,
    /// its stream, or parts to send.
    pub fn on_update(&mut self, cx: &mut Cx<'_>) -> bool {
        if matches!(self.phase, Phase::Streaming { .. } | Phase::WebSocket(_)) {
            return self.drive(cx);
        }
        self.take_requested_deadline();
        // A worker reading a streamed body made room in its pipe.
        if !self.take_reply(cx) && !self.is_uploading() {
            return false;
        }
        self.drive(cx)
    }
}
