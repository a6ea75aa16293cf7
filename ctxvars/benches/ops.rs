//! Hot-path costs of ctxvars next to `opentelemetry::Context` and `tokio::task_local!`.
//!
//! Run with `cargo bench -p ctxvars --bench ops`, or `bench/run` from the workspace root to
//! get the side-by-side table with CPython (`bench/cpython.py`) and the ratios.
//!
//! Every operation is a criterion group `<op>/<vars>` (`get/1`, `get/16`, ...) with one
//! function per library (`ctxvars`, `opentelemetry`, `task_local`), so the results land in
//! `target/criterion/<op>_<vars>/<library>/new/estimates.json` (criterion replaces the `/`
//! of a group name with `_` on disk; `benchmark.json` next to it keeps the real names).
//!
//! "`N` vars set" means the measured variable plus `N - 1` other distinct variables are set
//! in the current context before measuring, for every library:
//! - ctxvars: `N` distinct `ContextVar<u64>` statics (`VARS`), set inside a fresh `Context`.
//! - opentelemetry: `N` distinct value types `K<0>` .. `K<N-1>` in one attached `Context`.
//! - task_local: `N` distinct keys `T0` .. `T{N-1}`, entered with `N` nested `sync_scope`s.
//!
//! The measured variable is always the first one (`VARS[0]`, `K<0>`, `T0`).
//!
//! What each library does for each operation (no entry = not available, reported "n/a"):
//!
//! | op           | ctxvars                        | opentelemetry                                    | task_local                        |
//! |--------------|--------------------------------|--------------------------------------------------|-----------------------------------|
//! | get          | `V.get()`                      | `Context::map_current(\|cx\| cx.get::<K>().map(\|k\| k.0))` | `T.try_with(\|v\| *v).ok()` |
//! | with         | `V.with(\|v\| v.copied())`     | `Context::map_current(\|cx\| f(cx.get::<K>()))` (same as get: otel has no separate borrow API) | `T.try_with(\|v\| f(v))` |
//! | set_reset    | `V.reset(V.set(2))`            | `drop(Context::current_with_value(K(2)).attach())` | `T.sync_scope(2, \|\| ())`      |
//! | scope        | `V.scope(2, f)`                | `{ let _g = Context::current_with_value(K(2)).attach(); f() }` | `T.sync_scope(2, f)`  |
//! | copy_context | `copy_context()` (+ drop)      | `Context::current()` (+ drop)                    | n/a (no snapshot)                 |
//! | run          | `ctx.run(f)`                   | `{ let _g = cx.clone().attach(); f() }` (otel has no `run`; this is what its `WithContext::poll` does) | n/a (no snapshot to enter) |
//! | poll         | `AlwaysReady.with_context(ctx)` polled | `FutureExt::with_context(AlwaysReady, cx)` polled | `T0.scope(1, .. T{N-1}.scope(1, AlwaysPending))` polled |
//!
//! `f` is `|| black_box(0u64)`; `with` passes the reference through `black_box` in all three.
//! `ctx`/`cx` are snapshots taken with the `N` vars set. `copy_context` also has
//! `ctxvars_nodrop`: the snapshot alone, its drop moved out of the timed loop (criterion's
//! `iter_with_large_drop`).
//!
//! The `poll` groups also measure the bare inner futures (`bare` = `AlwaysReady`,
//! `bare_pending` = `AlwaysPending`); the wrapper overhead is `wrapped - bare`. task_local polls an always-Pending future because tokio's
//! `TaskLocalFuture` drops its inner future once it is Ready and panics on the next poll; the
//! ctxvars and otel wrappers do not look at the result, so Ready vs Pending makes no
//! difference to them. For 16 vars the task_local wrapper is 16 nested `scope`s: the only way
//! to carry 16 task-locals into a future.

use std::future::Future;
use std::hint::black_box;
use std::pin::{pin, Pin};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, Bencher, BenchmarkGroup, Criterion};
use ctxvars::{ContextFutureExt, ContextVar};
use opentelemetry::Context as OtelContext;
use tokio::task::LocalKey;

/// Number of variables set while measuring.
const SIZES: [usize; 2] = [1, 16];

// ---------------------------------------------------------------------------------------
// ctxvars

/// Sixteen distinct variables (each array element is its own key).
static VARS: [ContextVar<u64>; 16] = [const { ContextVar::new("bench") }; 16];

/// The variable every ctxvars benchmark reads or writes.
static V: &ContextVar<u64> = &VARS[0];

/// Runs `f` inside a fresh context in which `VARS[..n]` are set.
fn with_ctxvars<R>(n: usize, f: impl FnOnce() -> R) -> R {
    ctxvars::Context::new().run(|| {
        for (i, var) in VARS[..n].iter().enumerate() {
            // The context is discarded afterwards: nothing to reset.
            let _ = var.set(i as u64 + 1);
        }
        assert_eq!(V.get(), Some(1));
        assert_eq!(ctxvars::Context::current().len(), n);
        let result = f();
        // The measured operation restored what it changed (a failed `reset` would not).
        assert_eq!(V.get(), Some(1));
        assert_eq!(ctxvars::Context::current().len(), n);
        result
    })
}

