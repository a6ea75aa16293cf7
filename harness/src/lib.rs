//! Checks that an executor carries [`ctxvars`] context into the work it runs, and keeps each
//! job's context to itself.
//!
//! A thread pool, a job queue or an async runtime decides where a request's work runs. Unless
//! it runs each job in a snapshot of its submitter's context, the job loses the request's
//! trace id, or runs with another request's. Such bugs stay hidden with one job on an idle
//! pool. They show under load, after a panic, or in the second job a worker runs.
//! [`check_executor`] and [`check_async_executor`] run your executor through those cases and
//! return a [`Report`]:
//!
//! ```
//! use std::sync::Arc;
//! use ctxharness::{check_executor, CheckOptions, Executor};
//!
//! struct ThreadPerJob; // runs each job on a new thread, in its submitter's context
//! impl Executor for ThreadPerJob {
//!     fn execute(&self, job: Box<dyn FnOnce() + Send + 'static>) {
//!         std::thread::spawn(ctxvars::propagate(job));
//!     }
//! }
//! let report = check_executor(Arc::new(ThreadPerJob), &CheckOptions::default());
//! println!("{report}"); // a table: check | result | detail
//! report.assert_ok();
//! ```
//!
//! # The checks
//!
//! Every value a check sets is unique, and every check uses variables of its own. So a job that
//! sees a wrong value can name whose value it saw, and a value one check leaks cannot fail
//! another check.
//!
//! | check | fails when |
//! |---|---|
//! | `propagation` | a job does not see the value its submitter set |
//! | `snapshot` | a job does not see the submitter's value as it was at submission (it sees a later change, or nothing), or the job's own change reaches the submitter |
//! | `isolation` | in [`CheckOptions::rounds`] batches of [`CheckOptions::jobs`] jobs submitted together, each with its own value and setting another, a job sees a value of another job (seeing none is `propagation`'s failure) |
//! | `worker-reuse` | a job submitted with nothing set sees what an earlier job set and never reset |
//! | `leak-freedom` | a value the submitter set, or a job set (reset or not), is still alive when the job is done |
//! | `nesting` | a job submitted from inside a job (three levels deep) does not see the value its submitting job set |
//! | `panic-safety` | a job sees a value left by a job that panicked, or the executor stops running jobs after panics |
//! | `cancellation` (async) | a pending task's context values are dropped before the task ends, or are still alive after it was cancelled |
//! | `cross-poll` (async) | a task that yields, interleaved with others, does not see the value it set on its first poll on a later poll |
//!
//! [`check_async_executor`] runs the first seven checks with tasks that finish in one poll,
//! then the two async checks. `panic-safety` runs last in both. A panic may kill a worker, and
//! that must not fail the checks after it.
//!
//! `cancellation` has a limit. [`AsyncExecutor`] has no way to abort a task, so the check
//! cannot make your executor drop a pending task. Instead, each task sets values on its
//! first and second polls and then parks. The check verifies that every value (those two and
//! the spawner's) is still alive. It then cancels the tasks. Each task's next poll gives up
//! mid-await and returns, the way an aborted task's future is dropped. Every value must then
//! be dropped within the timeout. This proves that the executor keeps a task's context
//! exactly as long as the task. It also proves that values set after the first `.await` live
//! in the task, not on the worker. It does not prove that your executor's own abort path
//! frees the task.
//!
//! # Never a hang
//!
//! Each check runs on a thread of its own, with a deadline of [`CheckOptions::timeout`].
//! Every wait in the check ends at that deadline. A job that never reports back (lost, or
//! queued behind a dead worker) makes the check fail with what is missing. A job dropped
//! unrun makes it fail as soon as the drop is seen. Some calls into your executor may never
//! return (`execute`, `spawn`, a waker). The check is then reported as hung a quarter of the
//! timeout after its deadline, and its thread is left blocked in your executor. The harness
//! never joins a thread it does not own. A panic that escapes `execute` or `spawn` fails the
//! check, not the caller.
//!
//! # What the checks need from you
//!
//! - [`CheckOptions::jobs`] should be well above your executor's worker count. A worker that
//!   runs only one job cannot show what it kept from an earlier one.
//! - `panic-safety` submits jobs that panic. Your executor must survive a panicking job, as it
//!   must in production. For example, rayon aborts the process unless
//!   `ThreadPoolBuilder::panic_handler` is set. The jobs unwind with
//!   [`std::panic::resume_unwind`], which skips the panic hook, so the test output does not
//!   fill with deliberate panic messages.
//! - Nothing in a job blocks except `snapshot`'s job. It waits, for at most half the timeout,
//!   until its submitter has changed its value. If the job runs on the submitting thread, it
//!   does not wait.
//!
//! [`broken`] has executors with known context bugs. They show what each check catches.
#![deny(missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub mod broken;
mod checks;
mod options;
mod probe;
mod report;
mod wait;

pub use options::CheckOptions;
pub use report::{CheckResult, Report};

/// Runs jobs: a thread pool, a job queue, a work-stealing scheduler.
///
/// Implement it by handing the job to your executor the way your code submits work. Wrapping
/// `job` in `ctxvars::propagate` is usually part of that.
pub trait Executor {
    /// Runs `job` once, later or now, on any thread.
    fn execute(&self, job: Box<dyn FnOnce() + Send + 'static>);
}

/// Runs futures: an async runtime or a task scheduler.
///
/// Implement it the way your code spawns tasks (for tokio, `ctxvars::tokio::spawn`). The
/// checks drop nothing they spawn: each task runs to completion.
pub trait AsyncExecutor {
    /// Polls `task` until it completes, whenever it is woken, on any thread.
    fn spawn(&self, task: Pin<Box<dyn Future<Output = ()> + Send + 'static>>);
}

/// Runs every check on `exec` and reports each one.
///
/// Takes an `Arc` because `nesting` submits jobs from inside jobs.
#[must_use = "the report says whether the executor passed: call `assert_ok` or inspect it"]
pub fn check_executor<E: Executor + Send + Sync + 'static>(
    exec: Arc<E>,
    opts: &CheckOptions,
) -> Report {
    checks::run(checks::Target::Jobs(exec), Vec::new(), opts)
}

/// Runs every check on `exec`, including the async-only `cancellation` and `cross-poll`, and
/// reports each one.
///
/// Takes an `Arc` because `nesting` spawns tasks from inside tasks.
#[must_use = "the report says whether the executor passed: call `assert_ok` or inspect it"]
pub fn check_async_executor<E: AsyncExecutor + Send + Sync + 'static>(
    exec: Arc<E>,
    opts: &CheckOptions,
) -> Report {
    let tasks = checks::async_only(&exec, opts);
    checks::run(checks::Target::Tasks(exec), tasks, opts)
}

/// The README's example, compiled and run as a doctest so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
