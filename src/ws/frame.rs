//! RFC 6455 frames: a resumable decoder for client frames and an encoder for
//! server frames.
//!
//! The decoder consumes whatever input is buffered and remembers where it
//! stopped, so a 16 MiB frame streams through a 64 KiB input buffer: payload
//! bytes are unmasked as they are copied into the message being assembled.
//! UTF-8 is validated as text arrives (failing fast, even inside a frame) and
//! once more at the end of the message, for a code point split across its
//! last bytes.

use std::io::Write as _;

/// Opcodes (RFC 6455 §5.2).
pub(crate) const OP_CONTINUATION: u8 = 0x0;
pub(crate) const OP_TEXT: u8 = 0x1;
pub(crate) const OP_BINARY: u8 = 0x2;
pub(crate) const OP_CLOSE: u8 = 0x8;
pub(crate) const OP_PING: u8 = 0x9;
pub(crate) const OP_PONG: u8 = 0xA;

/// Close codes the server sends.
pub(crate) const CLOSE_NORMAL: u16 = 1000;
pub(crate) const CLOSE_PROTOCOL_ERROR: u16 = 1002;
pub(crate) const CLOSE_INVALID_DATA: u16 = 1007;
pub(crate) const CLOSE_TOO_BIG: u16 = 1009;

/// A violation, with the close code to answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WsError {
    pub code: u16,
    pub why: &'static str,
}

/// The server's memory budget could not hold more of a message: close
/// `1009`, and the close is the server's doing, not a violation.
pub(crate) const OVER_BUDGET: WsError = WsError {
    code: CLOSE_TOO_BIG,
    why: "server memory budget exhausted",
};

/// Asked before payload joins the message being assembled: may the message
/// grow to `total` bytes? (The session answers from the memory budget.)
pub(crate) trait Assembly {
    fn may_grow_to(&mut self, total: usize) -> bool;
}

/// An [`Assembly`] that always agrees: for tests and fuzzing, where the
/// frame limits alone apply.
#[cfg(any(test, feature = "internals"))]
pub(crate) struct Unbudgeted;

#[cfg(any(test, feature = "internals"))]
impl Assembly for Unbudgeted {
    fn may_grow_to(&mut self, _total: usize) -> bool {
        true
    }
}

fn protocol(why: &'static str) -> WsError {
    WsError {
        code: CLOSE_PROTOCOL_ERROR,
        why,
    }
}

/// What a complete frame (or message) amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Incoming {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A close frame: its status code and reason, if it had them.
    Close(Option<(u16, String)>),
}

/// Size limits for incoming data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_frame_bytes: u64,
    pub max_message_bytes: usize,
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    /// Payload bytes still to come.
    remaining: u64,
    /// Payload bytes already unmasked (selects the mask byte).
    done: usize,
}

/// Decodes client frames into messages, pings, pongs and closes.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    frame: Option<Frame>,
    /// Payload of the control frame being read.
    control: Vec<u8>,
    /// The data message being assembled, and its opcode.
    message: Vec<u8>,
    message_opcode: Option<u8>,
    /// `message[..utf8_checked]` is known-good UTF-8.
    utf8_checked: usize,
}

