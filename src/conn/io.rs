//! A connection's I/O: reads into the input buffer, the output buffer and
//! its writes, and the deliveries that tell a worker its response reached
//! the kernel. What HTTP/1 and WebSocket both use lives here, beneath both.

use std::io;
use std::sync::Arc;

use super::close::{Flush, Read};
use super::cx::Cx;
use super::flags::Flags;
use super::state::{Connection, Unsettled, OUTPUT_HIGH_WATER_BYTES};
use super::transport::Transport;
use crate::budget::Charge;
use crate::buffer::BUFFER_BYTES;
use crate::config::{Config, HalfClosePolicy};
use crate::handle::exchange_shared::ExchangeShared;
use crate::proto::encode::Persistence;
use crate::proto::request::Version;
use crate::proto::response::Response;
use crate::reason::CloseReason;

/// Bytes read and thrown away per turn while draining or lingering.
const DISCARD_BYTES_PER_TURN: usize = 64 * 1024;
/// Output any connection may hold without asking the memory budget: one
/// response of up to the high-water mark queued behind a full mark (parsing
/// pauses at the mark, so only a larger response passes this).
const OUTPUT_FLOOR_BYTES: usize = 2 * OUTPUT_HIGH_WATER_BYTES;

/// Input any connection may hold without asking the memory budget.
fn read_floor(config: &Config) -> usize {
    BUFFER_BYTES
        .max(config.max_head_bytes)
        .min(config.max_buffered_bytes)
}

impl<T: Transport> Connection<T> {
    /// The socket may hold bytes we can take now.
    pub(super) fn can_read(&self, config: &Config) -> bool {
        let room = if self.flags.contains(Flags::READ_AHEAD_HELD) {
            read_floor(config)
        } else {
            config.max_buffered_bytes
        };
        self.flags.contains(Flags::READ_READY)
            && !self.flags.contains(Flags::READ_CLOSED)
            && !self.is_closed()
            && (self.is_discarding() || self.input.len() < room)
    }

    // ---- reading ----

