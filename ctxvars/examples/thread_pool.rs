//! A trace id that follows jobs into a thread pool.
//!
//! Pool threads are started long before any request, so a thread-local trace id set by the
//! submitter would never reach them. The submitter instead wraps each job with
//! [`ctxvars::propagate`]: the job runs in a snapshot of the submitter's context taken at
//! submission, on whichever pool thread picks it up, and its own changes stay in that
//! snapshot.
//!
//! Run with `cargo run -p ctxvars --example thread_pool`. It prints (in any order)
//!
//! ```text
//! job 1: trace-abc-123
//! job 2: trace-abc-123
//! job 3: trace-abc-123
//! ```
//!
//! and checks it before exiting, so running it is a test.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use ctxvars::ContextVar;

static TRACE_ID: ContextVar<String> = ContextVar::new("trace_id");

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A minimal fixed-size pool: worker threads pulling boxed jobs from one channel.
struct ThreadPool {
    jobs: Option<mpsc::Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl ThreadPool {
    fn new(size: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let workers = (0..size)
            .map(|_| {
                let queue = Arc::clone(&queue);
                std::thread::spawn(move || loop {
                    // The lock is released at the end of this statement, before the job runs.
                    let job = queue.lock().expect("queue lock").recv();
                    match job {
                        Ok(job) => job(),
                        Err(mpsc::RecvError) => break, // the pool was dropped
                    }
                })
            })
            .collect();
        ThreadPool {
            jobs: Some(jobs),
            workers,
        }
    }

    /// Queues `job`, to run in a snapshot of the caller's context taken now.
    fn submit(&self, job: impl FnOnce() + Send + 'static) {
        let job: Job = Box::new(ctxvars::propagate(job));
        self.jobs
            .as_ref()
            .expect("pool is running")
            .send(job)
            .expect("workers are alive");
    }
}

impl Drop for ThreadPool {
    /// Closes the queue and waits for the queued jobs to finish.
    fn drop(&mut self) {
        drop(self.jobs.take());
        for worker in self.workers.drain(..) {
            worker.join().expect("worker panicked");
        }
    }
}

fn main() {
    let pool = ThreadPool::new(2);
    let (results, seen) = mpsc::channel();

    let token = TRACE_ID.set("trace-abc-123".to_string());
    for n in 1..=3 {
        let results = results.clone();
        pool.submit(move || {
            let trace_id = TRACE_ID.get();
            println!(
                "job {n}: {}",
                trace_id.as_deref().unwrap_or("<no trace id>")
            );
            // A job's own change stays in its snapshot: the next job on this worker does
            // not see it.
            // ctxlint: ignore[CTX001] `submit` runs each job in a snapshot (see `propagate` above)
            let _ = TRACE_ID.set(format!("changed by job {n}"));
            results.send((n, trace_id)).expect("main is waiting");
        });
    }
    // The jobs keep the value they were submitted with, even after the submitter resets it.
    TRACE_ID
        .reset(token)
        .expect("reset in the context that set it");
    assert_eq!(TRACE_ID.get(), None);

    drop(results);
    drop(pool); // waits for the jobs
    let mut seen: Vec<(u32, Option<String>)> = seen.iter().collect();
    seen.sort();
    let trace = Some("trace-abc-123".to_string());
    assert_eq!(
        seen,
        [(1, trace.clone()), (2, trace.clone()), (3, trace)],
        "every job saw the submitter's trace id"
    );
}
