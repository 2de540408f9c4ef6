//! WebSocket frames from a client: fed in pieces, with small limits. Never
//! a panic, never a message past the limit; a violation is a close code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether::internals::FrameDecoder;

const MAX_FRAME: u64 = 512;
const MAX_MESSAGE: usize = 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&step, input)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let mut decoder = FrameDecoder::default();
    let mut buffered = Vec::new();
    'feed: for piece in input.chunks(step) {
        buffered.extend_from_slice(piece);
        loop {
            match decoder.decode(&buffered, MAX_FRAME, MAX_MESSAGE) {
                Ok((used, message)) => {
                    assert!(used <= buffered.len());
                    buffered.drain(..used);
                    match message {
                        Some(len) => assert!(len <= MAX_MESSAGE),
                        None => break,
                    }
                }
                Err(code) => {
                    assert!(matches!(code, 1002 | 1007 | 1009), "code {code}");
                    break 'feed;
                }
            }
        }
    }
});
