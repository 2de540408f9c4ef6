//! HTTP/1.1 on a connection: parse heads and bodies, dispatch each request
//! to the handler, hand it to a worker, and queue the answer.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use std::sync::mpsc::TrySendError;

use super::cx::Cx;
use super::state::Connection;
use super::transport::Transport;
use crate::handle::exchange::Exchange;
use crate::handle::exchange_shared::{Reply, Undelivered};
use crate::handle::upload::UploadShared;
use crate::handler::{Action, Handoff};
use crate::proto::body::{BodyDecoder, BodyError};
use crate::proto::encode;
use crate::proto::parse::{self, Framing, HeadInfo};
use crate::proto::request::Request;
use crate::reason::CloseReason;
use crate::stats::Counters;

use super::state::{Phase, Upload};

/// Requests parsed per connection per turn before others get a go.
const REQUESTS_PER_TURN: usize = 16;

/// Why parsing stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Parsed {
    /// Nothing more can be parsed until more input (or news) arrives.
    Idle,
    /// The per-turn budget ran out with input left: another turn, please.
    MoreWaiting,
    /// The output is over its high-water mark: parsing resumes once it is
    /// not, which a flush in this same turn may already have brought about.
    HeldBack,
}

impl<T: Transport> Connection<T> {
    /// Parses and dispatches what is buffered, and says why it stopped.
    pub(super) fn process_input(&mut self, cx: &mut Cx<'_>) -> Parsed {
        for _ in 0..REQUESTS_PER_TURN {
            if self.is_discarding() || self.input.is_empty() {
                return Parsed::Idle;
            }
            let progressed = match self.phase {
                Phase::ReadingHead { .. } => {
                    if self.is_output_held_back() {
                        return Parsed::HeldBack;
                    }
                    self.parse_head(cx)
                }
                Phase::ReadingBody { .. } => self.parse_body(cx),
                Phase::ResponsePending {
                    upload: Some(_), ..
                } => self.feed_upload(cx),
                // Frames make output too (pongs, close echoes): decode only
                // while the client takes what we already owe it. Until then
                // input backs up and reading pauses: TCP backpressure.
                Phase::WebSocket(_) if self.is_output_held_back() => return Parsed::HeldBack,
                Phase::WebSocket(_) => {
                    return match self.ws_input(cx) {
                        true => Parsed::MoreWaiting,
                        false => Parsed::Idle,
                    }
                }
                _ => return Parsed::Idle,
            };
            if !progressed {
                return Parsed::Idle;
            }
        }
        Parsed::MoreWaiting
    }

    /// Tries to parse one head. True when one was consumed.
    fn parse_head(&mut self, cx: &mut Cx<'_>) -> bool {
        let config = cx.config;
        let parsed = parse::parse_head(self.input.data(), config.max_headers, cx.scratch);
        let (len, info) = match parsed {
            Ok(Some(head)) => head,
            Ok(None) => {
                if self.input.len() >= config.max_head_bytes {
                    if self.input.data().contains(&b'\n') {
                        self.reject(431, "request head too large", cx);
                    } else {
                        // Not even the request line fit (RFC 9110 §15.5.15).
                        self.reject(414, "request line too long", cx);
                    }
                }
                return false;
            }
            Err(reject) => {
                self.reject(reject.status, reject.why, cx);
                return false;
            }
        };
        if len > config.max_head_bytes {
            self.reject(431, "request head too large", cx);
            return false;
        }
        self.input.consume(len);
        if let Phase::ReadingHead { started } = &mut self.phase {
            *started = None;
        }
        match BodyDecoder::new(info.framing) {
            None => self.dispatch_scratch(info, None, cx),
            Some(decoder) if cx.uploads.is_some_and(|streams| streams(cx.scratch)) => {
                if let Framing::Length(n) = info.framing {
                    if n > config.max_upload_bytes {
                        self.reject(413, "request body too large", cx);
                        return false;
                    }
                }
                self.last_read = cx.now;
                self.dispatch_scratch(info, Some(decoder), cx);
            }
            Some(decoder) => {
                if let Framing::Length(n) = info.framing {
                    if n > config.max_body_bytes as u64 {
                        self.reject(413, "request body too large", cx);
                        return false;
                    }
                }
                if info.expect_continue {
                    self.queue_bytes(encode::CONTINUE, cx);
                }
                self.last_read = cx.now;
                let charge = self.charge(cx);
                let request = std::mem::replace(cx.scratch, cx.recycler.request());
                self.start_body(decoder, info, request, cx.now, charge);
            }
        }
        true
    }

