//! Property tests of the parsers on arbitrary peer bytes: they never panic,
//! decode the same whatever the bytes' split into reads, and never take
//! more than their limits allow. (Under plain `cargo test`; the fuzz
//! targets of issue 9 go further.)

use proptest::prelude::*;

use super::body::{BodyDecoder, BodyError};
use super::parse::{parse_head, Framing};
use super::request::Request;

/// Bytes biased towards what parsers care about: digits, hex, CR, LF,
/// spaces, colons, semicolons, and the sizes that wrap.
fn peer_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"\r\n".to_vec()),
        Just(b"0\r\n\r\n".to_vec()),
        Just(b"ffffffffffffffff".to_vec()),
        Just(b"10000000000000000".to_vec()),
        Just(b";ext=1".to_vec()),
        Just(b"X: y\r\n".to_vec()),
        Just(b" ".to_vec()),
        prop::collection::vec(any::<u8>(), 1..8),
        prop::collection::vec(
            prop::sample::select(b"0123456789abcdefABCDEF".to_vec()),
            1..6
        ),
    ];
    prop::collection::vec(token, 0..24).prop_map(|parts| parts.concat())
}

/// A chunked body as a peer might send it: honest chunks, chunks whose size
/// lies (near 2^64, or too many digits), extensions, trailers, garbage.
fn chunked_stream() -> impl Strategy<Value = Vec<u8>> {
    let honest = prop::collection::vec(any::<u8>(), 0..12).prop_map(|data| {
        [
            format!("{:x}\r\n", data.len()).into_bytes(),
            data,
            b"\r\n".to_vec(),
        ]
        .concat()
    });
    let lying = (
        prop::sample::select(vec![
            "ffffffffffffffff",
            "fffffffffffffff0",
            "8000000000000000",
            "7fffffffffffffff",
            "10000000000000000",
            "00000000000000001",
        ]),
        prop::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(|(size, data)| [format!("{size}\r\n").into_bytes(), data].concat());
    let item = prop_oneof![
        4 => honest,
        2 => lying,
        1 => Just(b"1;ext=\"v\"\r\nz\r\n".to_vec()),
        1 => Just(b"0\r\nX-T: v\r\n\r\n".to_vec()),
        1 => Just(b"0\r\n\r\n".to_vec()),
        1 => peer_bytes(),
    ];
    prop::collection::vec(item, 1..8).prop_map(|items| items.concat())
}

/// Runs a chunked decode over `input` in pieces of `step` bytes.
fn chunked(input: &[u8], step: usize, max: usize) -> (Result<bool, BodyError>, Vec<u8>) {
    let mut decoder = BodyDecoder::new(Framing::Chunked).unwrap();
    let mut body = Vec::new();
    let mut buffered = Vec::new();
    for piece in input.chunks(step.max(1)) {
        buffered.extend_from_slice(piece);
        match decoder.decode(&buffered, &mut body, max) {
            Ok((used, done)) => {
                assert!(used <= buffered.len());
                buffered.drain(..used);
                if done {
                    return (Ok(true), body);
                }
            }
            Err(err) => return (Err(err), body),
        }
        assert!(body.len() <= max, "took {} bytes into {max}", body.len());
    }
    (Ok(false), body)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn chunked_decoding_is_bounded_and_independent_of_the_split(
        input in prop_oneof![chunked_stream(), peer_bytes()],
        step in 1usize..40,
        max in 0usize..64,
    ) {
        let (whole, whole_body) = chunked(&input, input.len().max(1), max);
        let (split, split_body) = chunked(&input, step, max);
        prop_assert!(whole_body.len() <= max && split_body.len() <= max);
        // A complete or refused body is the same verdict at any split.
        if whole.is_err() || whole == Ok(true) {
            prop_assert_eq!(&whole, &split);
            prop_assert_eq!(whole_body, split_body);
        }
    }

    #[test]
    fn fixed_length_decoding_never_exceeds_the_limit(
        length in any::<u64>(),
        input in prop::collection::vec(any::<u8>(), 0..256),
        max in 0usize..128,
    ) {
        let mut decoder = BodyDecoder::new(Framing::Length(length.max(1))).unwrap();
        let mut body = Vec::new();
        if let Ok((used, _)) = decoder.decode(&input, &mut body, max) {
            prop_assert!(used <= input.len());
        }
        prop_assert!(body.len() <= max);
    }

    #[test]
    fn head_parsing_never_panics_and_reports_a_length_within_the_input(
        prefix in prop::sample::select(vec![
            &b"GET / HTTP/1.1\r\n"[..],
            &b"POST /x HTTP/1.0\r\n"[..],
            &b"GET http://a.example/p HTTP/1.1\r\n"[..],
            &b""[..],
        ]),
        rest in peer_bytes(),
        max_headers in 1usize..70,
    ) {
        let input = [prefix, &rest[..]].concat();
        let mut request = Request::default();
        if let Ok(Some((len, _))) = parse_head(&input, max_headers, &mut request) {
            prop_assert!(len <= input.len());
            // Accessors never panic on what was accepted.
            let _ = (request.path(), request.query(), request.host(), request.method());
        }
    }
}

/// Inputs the fuzz targets once crashed on (`fuzz/regressions/<target>/`),
/// replayed as the targets replay them, on every `cargo test`.
#[test]
fn fuzz_regressions_stay_fixed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/chunked");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/regressions/chunked") {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let Some((&step, input)) = data.split_first() else {
            continue;
        };
        let (_, body) = chunked(input, usize::from(step).max(1), 1024);
        assert!(body.len() <= 1024);
        replayed += 1;
    }
    assert!(replayed > 0, "no regression inputs in {}", dir.display());
}
