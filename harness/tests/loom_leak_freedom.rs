#![cfg(loom)]
//! Model 4, leak freedom: every value is dropped exactly once, and no later than the last
//! `Context` or `Token` holding it, in every interleaving. The handles on one value are dropped
//! on three threads at once, two of which read the value first.

mod loom_support;

use ctxvars::mutant::Mutant;
use ctxvars::{copy_context, ContextVar};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// A value that counts its drops, with contents whose reads loom orders against its drop.
struct Tracked {
    drops: Arc<AtomicUsize>,
    contents: UnsafeCell<u32>,
}

impl Tracked {
    fn new(contents: u32) -> (Tracked, Arc<AtomicUsize>) {
        let drops = Arc::new(AtomicUsize::new(0));
        let tracked = Tracked {
            drops: drops.clone(),
            contents: UnsafeCell::new(contents),
        };
        (tracked, drops)
    }

    fn read(&self) -> u32 {
        // SAFETY: `contents` is only written by `drop`, which loom checks is ordered after this.
        self.contents.with(|contents| unsafe { *contents })
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        // SAFETY: `drop` has the value to itself; loom reports any read it is not ordered after.
        self.contents.with_mut(|contents| unsafe { *contents = 0 });
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: `contents` is only written by `drop`, which has the value to itself, so shared
// references only read it.
unsafe impl Sync for Tracked {}

static V: ContextVar<Tracked> = ContextVar::new("v");

fn drops(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::Relaxed)
}

fn leak_freedom() {
    let (a, a_drops) = Tracked::new(1);
    let (b, b_drops) = Tracked::new(2);
    let (c, c_drops) = Tracked::new(3);
    let token_a = V.set(a);
    let snapshot = copy_context();
    // `a` is now held by the snapshot's map and by this token.
    let token_b = V.set(b);

    // Two threads enter clones of the snapshot (one map): one reads `a` and replaces it with
    // `c`, the other reads `a`; each then drops its context.
    let c_dropped = c_drops.clone();
    let mut context = snapshot.clone();
    let replaces = thread::spawn(move || {
        context.run(|| {
            assert_eq!(
                V.with(|a| a.map(Tracked::read)),
                Some(1),
                "a snapshot holds `a`"
            );
            // The token holds this thread's handle on `a` until the end of `run`.
            let _token = V.set(c);
        });
        assert_eq!(drops(&c_dropped), 0, "`c` is alive while its context is");
        drop(context);
        assert_eq!(drops(&c_dropped), 1, "`c` is dropped with its last context");
    });
    let mut context = snapshot;
    let reads = thread::spawn(move || {
        context.run(|| {
            assert_eq!(
                V.with(|a| a.map(Tracked::read)),
                Some(1),
                "a snapshot holds `a`"
            );
        });
    });

    V.reset(token_b).unwrap();
    assert_eq!(drops(&b_drops), 1, "`b` is dropped when reset displaces it");
    let (d, d_drops) = Tracked::new(4);
    let (e, e_drops) = Tracked::new(5);
    let token_d = V.set(d);
    let token_e = V.set(e);
    // `d` is now held by `token_e` alone.
    drop(token_e);
    assert_eq!(
        drops(&d_drops),
        1,
        "`d` is dropped with the token holding it"
    );
    V.reset(token_d).unwrap();
    assert_eq!(drops(&e_drops), 1, "`e` is dropped when reset displaces it");
    // Drops this thread's handle on `a`, maybe while the other threads drop theirs.
    V.reset(token_a).unwrap();
    replaces.join().unwrap();
    reads.join().unwrap();
    let counts = [&a_drops, &b_drops, &c_drops, &d_drops, &e_drops].map(|counter| drops(counter));
    assert_eq!(
        counts, [1; 5],
        "each value is dropped once its last holder is gone"
    );
}

#[test]
fn leak_freedom_holds_in_every_interleaving() {
    loom_support::explore("leak freedom", loom::model::Builder::new(), leak_freedom);
}

#[test]
fn leak_freedom_fails_when_two_last_drops_race() {
    loom_support::assert_killed(
        "leak_freedom_fails_when_two_last_drops_race",
        Mutant::LostLastDrop,
        loom::model::Builder::new(),
        leak_freedom,
        "each value is dropped once its last holder is gone",
    );
}

#[test]
fn leak_freedom_fails_when_the_last_drop_does_not_acquire() {
    loom_support::assert_killed(
        "leak_freedom_fails_when_the_last_drop_does_not_acquire",
        Mutant::DropWithoutAcquire,
        loom::model::Builder::new(),
        leak_freedom,
        "Causality violation",
    );
}
