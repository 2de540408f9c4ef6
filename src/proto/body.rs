//! Request body decoding: fixed length and a resumable chunked decoder.
//!
//! Decoders consume whatever bytes are buffered and remember where they
//! stopped, so a body may arrive one byte at a time.

use super::parse::Framing;

/// Most bytes of chunk extensions and trailers one body may carry.
pub(crate) const MAX_CHUNK_META_BYTES: usize = 4096;

/// Why a body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// More than `max_body_bytes` (answered `413`).
    TooLarge,
    /// Bad chunked framing (answered `400`).
    Malformed(&'static str),
}

/// Decodes one request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyDecoder {
    Length { remaining: u64 },
    Chunked(Chunked),
}

impl BodyDecoder {
    /// A decoder for `framing`, or `None` when there is no body.
    pub fn new(framing: Framing) -> Option<BodyDecoder> {
        match framing {
            Framing::Empty => None,
            Framing::Length(n) => Some(BodyDecoder::Length { remaining: n }),
            Framing::Chunked => Some(BodyDecoder::Chunked(Chunked::default())),
        }
    }

    /// Decodes from `input`, appending body bytes to `body` (which must not
    /// grow past `max_body`). Returns the bytes consumed and whether the body
    /// is complete.
    pub fn decode(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
        max_body: usize,
    ) -> Result<(usize, bool), BodyError> {
        match self {
            BodyDecoder::Length { remaining } => {
                let take = input
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                // Peer-controlled sizes are compared with what is left of
                // the allowance, never added to (no overflow, no wrap).
                if take > max_body.saturating_sub(body.len()) {
                    return Err(BodyError::TooLarge);
                }
                body.extend_from_slice(&input[..take]);
                *remaining -= take as u64;
                Ok((take, *remaining == 0))
            }
            BodyDecoder::Chunked(chunked) => chunked.decode(input, body, max_body),
        }
    }
}

/// Where the chunked decoder is within `chunk-size [ext] CRLF data CRLF ...
/// 0 CRLF trailers CRLF` (RFC 9112 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum ChunkedState {
    #[default]
    Size,
    SizeLws,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    EndLf,
    Done,
}

/// The resumable chunked decoder.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Chunked {
    state: ChunkedState,
    /// Size of the current chunk; while in `Data`, the bytes still to come.
    size: u64,
    size_digits: u8,
    meta_bytes: usize,
}

impl Chunked {
    fn decode(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
        max_body: usize,
    ) -> Result<(usize, bool), BodyError> {
        use ChunkedState::*;
        let mut pos = 0;
        while pos < input.len() && self.state != Done {
            if self.state == Data {
                let take =
                    (input.len() - pos).min(usize::try_from(self.size).unwrap_or(usize::MAX));
                body.extend_from_slice(&input[pos..pos + take]);
                pos += take;
                self.size -= take as u64;
                if self.size == 0 {
                    self.state = DataCr;
                }
                continue;
            }
            let byte = input[pos];
            pos += 1;
            self.state = match (self.state, byte) {
                (Size, b) if b.is_ascii_hexdigit() => {
                    if self.size_digits == 16 {
                        return Err(BodyError::Malformed("chunk size too long"));
                    }
                    self.size_digits += 1;
                    self.size = self.size << 4 | u64::from(hex_value(b));
                    Size
                }
                (Size, _) if self.size_digits == 0 => {
                    return Err(BodyError::Malformed("chunk size missing"))
                }
                (Size | SizeLws, b' ' | b'\t') => SizeLws,
                (Size | SizeLws, b';') => Extension,
                // Whitespace may only precede an extension (BWS ";").
                (SizeLws, b'\r') => {
                    return Err(BodyError::Malformed("whitespace after chunk size"))
                }
                (Size | Extension, b'\r') => SizeLf,
                (Extension, b'\n') => {
                    return Err(BodyError::Malformed("bare LF in chunk extension"))
                }
                (Extension, _) => {
                    self.count_meta()?;
                    Extension
                }
                (SizeLf, b'\n') => {
                    let allowance = max_body.saturating_sub(body.len()) as u64;
                    if self.size > allowance {
                        return Err(BodyError::TooLarge);
                    }
                    if self.size == 0 {
                        TrailerStart
                    } else {
                        Data
                    }
                }
                (DataCr, b'\r') => DataLf,
                (DataLf, b'\n') => {
                    self.size_digits = 0;
                    Size
                }
                (TrailerStart, b'\r') => EndLf,
                // A trailer is a field line: token ":" value, no folding,
                // no control bytes (RFC 9112 §7.1.2, RFC 9110 §5).
                (TrailerStart | TrailerName, b) if is_tchar(b) => {
                    self.count_meta()?;
                    TrailerName
                }
                (TrailerName, b':') => {
                    self.count_meta()?;
                    TrailerValue
                }
                (TrailerValue, b'\r') => TrailerLf,
                (TrailerValue, b) if b == b'\t' || (b >= 0x20 && b != 0x7f) => {
                    self.count_meta()?;
                    TrailerValue
                }
                (TrailerStart | TrailerName | TrailerValue, _) => {
                    return Err(BodyError::Malformed("malformed trailer field"))
                }
                (TrailerLf, b'\n') => TrailerStart,
                (EndLf, b'\n') => Done,
                _ => return Err(BodyError::Malformed("invalid chunked encoding")),
            };
        }
        Ok((pos, self.state == Done))
    }