// ---------------------------------------------------------------------------------------
// opentelemetry

/// Distinct otel value types, one per `N`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct K<const N: usize>(u64);

/// An otel context holding `K<0>` .. `K<n-1>`.
fn otel_context(n: usize) -> OtelContext {
    macro_rules! with_values {
        ($cx:ident; $($i:literal)*) => {
            $( if n > $i { $cx = $cx.with_value(K::<$i>($i + 1)); } )*
        };
    }
    let mut cx = OtelContext::new();
    with_values!(cx; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
    cx
}

/// Runs `f` with an otel context holding `n` values attached.
fn with_otel<R>(n: usize, f: impl FnOnce() -> R) -> R {
    let _attached = otel_context(n).attach();
    let k0 = || OtelContext::map_current(|cx| cx.get::<K<0>>().copied());
    assert_eq!(k0(), Some(K(1)));
    let result = f();
    assert_eq!(k0(), Some(K(1)));
    result
}

// ---------------------------------------------------------------------------------------
// tokio::task_local!

tokio::task_local! {
    static T0: u64;
    static T1: u64;
    static T2: u64;
    static T3: u64;
    static T4: u64;
    static T5: u64;
    static T6: u64;
    static T7: u64;
    static T8: u64;
    static T9: u64;
    static T10: u64;
    static T11: u64;
    static T12: u64;
    static T13: u64;
    static T14: u64;
    static T15: u64;
}

static TASK_LOCALS: [&LocalKey<u64>; 16] = [
    &T0, &T1, &T2, &T3, &T4, &T5, &T6, &T7, &T8, &T9, &T10, &T11, &T12, &T13, &T14, &T15,
];

/// Runs `f` inside nested `sync_scope`s that set `keys`.
fn nest_scopes<R>(keys: &[&'static LocalKey<u64>], f: impl FnOnce() -> R) -> R {
    match keys.split_first() {
        Some((key, rest)) => key.sync_scope(1, || nest_scopes(rest, f)),
        None => f(),
    }
}

/// Runs `f` with `T0` .. `T{n-1}` set.
fn with_task_locals<R>(n: usize, f: impl FnOnce() -> R) -> R {
    nest_scopes(&TASK_LOCALS[..n], || {
        assert_eq!(T0.try_with(|v| *v).ok(), Some(1));
        let result = f();
        assert_eq!(T0.try_with(|v| *v).ok(), Some(1));
        result
    })
}

/// A task-local future carrying `T0` .. `T{n-1}` around `inner` (n = 1 or 16).
macro_rules! task_local_scopes {
    ($inner:expr; $($key:ident)*) => {
        task_local_scopes!(@wrap $inner; $($key)*)
    };
    (@wrap $inner:expr; $key:ident $($rest:ident)*) => {
        $key.scope(1, task_local_scopes!(@wrap $inner; $($rest)*))
    };
    (@wrap $inner:expr;) => {
        $inner
    };
}

// ---------------------------------------------------------------------------------------
// Futures for the poll-overhead benchmarks

/// Ready on every poll (a legal, if unusual, future: it may be polled again after Ready).
struct AlwaysReady;

impl Future for AlwaysReady {
    type Output = u64;

    fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<u64> {
        Poll::Ready(black_box(1))
    }
}

/// Pending on every poll, without registering the waker.
struct AlwaysPending;

impl Future for AlwaysPending {
    type Output = u64;

    fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<u64> {
        black_box(());
        Poll::Pending
    }
}

/// Measures one `poll` of `future`, polled again and again.
fn bench_poll<F: Future>(b: &mut Bencher<'_>, future: F) {
    let mut future = pin!(future);
    let mut cx = TaskContext::from_waker(Waker::noop());
    b.iter(|| future.as_mut().poll(&mut cx).is_ready());
}

// ---------------------------------------------------------------------------------------
// Groups

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    // ~46 functions; ~3 s each keeps the whole run near 2.5 minutes on a 2-core machine.
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .nresamples(20_000);
}

fn group<'c>(c: &'c mut Criterion, op: &str, n: usize) -> BenchmarkGroup<'c, WallTime> {
    let mut group = c.benchmark_group(format!("{op}/{n}"));
    configure(&mut group);
    group
}

fn get(c: &mut Criterion) {
    for n in SIZES {
        let mut g = group(c, "get", n);
        g.bench_function("ctxvars", |b| with_ctxvars(n, || b.iter(|| V.get())));
        g.bench_function("opentelemetry", |b| {
            with_otel(n, || {
                b.iter(|| OtelContext::map_current(|cx| cx.get::<K<0>>().map(|k| k.0)))
            })
        });
        g.bench_function("task_local", |b| {
            with_task_locals(n, || b.iter(|| T0.try_with(|v| *v).ok()))
        });
        g.finish();
    }
}

