#![cfg(not(loom))]
//! The executor checks against correct executors (a std pool, rayon and tokio, all carrying
//! context with ctxvars), against `ctxharness::broken` (each must fail exactly its checks),
//! and against executors that lose jobs, lose workers or never return (each must fail within
//! the timeout). Every report is printed: `cargo test --test executors -- --nocapture`
//! shows the tables.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ctxharness::broken::{
    FirstPollOnly, LeakyWorker, NoPropagation, NoRestoreOnPanic, SharedContext,
};
use ctxharness::{
    check_async_executor, check_executor, AsyncExecutor, CheckOptions, Executor, Report,
};

type Job = Box<dyn FnOnce() + Send + 'static>;
type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Fewer workers than `CheckOptions::jobs`, so workers run many jobs each.
const WORKERS: usize = 2;

const SYNC_CHECKS: [&str; 7] = [
    "propagation",
    "snapshot",
    "isolation",
    "worker-reuse",
    "leak-freedom",
    "nesting",
    "panic-safety",
];

const ASYNC_CHECKS: [&str; 9] = [
    "propagation",
    "snapshot",
    "isolation",
    "worker-reuse",
    "leak-freedom",
    "nesting",
    "cancellation",
    "cross-poll",
    "panic-safety",
];

fn names(report: &Report) -> Vec<&'static str> {
    report.checks.iter().map(|check| check.name).collect()
}

fn show(executor: &str, report: &Report) {
    println!("{executor}:\n{report}");
}

/// Options for executors expected to fail a check that can only fail by waiting out its
/// timeout (values never dropped). Their passing checks are as quick as a correct
/// executor's. A whole run takes about 20 ms in a debug build, and under 0.5 s on two cores
/// with four busy loops beside it, well inside this limit per check.
fn failing_fast() -> CheckOptions {
    CheckOptions {
        timeout: Duration::from_secs(2),
        ..CheckOptions::default()
    }
}

/// The longest a run may take: every check waits out its timeout, plus the quarter the
/// runner grants a check whose executor call never returns, plus scheduling slack.
fn time_limit(checks: usize, opts: &CheckOptions) -> Duration {
    (opts.timeout + opts.timeout / 4) * checks as u32 + Duration::from_secs(2)
}

// ---- Correct executors ----------------------------------------------------------------------

/// A fixed pool of worker threads on one channel, with every job wrapped in
/// `ctxvars::propagate` at submission. `catch_panics: false` makes a worker die with the
/// first job that panics, while the pool keeps the queue, so later jobs wait forever.
struct StdPool {
    queue: Sender<Job>,
    /// Keeps the queue open after every worker died, like a pool that would respawn them.
    _jobs: Arc<Mutex<Receiver<Job>>>,
}

impl StdPool {
    fn new(workers: usize, catch_panics: bool) -> Self {
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..workers {
            let jobs = Arc::clone(&jobs);
            thread::spawn(move || loop {
                // The lock is released at the end of this statement, before the job runs.
                let next = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
                let Ok(job) = next else { return };
                if catch_panics {
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                } else {
                    job();
                }
            });
        }
        StdPool { queue, _jobs: jobs }
    }
}

impl Executor for StdPool {
    fn execute(&self, job: Job) {
        self.queue
            .send(Box::new(ctxvars::propagate(job)))
            .expect("the pool keeps its queue open");
    }
}

struct Rayon(rayon::ThreadPool);

impl Rayon {
    fn new() -> Self {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(WORKERS)
            // Without a handler, rayon aborts the process when a spawned job panics.
            .panic_handler(|_| {})
            .build()
            .expect("rayon pool");
        Rayon(pool)
    }
}

impl Executor for Rayon {
    fn execute(&self, job: Job) {
        self.0.spawn(ctxvars::propagate(job));
    }
}

/// Spawns with `ctxvars::tokio::spawn` on a runtime's handle. A current-thread runtime only
/// runs tasks inside `block_on`, so `driver` blocks on it until the executor is dropped.
struct Tokio {
    handle: tokio::runtime::Handle,
    /// Present for a multi-thread runtime, which runs on its own workers.
    runtime: Option<tokio::runtime::Runtime>,
    driver: Option<(Arc<Shutdown>, JoinHandle<()>)>,
}

impl Tokio {
    fn multi_thread() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .build()
            .expect("tokio runtime");
        Tokio {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            driver: None,
        }
    }

    fn current_thread() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio runtime");
        let handle = runtime.handle().clone();
        let shutdown = Arc::new(Shutdown::default());
        let driver = {
            let shutdown = Arc::clone(&shutdown);
            thread::spawn(move || runtime.block_on(shutdown.requested()))
        };
        Tokio {
            handle,
            runtime: None,
            driver: Some((shutdown, driver)),
        }
    }
}

impl AsyncExecutor for Tokio {
    fn spawn(&self, task: Task) {
        let _runtime = self.handle.enter();
        // Detached: the checks watch their tasks themselves.
        drop(ctxvars::tokio::spawn(task));
    }
}