impl Decoder {
    /// Decodes from `input`. Returns the bytes consumed and, when one
    /// completed, the next message or control frame.
    pub fn decode(
        &mut self,
        input: &[u8],
        limits: Limits,
        assembly: &mut impl Assembly,
    ) -> Result<(usize, Option<Incoming>), WsError> {
        let mut used = 0;
        loop {
            let frame = match self.frame {
                Some(frame) => frame,
                None => match self.start_frame(&input[used..], limits)? {
                    Some((frame, header_len)) => {
                        used += header_len;
                        self.frame = Some(frame);
                        frame
                    }
                    None => return Ok((used, None)),
                },
            };
            let available = input.len() - used;
            let take = usize::try_from(frame.remaining).map_or(available, |r| r.min(available));
            let is_control = frame.opcode >= OP_CLOSE;
            // `take` is within the frame, which the header check kept within
            // what is left of the message allowance: this cannot overflow.
            if !is_control && take > 0 && !assembly.may_grow_to(self.message.len() + take) {
                return Err(OVER_BUDGET);
            }
            let target = if is_control {
                &mut self.control
            } else {
                &mut self.message
            };
            let start = target.len();
            target.extend_from_slice(&input[used..used + take]);
            for (i, byte) in target[start..].iter_mut().enumerate() {
                *byte ^= frame.mask[(frame.done + i) % 4];
            }
            used += take;
            let frame = Frame {
                remaining: frame.remaining - take as u64,
                done: frame.done + take,
                ..frame
            };
            if !is_control && self.message_opcode == Some(OP_TEXT) {
                self.check_utf8(false)?;
            }
            if frame.remaining > 0 {
                self.frame = Some(frame);
                return Ok((used, None));
            }
            self.frame = None;
            if let Some(incoming) = self.finish_frame(frame)? {
                return Ok((used, Some(incoming)));
            }
        }
    }

