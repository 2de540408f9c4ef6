// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

//! Micro-benchmarks of the pieces on every request's path.
//!
//! ```text
//! cargo bench --features internals --bench micro
//! ```

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tether::internals::{connection_bytes, encode_response, ChunkedDecoder, HeadParser, Timers};
use tether::Response;

const CURL_HEAD: &[u8] =
    b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";
const BROWSER_HEAD: &[u8] = b"GET /index.html?q=tether HTTP/1.1\r\nHost: example.test\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n\
Connection: keep-alive\r\nCookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Site: none\r\nSec-Fetch-User: ?1\r\nPriority: u=0, i\r\n\r\n";

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_head");
    for (name, head) in [("curl", CURL_HEAD), ("browser", BROWSER_HEAD)] {
        group.throughput(Throughput::Bytes(head.len() as u64));
        let mut parser = HeadParser::default();
        group.bench_function(name, |b| {
            b.iter(|| parser.parse(std::hint::black_box(head)).unwrap())
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode_response");
    let date = "Sun, 22 Nov 2026 15:00:00 GMT";
    let hello = Response::text(200, "Hello, World!");
    let mut out = Vec::with_capacity(4096);
    group.bench_function("hello", |b| {
        b.iter(|| {
            out.clear();
            encode_response(&mut out, std::hint::black_box(&hello), date);
        })
    });
    let big = Response::new(200)
        .with_header("Content-Type", "application/octet-stream")
        .with_header("Cache-Control", "no-store")
        .with_body(vec![7u8; 64 * 1024]);
    group.throughput(Throughput::Bytes(64 * 1024));
    group.bench_function("64KiB", |b| {
        b.iter(|| {
            out.clear();
            encode_response(&mut out, std::hint::black_box(&big), date);
        })
    });
    group.finish();
}

fn chunked(c: &mut Criterion) {
    let mut body = Vec::new();
    for _ in 0..64 {
        body.extend_from_slice(b"400\r\n");
        body.extend_from_slice(&[b'c'; 1024]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let mut group = c.benchmark_group("chunked_decode");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("64x1KiB", |b| {
        b.iter_batched_ref(
            || (ChunkedDecoder::default(), Vec::with_capacity(64 * 1024)),
            |(decoder, out)| decoder.decode(&body, out).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("64x1KiB_in_7_byte_pieces", |b| {
        b.iter_batched_ref(
            || (ChunkedDecoder::default(), Vec::with_capacity(64 * 1024)),
            |(decoder, out)| {
                for piece in body.chunks(7) {
                    decoder.decode(piece, out).unwrap();
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn timers(c: &mut Criterion) {
    const OWNERS: usize = 10_000;
    let mut group = c.benchmark_group("timers");
    // A keep-alive request pushes its connection's deadline later: no heap work.
    group.bench_function("extend_10k", |b| {
        let mut timers = Timers::new(OWNERS);
        let start = Instant::now();
        for key in 0..OWNERS {
            timers.arm(key, start + Duration::from_secs(60));
        }
        let mut t = 0u64;
        b.iter(|| {
            t += 1;
            for key in 0..OWNERS {
                timers.arm(
                    key,
                    start + Duration::from_secs(60) + Duration::from_nanos(t),
                );
            }
        })
    });
    // 10k deadlines armed, then all expire.
    group.bench_function("arm_and_expire_10k", |b| {
        b.iter_batched_ref(
            || {
                let mut timers = Timers::new(OWNERS);
                let start = Instant::now();
                for key in 0..OWNERS {
                    timers.arm(key, start + Duration::from_micros(key as u64));
                }
                timers
            },
            |timers| timers.expire(Instant::now() + Duration::from_secs(1)),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn slab_churn(c: &mut Criterion) {
    // An entry at least as large as a connection's, inserted and removed, as
    // accept and reap do.
    assert!(
        connection_bytes() <= 512,
        "a connection is {} bytes",
        connection_bytes()
    );
    let mut group = c.benchmark_group("slab_churn");
    group.bench_function("insert_remove_512_byte_entries", |b| {
        let mut slab: slab::Slab<[u8; 512]> = slab::Slab::with_capacity(1024);
        let keys: Vec<usize> = (0..512).map(|_| slab.insert([0; 512])).collect();
        let mut i = 0;
        b.iter(|| {
            let key = keys[i % keys.len()];
            let entry = slab.remove(key);
            let again = slab.insert(std::hint::black_box(entry));
            i += 1;
            again
        })
    });
    group.finish();
}

criterion_group!(benches, parse, encode, chunked, timers, slab_churn);
criterion_main!(benches);
