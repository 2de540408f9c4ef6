//! A minimal executor: the future runs on this thread, which parks until
//! its waker is called. Tests run tether's futures on it as well as on
//! tokio, to show they assume no runtime.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to its end on this thread; panics if it takes longer than
/// `within` (a lost wake-up would otherwise hang the test).
#[track_caller]
pub fn block_on<F: Future>(within: Duration, future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let deadline = Instant::now() + within;
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "the future did not finish within {within:?}"
        );
        // Woken by the waker; a spurious return only polls once more.
        std::thread::park_timeout(left);
    }
}
