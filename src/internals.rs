//! Internals exposed for the micro-benchmarks and the fuzz targets (feature
//! `internals`). Not a stable API: names and signatures follow the
//! implementation.

use std::time::Instant;

use crate::proto::body::BodyDecoder;
use crate::proto::parse::Framing;
use crate::proto::request::Request;
use crate::proto::response::Response;

/// Parses request heads into a reused [`Request`], as the reactor does.
#[derive(Debug, Default)]
pub struct HeadParser {
    request: Request,
}

impl HeadParser {
    /// The head's length once complete; the status code of a refusal.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Option<usize>, u16> {
        crate::proto::parse::parse_head(
            buf,
            crate::config::Config::DEFAULT_MAX_HEADERS,
            &mut self.request,
        )
        .map(|head| head.map(|(len, _)| len))
        .map_err(|reject| reject.status)
    }
}

/// Encodes a keep-alive response as the reactor does.
pub fn encode_response(out: &mut Vec<u8>, response: &Response, date: &str) {
    crate::proto::encode::encode_response(
        out,
        response,
        false,
        crate::proto::encode::Persistence::KeepAlive,
        date,
    );
}

/// The resumable chunked decoder.
#[derive(Debug)]
pub struct ChunkedDecoder(BodyDecoder);

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder(BodyDecoder::new(Framing::Chunked).expect("chunked has a body"))
    }
}

impl ChunkedDecoder {
    /// Decodes into `body`: bytes consumed, and whether the body ended;
    /// `None` for malformed input.
    pub fn decode(&mut self, input: &[u8], body: &mut Vec<u8>) -> Option<(usize, bool)> {
        self.0.decode(input, body, usize::MAX).ok()
    }

    /// [`decode`](Self::decode) with the body limit the reactor applies;
    /// `None` for malformed input or a body past `max_body`.
    pub fn decode_within(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
        max_body: usize,
    ) -> Option<(usize, bool)> {
        self.0.decode(input, body, max_body).ok()
    }
}

/// The WebSocket frame decoder.
#[derive(Debug, Default)]
pub struct FrameDecoder(crate::ws::frame::Decoder);

impl FrameDecoder {
    /// Decodes from `input`: bytes consumed and, when a message or control
    /// frame completed, its payload length; the close code of a violation.
    pub fn decode(
        &mut self,
        input: &[u8],
        max_frame_bytes: u64,
        max_message_bytes: usize,
    ) -> Result<(usize, Option<usize>), u16> {
        use crate::ws::frame::{Incoming, Limits, Unbudgeted};
        let limits = Limits {
            max_frame_bytes,
            max_message_bytes,
        };
        let (used, incoming) = self
            .0
            .decode(input, limits, &mut Unbudgeted)
            .map_err(|err| err.code)?;
        let len = incoming.map(|incoming| match incoming {
            Incoming::Text(text) => text.len(),
            Incoming::Binary(data) | Incoming::Ping(data) | Incoming::Pong(data) => data.len(),
            Incoming::Close(close) => close.map_or(0, |(_, reason)| reason.len() + 2),
        });
        Ok((used, len))
    }
}

/// The reactor's timer heap with one slot per owner.
#[derive(Debug, Default)]
pub struct Timers {
    timers: crate::timer::Timers,
    slots: Vec<Option<Instant>>,
}

impl Timers {
    /// A heap for `owners` owners.
    pub fn new(owners: usize) -> Self {
        Timers {
            timers: crate::timer::Timers::default(),
            slots: vec![None; owners],
        }
    }

    /// Makes owner `key`'s entry fire no later than `at`.
    pub fn arm(&mut self, key: usize, at: Instant) {
        if let Some(slot) = self.slots.get_mut(key) {
            self.timers.arm(slot, Some(at), (key, 0));
        }
    }

    /// Pops every due entry; how many were current.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut fired = 0;
        while let Some((at, (key, _))) = self.timers.pop_due(now) {
            if let Some(slot) = self.slots.get_mut(key) {
                fired += usize::from(crate::timer::Timers::take_if_current(slot, at));
            }
        }
        fired
    }
}

/// Size of one connection's slab entry, in bytes.
pub fn connection_bytes() -> usize {
    std::mem::size_of::<crate::conn::Connection>()
}