    /// One read, if the socket may have bytes: says what it brought and
    /// leaves what to do about it to the caller.
    pub(super) fn read(&mut self, cx: &mut Cx<'_>) -> Read {
        if !self.flags.contains(Flags::READ_READY) || self.flags.contains(Flags::READ_CLOSED) {
            return Read::WouldBlock;
        }
        if self.is_discarding() {
            return self.read_discard(cx);
        }
        // Full: the buffer is at its limit, or at the floor while the memory
        // budget holds reading ahead.
        let limit = self.read_limit(cx);
        let paused = self.input.len() >= limit;
        if paused
            && self.flags.contains(Flags::HUP_HINT)
            && cx.config.half_close == HalfClosePolicy::Abort
        {
            // The peer may have gone: look for its FIN behind the full
            // buffer (what comes first is thrown away: `Discarded`).
            return self.read_discard(cx);
        }
        if paused {
            // Deferred: READ_READY stays set and the next turn that frees
            // room reads again. Hangups and resets still arrive as events.
            return Read::WouldBlock;
        }
        loop {
            let spare = self.input.spare(cx.pool, limit);
            let room = spare.len();
            match self.io.read(spare) {
                Ok(0) => return Read::Fin,
                Ok(n) => {
                    self.input.commit(n);
                    self.trim_read_ahead(cx.config);
                    self.last_read = cx.now;
                    // A short read drained the socket (edge-triggered: new
                    // bytes bring a new event) unless a FIN is waiting.
                    if n < room && !self.flags.contains(Flags::HUP_HINT) && !self.io.may_have_more()
                    {
                        self.flags.remove(Flags::READ_READY);
                    }
                    return Read::Bytes(n);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.flags.remove(Flags::READ_READY | Flags::HUP_HINT);
                    return Read::WouldBlock;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Read::Failed(self.peer_error(&err)),
            }
        }
    }

    /// The most input that may wait after the next read. Up to the floor —
    /// one buffer, or one head if heads may be longer — is every
    /// connection's; reading further ahead waits on the memory budget.
    fn read_limit(&mut self, cx: &Cx<'_>) -> usize {
        let max = cx.config.max_buffered_bytes;
        let floor = read_floor(cx.config);
        if self.input.len() < floor {
            self.flags.remove(Flags::READ_AHEAD_HELD);
            return floor;
        }
        let client = &self.client;
        let charge = self
            .read_ahead
            .get_or_insert_with(|| Charge::for_client(&cx.context.stats, client.clone()));
        if charge.grow_to((max - floor) as u64, cx.config.memory_budget_bytes as u64) {
            self.flags.remove(Flags::READ_AHEAD_HELD);
            max
        } else {
            if !self.flags.contains(Flags::READ_AHEAD_HELD) {
                charge.refused();
                self.flags.insert(Flags::READ_AHEAD_HELD);
            }
            floor
        }
    }

    /// Holds against the budget only what waits above the floor now.
    pub(super) fn trim_read_ahead(&mut self, config: &Config) {
        if let Some(charge) = &mut self.read_ahead {
            let above = self.input.len().saturating_sub(read_floor(config));
            charge.shrink_to(above as u64);
        }
    }

    /// Reads and throws away what the client sends (draining, lingering, or
    /// looking for a FIN behind a full buffer), up to a budget per turn.
    /// Watching for EOF and errors is the point.
    pub(super) fn read_discard(&mut self, cx: &mut Cx<'_>) -> Read {
        let mut total = 0;
        while total < DISCARD_BYTES_PER_TURN {
            match self.io.read(cx.discard) {
                Ok(0) => return Read::Fin,
                Ok(n) => total += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.flags.remove(Flags::READ_READY | Flags::HUP_HINT);
                    break;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Read::Failed(self.reason_after(self.peer_error(&err))),
            }
        }
        match total {
            0 => Read::WouldBlock,
            n => Read::Discarded(n),
        }
    }

    // ---- writing ----

    /// What the next response must say about the connection: `close` once
    /// draining, `keep-alive` to an HTTP/1.0 client, nothing otherwise.
    pub(super) fn persistence(&self, version: Version) -> Persistence {
        if self.is_draining() {
            Persistence::Close
        } else if version == Version::Http10 {
            Persistence::KeepAlive10
        } else {
            Persistence::KeepAlive
        }
    }

    /// Appends to the output through `encode`, keeping `queued_total` (which
    /// deliveries are matched against) in step.
    pub(super) fn encode_output(&mut self, cx: &mut Cx<'_>, encode: impl FnOnce(&mut Vec<u8>)) {
        self.prepare_output(cx);
        let before = self.output.len();
        encode(&mut self.output);
        self.queued_total += (self.output.len() - before) as u64;
    }

    pub(super) fn queue_bytes(&mut self, bytes: &[u8], cx: &mut Cx<'_>) {
        if bytes.is_empty() {
            return;
        }
        self.encode_output(cx, |out| out.extend_from_slice(bytes));
    }

    /// Holds what the output will hold past its floor once `extra` more
    /// bytes are queued against the memory budget, before they are: a
    /// response the budget refuses is never copied in. False, and nothing
    /// more held, when the budget cannot.
    pub(super) fn hold_output(&mut self, extra: usize, cx: &Cx<'_>) -> bool {
        let above = self.output_above_floor(extra);
        if above == 0 {
            if let Some(charge) = &mut self.output_charge {
                charge.shrink_to(0);
            }
            return true;
        }
        let client = &self.client;
        let charge = self
            .output_charge
            .get_or_insert_with(|| Charge::for_client(&cx.context.stats, client.clone()));
        charge.grow_to(above, cx.config.memory_budget_bytes as u64)
    }

    /// Bytes the output holds past its floor once `extra` more are queued.
    fn output_above_floor(&self, extra: usize) -> u64 {
        self.unsent()
            .saturating_add(extra)
            .saturating_sub(OUTPUT_FLOOR_BYTES) as u64
    }

    /// Holds no more than the output still holds past its floor.
    pub(super) fn trim_output_charge(&mut self) {
        let above = self.output_above_floor(0);
        if let Some(charge) = &mut self.output_charge {
            charge.shrink_to(above);
        }
    }

    /// Makes sure `output` has a buffer; starts the write-stall clock when
    /// output goes from empty to non-empty.
    fn prepare_output(&mut self, cx: &mut Cx<'_>) {
        if self.output.capacity() == 0 {
            self.output = cx.pool.take();
            self.output.clear();
        }
        if !self.has_output() {
            self.last_write = cx.now;
        }
    }

    /// Keeps a worker's response until its last byte is written, to settle
    /// its delivery then (or hand it back if the client leaves first).
    pub(super) fn track_delivery(&mut self, link: Arc<ExchangeShared>, response: Response) {
        self.deliveries.push_back(Unsettled {
            end: self.queued_total,
            link,
            response,
        });
    }

    /// Writes queued output until done or the socket is full, and says
    /// which; a failure is reported, not acted on.
    pub(super) fn flush(&mut self, cx: &mut Cx<'_>) -> Flush {
        if self.output.capacity() == 0 && !self.io.has_pending_output() {
            // Nothing owed and no buffer to give back: the flush that
            // wrote the last byte settled its deliveries and charge.
            return Flush::Done;
        }
        self.limit_unsent_if_bulk(cx.config);
        while self.has_output() && self.flags.contains(Flags::WRITABLE) && !self.is_closed() {
            // INVARIANT: output_pos <= output.len() (advanced only by what
            // write reports, which is at most the slice it was given).
            // Only the transport's own records are left: flush those.
            let written = if self.unsent() == 0 {
                self.io.flush_pending().map(|()| None)
            } else {
                self.io.write(&self.output[self.output_pos..]).map(Some)
            };
            match written {
                Ok(None) => {}
                Ok(Some(0)) => return Flush::Failed(CloseReason::WriteError),
                Ok(Some(n)) => {
                    self.output_pos += n;
                    self.written_total += n as u64;
                    self.last_write = cx.now;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.flags.remove(Flags::WRITABLE);
                    if !self.flags.contains(Flags::WRITE_INTEREST) {
                        // The reactor registers it after this step.
                        self.flags.insert(Flags::WRITE_INTEREST_DUE);
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    let reason = CloseReason::from_write_error(&err);
                    return Flush::Failed(self.reason_after(self.unless_output_owed(reason, &err)));
                }
            }
        }
        self.trim_output_charge();
        // Delivered means taken by the kernel: with records still held by
        // the transport, nothing written is known to be there yet.
        let in_kernel = !self.io.has_pending_output();
        while in_kernel
            && self
                .deliveries
                .front()
                .is_some_and(|d| d.end <= self.written_total)
        {
            if let Some(delivery) = self.deliveries.pop_front() {
                cx.delivered.push(delivery.link);
            }
        }
        if !self.has_output() && self.output.capacity() > 0 {
            if !self.is_response_pending() {
                if let Some(since) = self.answering_since.take() {
                    let latency = cx.clock.now().saturating_duration_since(since);
                    cx.stats.response_latency.observe(latency);
                    if let Some(routes) = cx.stats.routes.get() {
                        let (route, status) = self.answered;
                        routes.observe(route, status, latency);
                    }
                }
            }
            self.output.clear();
            self.output_pos = 0;
            self.idle_since = cx.now;
            cx.pool.give(std::mem::take(&mut self.output));
        }
        if self.has_output() {
            Flush::Blocked
        } else {
            Flush::Done
        }
    }

    /// Sets `TCP_NOTSENT_LOWAT` once the connection carries bulk output —
    /// more queued than the high-water mark, or that much written over its
    /// life (a stream, a WebSocket) — before the kernel takes it: then a
    /// peer that reads slowly or not at all costs the kernel what is in
    /// flight plus the mark, not a send buffer grown to megabytes.
    fn limit_unsent_if_bulk(&mut self, config: &Config) {
        let Some(lowat) = config.tcp_notsent_lowat else {
            return;
        };
        if self.flags.contains(Flags::UNSENT_LIMITED) {
            return;
        }
        let bulk = u64::from(lowat);
        if self.unsent() as u64 > bulk.min(OUTPUT_HIGH_WATER_BYTES as u64)
            || self.written_total >= bulk
        {
            self.io.limit_unsent(lowat);
            self.flags.insert(Flags::UNSENT_LIMITED);
        }
    }
}
