#![cfg(loom)]
//! Model 3, propagation through an executor: a two-thread pool with a loom-aware job queue
//! runs jobs wrapped with `ctxvars::propagate`. Each job sees the submitter's values as of its
//! submission, and neither a job nor its worker sees another's sets.

mod loom_support;

use std::collections::VecDeque;

use ctxvars::mutant::Mutant;
use ctxvars::{propagate, ContextVar};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

static V: ContextVar<u32> = ContextVar::new("v");

type Job = Box<dyn FnOnce() + Send>;

/// The pool's queue: jobs, and whether the submitter is done.
#[derive(Default)]
struct Queue {
    state: Mutex<(VecDeque<Job>, bool)>,
    ready: Condvar,
}

impl Queue {
    fn submit(&self, job: Job) {
        self.state.lock().unwrap().0.push_back(job);
        self.ready.notify_one();
    }

    fn close(&self) {
        self.state.lock().unwrap().1 = true;
        self.ready.notify_all();
    }

    /// The next job; `None` once the queue is closed and empty.
    fn next(&self) -> Option<Job> {
        let mut state = self.state.lock().unwrap();
        loop {
            if let Some(job) = state.0.pop_front() {
                return Some(job);
            }
            if state.1 {
                return None;
            }
            state = self.ready.wait(state).unwrap();
        }
    }
}

fn job(submitted: u32) -> Job {
    Box::new(propagate(move || {
        assert_eq!(V.get(), Some(submitted), "a job sees the submitter's value");
        let _own = V.set(submitted + 10);
    }))
}

fn executor() {
    let queue = Arc::new(Queue::default());
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let queue = queue.clone();
            thread::spawn(move || {
                while let Some(job) = queue.next() {
                    job();
                    assert_eq!(V.get(), None, "a worker's own context after a job");
                }
            })
        })
        .collect();

    let first = V.set(1);
    queue.submit(job(1));
    let second = V.set(2);
    queue.submit(job(2));
    queue.close();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(V.get(), Some(2), "the submitter never sees a job's set");
    V.reset(second).unwrap();
    V.reset(first).unwrap();
}

/// `LOOM_MAX_PREEMPTIONS=4`, fixed here: unbounded, three threads around a lock and a condvar
/// take loom longer than three minutes; four preemptions make about 80 thousand interleavings
/// (seconds).
fn builder() -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(4);
    builder
}

#[test]
fn executor_propagates_in_every_interleaving() {
    loom_support::explore("executor", builder(), executor);
}

#[test]
fn executor_fails_when_propagate_captures_nothing() {
    loom_support::assert_killed(
        "executor_fails_when_propagate_captures_nothing",
        Mutant::PropagateWithoutCapture,
        builder(),
        executor,
        "a job sees the submitter's value",
    );
}
