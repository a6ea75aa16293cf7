//! Executors with known context bugs, the negative controls for the checks.
//!
//! Each executor is a small thread pool that gets one thing wrong. Its documentation says
//! which checks it fails and why. `ctxharness`'s own tests assert exactly those, so a check
//! that stops catching its bug fails the build. Use them to see what a failure looks like,
//! or to test tooling built on [`Report`](crate::Report).
//!
//! Each needs [`CheckOptions::jobs`](crate::CheckOptions::jobs) above its worker count for
//! the bugs between consecutive jobs on a worker to show. Every worker survives a panicking
//! job: these executors model context bugs only.
//!
//! | executor | fails |
//! |---|---|
//! | [`NoPropagation`] | `propagation`, `snapshot`, `nesting` |
//! | [`SharedContext`] | every check of [`check_executor`](crate::check_executor) |
//! | [`LeakyWorker`] | `worker-reuse`, `leak-freedom` |
//! | [`NoRestoreOnPanic`] | `panic-safety` |
//! | [`FirstPollOnly`] | `cancellation`, `cross-poll` |

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::thread;

use ctxvars::Context;

use crate::{AsyncExecutor, Executor};

type Job = Box<dyn FnOnce() + Send + 'static>;
type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Worker threads taking jobs from one queue. A job's panic is caught and the worker goes on.
struct Pool {
    queue: Sender<Job>,
}

impl Pool {
    fn new(workers: usize, name: &str) -> io::Result<Self> {
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..workers.max(1) {
            let jobs = Arc::clone(&jobs);
            thread::Builder::new()
                .name(format!("{name} {n}"))
                .spawn(move || work(&jobs))?;
        }
        Ok(Pool { queue })
    }

    fn push(&self, job: Job) {
        // Fails only when every worker is gone, and workers outlive panics.
        let _ = self.queue.send(job);
    }
}

/// A worker's loop. It ends when the pool, and every task that could requeue itself, is gone.
fn work(jobs: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is released at the end of this statement, before the job runs.
        let next = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = next else { return };
        let _ = panic::catch_unwind(AssertUnwindSafe(job));
    }
}

/// Runs each job in a fresh, empty context. Jobs cannot leak into each other, but nothing
/// their submitter set reaches them.
///
/// Fails `propagation`, `snapshot` (the job sees nothing, not the value at submission) and
/// `nesting` (neither the check's value nor a job's reaches the next level). Jobs that see
/// nothing never see another job's value, so `isolation` passes. That gap is `propagation`'s
/// to report.
pub struct NoPropagation {
    pool: Pool,
}

impl NoPropagation {
    /// A pool of `workers` threads (at least one).
    pub fn new(workers: usize) -> io::Result<Self> {
        Pool::new(workers, "no-propagation").map(|pool| NoPropagation { pool })
    }
}

impl Executor for NoPropagation {
    fn execute(&self, job: Box<dyn FnOnce() + Send + 'static>) {
        self.pool.push(Box::new(move || Context::new().run(job)));
    }
}

/// Runs every job, on any worker, in one context owned by the executor: a snapshot of the
/// context it was created in. This models a pool that captures its creator's context once.
///
/// Nothing a submitter sets reaches a job, and what one job sets stays for every later job.
/// It fails every check of [`check_executor`](crate::check_executor). A job sees no
/// submitter's value (`propagation`, `snapshot`, `nesting`). It sees values earlier jobs set
/// (`isolation`, `worker-reuse`), including a job that panicked (`panic-safety`). The last
/// value set stays alive with the executor (`leak-freedom`).
pub struct SharedContext {
    pool: Pool,
    shared: Arc<Mutex<Context>>,
}

impl SharedContext {
    /// A pool of `workers` threads (at least one) sharing a snapshot of the caller's context.
    pub fn new(workers: usize) -> io::Result<Self> {
        Ok(SharedContext {
            pool: Pool::new(workers, "shared-context")?,
            shared: Arc::new(Mutex::new(Context::current())),
        })
    }
}

impl Executor for SharedContext {
    fn execute(&self, job: Box<dyn FnOnce() + Send + 'static>) {
        let shared = Arc::clone(&self.shared);
        self.pool.push(Box::new(move || {
            // `run` needs the context exclusively, so jobs take turns in it. A job that
            // panicked poisons the lock, and the context stays as the job left it.
            let mut shared = shared.lock().unwrap_or_else(PoisonError::into_inner);
            shared.run(job);
        }));
    }
}

