//! Bounded waiting. Every wait in a check ends at the check's deadline, so a lost job or a
//! dead worker fails the check instead of hanging the test.

use std::sync::{Condvar, Mutex, PoisonError};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

/// How often `poll_until` looks again. This is short next to any timeout, and cheap.
const POLL_INTERVAL: Duration = Duration::from_millis(1);

/// The moment a check gives up waiting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    /// `None` when `timeout` is too large to add to the clock: the check never gives up.
    at: Option<Instant>,
    timeout: Duration,
}

impl Deadline {
    pub(crate) fn after(timeout: Duration) -> Self {
        Deadline {
            at: Instant::now().checked_add(timeout),
            timeout,
        }
    }

    /// The time left, zero once passed.
    pub(crate) fn remaining(&self) -> Duration {
        self.at.map_or(Duration::MAX, |at| {
            at.saturating_duration_since(Instant::now())
        })
    }

    pub(crate) fn passed(&self) -> bool {
        self.remaining().is_zero()
    }

    /// The timeout this deadline was made from (for messages).
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// Calls `done` until it returns true or the deadline passes, and says which came first.
pub(crate) fn poll_until(deadline: Deadline, mut done: impl FnMut() -> bool) -> bool {
    loop {
        if done() {
            return true;
        }
        if deadline.passed() {
            return false;
        }
        thread::sleep(POLL_INTERVAL.min(deadline.remaining()));
    }
}

/// A one-way signal from the thread that made it (the check's) to its jobs.
pub(crate) struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
    opener: ThreadId,
}

impl Gate {
    /// A closed gate that the calling thread will open.
    pub(crate) fn new() -> Self {
        Gate {
            open: Mutex::new(false),
            opened: Condvar::new(),
            opener: thread::current().id(),
        }
    }

    pub(crate) fn open(&self) {
        *self.open.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.opened.notify_all();
    }

    /// Waits up to `limit` for the gate to open and says whether it did. On the opener's own
    /// thread (an executor that runs jobs inline), it returns `false` at once. Waiting there
    /// would wait for itself.
    pub(crate) fn wait(&self, limit: Duration) -> bool {
        if thread::current().id() == self.opener {
            return false;
        }
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let (open, _) = self
            .opened
            .wait_timeout_while(open, limit, |open| !*open)
            .unwrap_or_else(PoisonError::into_inner);
        *open
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_gate_releases_other_threads_and_never_blocks_its_opener() {
        let gate = Arc::new(Gate::new());
        assert!(
            !gate.wait(Duration::from_secs(60)),
            "the opener must not wait"
        );
        let waiter = {
            let gate = Arc::clone(&gate);
            thread::spawn(move || gate.wait(Duration::from_secs(60)))
        };
        gate.open();
        assert!(waiter.join().expect("waiter"));
    }

    #[test]
    fn a_closed_gate_times_out() {
        let gate = Arc::new(Gate::new());
        let waiter = {
            let gate = Arc::clone(&gate);
            thread::spawn(move || gate.wait(Duration::from_millis(10)))
        };
        assert!(!waiter.join().expect("waiter"));
    }

    #[test]
    fn poll_until_stops_at_the_deadline() {
        let deadline = Deadline::after(Duration::from_millis(20));
        assert!(!poll_until(deadline, || false));
        assert!(deadline.passed());
        assert!(poll_until(Deadline::after(Duration::ZERO), || true));
    }

    #[test]
    fn a_huge_timeout_never_expires() {
        let deadline = Deadline::after(Duration::MAX);
        assert_eq!(deadline.remaining(), Duration::MAX);
        assert!(!deadline.passed());
    }
}
