//! What the checks put into contexts: unique tags, variables of their own, drop-counted values.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use ctxvars::ContextVar;

static NEXT_TAG: AtomicU64 = AtomicU64::new(1);

/// A value used once in the whole process, so a job that sees it can tell whose it is.
pub(crate) fn tag() -> u64 {
    // Only uniqueness matters, which Relaxed gives.
    NEXT_TAG.fetch_add(1, Ordering::Relaxed)
}

/// A new variable for one check run. A value that a broken executor leaks, from this check
/// or from an earlier run, is set under another variable, so it cannot show up here.
pub(crate) fn var<T: Send + Sync + 'static>(name: &'static str) -> Arc<ContextVar<T>> {
    Arc::new(ContextVar::new(name))
}

/// Counts the values made by [`DropLog::track`] and how many of them were dropped.
#[derive(Debug, Default)]
pub(crate) struct DropLog {
    made: AtomicUsize,
    dropped: AtomicUsize,
}

impl DropLog {
    /// A new value whose drop this log counts.
    pub(crate) fn track(self: &Arc<Self>) -> Tracked {
        // The counters guard no other data, so Relaxed is enough. The check reads them after
        // its jobs have reported through a channel, or polls them until a deadline.
        self.made.fetch_add(1, Ordering::Relaxed);
        Tracked(Arc::clone(self))
    }

    pub(crate) fn made(&self) -> usize {
        self.made.load(Ordering::Relaxed)
    }

    pub(crate) fn dropped(&self) -> usize {
        self.dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn alive(&self) -> usize {
        self.made().saturating_sub(self.dropped())
    }
}

/// A context value that counts its own drop. The check needs no handle on it, so the only
/// owners are the contexts and jobs that hold it.
pub(crate) struct Tracked(Arc<DropLog>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// A family of drop-counted values, each kind named for messages.
pub(crate) struct DropLogs {
    kinds: Vec<(String, Arc<DropLog>)>,
}

impl DropLogs {
    /// One log per kind, in the order given. A kind's description completes "N of M ...".
    pub(crate) fn new(kinds: &[&str]) -> Self {
        DropLogs {
            kinds: kinds
                .iter()
                .map(|&kind| (kind.to_string(), Arc::default()))
                .collect(),
        }
    }

    /// The log of the `index`th kind.
    pub(crate) fn log(&self, index: usize) -> Arc<DropLog> {
        Arc::clone(&self.kinds[index].1)
    }

    pub(crate) fn made(&self) -> usize {
        self.kinds.iter().map(|(_, log)| log.made()).sum()
    }

    pub(crate) fn dropped(&self) -> usize {
        self.kinds.iter().map(|(_, log)| log.dropped()).sum()
    }

    pub(crate) fn alive(&self) -> usize {
        self.kinds.iter().map(|(_, log)| log.alive()).sum()
    }

    /// "2 of 64 set by jobs", for each kind with any alive.
    pub(crate) fn describe_alive(&self) -> String {
        self.describe(|log| log.alive())
    }

    /// "3 of 64 set by jobs", for each kind with any dropped.
    pub(crate) fn describe_dropped(&self) -> String {
        self.describe(|log| log.dropped())
    }

    fn describe(&self, count: impl Fn(&DropLog) -> usize) -> String {
        let parts: Vec<String> = self
            .kinds
            .iter()
            .filter(|(_, log)| count(log) > 0)
            .map(|(kind, log)| format!("{} of {} {kind}", count(log), log.made()))
            .collect();
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_unique() {
        let (a, b) = (tag(), tag());
        assert_ne!(a, b);
    }

    #[test]
    fn drop_logs_count_and_describe_by_kind() {
        let logs = DropLogs::new(&["set by the submitter", "set by jobs"]);
        let kept = logs.log(1).track();
        drop(logs.log(0).track());
        assert_eq!((logs.made(), logs.dropped(), logs.alive()), (2, 1, 1));
        assert_eq!(logs.describe_alive(), "1 of 1 set by jobs");
        assert_eq!(logs.describe_dropped(), "1 of 1 set by the submitter");
        drop(kept);
        assert_eq!(logs.alive(), 0);
        assert_eq!(logs.describe_alive(), "");
    }
}