/// Carries the submitter's context, but skips the switch when the submitter had nothing set,
/// an optimisation with "nothing to carry" as its excuse. Such jobs run in the worker
/// thread's own context, and what they set without resetting stays there for the next one.
///
/// Fails `worker-reuse` (its jobs are submitted with nothing set) and `leak-freedom` (a value
/// such a job never reset lives on in the worker). Jobs submitted with a value run in a
/// snapshot, so every other check passes.
pub struct LeakyWorker {
    pool: Pool,
}

impl LeakyWorker {
    /// A pool of `workers` threads (at least one).
    pub fn new(workers: usize) -> io::Result<Self> {
        Pool::new(workers, "leaky-worker").map(|pool| LeakyWorker { pool })
    }
}

impl Executor for LeakyWorker {
    fn execute(&self, job: Box<dyn FnOnce() + Send + 'static>) {
        let mut context = Context::current();
        self.pool.push(Box::new(move || {
            if context.is_empty() {
                job();
            } else {
                context.run(job);
            }
        }));
    }
}

thread_local! {
    /// The context a `NoRestoreOnPanic` worker is in, if any.
    static ENTERED: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// Carries the submitter's context into a per-worker "entered" slot, and clears the slot
/// when the job returns. Entering keeps a context the worker is already in, as for jobs
/// nested inside it. A panicking job skips the clear, so the next job on that worker runs in
/// the panicked job's context and sees what it set.
///
/// Fails `panic-safety` only. Without panics it behaves like a correct executor.
pub struct NoRestoreOnPanic {
    pool: Pool,
}

impl NoRestoreOnPanic {
    /// A pool of `workers` threads (at least one).
    pub fn new(workers: usize) -> io::Result<Self> {
        Pool::new(workers, "no-restore-on-panic").map(|pool| NoRestoreOnPanic { pool })
    }
}

impl Executor for NoRestoreOnPanic {
    fn execute(&self, job: Box<dyn FnOnce() + Send + 'static>) {
        let context = Context::current();
        self.pool.push(Box::new(move || {
            ENTERED.with(|entered| {
                let mut entered = entered.borrow_mut();
                entered.get_or_insert(context).run(job);
                // The clear is skipped when `job` unwinds: the bug.
                *entered = None;
            });
        }));
    }
}

/// An async executor that enters the spawner's context for a task's first poll only, and
/// drops it afterwards. Later polls run in the worker thread's own context. So a task loses
/// its values at its first `.await`, and what it sets after that stays on the worker.
///
/// Fails `cross-poll` (a task no longer sees its value after yielding) and `cancellation`.
/// A pending task's context is dropped before the task ends, and a value set on a later poll
/// outlives the task on its worker. The other checks' tasks finish in their first poll, so
/// they pass.
pub struct FirstPollOnly {
    pool: Pool,
}

impl FirstPollOnly {
    /// An executor polling on `workers` threads (at least one).
    pub fn new(workers: usize) -> io::Result<Self> {
        Pool::new(workers, "first-poll-only").map(|pool| FirstPollOnly { pool })
    }
}

impl AsyncExecutor for FirstPollOnly {
    fn spawn(&self, task: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) {
        let task = FirstPoll {
            context: Some(Context::current()),
            task,
        };
        Arc::new(Spawned {
            task: Mutex::new(Some(Box::pin(task))),
            queue: self.pool.queue.clone(),
        })
        .wake();
    }
}

/// The bug: the context is taken out for the first poll and never put back.
struct FirstPoll {
    context: Option<Context>,
    task: Task,
}

impl Future for FirstPoll {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.get_mut();
        let task = this.task.as_mut();
        match this.context.take() {
            Some(mut context) => context.run(|| task.poll(cx)),
            None => task.poll(cx),
        }
    }
}

/// A spawned task. Waking it queues a poll on the pool.
struct Spawned {
    /// `None` once it finished or panicked.
    task: Mutex<Option<Task>>,
    queue: Sender<Job>,
}

impl Wake for Spawned {
    fn wake(self: Arc<Self>) {
        let queue = self.queue.clone();
        // Fails only when every worker is gone; the task is then dropped with the message.
        let _ = queue.send(Box::new(move || self.poll()));
    }
}

impl Spawned {
    fn poll(self: Arc<Self>) {
        let waker = Waker::from(Arc::clone(&self));
        let mut cx = TaskContext::from_waker(&waker);
        let mut slot = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(task) = slot.as_mut() else {
            return; // woken after it finished
        };
        let polled = panic::catch_unwind(AssertUnwindSafe(|| task.as_mut().poll(&mut cx)));
        if !matches!(polled, Ok(Poll::Pending)) {
            // Finished or panicked: drop it now, as executors do.
            *slot = None;
        }
    }
}