    /// Feeds buffered bytes to the body decoder. True when the body completed.
    fn parse_body(&mut self, cx: &mut Cx<'_>) -> bool {
        let Phase::ReadingBody {
            decoder,
            request,
            charge,
            ..
        } = &mut self.phase
        else {
            return false;
        };
        // Hold what this input could add to the body before taking it. Both
        // terms are bounded by our own limits, not by what the peer declared.
        let max_body = cx.config.max_body_bytes;
        let held = request.body.len();
        let could_add = self.input.len().min(max_body.saturating_sub(held));
        if !charge.grow_to(
            (held + could_add) as u64,
            cx.config.memory_budget_bytes as u64,
        ) {
            charge.refused();
            let why = "server memory budget exhausted";
            self.refuse(503, why, CloseReason::MemoryBudget, cx);
            return false;
        }
        let decoded = decoder.decode(self.input.data(), &mut request.body, max_body);
        charge.shrink_to(request.body.len() as u64);
        match decoded {
            Ok((used, done)) => {
                self.input.consume(used);
                if !done {
                    return false;
                }
            }
            Err(BodyError::TooLarge) => {
                self.reject(413, "request body too large", cx);
                return false;
            }
            Err(BodyError::Malformed(why)) => {
                self.reject(400, why, cx);
                return false;
            }
        }
        let Some((info, request)) = self.end_body() else {
            return false;
        };
        let mut request = *request;
        self.dispatch(&mut request, info, None, cx);
        true
    }

    /// Dispatches the request parsed into the reactor's scratch request,
    /// which is then emptied for reuse (a hand-off takes its buffers).
    fn dispatch_scratch(&mut self, info: HeadInfo, upload: Option<BodyDecoder>, cx: &mut Cx<'_>) {
        let mut request = std::mem::take(cx.scratch);
        self.dispatch(&mut request, info, upload, cx);
        request.clear();
        if request.retained_bytes() == 0 {
            // A hand-off took its buffers: reuse some a worker gave back.
            request = cx.recycler.request();
        }
        *cx.scratch = request;
    }

    /// A whole request is here — or its head, when its body is streamed
    /// (`upload`): answer it inline or hand it to a worker.
    fn dispatch(
        &mut self,
        request: &mut Request,
        info: HeadInfo,
        upload: Option<BodyDecoder>,
        cx: &mut Cx<'_>,
    ) {
        Counters::incr(&cx.stats.requests);
        self.answering_since.get_or_insert(cx.now);
        request.received_at = Some(cx.now);
        request.peer = self.peer;
        request.connection = self.id;
        if !info.keep_alive {
            // `Connection: close` only means: drain after the response.
            self.start_draining(CloseReason::Drained);
        }
        cx.stall.calling();
        // The handler is application code on the reactor thread: a panic
        // fails this request, not the reactor.
        let action = catch_unwind(AssertUnwindSafe(|| (cx.handler)(request)));
        cx.stall.called(request.captures.route_slot, self.id);
        self.answering_route = request.captures.route_slot;
        let handed_off = matches!(action, Ok(Action::Handoff(_)));
        if upload.is_some() && !handed_off {
            // Answered without the body: it is not read, and the connection
            // closes after the answer.
            self.start_draining(CloseReason::Drained);
        }
        match action {
            Ok(Action::Respond(response)) => self.queue_response(&response, info, cx),
            Ok(Action::Handoff(handoff)) => {
                self.hand_off(std::mem::take(request), handoff, info, upload, cx)
            }
            Ok(Action::Upgrade(upgrade)) => self.upgrade(request, info, upgrade, cx),
            Err(_) => {
                Counters::incr(&cx.stats.handler_panics);
                log::warn!("{} handler panicked; answering 500", self.id);
                // Nothing the client sent after this request is run.
                self.input.clear();
                self.start_draining(CloseReason::ServerError);
                let response = encode::error_response(500, "internal server error");
                self.queue_response(&response, info, cx);
            }
        }
    }