    fn count_meta(&mut self) -> Result<(), BodyError> {
        self.meta_bytes += 1;
        if self.meta_bytes > MAX_CHUNK_META_BYTES {
            return Err(BodyError::Malformed(
                "chunk extensions or trailers too long",
            ));
        }
        Ok(())
    }
}

/// `tchar` (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(
        framing: Framing,
        input: &[u8],
        step: usize,
    ) -> Result<(Vec<u8>, usize), BodyError> {
        let mut decoder = BodyDecoder::new(framing).unwrap();
        let mut body = Vec::new();
        let mut pos = 0;
        while pos < input.len() {
            let end = (pos + step).min(input.len());
            let (used, done) = decoder.decode(&input[pos..end], &mut body, 1024)?;
            if done {
                return Ok((body, pos + used));
            }
            assert_eq!(
                used,
                end - pos,
                "an unfinished decoder consumes all it is given"
            );
            pos = end;
        }
        Err(BodyError::Malformed("incomplete"))
    }

    #[test]
    fn chunked_decodes_at_any_split() {
        let input = b"5\r\nhello\r\n6;name=val\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        for step in 1..input.len() {
            let (body, used) = decode_all(Framing::Chunked, input, step).unwrap();
            assert_eq!(body, b"hello world", "step {step}");
            assert_eq!(&input[used..], b"NEXT", "step {step}");
        }
    }

    #[test]
    fn length_stops_at_its_end() {
        let (body, used) = decode_all(Framing::Length(3), b"abcdef", 2).unwrap();
        assert_eq!((body.as_slice(), used), (&b"abc"[..], 3));
    }

    #[test]
    fn malformed_chunked_is_rejected() {
        let bad: [&[u8]; 7] = [
            b"x\r\n",
            b"5\r\nhelloXX",
            b"5\nhello\r\n",
            b"11111111111111111\r\n",
            b"5 x\r\n",
            b"0\r\nTrailer\n",
            b"3;ext\nabc",
        ];
        for input in bad {
            assert!(
                matches!(
                    decode_all(Framing::Chunked, input, 64),
                    Err(BodyError::Malformed(_))
                ),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn bodies_over_the_limit_are_too_large() {
        let big = format!("{:x}\r\n", 2000);
        assert_eq!(
            decode_all(Framing::Chunked, big.as_bytes(), 64),
            Err(BodyError::TooLarge)
        );
        let input = vec![b'a'; 2000];
        assert_eq!(
            decode_all(Framing::Length(2000), &input, 512),
            Err(BodyError::TooLarge)
        );
    }

    #[test]
    fn chunk_sizes_near_two_to_the_64_never_wrap_the_limit() {
        for size in ["ffffffffffffffff", "fffffffffffffff0", "8000000000000000"] {
            for step in [1, 7, 64] {
                let input = format!("1\r\na\r\n{size}\r\n{}", "x".repeat(100));
                assert_eq!(
                    decode_all(Framing::Chunked, input.as_bytes(), step),
                    Err(BodyError::TooLarge),
                    "{size} in steps of {step}"
                );
            }
        }
    }

    #[test]
    fn endless_extensions_are_cut_off() {
        let mut input = b"1;".to_vec();
        input.extend(std::iter::repeat_n(b'a', MAX_CHUNK_META_BYTES + 1));
        assert!(matches!(
            decode_all(Framing::Chunked, &input, 100),
            Err(BodyError::Malformed(_))
        ));
    }
}
