//! Request heads: any bytes, never a panic; an accepted head's length lies
//! within the input; a refusal is a 4xx/5xx status.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether::internals::HeadParser;

fuzz_target!(|data: &[u8]| {
    let mut parser = HeadParser::default();
    match parser.parse(data) {
        Ok(Some(len)) => assert!(len <= data.len()),
        Ok(None) => {}
        Err(status) => assert!((400..=599).contains(&status)),
    }
});
