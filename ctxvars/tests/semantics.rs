//! Behaviour beyond CPython's test suite: Rust-only API, re-entrancy, copy-on-write
//! sharing, panics, futures and value lifetimes.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};

use ctxvars::{copy_context, propagate, Context, ContextFutureExt, ContextVar, TokenError};

/// Counts drops, so tests can prove each value is dropped exactly once.
#[derive(Clone)]
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn drops(counter: &Arc<AtomicUsize>) -> usize {
    counter.load(Ordering::SeqCst)
}

#[test]
fn scope_restores_previous_value_on_return_and_on_panic() {
    let var = ContextVar::new("v");
    let _outer = var.set_guard(1);
    assert_eq!(var.scope(2, || var.get()), Some(2));
    assert_eq!(var.get(), Some(1));
    let result = catch_unwind(AssertUnwindSafe(|| var.scope(3, || panic!("boom"))));
    assert!(result.is_err());
    assert_eq!(var.get(), Some(1));
}

#[test]
fn set_guard_resets_when_dropped() {
    let var = ContextVar::new("v");
    {
        let _guard = var.set_guard("inner");
        assert_eq!(var.get(), Some("inner"));
    }
    assert_eq!(var.get(), None);
}

#[test]
fn run_restores_caller_context_after_panic_and_keeps_changes() {
    let var = ContextVar::new("v");
    let _caller = var.set_guard(1);
    let mut ctx = Context::new();
    let result = catch_unwind(AssertUnwindSafe(|| {
        ctx.run(|| {
            let _ = var.set(2);
            panic!("inside run");
        })
    }));
    assert!(result.is_err());
    assert_eq!(var.get(), Some(1), "caller's context restored");
    assert_eq!(
        ctx.get(&var),
        Some(&2),
        "changes made before the panic stay in the context"
    );
}

#[test]
fn default_is_used_only_when_unset() {
    let var: ContextVar<u32> = ContextVar::with_default("v", || 7);
    assert_eq!(var.get(), Some(7));
    assert_eq!(var.with(|v| v.copied()), Some(7));
    assert_eq!(
        Context::current().get(&var),
        None,
        "contexts do not hold defaults"
    );
    var.scope(1, || assert_eq!(var.get(), Some(1)));
}

#[test]
fn with_borrows_without_cloning() {
    let var = ContextVar::new("v");
    let _g = var.set_guard(vec![1, 2, 3]);
    assert_eq!(var.with(|v| v.map(Vec::len)), Some(3));
    assert!(ContextVar::<Vec<u8>>::new("unset").with(|v| v.is_none()));
}

#[test]
fn setting_inside_with_does_not_disturb_the_borrowed_value() {
    let var = ContextVar::new("v");
    let _g = var.set_guard(String::from("first"));
    var.with(|borrowed| {
        let token = var.set(String::from("second"));
        assert_eq!(var.get().as_deref(), Some("second"));
        var.reset(token).unwrap();
        let _inner = var.set(String::from("third"));
        // The reference handed to `with` still points at the value it was given.
        assert_eq!(borrowed.map(String::as_str), Some("first"));
    });
    assert_eq!(var.get().as_deref(), Some("third"));
}

#[test]
fn value_reset_inside_with_lives_until_with_returns_then_drops_once() {
    let counter = Arc::new(AtomicUsize::new(0));
    let var = ContextVar::new("v");
    let token = var.set(Counted(counter.clone()));
    var.with(|borrowed| {
        var.reset(token).unwrap();
        assert!(var.with(|v| v.is_none()));
        assert_eq!(drops(&counter), 0, "the borrowed value outlives the reset");
        assert!(borrowed.is_some());
    });
    assert_eq!(drops(&counter), 1);
}

#[test]
fn reset_rejects_token_of_another_var_and_changes_nothing() {
    let a = ContextVar::new("a");
    let b = ContextVar::new("b");
    let token = a.set(1);
    let _b = b.set(2);
    assert_eq!(b.reset(token), Err(TokenError::DifferentVar));
    assert_eq!((a.get(), b.get()), (Some(1), Some(2)));
}

