//! How hard and how long the checks push an executor.

use std::time::Duration;

/// Sizes and the time limit for [`check_executor`](crate::check_executor) and
/// [`check_async_executor`](crate::check_async_executor).
///
/// The default suits CI. A correct executor passes every check in well under a second, and a
/// broken one fails within `timeout` for each check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOptions {
    /// How many jobs (or tasks) a check submits at once. Keep it well above the executor's
    /// worker count. Bugs between consecutive jobs on one worker only show on a worker that
    /// runs several. Values below 1 count as 1.
    pub jobs: usize,
    /// How many batches of `jobs` the `isolation` check runs, and how many times each
    /// `cross-poll` task yields. Values below 1 count as 1.
    pub rounds: usize,
    /// How long each check may take before its missing jobs are reported as lost. It is a
    /// limit, not a delay: a check ends as soon as its jobs have reported.
    pub timeout: Duration,
}

impl CheckOptions {
    /// `jobs`, at least 1.
    pub(crate) fn batch(&self) -> usize {
        self.jobs.max(1)
    }

    /// `rounds`, at least 1.
    pub(crate) fn repeats(&self) -> usize {
        self.rounds.max(1)
    }
}

impl Default for CheckOptions {
    /// 64 jobs, 8 rounds, 5 s per check. This is enough to load a small pool. The limit is
    /// generous, so a loaded CI machine does not fail a correct executor.
    fn default() -> Self {
        CheckOptions {
            jobs: 64,
            rounds: 8,
            timeout: Duration::from_secs(5),
        }
    }
}