fn with(c: &mut Criterion) {
    for n in SIZES {
        let mut g = group(c, "with", n);
        g.bench_function("ctxvars", |b| {
            with_ctxvars(n, || b.iter(|| V.with(|v| black_box(v).copied())))
        });
        g.bench_function("opentelemetry", |b| {
            with_otel(n, || {
                b.iter(|| OtelContext::map_current(|cx| black_box(cx.get::<K<0>>()).map(|k| k.0)))
            })
        });
        g.bench_function("task_local", |b| {
            with_task_locals(n, || b.iter(|| T0.try_with(|v| *black_box(v)).ok()))
        });
        g.finish();
    }
}

fn set_reset(c: &mut Criterion) {
    for n in SIZES {
        let mut g = group(c, "set_reset", n);
        g.bench_function("ctxvars", |b| {
            with_ctxvars(n, || {
                b.iter(|| {
                    let token = V.set(black_box(2));
                    V.reset(token)
                })
            })
        });
        g.bench_function("opentelemetry", |b| {
            with_otel(n, || {
                b.iter(|| drop(OtelContext::current_with_value(K::<0>(black_box(2))).attach()))
            })
        });
        g.bench_function("task_local", |b| {
            with_task_locals(n, || b.iter(|| T0.sync_scope(black_box(2), || ())))
        });
        g.finish();
    }
}

fn scope(c: &mut Criterion) {
    for n in SIZES {
        let mut g = group(c, "scope", n);
        g.bench_function("ctxvars", |b| {
            with_ctxvars(n, || b.iter(|| V.scope(black_box(2), || black_box(0u64))))
        });
        g.bench_function("opentelemetry", |b| {
            with_otel(n, || {
                b.iter(|| {
                    let _attached = OtelContext::current_with_value(K::<0>(black_box(2))).attach();
                    black_box(0u64)
                })
            })
        });
        g.bench_function("task_local", |b| {
            with_task_locals(n, || {
                b.iter(|| T0.sync_scope(black_box(2), || black_box(0u64)))
            })
        });
        g.finish();
    }
}

fn copy_context(c: &mut Criterion) {
    for n in SIZES {
        let mut g = group(c, "copy_context", n);
        g.bench_function("ctxvars", |b| {
            with_ctxvars(n, || b.iter(ctxvars::copy_context))
        });
        // The snapshot alone: the copies are dropped after the timed loop.
        g.bench_function("ctxvars_nodrop", |b| {
            with_ctxvars(n, || b.iter_with_large_drop(ctxvars::copy_context))
        });
        g.bench_function("opentelemetry", |b| {
            with_otel(n, || b.iter(OtelContext::current))
        });
        g.finish();
    }
}

fn run(c: &mut Criterion) {
    for n in SIZES {
        let mut g = group(c, "run", n);
        g.bench_function("ctxvars", |b| {
            with_ctxvars(n, || {
                let mut ctx = ctxvars::copy_context();
                b.iter(|| ctx.run(|| black_box(0u64)))
            })
        });
        g.bench_function("opentelemetry", |b| {
            with_otel(n, || {
                let cx = OtelContext::current();
                b.iter(|| {
                    let _attached = cx.clone().attach();
                    black_box(0u64)
                })
            })
        });
        g.finish();
    }
}

fn poll(c: &mut Criterion) {
    for n in SIZES {
        let mut g = group(c, "poll", n);
        g.bench_function("bare", |b| bench_poll(b, AlwaysReady));
        g.bench_function("bare_pending", |b| bench_poll(b, AlwaysPending));
        g.bench_function("ctxvars", |b| {
            let ctx = with_ctxvars(n, ctxvars::copy_context);
            assert_eq!(ctx.len(), n);
            bench_poll(b, ContextFutureExt::with_context(AlwaysReady, ctx))
        });
        g.bench_function("opentelemetry", |b| {
            let cx = otel_context(n);
            bench_poll(
                b,
                opentelemetry::context::FutureExt::with_context(AlwaysReady, cx),
            )
        });
        g.bench_function("task_local", |b| match n {
            1 => bench_poll(b, task_local_scopes!(AlwaysPending; T0)),
            16 => bench_poll(
                b,
                task_local_scopes!(AlwaysPending; T0 T1 T2 T3 T4 T5 T6 T7 T8 T9 T10 T11 T12 T13 T14 T15),
            ),
            _ => unreachable!("SIZES is [1, 16]"),
        });
        g.finish();
    }
}

criterion_group!(
    benches,
    get,
    with,
    set_reset,
    scope,
    copy_context,
    run,
    poll
);
criterion_main!(benches);
