//! Answers the connection makes itself, and the one way every answer is
//! queued: refusals (`reject`, `refuse`), the server's own errors, and
//! `queue_response`, which asks the memory budget before copying a
//! response in.

use super::cx::Cx;
use super::state::{Connection, Phase};
use super::transport::Transport;
use crate::proto::encode;
use crate::proto::parse::{Framing, HeadInfo};
use crate::proto::request::Version;
use crate::proto::response::Response;
use crate::reason::CloseReason;
use crate::stats::Counters;

impl<T: Transport> Connection<T> {
    /// The application erred (named a queue or stream the server lacks):
    /// `500`, and the connection closes as `server_error`.
    pub(super) fn answer_server_error(&mut self, info: HeadInfo, cx: &mut Cx<'_>) {
        self.start_draining(CloseReason::ServerError);
        let response = encode::error_response(500, "internal server error");
        self.queue_response(&response, info, cx);
    }

    /// Refuses a request: answers `status` with `Connection: close`, drops
    /// buffered input, and drains (then lingers, so the client reads it).
    pub(super) fn reject(&mut self, status: u16, why: &'static str, cx: &mut Cx<'_>) {
        self.refuse(status, why, CloseReason::BadRequest, cx);
    }

    /// [`reject`](Self::reject) with the reason the connection will close
    /// with.
    pub(super) fn refuse(
        &mut self,
        status: u16,
        why: &'static str,
        reason: CloseReason,
        cx: &mut Cx<'_>,
    ) {
        log::debug!("{} refusing request: {status} {why}", self.id);
        self.input.clear();
        if matches!(self.phase, Phase::ReadingBody { .. }) {
            self.end_body();
        }
        self.start_draining(reason);
        let info = HeadInfo {
            framing: Framing::Empty,
            keep_alive: false,
            expect_continue: false,
            is_head: false,
            version: Version::Http11,
        };
        let mut response = encode::error_response(status, why);
        if reason == CloseReason::MemoryBudget {
            // A busy server, not a bad request: the client may try again.
            response = response.with_header("Retry-After", "1");
        }
        self.queue_response(&response, info, cx);
    }

    /// Queues a response; one the memory budget cannot hold is answered
    /// `503` instead (see [`try_queue_response`](Self::try_queue_response)).
    pub(super) fn queue_response(&mut self, response: &Response, info: HeadInfo, cx: &mut Cx<'_>) {
        if !self.try_queue_response(response, info, cx) {
            self.answer_memory_full(info, cx);
        }
    }

    /// Queues a response if the memory budget can hold what it adds past
    /// the output's floor (twice its high-water mark). False, and nothing
    /// queued, when not.
    pub(super) fn try_queue_response(
        &mut self,
        response: &Response,
        info: HeadInfo,
        cx: &mut Cx<'_>,
    ) -> bool {
        if !self.hold_output(encoded_len_at_most(response, info.is_head), cx) {
            if let Some(charge) = &self.output_charge {
                charge.refused();
            }
            return false;
        }
        self.encode_response(response, info, cx);
        self.trim_output_charge();
        true
    }

    /// The server cannot hold a response's bytes now: `503`, and the
    /// connection closes after it (`memory_budget`).
    pub(super) fn answer_memory_full(&mut self, info: HeadInfo, cx: &mut Cx<'_>) {
        log::debug!("{} response over the memory budget; answering 503", self.id);
        self.start_draining(CloseReason::MemoryBudget);
        let response = encode::error_response(503, "server busy").with_header("Retry-After", "1");
        self.encode_response(&response, info, cx);
    }

    /// Encodes a response into the output (no budget asked: callers have).
    fn encode_response(&mut self, response: &Response, info: HeadInfo, cx: &mut Cx<'_>) {
        if response.asks_to_close() {
            self.start_draining(CloseReason::Drained);
        }
        let persistence = self.persistence(info.version);
        let date = cx.date;
        self.encode_output(cx, |out| {
            encode::encode_response(out, response, info.is_head, persistence, date)
        });
        Counters::incr(&cx.stats.responses);
        self.count_by_route(response.status(), cx);
    }
}

impl<T: Transport> Connection<T> {
    /// Counts a queued response under its request's route and status
    /// class; its latency is recorded under the same once written.
    pub(super) fn count_by_route(&mut self, status: u16, cx: &mut Cx<'_>) {
        let route = std::mem::take(&mut self.answering_route);
        self.answered = (route, status);
        if let Some(routes) = cx.stats.routes.get() {
            routes.count(route, status);
        }
    }
}

/// At least as many bytes as `response` encodes to: its fields and body,
/// and room for the status line and the headers the encoder adds.
fn encoded_len_at_most(response: &Response, is_head: bool) -> usize {
    const ADDED: usize = 512;
    let fields: usize = response
        .headers()
        .map(|(name, value)| name.len().saturating_add(value.len()).saturating_add(4))
        .fold(ADDED, usize::saturating_add);
    let body = if is_head { 0 } else { response.body().len() };
    fields.saturating_add(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::encode::Persistence;

    #[test]
    fn the_estimate_holds_every_encoding() {
        let responses = [
            Response::new(200),
            Response::new(204),
            Response::text(200, "x".repeat(100_000)),
            Response::new(200).with_body(vec![0; 70_000]),
            Response::new(503)
                .with_header("Retry-After", "1")
                .with_header("X-Long", "v".repeat(5000)),
        ];
        for response in &responses {
            for is_head in [false, true] {
                for persistence in [Persistence::Close, Persistence::KeepAlive10] {
                    let mut out = Vec::new();
                    let date = "Thu, 03 Dec 2026 16:00:00 GMT";
                    encode::encode_response(&mut out, response, is_head, persistence, date);
                    assert!(out.len() <= encoded_len_at_most(response, is_head));
                }
            }
        }
    }
}
