//! A worker's streaming response on a connection: its head, its parts
//! pulled from the producer's queue while the output has room, heartbeats
//! on a quiet stream, and its end.

use std::sync::Arc;

use super::cx::Cx;
use super::state::Connection;
use super::state::Phase;
use super::transport::Transport;
use crate::handle::stream::StreamShared;
use crate::proto::encode;
use crate::proto::parse::HeadInfo;
use crate::proto::request::Version;
use crate::proto::response::Response;
use crate::reason::CloseReason;
use crate::stats::Counters;
use crate::stream_options::Backlog;
use crate::time::deadline;

impl<T: Transport> Connection<T> {
    /// Writes a stream's head and enters `Streaming`. Chunked for HTTP/1.1
    /// unless asked otherwise; close-delimited bodies drain the connection.
    pub(super) fn start_stream(
        &mut self,
        head: &Response,
        stream: Arc<StreamShared>,
        close_delimited: bool,
        info: HeadInfo,
        cx: &mut Cx<'_>,
    ) {
        let chunked = info.version == Version::Http11 && !close_delimited;
        if !chunked || head.asks_to_close() {
            self.start_draining(CloseReason::Drained);
        }
        let persistence = self.persistence(info.version);
        let date = cx.date;
        self.encode_output(cx, |out| {
            encode::encode_stream_head(out, head, chunked, persistence, date)
        });
        Counters::incr(&cx.stats.responses);
        self.count_by_route(head.status(), cx);
        if info.is_head {
            // The client asked for the head only: nothing will be read.
            stream.close(CloseReason::Drained);
            return;
        }
        self.start_streaming(stream, chunked, cx);
    }

    /// Moves stream parts into the output buffer while it has room; ends
    /// the stream when the producer finished (or gave up). True when it
    /// queued bytes.
    pub(super) fn pull_stream(&mut self, cx: &mut Cx<'_>) -> bool {
        let Phase::Streaming {
            stream, chunked, ..
        } = &self.phase
        else {
            return false;
        };
        let unsent = self.unsent();
        let room = match stream.backlog() {
            // Whole parts only: the next is taken once the last is written.
            Backlog::KeepNewest if unsent > 0 => return false,
            Backlog::KeepNewest => usize::MAX,
            _ => self.output_room(),
        };
        if room == 0 {
            return false;
        }
        let (stream, chunked) = (Arc::clone(stream), *chunked);
        let pulled = stream.pull(room);
        if !pulled.parts.is_empty() {
            self.encode_output(cx, |out| {
                for part in &pulled.parts {
                    encode::encode_stream_part(out, part, chunked);
                }
            });
            Counters::add(&cx.stats.frames_sent, pulled.parts.len() as u64);
            if let Phase::Streaming { last_part, .. } = &mut self.phase {
                *last_part = cx.now;
            }
        }
        match pulled.end {
            None => {}
            Some(finished) => {
                if finished && chunked {
                    self.queue_bytes(encode::LAST_CHUNK, cx);
                } else if !finished {
                    log::debug!("{} stream abandoned by its producer", self.id);
                    self.start_draining(CloseReason::StreamAbandoned);
                }
                self.end_streaming(cx);
            }
        }
        !pulled.parts.is_empty()
    }

    /// A quiet stream with a heartbeat gets one (if nothing is being
    /// written). True when bytes were queued.
    pub(super) fn stream_heartbeat(&mut self, cx: &mut Cx<'_>) -> bool {
        let now = cx.now;
        let Phase::Streaming {
            stream,
            chunked,
            last_part,
        } = &mut self.phase
        else {
            return false;
        };
        let Some(heartbeat) = stream.heartbeat() else {
            return false;
        };
        if deadline(*last_part, heartbeat.every) > now {
            return false;
        }
        let chunked = *chunked;
        *last_part = now;
        if self.has_output() {
            return false;
        }
        self.encode_output(cx, |out| {
            encode::encode_stream_part(out, heartbeat.bytes, chunked)
        });
        true
    }

    /// Shutdown ends the stream for its producer; what is queued is still
    /// written, then the connection drains.
    pub(super) fn stop_stream(&mut self, reason: CloseReason, cx: &mut Cx<'_>) {
        if let Some(stream) = self.end_streaming(cx) {
            stream.close(reason);
        }
        self.start_draining(reason);
    }
}
