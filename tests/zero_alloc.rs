//! After warm-up, a keep-alive request answered on the reactor thread costs
//! no heap allocation at all: parsing reuses the reactor's request, buffers
//! come from the pool, the response's headers live inline, the Date is
//! formatted in place. Allocation counts are deterministic, so this is a test.

mod util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use tether::{Action, Config, Exchange, Response};
use util::*;

/// Counts allocations made by threads that asked to be counted.
struct Counting;

static COUNTED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNT_THIS_THREAD: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// bookkeeping is an atomic add guarded by a const-initialised thread-local
// flag, which never allocates. Observing allocations needs a global
// allocator; no safe API offers that.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNT_THIS_THREAD.try_with(Cell::get).unwrap_or(false) {
            COUNTED.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNT_THIS_THREAD.try_with(Cell::get).unwrap_or(false) {
            COUNTED.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: `ptr` was allocated by `System` through this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` through this allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One test at a time: the count is process-wide.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

const REQUEST: &[u8] = b"GET /hello HTTP/1.1\r\nHost: t\r\nUser-Agent: zero-alloc\r\n\r\n";

/// Sends `n` requests on `client` and reads the `n` responses, whose
/// length it learns from the first.
fn round_trips(client: &mut std::net::TcpStream, n: usize, response_len: usize) {
    let mut buf = vec![0u8; response_len];
    for _ in 0..n {
        client.write_all(REQUEST).unwrap();
        client.read_exact(&mut buf).unwrap();
        assert!(buf.ends_with(b"Hello, World!"));
    }
}

/// The length of one response to `REQUEST` from `server`.
fn response_len(server: &tether::Server) -> usize {
    let mut probe = Client::connect(server.local_addr());
    probe.send(REQUEST);
    let reply = probe.read_reply(false);
    let date = reply.header("date").unwrap().len();
    // Status line + Content-Type + Date + Content-Length + blank + body.
    "HTTP/1.1 200 OK\r\n".len()
        + "Content-Type: text/plain; charset=utf-8\r\n".len()
        + "Date: \r\n".len()
        + date
        + "Content-Length: 13\r\n\r\n".len()
        + 13
}

/// Allocations on counted threads for 4,000 keep-alive requests on four
/// connections, after 800 to warm up.
fn allocations_for_4000_requests(server: &tether::Server) -> u64 {
    let response_len = response_len(server);
    let mut clients: Vec<_> = (0..4)
        .map(|_| std::net::TcpStream::connect(server.local_addr()).unwrap())
        .collect();
    for client in &mut clients {
        round_trips(client, 200, response_len); // warm-up: pools fill
    }
    let before = COUNTED.load(Ordering::SeqCst);
    for client in &mut clients {
        round_trips(client, 1000, response_len);
    }
    let allocations = COUNTED.load(Ordering::SeqCst) - before;
    assert!(server.stats().requests >= 4801);
    allocations
}

#[test]
fn keep_alive_requests_answered_inline_allocate_nothing_after_warm_up() {
    let _alone = one_at_a_time();
    let server = serve(Config::default(), |req| {
        // The handler runs on the reactor thread: count that thread.
        COUNT_THIS_THREAD.with(|c| c.set(true));
        assert_eq!(req.header("user-agent"), Some(&b"zero-alloc"[..]));
        Action::Respond(Response::text(200, "Hello, World!"))
    });
    let allocations = allocations_for_4000_requests(&server);
    assert_eq!(
        allocations, 0,
        "allocations on the reactor thread for 4,000 requests"
    );
}

/// The worker path reuses what a hand-off needs — the request's buffers and
/// the exchange's cell go back to the reactor when the exchange ends, and
/// the queues keep their capacity — so after warm-up a request handed to a
/// worker allocates nothing, on the reactor or on the worker. The bound
/// leaves room for a rare race: a cell both sides let go of at the same
/// instant is freed, and the next hand-off makes one.
#[test]
fn keep_alive_requests_handed_to_workers_allocate_almost_nothing_after_warm_up() {
    let _alone = one_at_a_time();
    for detached in [false, true] {
        let server = serve(Config::default(), |_| {
            COUNT_THIS_THREAD.with(|c| c.set(true));
            Action::handoff()
        });
        server.workers(2, move |exchange: Exchange| {
            COUNT_THIS_THREAD.with(|c| c.set(true));
            assert_eq!(
                exchange.request().header("user-agent"),
                Some(&b"zero-alloc"[..])
            );
            let response = Response::text(200, "Hello, World!");
            let _ = if detached {
                exchange.respond_detached(response)
            } else {
                exchange.respond(response)
            };
        });
        let allocations = allocations_for_4000_requests(&server);
        assert!(
            allocations <= 40,
            "{allocations} allocations on the reactor and workers for 4,000 \
             requests (respond_detached: {detached})"
        );
    }
}
