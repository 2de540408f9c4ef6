//! A global allocator that counts allocations: of threads that asked, or
//! (in `count_all_but_excluded` mode) of every thread but the ones that
//! excluded themselves — for servers whose threads we do not start.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub struct Counting;

static COUNTED: AtomicU64 = AtomicU64::new(0);
static COUNT_ALL: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// `Some(true)`: count; `Some(false)`: never count; `None`: count only
    /// in count-all mode.
    static COUNT_THIS_THREAD: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Counts this thread's allocations from now on.
pub fn count_this_thread() {
    COUNT_THIS_THREAD.with(|c| c.set(Some(true)));
}

/// Never counts this thread's allocations (the load client's).
pub fn exclude_this_thread() {
    COUNT_THIS_THREAD.with(|c| c.set(Some(false)));
}

/// From now on, counts every thread that did not exclude itself.
pub fn count_all_but_excluded() {
    COUNT_ALL.store(true, Ordering::Relaxed);
}

pub fn counted() -> u64 {
    COUNTED.load(Ordering::Relaxed)
}

fn note() {
    let mark = COUNT_THIS_THREAD.try_with(Cell::get).unwrap_or(Some(false));
    if mark.unwrap_or_else(|| COUNT_ALL.load(Ordering::Relaxed)) {
        COUNTED.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call goes unchanged to the system allocator; the counting
// is an atomic add behind a const-initialised thread-local (no allocation).
// Counting allocations needs a global allocator; no safe API offers one.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: `ptr` came from `System` through this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}
