//! A request body streamed to its worker: decoded from the input buffer
//! into the exchange's bounded pipe while the pipe has room. When it has
//! none, input backs up, reading pauses and TCP pushes back on the client;
//! the worker's next read makes room and wakes the connection.

use super::cx::Cx;
use super::state::{Connection, Phase};
use super::transport::Transport;
use crate::proto::body::BodyError;
use crate::reason::CloseReason;

impl<T: Transport> Connection<T> {
    /// Moves buffered body bytes into the pipe. True when any were taken.
    pub(super) fn feed_upload(&mut self, cx: &mut Cx<'_>) -> bool {
        let Phase::ResponsePending {
            upload: Some(upload),
            ..
        } = &mut self.phase
        else {
            return false;
        };
        let room = upload.shared.room();
        if room == 0 {
            upload.waiting_for_worker = true;
            return false;
        }
        if std::mem::take(&mut upload.waiting_for_worker) {
            // The client was not idle while the worker was behind.
            self.last_read = cx.now;
        }
        let input = self.input.data();
        let input = &input[..input.len().min(room)];
        // The allowance left, never a sum of peer-declared sizes.
        let allowance = cx.config.max_upload_bytes.saturating_sub(upload.received);
        let allowance = usize::try_from(allowance).unwrap_or(usize::MAX);
        let mut decoded = Vec::new();
        match upload.decoder.decode(input, &mut decoded, allowance) {
            Ok((used, done)) => {
                upload.received += decoded.len() as u64;
                upload.shared.push(decoded.into());
                self.input.consume(used);
                if done {
                    self.end_upload();
                }
                used > 0
            }
            Err(BodyError::TooLarge) => {
                upload.shared.fail("request body too large");
                self.refuse_upload(413, "request body too large", cx);
                false
            }
            Err(BodyError::Malformed(why)) => {
                upload.shared.fail(why);
                self.refuse_upload(400, why, cx);
                false
            }
        }
    }

    /// The client broke the body's rules: the worker's exchange ends (its
    /// reader has already been told why) and the client is refused.
    fn refuse_upload(&mut self, status: u16, why: &'static str, cx: &mut Cx<'_>) {
        if let Some((link, _)) = self.end_response_pending(cx) {
            link.close(CloseReason::BadRequest);
        }
        self.reject(status, why, cx);
    }
}
