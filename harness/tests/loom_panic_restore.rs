#![cfg(loom)]
//! Model 5, panic restore: a panic inside `Context::run`, inside `scope`, or one that drops a
//! `VarGuard` leaves the caller's context exactly as before, on two threads that enter clones
//! of one snapshot.

mod loom_support;

use std::panic::{catch_unwind, panic_any, AssertUnwindSafe};

use ctxvars::mutant::Mutant;
use ctxvars::{copy_context, Context, ContextVar};
use loom::thread;
use loom_support::PLANNED;

static V: ContextVar<u32> = ContextVar::new("v");
static W: ContextVar<u32> = ContextVar::new("w");

fn planned_panic<R>(f: impl FnOnce() -> R) {
    let outcome = catch_unwind(AssertUnwindSafe(f));
    assert!(outcome.is_err(), "the planned panic happened");
}

/// Panics three ways in `shared` and in the caller's context; `me` is this thread's value.
fn panics(me: u32, shared: &Context) {
    let outer = V.set(me);
    // Made before the panics: it still resets afterwards only if the context is the same one.
    let token = W.set(me);
    let state = || (V.get(), W.get(), Context::current().len());
    let before = state();
    assert_eq!(before, (Some(me), Some(me), 2), "before the panics");

    let mut entered = shared.clone();
    planned_panic(|| {
        entered.run(|| {
            let _kept = V.set(me + 10);
            panic_any(PLANNED)
        })
    });
    assert_eq!(state(), before, "after a panic inside `run`");
    assert_eq!(
        entered.get(&V),
        Some(&(me + 10)),
        "`run` keeps a set made before a panic"
    );

    planned_panic(|| V.scope(me + 20, || panic_any(PLANNED)));
    assert_eq!(state(), before, "after a panic inside `scope`");

    planned_panic(|| {
        let _guard = V.set_guard(me + 30);
        let _guard = W.set_guard(me + 30);
        panic_any(PLANNED)
    });
    assert_eq!(state(), before, "after a panic that drops `VarGuard`s");

    assert_eq!(W.reset(token), Ok(()), "a token made before the panics");
    V.reset(outer).unwrap();
}

fn panic_restore() {
    let base = V.set(0);
    let shared = copy_context();
    let mut other_context = shared.clone();
    let other_shared = shared.clone();
    let other = thread::spawn(move || {
        other_context.run(|| panics(2, &other_shared));
        assert_eq!(V.get(), None, "the other thread after `run`");
    });
    panics(1, &shared);
    other.join().unwrap();
    assert_eq!(
        V.get(),
        Some(0),
        "the spawning thread after the other thread"
    );
    V.reset(base).unwrap();
}

#[test]
fn panic_restore_holds_in_every_interleaving() {
    loom_support::explore("panic restore", loom::model::Builder::new(), panic_restore);
}

#[test]
fn panic_restore_fails_when_run_keeps_its_context_on_panic() {
    loom_support::assert_killed(
        "panic_restore_fails_when_run_keeps_its_context_on_panic",
        Mutant::RunKeepsContextOnPanic,
        loom::model::Builder::new(),
        panic_restore,
        "after a panic inside `run`",
    );
}

#[test]
fn panic_restore_fails_when_a_guard_skips_its_reset_on_panic() {
    loom_support::assert_killed(
        "panic_restore_fails_when_a_guard_skips_its_reset_on_panic",
        Mutant::GuardSkipsResetOnPanic,
        loom::model::Builder::new(),
        panic_restore,
        "after a panic inside `scope`",
    );
}
