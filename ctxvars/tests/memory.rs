//! A long-running worker must hold constant memory: set/reset and snapshots in a loop
//! neither grow nor leak. Allocation is counted per thread, so the test harness's own
//! threads do not disturb the numbers.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ctxvars::{copy_context, ContextVar};

struct PerThreadCounting;

thread_local! {
    static LIVE_BYTES: Cell<isize> = const { Cell::new(0) };
    static PEAK_BYTES: Cell<isize> = const { Cell::new(0) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn record(delta: isize) {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let _ = LIVE_BYTES.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK_BYTES.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: forwards to the system allocator; the bookkeeping never allocates.
unsafe impl GlobalAlloc for PerThreadCounting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        record(layout.size() as isize);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record(-(layout.size() as isize));
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: PerThreadCounting = PerThreadCounting;

fn live() -> isize {
    LIVE_BYTES.with(Cell::get)
}

fn reset_peak() {
    PEAK_BYTES.with(|peak| peak.set(live()));
}

fn peak() -> isize {
    PEAK_BYTES.with(Cell::get)
}

static REQUEST_ID: ContextVar<u64> = ContextVar::new("request_id");
static USER: ContextVar<String> = ContextVar::new("user");

fn one_request(i: u64) {
    let id = REQUEST_ID.set(i);
    let user = USER.set(format!("user-{}", i % 7));
    let mut snapshot = copy_context();
    snapshot.run(|| assert_eq!(REQUEST_ID.get(), Some(i)));
    USER.reset(user).unwrap();
    REQUEST_ID.reset(id).unwrap();
}

/// Runs `work` for `iterations` after a warm-up; returns (net bytes, peak growth).
fn measure(iterations: u64, work: impl Fn(u64)) -> (isize, isize) {
    for i in 0..1_000 {
        work(i);
    }
    let before = live();
    reset_peak();
    for i in 0..iterations {
        work(i);
    }
    (live() - before, peak() - before)
}

#[test]
fn ten_million_set_reset_iterations_hold_constant_memory() {
    let (net, peak) = measure(10_000_000, |i| {
        let token = REQUEST_ID.set(i);
        REQUEST_ID.reset(token).unwrap();
    });
    assert_eq!(net, 0, "net allocation after the loop");
    // One value box at a time; nothing grows with the iteration count.
    assert!(peak <= 64, "peak grew by {peak} bytes");
}

#[test]
fn steady_set_reset_does_not_allocate() {
    // The first set allocates a value block; from then on each reset leaves the block for
    // the thread's next set, so a worker's set/reset loop never calls the allocator.
    let warm = REQUEST_ID.set(0);
    REQUEST_ID.reset(warm).unwrap();
    let before = ALLOCATIONS.with(Cell::get);
    for i in 0..1_000 {
        let token = REQUEST_ID.set(i);
        REQUEST_ID.reset(token).unwrap();
    }
    assert_eq!(ALLOCATIONS.with(Cell::get) - before, 0);
}

#[test]
fn requests_with_snapshots_hold_constant_memory() {
    let (net, peak) = measure(200_000, one_request);
    assert_eq!(net, 0, "net allocation after the loop");
    assert!(peak < 1024, "peak grew by {peak} bytes");
}
