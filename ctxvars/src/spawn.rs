//! Carrying the caller's context into closures, threads and futures.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::Context;

/// Snapshots the current context now and returns a closure that runs `f` inside that
/// snapshot later, wherever it is called (a pool thread, a job queue, a callback).
///
/// ```
/// use ctxvars::{propagate, ContextVar};
///
/// static TRACE_ID: ContextVar<&'static str> = ContextVar::new("trace_id");
///
/// let job = TRACE_ID.scope("trace-abc-123", || propagate(|| TRACE_ID.get()));
/// let seen = std::thread::spawn(job).join().unwrap();
/// assert_eq!(seen, Some("trace-abc-123"));
/// ```
pub fn propagate<R>(f: impl FnOnce() -> R) -> impl FnOnce() -> R {
    let mut context = Context::current();
    move || {
        #[cfg(loom)]
        if crate::mutant::active(crate::mutant::Mutant::PropagateWithoutCapture) {
            return f();
        }
        context.run(f)
    }
}

/// `std::thread`, with the caller's context carried into the new thread.
pub mod thread {
    /// [`std::thread::spawn`], running `f` inside a snapshot of the caller's context.
    pub fn spawn<F, R>(f: F) -> std::thread::JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        std::thread::spawn(super::propagate(f))
    }
}

pin_project_lite::pin_project! {
    /// A future that runs every `poll` of the inner future inside its own [`Context`].
    ///
    /// Changes the future makes to context variables are kept between polls and never leak
    /// into the executor thread or into other tasks polled on it.
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct WithContext<F> {
        #[pin]
        future: F,
        context: Context,
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let future = this.future;
        this.context.run(|| future.poll(cx))
    }
}

/// Attaches a [`Context`] to a future; implemented for every `Future`.
pub trait ContextFutureExt: Future + Sized {
    /// Runs this future inside `ctx` on every poll.
    fn with_context(self, ctx: Context) -> WithContext<Self> {
        WithContext {
            future: self,
            context: ctx,
        }
    }

    /// Runs this future inside a snapshot of the current context, taken now.
    fn with_current_context(self) -> WithContext<Self> {
        self.with_context(Context::current())
    }
}

impl<F: Future> ContextFutureExt for F {}
