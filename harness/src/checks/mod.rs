//! The runner: each check on a thread of its own with its own deadline, and what checks share.

mod jobs;
mod tasks;

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::wait::Deadline;
use crate::{AsyncExecutor, CheckOptions, CheckResult, Executor, Report};

/// What a check hands to the executor under test: a job, or the body of a one-poll task.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// The executor under test. The shared checks submit the same jobs to both kinds.
#[derive(Clone)]
pub(crate) enum Target {
    Jobs(Arc<dyn Executor + Send + Sync>),
    /// Each job runs as a task that completes in its first poll.
    Tasks(Arc<dyn AsyncExecutor + Send + Sync>),
}

impl Target {
    /// What one unit of work is called in details.
    pub(crate) fn unit(&self) -> &'static str {
        match self {
            Target::Jobs(_) => "job",
            Target::Tasks(_) => "task",
        }
    }

    /// The method that hands work over, for messages.
    fn call(&self) -> &'static str {
        match self {
            Target::Jobs(_) => "execute",
            Target::Tasks(_) => "spawn",
        }
    }

    /// Hands `job` to the executor. A panic out of `execute`/`spawn` becomes a failure.
    pub(crate) fn submit(&self, job: Job) -> Result<(), Failure> {
        match self {
            Target::Jobs(exec) => guarded(self.call(), || exec.execute(job)),
            Target::Tasks(exec) => {
                guarded(self.call(), || exec.spawn(Box::pin(async move { job() })))
            }
        }
    }
}

/// The payload of the panics `panic-safety` makes on purpose.
pub(crate) struct DeliberatePanic;

/// Runs `call`, turning a panic out of it into [`Failure::SubmitPanicked`].
///
/// A [`DeliberatePanic`] is let through as success. An executor that runs jobs inline passes
/// their panics to the caller, and only `panic-safety`'s jobs panic, on purpose.
pub(crate) fn guarded(call: &'static str, submit: impl FnOnce()) -> Result<(), Failure> {
    match panic::catch_unwind(AssertUnwindSafe(submit)) {
        Ok(()) => Ok(()),
        Err(payload) if payload.is::<DeliberatePanic>() => Ok(()),
        Err(payload) => Err(Failure::SubmitPanicked {
            call,
            message: panic_message(payload.as_ref()),
        }),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_string()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Why a check failed. Its `Display` becomes the [`CheckResult::detail`].
#[derive(Debug)]
pub(crate) enum Failure {
    /// `execute` or `spawn` panicked instead of taking the work.
    SubmitPanicked { call: &'static str, message: String },
    /// Work did not report back before the deadline: lost, queued behind a dead worker, or
    /// still running.
    TimedOut {
        missing: usize,
        of: usize,
        what: String,
        timeout: Duration,
    },
    /// Every handle on the results is gone while some are missing. The executor dropped that
    /// work unrun, or it stopped half-way.
    Dropped {
        missing: usize,
        of: usize,
        what: String,
    },
    /// The work ran but saw the wrong context, or values lived too long or too short.
    Wrong(String),
    /// The check itself did not finish. A call into the executor (`execute`, `spawn` or a
    /// waker) never returned: every other wait in a check ends at its deadline.
    Hung {
        call: &'static str,
        timeout: Duration,
    },
    /// The check panicked. That is a bug in ctxharness, or an executor panic it did not
    /// expect.
    CheckPanicked(String),
    /// The check's thread could not be started.
    NoThread(io::Error),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::SubmitPanicked { call, message } => write!(f, "`{call}` panicked: {message}"),
            Failure::TimedOut {
                missing,
                of,
                what,
                timeout,
            } => write!(
                f,
                "{missing} of {of} {what} did not finish within {timeout:?}"
            ),
            Failure::Dropped { missing, of, what } => write!(
                f,
                "{missing} of {of} {what} were dropped by the executor before they finished"
            ),
            Failure::Wrong(detail) => f.write_str(detail),
            Failure::Hung { call, timeout } => write!(
                f,
                "the check did not finish within {timeout:?}: a call into the executor \
                 (`{call}`, or a waker) never returned"
            ),
            Failure::CheckPanicked(message) => write!(f, "the check panicked: {message}"),
            Failure::NoThread(error) => write!(f, "could not start the check's thread: {error}"),
        }
    }
}

/// Receives `expected` results, or fails with how many are missing and why.
pub(crate) fn collect<T>(
    results: &Receiver<T>,
    expected: usize,
    what: impl Fn() -> String,
    deadline: Deadline,
) -> Result<Vec<T>, Failure> {
    let mut got = Vec::with_capacity(expected);
    while got.len() < expected {
        got.push(next(
            results,
            expected - got.len(),
            expected,
            &what,
            deadline,
        )?);
    }
    Ok(got)
}

/// Receives one result while `missing` of `of` are due, or fails with how many are missing
/// and why.
pub(crate) fn next<T>(
    results: &Receiver<T>,
    missing: usize,
    of: usize,
    what: impl FnOnce() -> String,
    deadline: Deadline,
) -> Result<T, Failure> {
    results
        .recv_timeout(deadline.remaining())
        .map_err(|error| match error {
            RecvTimeoutError::Timeout => Failure::TimedOut {
                missing,
                of,
                what: what(),
                timeout: deadline.timeout(),
            },
            RecvTimeoutError::Disconnected => Failure::Dropped {
                missing,
                of,
                what: what(),
            },
        })
}

/// Who each tag belongs to, so a job that sees a wrong value can name its owner.
#[derive(Default)]
pub(crate) struct Owners(HashMap<u64, String>);

impl Owners {
    pub(crate) fn insert(&mut self, tag: u64, owner: String) {
        self.0.insert(tag, owner);
    }

    /// "no value", or whose value `seen` is.
    pub(crate) fn name(&self, seen: Option<u64>) -> String {
        match seen {
            None => "no value".to_string(),
            Some(tag) => match self.0.get(&tag) {
                Some(owner) => owner.clone(),
                None => format!("a value from outside this check ({tag})"),
            },
        }
    }
}

/// Failures counted across a batch. The first one is kept for the message.
pub(crate) struct Violations {
    count: usize,
    first: Option<String>,
}

impl Violations {
    pub(crate) fn new() -> Self {
        Violations {
            count: 0,
            first: None,
        }
    }

    pub(crate) fn add(&mut self, describe: impl FnOnce() -> String) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some(describe());
        }
    }

    /// `Ok(passed)` when nothing was added, else "N of M <what>; first: ...".
    pub(crate) fn verdict(self, of: usize, what: &str, passed: String) -> Outcome {
        match self.first {
            None => Ok(passed),
            Some(first) => Err(Failure::Wrong(format!(
                "{} of {of} {what}; first: {first}",
                self.count
            ))),
        }
    }
}

