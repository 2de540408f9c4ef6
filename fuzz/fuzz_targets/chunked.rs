//! Chunked bodies: fed in pieces whose sizes the input chooses, with a small
//! body limit. Never a panic, never a body past the limit, never more bytes
//! consumed than given (the chunk-size wraparound was found with the
//! dictionary: `-dict=dict/http.dict`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether::internals::ChunkedDecoder;

const MAX_BODY: usize = 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&step, input)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let mut decoder = ChunkedDecoder::default();
    let mut body = Vec::new();
    let mut buffered = Vec::new();
    for piece in input.chunks(step) {
        buffered.extend_from_slice(piece);
        match decoder.decode_within(&buffered, &mut body, MAX_BODY) {
            Some((used, done)) => {
                assert!(used <= buffered.len());
                buffered.drain(..used);
                if done {
                    break;
                }
            }
            None => break,
        }
        assert!(body.len() <= MAX_BODY);
    }
    assert!(body.len() <= MAX_BODY);
});