    /// Parses and checks a frame header; `None` while it is incomplete.
    fn start_frame(
        &mut self,
        input: &[u8],
        limits: Limits,
    ) -> Result<Option<(Frame, usize)>, WsError> {
        let [b0, b1, ..] = *input else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        if b0 & 0x70 != 0 {
            return Err(protocol("reserved bits set without an extension"));
        }
        let opcode = b0 & 0x0F;
        if b1 & 0x80 == 0 {
            return Err(protocol("client frames must be masked"));
        }
        let (len, mut pos) = match b1 & 0x7F {
            126 => match input.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match input.get(2..10) {
                Some(b) => {
                    let mut bytes = [0u8; 8];
                    bytes.copy_from_slice(b);
                    let len = u64::from_be_bytes(bytes);
                    if len >> 63 != 0 {
                        return Err(protocol("frame length has its top bit set"));
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        let Some(mask) = input.get(pos..pos + 4) else {
            return Ok(None);
        };
        let mask = [mask[0], mask[1], mask[2], mask[3]];
        pos += 4;

        match opcode {
            OP_CLOSE | OP_PING | OP_PONG => {
                if !fin {
                    return Err(protocol("fragmented control frame"));
                }
                if len > 125 {
                    return Err(protocol("control frame longer than 125 bytes"));
                }
                self.control.clear();
            }
            OP_CONTINUATION => {
                if self.message_opcode.is_none() {
                    return Err(protocol("continuation without a message to continue"));
                }
            }
            OP_TEXT | OP_BINARY => {
                if self.message_opcode.is_some() {
                    return Err(protocol("new message before the last one finished"));
                }
                self.message_opcode = Some(opcode);
                self.message.clear();
                self.utf8_checked = 0;
            }
            _ => return Err(protocol("reserved opcode")),
        }
        if opcode < OP_CLOSE {
            let too_big = WsError {
                code: CLOSE_TOO_BIG,
                why: "message too big",
            };
            // `len` comes from the peer: compare it with what is left of
            // the allowance, never add to it.
            let message_left = limits.max_message_bytes.saturating_sub(self.message.len()) as u64;
            if len > limits.max_frame_bytes || len > message_left {
                return Err(too_big);
            }
        }
        Ok(Some((
            Frame {
                fin,
                opcode,
                mask,
                remaining: len,
                done: 0,
            },
            pos,
        )))
    }

    fn finish_frame(&mut self, frame: Frame) -> Result<Option<Incoming>, WsError> {
        match frame.opcode {
            OP_PING => Ok(Some(Incoming::Ping(std::mem::take(&mut self.control)))),
            OP_PONG => Ok(Some(Incoming::Pong(std::mem::take(&mut self.control)))),
            OP_CLOSE => parse_close(&self.control).map(|close| Some(Incoming::Close(close))),
            _ if !frame.fin => Ok(None),
            _ => {
                let opcode = self.message_opcode.take();
                let data = std::mem::take(&mut self.message);
                if opcode == Some(OP_TEXT) {
                    self.message = data;
                    self.check_utf8(true)?;
                    let data = std::mem::take(&mut self.message);
                    // Checked just above; the fallback is never taken.
                    let text = String::from_utf8(data).map_err(|_| invalid_utf8())?;
                    Ok(Some(Incoming::Text(text)))
                } else {
                    Ok(Some(Incoming::Binary(data)))
                }
            }
        }
    }

    /// Validates the text received since the last check. A code point cut
    /// at the end is fine until the message is `complete`.
    fn check_utf8(&mut self, complete: bool) -> Result<(), WsError> {
        let rest = &self.message[self.utf8_checked..];
        match std::str::from_utf8(rest) {
            Ok(_) => self.utf8_checked = self.message.len(),
            Err(err) if err.error_len().is_none() && !complete => {
                self.utf8_checked += err.valid_up_to();
            }
            Err(_) => return Err(invalid_utf8()),
        }
        Ok(())
    }
}

fn invalid_utf8() -> WsError {
    WsError {
        code: CLOSE_INVALID_DATA,
        why: "text is not valid UTF-8",
    }
}

/// A close frame's payload: nothing, or a valid code and a UTF-8 reason.
fn parse_close(payload: &[u8]) -> Result<Option<(u16, String)>, WsError> {
    match payload {
        [] => Ok(None),
        [_] => Err(protocol("close payload of one byte")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_close_code(code) {
                return Err(protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| invalid_utf8())?;
            Ok(Some((code, reason.to_string())))
        }
    }
}

/// Codes a peer may send (RFC 6455 §7.4 and the IANA registry): 1004-1006
/// and 1015 are reserved, below 1000 and 1016-2999 unassigned.
pub(crate) fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The length [`encode_frame`] gives a frame carrying `payload` bytes.
pub(crate) fn frame_len(payload: usize) -> usize {
    let header = match payload {
        0..=125 => 2,
        126..=0xffff => 4,
        _ => 10,
    };
    payload.saturating_add(header)
}

/// Appends an unmasked server frame (FIN set).
pub(crate) fn encode_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// A close frame with `code` and a reason cut to fit 125 bytes on a
/// character boundary.
pub(crate) fn encode_close(out: &mut Vec<u8>, code: u16, reason: &str) {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    let _ = payload.write_all(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    encode_frame(out, OP_CLOSE, &payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_frame_bytes: 1 << 20,
        max_message_bytes: 1 << 20,
    };

    /// A masked client frame.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xFA, 0x21, 0x3D];
        let mut out = vec![first];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 65535 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    /// Feeds `input` `step` bytes at a time; returns everything decoded.
    fn decode_all(input: &[u8], step: usize) -> Result<Vec<Incoming>, WsError> {
        let mut decoder = Decoder::default();
        let mut out = Vec::new();
        let mut buffered = Vec::new();
        for piece in input.chunks(step) {
            buffered.extend_from_slice(piece);
            loop {
                let (used, incoming) = decoder.decode(&buffered, LIMITS, &mut Unbudgeted)?;
                buffered.drain(..used);
                match incoming {
                    Some(incoming) => out.push(incoming),
                    None => break,
                }
            }
        }
        Ok(out)
    }

    #[test]
    fn frame_len_is_what_encode_frame_writes() {
        for n in [0, 125, 126, 0xffff, 0x1_0000, 200_000] {
            let mut out = Vec::new();
            encode_frame(&mut out, OP_BINARY, &vec![0; n]);
            assert_eq!(out.len(), frame_len(n), "payload {n}");
        }
    }

    #[test]
    fn a_frame_length_near_two_to_the_63_never_wraps_the_message_limit() {
        // Even with no frame limit at all, a continuation whose length
        // would wrap `assembled + len` is refused as too big.
        let limits = Limits {
            max_frame_bytes: u64::MAX,
            max_message_bytes: 1024,
        };
        let mut decoder = Decoder::default();
        let first = client_frame(OP_TEXT, b"hello");
        let (used, incoming) = decoder.decode(&first, limits, &mut Unbudgeted).unwrap();
        assert_eq!((used, incoming), (first.len(), None));
        let mut huge = vec![OP_CONTINUATION, 0x80 | 127];
        huge.extend_from_slice(&0x7fff_ffff_ffff_fffeu64.to_be_bytes());
        huge.extend_from_slice(&[1, 2, 3, 4]);
        let err = decoder.decode(&huge, limits, &mut Unbudgeted).unwrap_err();
        assert_eq!(err.code, CLOSE_TOO_BIG);
    }

    #[test]
    fn the_rfc_examples_decode() {
        // RFC 6455 §5.7: a masked "Hello".
        let hello = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(
            decode_all(&hello, 64).unwrap(),
            [Incoming::Text("Hello".into())]
        );
    }

    #[test]
    fn fragments_with_an_interleaved_ping_reassemble_at_any_split() {
        let mut input = client_frame(OP_TEXT, "Hel".as_bytes());
        input.extend(client_frame(0x80 | OP_PING, b"p"));
        input.extend(client_frame(OP_CONTINUATION, "lo, wö".as_bytes()));
        input.extend(client_frame(0x80 | OP_CONTINUATION, "rld".as_bytes()));
        for step in 1..input.len() {
            let got = decode_all(&input, step).unwrap();
            assert_eq!(
                got,
                [
                    Incoming::Ping(b"p".to_vec()),
                    Incoming::Text("Hello, wörld".into())
                ],
                "step {step}"
            );
        }
    }

    #[test]
    fn long_lengths_use_extended_fields() {
        for len in [125usize, 126, 65535, 65536, 200_000] {
            let payload = vec![7u8; len];
            let got = decode_all(&client_frame(0x80 | OP_BINARY, &payload), 4096).unwrap();
            assert_eq!(got, [Incoming::Binary(payload)], "{len}");
            let mut encoded = Vec::new();
            encode_frame(&mut encoded, OP_BINARY, &vec![7u8; len]);
            let header = if len < 126 {
                2
            } else if len < 65536 {
                4
            } else {
                10
            };
            assert_eq!(encoded.len(), header + len);
        }
    }

    #[test]
    fn violations_get_the_right_close_code() {
        let table: Vec<(Vec<u8>, u16)> = vec![
            (vec![0x81, 0x02, b'h', b'i'], 1002),               // unmasked
            (client_frame(0x80 | 0x40 | OP_TEXT, b"x"), 1002),  // RSV1
            (client_frame(0x80 | 0x3, b""), 1002),              // reserved opcode
            (client_frame(0x80 | 0xB, b""), 1002),              // reserved control opcode
            (client_frame(OP_PING, b""), 1002),                 // fragmented control
            (client_frame(0x80 | OP_PING, &[0; 126]), 1002),    // long control
            (client_frame(0x80 | OP_CONTINUATION, b"x"), 1002), // nothing to continue
            (
                [
                    client_frame(OP_TEXT, b"a"),
                    client_frame(0x80 | OP_TEXT, b"b"),
                ]
                .concat(),
                1002,
            ),
            (
                client_frame(0x80 | OP_TEXT, &[0xCE, 0xBA, 0xE1, 0xBD]),
                1007,
            ), // cut code point
            (client_frame(0x80 | OP_TEXT, &[0xFF]), 1007),
            (client_frame(0x80 | OP_CLOSE, &[0x03]), 1002), // one-byte close
            (client_frame(0x80 | OP_CLOSE, &1005u16.to_be_bytes()), 1002),
            (client_frame(0x80 | OP_CLOSE, &999u16.to_be_bytes()), 1002),
            (client_frame(0x80 | OP_CLOSE, &[0x03, 0xE8, 0xFF]), 1007), // bad reason
            (
                client_frame(0x80 | OP_BINARY, &vec![0; (1 << 20) + 1]),
                1009,
            ),
        ];
        for (input, code) in table {
            let err = decode_all(&input, 7).unwrap_err();
            assert_eq!(
                err.code,
                code,
                "{err:?} for {:02x?}",
                &input[..input.len().min(12)]
            );
        }
    }

    #[test]
    fn invalid_utf8_fails_fast_inside_a_frame() {
        // The bad byte arrives before the rest of the frame does.
        let frame = client_frame(0x80 | OP_TEXT, &[b'o', b'k', 0xFF, b'a', b'b', b'c']);
        let mut decoder = Decoder::default();
        let err = decoder
            .decode(&frame[..frame.len() - 3], LIMITS, &mut Unbudgeted)
            .unwrap_err();
        assert_eq!(err.code, 1007);
    }

    #[test]
    fn close_frames_carry_code_and_reason() {
        let mut payload = 1001u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"going away");
        let got = decode_all(&client_frame(0x80 | OP_CLOSE, &payload), 3).unwrap();
        assert_eq!(got, [Incoming::Close(Some((1001, "going away".into())))]);
        assert_eq!(
            decode_all(&client_frame(0x80 | OP_CLOSE, b""), 3).unwrap(),
            [Incoming::Close(None)]
        );
    }

    #[test]
    fn close_reasons_are_cut_on_a_character_boundary() {
        let mut out = Vec::new();
        encode_close(&mut out, 1000, &"é".repeat(100));
        assert_eq!(out[1] as usize, out.len() - 2);
        assert!(out.len() - 2 <= 125);
        assert!(std::str::from_utf8(&out[4..]).is_ok());
    }

    #[test]
    fn valid_close_codes() {
        for code in [1000, 1001, 1002, 1003, 1007, 1011, 3000, 4999] {
            assert!(is_valid_close_code(code), "{code}");
        }
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000] {
            assert!(!is_valid_close_code(code), "{code}");
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Frames a client might send: well-formed (any opcode, masked or
        /// not, fragmented or not), lengths that lie, and raw garbage.
        fn frames() -> impl Strategy<Value = Vec<u8>> {
            let well_formed = (any::<u8>(), prop::collection::vec(any::<u8>(), 0..200))
                .prop_map(|(first, payload)| client_frame(first, &payload));
            let lying = (any::<u8>(), any::<u64>()).prop_map(|(first, len)| {
                let mut out = vec![first, 0x80 | 127];
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
                out
            });
            let item = prop_oneof![
                6 => well_formed,
                1 => lying,
                1 => prop::collection::vec(any::<u8>(), 1..20),
            ];
            prop::collection::vec(item, 1..10).prop_map(|items| items.concat())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn decoding_never_panics_and_respects_the_limits(
                input in frames(),
                step in 1usize..64,
            ) {
                let limits = Limits { max_frame_bytes: 150, max_message_bytes: 300 };
                let mut decoder = Decoder::default();
                let mut buffered = Vec::new();
                'feed: for piece in input.chunks(step) {
                    buffered.extend_from_slice(piece);
                    loop {
                        match decoder.decode(&buffered, limits, &mut Unbudgeted) {
                            Ok((used, incoming)) => {
                                prop_assert!(used <= buffered.len());
                                buffered.drain(..used);
                                match incoming {
                                    Some(Incoming::Text(t)) => prop_assert!(t.len() <= 300),
                                    Some(Incoming::Binary(b)) => prop_assert!(b.len() <= 300),
                                    Some(_) => {}
                                    None => break,
                                }
                            }
                            Err(_) => break 'feed,
                        }
                    }
                }
            }
        }
    }
}