/// What a check returns: a description of what passed, or why it failed.
pub(crate) type Outcome = Result<String, Failure>;

type Body = Box<dyn FnOnce(Deadline) -> Outcome + Send>;

/// A named check, ready to run.
pub(crate) struct Check {
    name: &'static str,
    body: Body,
}

/// Makes a check that calls `body` with its own copies of `on` and the options.
fn check<T: Clone + Send + 'static>(
    name: &'static str,
    on: &T,
    opts: &CheckOptions,
    body: fn(&T, &CheckOptions, Deadline) -> Outcome,
) -> Check {
    let (on, opts) = (on.clone(), opts.clone());
    Check {
        name,
        body: Box::new(move |deadline| body(&on, &opts, deadline)),
    }
}

/// The checks only an async executor gets (`cancellation`, `cross-poll`).
pub(crate) fn async_only<E: AsyncExecutor + Send + Sync + 'static>(
    exec: &Arc<E>,
    opts: &CheckOptions,
) -> Vec<Check> {
    let exec: Arc<dyn AsyncExecutor + Send + Sync> = Arc::clone(exec) as _;
    vec![
        check("cancellation", &exec, opts, tasks::cancellation),
        check("cross-poll", &exec, opts, tasks::cross_poll),
    ]
}

/// Runs the shared checks, then `extra`, then `panic-safety`, one after another.
pub(crate) fn run(target: Target, extra: Vec<Check>, opts: &CheckOptions) -> Report {
    let mut plan = vec![
        check("propagation", &target, opts, jobs::propagation),
        check("snapshot", &target, opts, jobs::snapshot),
        check("isolation", &target, opts, jobs::isolation),
        check("worker-reuse", &target, opts, jobs::worker_reuse),
        check("leak-freedom", &target, opts, jobs::leak_freedom),
        check("nesting", &target, opts, jobs::nesting),
    ];
    plan.extend(extra);
    // Last: a panic may kill a worker, and that must not fail the checks after it.
    plan.push(check("panic-safety", &target, opts, jobs::panic_safety));
    let checks = plan
        .into_iter()
        .map(|check| run_one(check, target.call(), opts.timeout))
        .collect();
    Report { checks }
}

/// Runs one check on a thread of its own. If a call into the executor never returns, the
/// check is reported as hung and its thread is abandoned.
fn run_one(check: Check, call: &'static str, timeout: Duration) -> CheckResult {
    let deadline = Deadline::after(timeout);
    let (done, outcome) = mpsc::channel();
    let Check { name, body } = check;
    let started = thread::Builder::new()
        .name(format!("ctxharness {name}"))
        .spawn(move || {
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| body(deadline)))
                .unwrap_or_else(|payload| Err(Failure::CheckPanicked(panic_message(&*payload))));
            // The runner stops listening once it has reported the check as hung.
            let _ = done.send(outcome);
        });
    let outcome = match started {
        Err(error) => Err(Failure::NoThread(error)),
        // The check's own waits end at the deadline. The grace covers the work after them.
        Ok(_detached) => {
            match outcome.recv_timeout(deadline.remaining().saturating_add(timeout / 4)) {
                Ok(outcome) => outcome,
                Err(RecvTimeoutError::Timeout) => Err(Failure::Hung { call, timeout }),
                Err(RecvTimeoutError::Disconnected) => Err(Failure::CheckPanicked(
                    "its thread ended without a result".to_string(),
                )),
            }
        }
    };
    match outcome {
        Ok(detail) => CheckResult {
            name,
            passed: true,
            detail,
        },
        Err(failure) => CheckResult {
            name,
            passed: false,
            detail: failure.to_string(),
        },
    }
}