#[test]
fn reset_rejects_token_of_another_context_and_changes_nothing() {
    let var = ContextVar::new("v");
    let token = var.set(1);
    let mut other = copy_context();
    let (result, seen) = other.run(|| (var.reset(token), var.get()));
    assert_eq!(result, Err(TokenError::DifferentContext));
    assert_eq!(seen, Some(1));
    assert_eq!(var.get(), Some(1));
}

#[test]
fn tokens_made_in_a_context_reset_in_a_later_run_of_the_same_context() {
    let var = ContextVar::new("v");
    let mut ctx = Context::new();
    let token = ctx.run(|| var.set(1));
    assert_eq!(ctx.get(&var), Some(&1));
    assert_eq!(ctx.run(|| var.reset(token)), Ok(()));
    assert!(!ctx.contains(&var));
}

#[test]
fn a_clone_is_a_different_context_for_tokens() {
    let var = ContextVar::new("v");
    let mut ctx = Context::new();
    let token = ctx.run(|| var.set(1));
    let mut copy = ctx.clone();
    assert_eq!(
        copy.run(|| var.reset(token)),
        Err(TokenError::DifferentContext)
    );
    assert_eq!(copy.get(&var), Some(&1));
}

#[test]
fn token_reports_var_name_and_old_value() {
    let var = ContextVar::new("request_id");
    let first = var.set("a");
    let second = var.set("b");
    assert_eq!(first.var_name(), "request_id");
    assert_eq!(first.old_value(), None);
    assert_eq!(second.old_value(), Some(&"a"));
    assert_eq!(
        format!("{second:?}"),
        r#"Token { var: "request_id", had_old_value: true }"#
    );
}

