//! tokio's spawning functions, carrying the caller's context into the task.

use std::future::Future;

use tokio::task::JoinHandle;

use crate::{propagate, ContextFutureExt};

/// [`tokio::spawn`], running the task inside a snapshot of the caller's context.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.with_current_context())
}

/// [`tokio::task::spawn_blocking`], running `f` inside a snapshot of the caller's context.
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(propagate(f))
}
