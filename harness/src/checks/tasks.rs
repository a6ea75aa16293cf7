//! The checks only async executors get. They use tasks that stay pending across polls.
//!
//! Tasks ignore failed sends: a send fails only once the check has given up waiting, and
//! then nobody is left to tell.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};

use ctxvars::ContextVar;

use super::{guarded, next, Failure, Outcome, Owners, Violations};
use crate::probe::{self, DropLog, DropLogs};
use crate::wait::{poll_until, Deadline};
use crate::{AsyncExecutor, CheckOptions};

type Exec = Arc<dyn AsyncExecutor + Send + Sync>;

fn spawn(exec: &Exec, task: impl Future<Output = ()> + Send + 'static) -> Result<(), Failure> {
    guarded("spawn", || exec.spawn(Box::pin(task)))
}

/// What a `cross-poll` task tells the check.
enum Note {
    /// Wake me: the task is pending and relies on the check's thread to wake it.
    Wake(Waker),
    /// The task finished: the value it saw on its first poll, and the first later poll
    /// that did not see the value it set (poll number, value seen).
    Done {
        task: usize,
        first: Option<u64>,
        stray: Option<(usize, Option<u64>)>,
    },
}

/// A `cross-poll` task. On its first poll it sets its own value. It then yields `yields`
/// times, and every later poll must see that value again.
struct Yielder {
    var: Arc<ContextVar<u64>>,
    task: usize,
    own: u64,
    yields: usize,
    polls: usize,
    /// Woken by the check's thread rather than by itself. This is the cross-thread wake path.
    remote: bool,
    first: Option<u64>,
    stray: Option<(usize, Option<u64>)>,
    notes: Sender<Note>,
}

impl Future for Yielder {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.polls += 1;
        let seen = this.var.get();
        if this.polls == 1 {
            this.first = seen;
            let _never_reset = this.var.set(this.own);
        } else if seen != Some(this.own) && this.stray.is_none() {
            this.stray = Some((this.polls, seen));
        }
        if this.polls > this.yields {
            let _ = this.notes.send(Note::Done {
                task: this.task,
                first: this.first,
                stray: this.stray,
            });
            return Poll::Ready(());
        }
        if this.remote {
            let _ = this.notes.send(Note::Wake(cx.waker().clone()));
        } else {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

pub(super) fn cross_poll(exec: &Exec, opts: &CheckOptions, deadline: Deadline) -> Outcome {
    let (tasks, yields) = (opts.batch(), opts.repeats());
    let var = probe::var::<u64>("ctxharness.cross-poll");
    let mut values = Vec::with_capacity(tasks);
    let mut owners = Owners::default();
    let (tx, rx) = mpsc::channel();
    for task in 0..tasks {
        let (given, own) = (probe::tag(), probe::tag());
        owners.insert(given, format!("the value task {task} was spawned with"));
        owners.insert(own, format!("the value task {task} set"));
        values.push((given, own));
        let yielder = Yielder {
            var: Arc::clone(&var),
            task,
            own,
            yields,
            polls: 0,
            remote: task % 2 == 0,
            first: None,
            stray: None,
            notes: tx.clone(),
        };
        var.scope(given, || spawn(exec, yielder))?;
    }
    drop(tx);
    let mut done = Vec::with_capacity(tasks);
    while done.len() < tasks {
        let what = || "yielding tasks".to_string();
        match next(&rx, tasks - done.len(), tasks, what, deadline)? {
            Note::Wake(waker) => waker.wake(),
            Note::Done { task, first, stray } => done.push((task, first, stray)),
        }
    }
    let mut violations = Violations::new();
    for (task, first, stray) in done {
        let (given, _) = values[task];
        if first.is_some() && first != Some(given) {
            violations.add(|| format!("task {task} started with {}", owners.name(first)));
        } else if let Some((poll, seen)) = stray {
            violations.add(|| {
                format!(
                    "task {task} saw {} on poll {poll} instead of the value it set on poll 1",
                    owners.name(seen)
                )
            });
        }
    }
    violations.verdict(
        tasks,
        "tasks lost their context across polls",
        format!("{tasks} interleaved tasks kept their own value through {yields} yields each"),
    )
}

/// A `cancellation` task. It sets a value on its first poll and another on its second, then
/// stays pending until the check cancels it. It hands the check its waker each time it parks.
struct Parked {
    task: usize,
    polls: usize,
    cancelled: Arc<AtomicBool>,
    first: Arc<ContextVar<probe::Tracked>>,
    later: Arc<ContextVar<probe::Tracked>>,
    first_log: Arc<DropLog>,
    later_log: Arc<DropLog>,
    parked: Sender<(usize, Waker)>,
}

impl Future for Parked {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.cancelled.load(Ordering::Acquire) {
            // Give up mid-await, as an aborted task does. The executor then drops the task.
            return Poll::Ready(());
        }
        this.polls += 1;
        match this.polls {
            1 => {
                let _never_reset = this.first.set(this.first_log.track());
                cx.waker().wake_by_ref();
            }
            2 => {
                let _never_reset = this.later.set(this.later_log.track());
                let _ = this.parked.send((this.task, cx.waker().clone()));
            }
            // A spurious poll: the latest waker is the one to wake.
            _ => {
                let _ = this.parked.send((this.task, cx.waker().clone()));
            }
        }
        Poll::Pending
    }
}

pub(super) fn cancellation(exec: &Exec, opts: &CheckOptions, deadline: Deadline) -> Outcome {
    let tasks = opts.batch();
    let logs = DropLogs::new(&[
        "set by the spawner",
        "set on the first poll",
        "set on a later poll",
    ]);
    let given = probe::var("ctxharness.cancellation.given");
    let first = probe::var("ctxharness.cancellation.first");
    let later = probe::var("ctxharness.cancellation.later");
    let cancelled = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    for task in 0..tasks {
        let parked = Parked {
            task,
            polls: 0,
            cancelled: Arc::clone(&cancelled),
            first: Arc::clone(&first),
            later: Arc::clone(&later),
            first_log: logs.log(1),
            later_log: logs.log(2),
            parked: tx.clone(),
        };
        given.scope(logs.log(0).track(), || spawn(exec, parked))?;
    }
    drop(tx);
    let mut wakers = HashMap::new();
    while wakers.len() < tasks {
        let what = || "tasks to park".to_string();
        let (task, waker) = next(&rx, tasks - wakers.len(), tasks, what, deadline)?;
        wakers.insert(task, waker);
    }
    // A pending task still needs its context: nothing may have been dropped yet.
    let early = logs.dropped();
    let early_detail = logs.describe_dropped();
    cancelled.store(true, Ordering::Release);
    for waker in wakers.into_values() {
        waker.wake();
    }
    let all_dropped = poll_until(deadline, || {
        // A task polled again before it saw the flag parks with a new waker.
        while let Ok((_, waker)) = rx.try_recv() {
            waker.wake();
        }
        logs.alive() == 0
    });
    let mut wrong = Vec::new();
    if early > 0 {
        wrong.push(format!(
            "dropped while their task was still pending: {early_detail}"
        ));
    }
    if !all_dropped {
        wrong.push(format!(
            "still alive {:?} after their task was cancelled: {}",
            deadline.timeout(),
            logs.describe_alive()
        ));
    }
    if wrong.is_empty() {
        Ok(format!(
            "{tasks} pending tasks kept their {} context values and dropped them all once cancelled",
            logs.made()
        ))
    } else {
        Err(Failure::Wrong(format!(
            "context values {}",
            wrong.join("; ")
        )))
    }
}