#[test]
fn debug_output_names_vars_but_never_shows_values() {
    let user = ContextVar::new("user");
    let secret = ContextVar::new("api_key");
    let _u = user.set_guard("alice");
    let _s = secret.set_guard("hunter2");
    let shown = format!("{:?}", Context::current());
    assert_eq!(shown, r#"Context { vars: ["user", "api_key"] }"#);
    assert!(!format!("{:?} {:?}", secret, _s).contains("hunter2"));
    assert_eq!(format!("{_s:?}"), r#"VarGuard { var: "api_key" }"#);
}

#[test]
fn snapshot_is_isolated_from_later_sets_in_both_directions() {
    let var = ContextVar::new("v");
    let _g = var.set_guard(1);
    let mut snapshot = copy_context();
    let _later = var.set_guard(2);
    snapshot.run(|| {
        assert_eq!(var.get(), Some(1));
        let _ = var.set(3);
    });
    assert_eq!(var.get(), Some(2));
    assert_eq!(snapshot.get(&var), Some(&3));
}

#[test]
fn context_len_and_contains_follow_sets_and_resets() {
    let a = ContextVar::new("a");
    let b = ContextVar::new("b");
    assert!(Context::current().is_empty());
    let ta = a.set(1);
    let tb = b.set(2);
    let ctx = Context::current();
    assert_eq!(
        (ctx.len(), ctx.contains(&a), ctx.contains(&b)),
        (2, true, true)
    );
    a.reset(ta).unwrap();
    b.reset(tb).unwrap();
    assert_eq!(Context::current().len(), 0);
    assert_eq!(ctx.len(), 2, "a snapshot keeps its values");
}

#[test]
fn many_vars_keep_their_own_values() {
    let vars: Vec<ContextVar<usize>> = (0..40).map(|_| ContextVar::new("v")).collect();
    let tokens: Vec<_> = vars.iter().enumerate().map(|(i, v)| v.set(i)).collect();
    for (i, var) in vars.iter().enumerate() {
        assert_eq!(var.get(), Some(i));
    }
    for (var, token) in vars.iter().zip(tokens).rev() {
        var.reset(token).unwrap();
    }
    assert!(Context::current().is_empty());
}

#[test]
fn propagate_runs_in_the_snapshot_taken_at_wrap_time() {
    static TRACE: ContextVar<&str> = ContextVar::new("trace");
    let var = &TRACE;
    let job = var.scope("trace-abc-123", || propagate(move || var.get()));
    let _other = var.set_guard("other");
    assert_eq!(
        std::thread::spawn(job).join().unwrap(),
        Some("trace-abc-123")
    );
    let from_thread = ctxvars::thread::spawn(move || var.get()).join().unwrap();
    assert_eq!(from_thread, Some("other"));
}

/// Polls `fut` once with a no-op waker.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut TaskContext::from_waker(Waker::noop()))
}

/// A future that sets `var` to `value`, then yields, then reports what it sees.
fn task(var: &'static ContextVar<u32>, value: u32) -> impl Future<Output = Option<u32>> {
    let mut state = 0;
    std::future::poll_fn(move |cx| {
        state += 1;
        match state {
            1 => {
                let _ = var.set(value);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            _ => Poll::Ready(var.get()),
        }
    })
}

#[test]
fn two_tasks_interleaved_on_one_thread_never_see_each_others_values() {
    static VAR: ContextVar<u32> = ContextVar::new("task_var");
    let mut a = Box::pin(task(&VAR, 1).with_context(Context::new()));
    let mut b = Box::pin(task(&VAR, 2).with_context(Context::new()));
    assert!(poll_once(&mut a).is_pending());
    assert!(poll_once(&mut b).is_pending());
    assert_eq!(VAR.get(), None, "nothing leaks into the executor thread");
    assert_eq!(poll_once(&mut b), Poll::Ready(Some(2)));
    assert_eq!(poll_once(&mut a), Poll::Ready(Some(1)));
}

#[test]
fn with_current_context_snapshots_at_wrap_time() {
    static VAR: ContextVar<u32> = ContextVar::new("wrap_var");
    let mut fut = VAR.scope(5, || {
        Box::pin(std::future::poll_fn(|_| Poll::Ready(VAR.get())).with_current_context())
    });
    assert_eq!(poll_once(&mut fut), Poll::Ready(Some(5)));
}

#[test]
fn each_value_is_dropped_exactly_once_when_its_last_holder_goes() {
    let counter = Arc::new(AtomicUsize::new(0));
    let var = ContextVar::new("v");
    let mut ctx = Context::new();
    ctx.run(|| {
        let _ = var.set(Counted(counter.clone()));
    });
    let snapshot = ctx.clone();
    let token = ctx.run(|| var.set(Counted(counter.clone())));
    assert_eq!(
        drops(&counter),
        0,
        "the first value lives in the snapshot and the token"
    );
    drop(snapshot);
    assert_eq!(drops(&counter), 0, "the token still holds the first value");
    drop(token);
    assert_eq!(drops(&counter), 1, "first value: last holder gone");
    drop(ctx);
    assert_eq!(drops(&counter), 2, "second value freed with its context");
}

#[test]
fn values_set_on_a_thread_are_dropped_when_the_thread_exits() {
    let counter = Arc::new(AtomicUsize::new(0));
    let for_thread = counter.clone();
    std::thread::spawn(move || {
        static VAR: ContextVar<Counted> = ContextVar::new("thread_exit");
        // ctxlint: ignore[CTX001] the value must outlive the token until the thread exits
        let _leaked_token_is_not_a_reset = VAR.set(Counted(for_thread));
    })
    .join()
    .unwrap();
    assert_eq!(drops(&counter), 1);
}

/// Uses ctxvars from a value's destructor while thread-local storage is torn down.
struct UsesContextOnDrop(&'static ContextVar<u32>);

impl Drop for UsesContextOnDrop {
    fn drop(&mut self) {
        let token = self.0.set(9);
        let _ = self.0.get();
        let _ = self.0.reset(token);
        Context::new().run(|| ());
    }
}

#[test]
fn using_ctxvars_from_a_destructor_at_thread_exit_does_not_panic() {
    static HOLDER: ContextVar<UsesContextOnDrop> = ContextVar::new("holder");
    static INNER: ContextVar<u32> = ContextVar::new("inner");
    let joined = std::thread::spawn(|| {
        // ctxlint: ignore[CTX001] the value must be dropped by thread-local teardown
        let _ = HOLDER.set(UsesContextOnDrop(&INNER));
    })
    .join();
    assert!(joined.is_ok());
}

#[test]
fn values_from_a_dropped_context_are_not_reachable_through_a_fresh_var() {
    let counter = Arc::new(AtomicUsize::new(0));
    {
        let var = ContextVar::new("short_lived");
        let _ = var.set(Counted(counter.clone()));
    }
    let fresh: ContextVar<Counted> = ContextVar::new("short_lived");
    assert!(
        fresh.with(|v| v.is_none()),
        "a new var never sees another var's entry"
    );
}
