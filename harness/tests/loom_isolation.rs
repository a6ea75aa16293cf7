#![cfg(loom)]
//! Model 1, isolation: threads that start from one shared snapshot set the same variable to
//! different values, snapshot, run their snapshots and reset, while the thread that made
//! the snapshot sets its own value. Every `get` sees its own thread's or snapshot's value.

mod loom_support;

use ctxvars::mutant::Mutant;
use ctxvars::{copy_context, ContextVar};
use loom::thread;

static V: ContextVar<u32> = ContextVar::new("v");

const BASE: u32 = 7;

fn isolation() {
    let base_token = V.set(BASE);
    let base = copy_context();
    let workers: Vec<_> = [1, 2]
        .into_iter()
        .map(|me| {
            let mut context = base.clone();
            thread::spawn(move || {
                context.run(|| worker(me));
                assert_eq!(
                    context.get(&V),
                    Some(&me),
                    "a worker's context keeps its set"
                );
                assert_eq!(V.get(), None, "a worker's thread after `run`");
            })
        })
        .collect();
    drop(base);

    let token = V.set(100);
    assert_eq!(V.get(), Some(100), "the spawning thread's own set");
    V.reset(token).unwrap();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(V.get(), Some(BASE), "the spawning thread after the workers");
    V.reset(base_token).unwrap();
    assert_eq!(V.get(), None, "the spawning thread after its resets");
}

/// Runs inside a clone of the spawning thread's snapshot; leaves `me` set in it.
fn worker(me: u32) {
    assert_eq!(V.get(), Some(BASE), "a worker's inherited value");
    let _kept = V.set(me);
    assert_eq!(V.get(), Some(me), "a worker's own set");
    let mut snapshot = copy_context();
    let inner = V.set(me + 10);
    snapshot.run(|| {
        assert_eq!(V.get(), Some(me), "a worker's snapshot");
        let _kept = V.set(me + 20);
    });
    assert_eq!(
        V.get(),
        Some(me + 10),
        "a worker after running its snapshot"
    );
    assert_eq!(
        snapshot.get(&V),
        Some(&(me + 20)),
        "a worker's snapshot keeps its set"
    );
    V.reset(inner).unwrap();
    assert_eq!(V.get(), Some(me), "a worker after its reset");
}

/// `LOOM_MAX_PREEMPTIONS=4`, fixed here: unbounded, these three threads make about 1.1 million
/// interleavings (over a minute); four preemptions make about 20 thousand (seconds).
fn builder() -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(4);
    builder
}

#[test]
fn isolation_holds_in_every_interleaving() {
    loom_support::explore("isolation", builder(), isolation);
}

#[test]
fn isolation_fails_when_set_writes_into_a_shared_map() {
    loom_support::assert_killed(
        "isolation_fails_when_set_writes_into_a_shared_map",
        Mutant::SetInPlace,
        builder(),
        isolation,
        "a worker's snapshot",
    );
}