    fn hand_off(
        &mut self,
        request: Request,
        handoff: Handoff,
        info: HeadInfo,
        upload: Option<BodyDecoder>,
        cx: &mut Cx<'_>,
    ) {
        let Some((queue_index, queue)) = cx.queues.find(&handoff.queue) else {
            log::error!(
                "{} handler handed off to queue {:?}, which the server did not declare; answering 500",
                self.id,
                handoff.queue
            );
            return self.answer_server_error(info, cx);
        };
        let link = cx.recycler.link();
        let context = Arc::clone(cx.context);
        let shared = upload
            .as_ref()
            .map(|_| Arc::new(UploadShared::new(cx.context.stats.clone())));
        let exchange = Exchange::new(
            request,
            Arc::clone(&link),
            context,
            Arc::clone(cx.recycler),
            handoff.value,
            shared.clone(),
            queue_index,
        );
        match queue.try_send(exchange) {
            Ok(()) => {
                let timeout = handoff.response_timeout;
                let timeout = timeout.unwrap_or(cx.config.response_timeout);
                if info.expect_continue && upload.is_some() {
                    self.queue_bytes(encode::CONTINUE, cx);
                }
                let upload = upload.zip(shared).map(|(d, s)| Box::new(Upload::new(d, s)));
                self.start_response_pending(link, info, timeout, upload, cx)
            }
            Err(TrySendError::Full(exchange) | TrySendError::Disconnected(exchange)) => {
                // It never reached a worker: not an unanswered exchange.
                exchange.disarm();
                if upload.is_some() {
                    self.start_draining(CloseReason::Drained);
                }
                Counters::incr(&cx.stats.handoff_rejected);
                log::debug!("{} hand-off queue full; answering 503", self.id);
                self.start_draining(CloseReason::Drained);
                let response = encode::error_response(503, "server busy");
                self.queue_response(&response, info, cx);
            }
        }
    }

    /// Takes what the worker left in the exchange's link: a response, a
    /// stream, or the news it dropped the exchange. True when there was news.
    pub(super) fn take_reply(&mut self, cx: &mut Cx<'_>) -> bool {
        let Phase::ResponsePending { link, .. } = &self.phase else {
            return false;
        };
        let reply = link.take_reply();
        if matches!(reply, Reply::Waiting | Reply::Taken) {
            return false;
        }
        let Some((link, info)) = self.end_response_pending(cx) else {
            return false;
        };
        match reply {
            Reply::Ready(response) => {
                if self.try_queue_response(&response, info, cx) {
                    self.track_delivery(link, response);
                } else {
                    // The worker gets its response back, and the client a 503.
                    link.settle(Err(Undelivered {
                        response,
                        reason: CloseReason::MemoryBudget,
                    }));
                    self.answer_memory_full(info, cx);
                }
            }
            Reply::Stream {
                head,
                stream,
                close_delimited,
            } => self.start_stream(&head, stream, close_delimited, info, cx),
            Reply::Dropped => {
                link.close(CloseReason::Unanswered);
                self.start_draining(CloseReason::Unanswered);
                let response = encode::error_response(500, "the request was not answered");
                self.queue_response(&response, info, cx);
            }
            Reply::Waiting | Reply::Taken => {}
        }
        true
    }
}