impl Drop for Tokio {
    fn drop(&mut self) {
        if let Some((shutdown, driver)) = self.driver.take() {
            shutdown.request();
            driver.join().expect("the runtime's driver thread");
        }
        if let Some(runtime) = self.runtime.take() {
            // A test's task that never finished must not keep the test waiting.
            runtime.shutdown_background();
        }
    }
}

/// Ends a current-thread runtime's `block_on` (tokio's own signals need features these tests
/// do not enable).
#[derive(Default)]
struct Shutdown {
    requested: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Shutdown {
    fn request(&self) {
        self.requested.store(true, Ordering::Release);
        if let Some(waker) = self
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            waker.wake();
        }
    }

    async fn requested(&self) {
        std::future::poll_fn(|cx| {
            // Checked under the lock `request` takes, so a request cannot slip in between.
            let mut waker = self.waker.lock().unwrap_or_else(PoisonError::into_inner);
            if self.requested.load(Ordering::Acquire) {
                Poll::Ready(())
            } else {
                *waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
    }
}

#[test]
fn a_std_thread_pool_with_propagate_passes_every_check() {
    let report = check_executor(
        Arc::new(StdPool::new(WORKERS, true)),
        &CheckOptions::default(),
    );
    show("std thread pool + ctxvars::propagate", &report);
    assert_eq!(names(&report), SYNC_CHECKS);
    report.assert_ok();
}

#[test]
fn rayon_with_propagate_passes_every_check() {
    let report = check_executor(Arc::new(Rayon::new()), &CheckOptions::default());
    show("rayon ThreadPool::spawn + ctxvars::propagate", &report);
    report.assert_ok();
}

#[test]
fn tokio_multi_thread_with_ctxvars_spawn_passes_every_check() {
    let report = check_async_executor(Arc::new(Tokio::multi_thread()), &CheckOptions::default());
    show("tokio multi-thread + ctxvars::tokio::spawn", &report);
    assert_eq!(names(&report), ASYNC_CHECKS);
    report.assert_ok();
}

#[test]
fn tokio_current_thread_with_ctxvars_spawn_passes_every_check() {
    let report = check_async_executor(Arc::new(Tokio::current_thread()), &CheckOptions::default());
    show("tokio current-thread + ctxvars::tokio::spawn", &report);
    report.assert_ok();
}

/// Runs each job on the submitting thread before `execute` returns.
struct Inline {
    propagate: bool,
}

impl Executor for Inline {
    fn execute(&self, job: Job) {
        if self.propagate {
            ctxvars::propagate(job)();
        } else {
            job();
        }
    }
}

#[test]
fn an_inline_executor_with_propagate_passes_every_check() {
    let report = check_executor(
        Arc::new(Inline { propagate: true }),
        &CheckOptions::default(),
    );
    show("inline + ctxvars::propagate", &report);
    report.assert_ok();
}

#[test]
fn an_inline_executor_without_a_context_of_its_own_fails_snapshot_and_leak_freedom() {
    // Its jobs run in the submitter's own context. `snapshot` sees the job's change reach the
    // submitter. `leak-freedom` sees a value a job never reset stay there. The other checks'
    // submitters restore or discard their context after each submit, which hides the bug.
    let report = check_executor(Arc::new(Inline { propagate: false }), &failing_fast());
    show("inline, no context of its own", &report);
    assert_eq!(report.failed(), ["snapshot", "leak-freedom"]);
}

// ---- ctxharness::broken: each fails exactly its checks ---------------------------------------

/// Checks a freshly built negative control.
type Run = fn() -> Report;

fn check_jobs<E: Executor + Send + Sync + 'static>(exec: std::io::Result<E>) -> Report {
    check_executor(Arc::new(exec.expect("a pool")), &failing_fast())
}

fn check_tasks<E: AsyncExecutor + Send + Sync + 'static>(exec: std::io::Result<E>) -> Report {
    check_async_executor(Arc::new(exec.expect("a pool")), &failing_fast())
}

/// `ctxharness::broken`'s table: each executor and exactly the checks it must fail.
const BROKEN: [(&str, Run, &[&str]); 5] = [
    (
        "NoPropagation",
        || check_jobs(NoPropagation::new(WORKERS)),
        &["propagation", "snapshot", "nesting"],
    ),
    (
        "SharedContext",
        || check_jobs(SharedContext::new(WORKERS)),
        &SYNC_CHECKS,
    ),
    (
        "LeakyWorker",
        || check_jobs(LeakyWorker::new(WORKERS)),
        &["worker-reuse", "leak-freedom"],
    ),
    (
        "NoRestoreOnPanic",
        || check_jobs(NoRestoreOnPanic::new(WORKERS)),
        &["panic-safety"],
    ),
    (
        "FirstPollOnly",
        || check_tasks(FirstPollOnly::new(WORKERS)),
        &["cancellation", "cross-poll"],
    ),
];

#[test]
fn each_broken_executor_fails_exactly_its_documented_checks() {
    // Concurrently: three of them wait out a timeout (values that are never dropped).
    let reports: Vec<Report> = thread::scope(|scope| {
        let runs: Vec<_> = BROKEN.iter().map(|(_, run, _)| scope.spawn(run)).collect();
        runs.into_iter()
            .map(|run| run.join().expect("a check run"))
            .collect()
    });
    let mut wrong = Vec::new();
    for ((name, _, expected), report) in BROKEN.iter().zip(&reports) {
        show(&format!("broken::{name}"), report);
        if report.failed() != *expected {
            wrong.push(format!(
                "{name} failed {:?}, expected {expected:?}",
                report.failed()
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

// ---- Executors that lose work: failed checks, never a hang ----------------------------------

/// A correct pool that loses every other job: it keeps them and never runs them.
struct LosesJobs {
    pool: StdPool,
    submitted: AtomicUsize,
    lost: Mutex<Vec<Job>>,
}

impl Executor for LosesJobs {
    fn execute(&self, job: Job) {
        if self.submitted.fetch_add(1, Ordering::Relaxed) % 2 == 1 {
            self.lost
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(job);
        } else {
            self.pool.execute(job);
        }
    }
}

/// Drops every job unrun.
struct DropsJobs;

impl Executor for DropsJobs {
    fn execute(&self, job: Job) {
        drop(job);
    }
}

/// `execute` never returns.
struct NeverReturns;

impl Executor for NeverReturns {
    fn execute(&self, _job: Job) {
        loop {
            thread::park();
        }
    }
}

#[test]
fn a_pool_whose_workers_die_on_a_panic_fails_panic_safety_within_the_timeout() {
    // Short: only failures are asserted, and a check that misses it fails either way.
    let opts = CheckOptions {
        timeout: Duration::from_millis(500),
        ..CheckOptions::default()
    };
    let started = Instant::now();
    let report = check_executor(Arc::new(StdPool::new(WORKERS, false)), &opts);
    let took = started.elapsed();
    show("std pool whose workers die on a panic", &report);
    assert!(report.failed().contains(&"panic-safety"), "{report}");
    let panic_safety = report.checks.last().expect("checks ran");
    assert!(
        panic_safety.detail.contains("did not finish within 500ms"),
        "{report}"
    );
    assert!(took < time_limit(SYNC_CHECKS.len(), &opts), "took {took:?}");
}

#[test]
fn a_pool_that_loses_jobs_fails_within_the_timeout() {
    let opts = CheckOptions {
        timeout: Duration::from_millis(300),
        ..CheckOptions::default()
    };
    let exec = LosesJobs {
        pool: StdPool::new(WORKERS, true),
        submitted: AtomicUsize::new(0),
        lost: Mutex::new(Vec::new()),
    };
    let started = Instant::now();
    let report = check_executor(Arc::new(exec), &opts);
    let took = started.elapsed();
    show("std pool that loses every other job", &report);
    // Batches of 64 always lose some jobs; single jobs may be among those kept.
    for check in ["isolation", "worker-reuse", "leak-freedom", "panic-safety"] {
        assert!(report.failed().contains(&check), "{check}:\n{report}");
    }
    for check in report.checks.iter().filter(|check| !check.passed) {
        assert!(
            check.detail.contains("did not finish within 300ms"),
            "{report}"
        );
    }
    assert!(took < time_limit(SYNC_CHECKS.len(), &opts), "took {took:?}");
}

#[test]
fn an_executor_that_drops_jobs_fails_every_check_without_waiting() {
    let opts = CheckOptions::default();
    let started = Instant::now();
    let report = check_executor(Arc::new(DropsJobs), &opts);
    let took = started.elapsed();
    show("executor that drops every job", &report);
    assert_eq!(report.failed(), SYNC_CHECKS);
    for check in &report.checks {
        assert!(
            check
                .detail
                .contains("dropped by the executor before they finished"),
            "{report}"
        );
    }
    // A dropped job is noticed when its channel closes, not by waiting out the timeout.
    assert!(took < opts.timeout, "took {took:?}");
}

#[test]
fn an_executor_whose_execute_never_returns_is_reported_hung() {
    let opts = CheckOptions {
        timeout: Duration::from_millis(100),
        ..CheckOptions::default()
    };
    let started = Instant::now();
    let report = check_executor(Arc::new(NeverReturns), &opts);
    let took = started.elapsed();
    show("executor whose execute never returns", &report);
    assert_eq!(report.failed(), SYNC_CHECKS);
    for check in &report.checks {
        assert_eq!(
            check.detail,
            "the check did not finish within 100ms: a call into the executor (`execute`, or a waker) never returned",
        );
    }
    assert!(took < time_limit(SYNC_CHECKS.len(), &opts), "took {took:?}");
}
