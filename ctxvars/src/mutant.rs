//! Deliberate bugs that the `ctxharness` loom models must catch.
//!
//! Only `cfg(loom)` builds have this module and its hooks, so shipped builds are unchanged.
//! A mutant is picked at run time, so one loom build checks every model both clean and
//! mutated: a model that still passes with its mutant switched on proves nothing.

use crate::sync::{Ordering, StdAtomicUsize};

/// A bug to switch on. Each one is the mistake a model exists to catch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Mutant {
    /// `set` writes into the current map even while a snapshot shares it: no copy-on-write.
    ///
    /// Deliberately unsound (the shared map is mutated through a shared pointer). Loom runs one
    /// thread at a time, and the models hold no reference into a map across a `set`.
    SetInPlace = 1,
    /// `Context::run` puts the caller's context back on return but not on a panic.
    RunKeepsContextOnPanic,
    /// A `VarGuard` (so also `scope`) resets its variable on return but not on a panic.
    GuardSkipsResetOnPanic,
    /// `propagate` captures nothing: the job runs in whatever context the worker has.
    PropagateWithoutCapture,
    /// A value's drop checks "am I the last handle?" with a load, then decrements without
    /// looking at the result: two handles dropped at once each leave the value to the other.
    LostLastDrop,
    /// A value's last drop does not acquire the other handles' releases, so its destructor
    /// may race with reads made through those handles.
    DropWithoutAcquire,
}

/// `0` means no mutant.
static ACTIVE: StdAtomicUsize = StdAtomicUsize::new(0);

/// Switches `mutant` on (or every mutant off for `None`) for the whole process.
pub fn set(mutant: Option<Mutant>) {
    ACTIVE.store(mutant.map_or(0, |mutant| mutant as usize), Ordering::SeqCst);
}

/// Whether `mutant` is switched on.
#[inline]
pub fn active(mutant: Mutant) -> bool {
    ACTIVE.load(Ordering::Relaxed) == mutant as usize
}
