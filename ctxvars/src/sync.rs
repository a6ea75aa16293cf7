//! The one place that names `std::sync`, `thread_local!` and `loom`.
//!
//! Under `cfg(loom)` the shared pointers and the per-thread state are loom's, so the
//! `ctxharness` models explore every interleaving of the code that ships (tokio's
//! `src/loom` pattern). Everything else in the crate imports from here.

/// The context map's pointer. triomphe's `Arc` has no weak count, so the uniqueness check a
/// copy-on-write `set` makes is one load instead of std's compare-and-swap.
#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(not(loom))]
pub(crate) use triomphe::Arc;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicUsize};

/// Identity counters stay std atomics even under loom: a `static ContextVar` needs a
/// const-constructible atomic (loom's are not), and identities only need uniqueness,
/// never an ordering with other memory, so there is no interleaving to explore.
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};

/// The switch for the harness's mutants (`mutant.rs`) is a std atomic too: it is set between
/// models, never inside one, so it is configuration rather than state for loom to explore.
#[cfg(loom)]
pub(crate) use std::sync::atomic::AtomicUsize as StdAtomicUsize;

/// Declares the per-thread current-context slot.
#[cfg(not(loom))]
macro_rules! current_thread_local {
    ($vis:vis static $name:ident: $ty:ty = $init:expr;) => {
        ::std::thread_local!($vis static $name: $ty = const { $init });
    };
}

/// Declares the per-thread current-context slot.
#[cfg(loom)]
macro_rules! current_thread_local {
    ($vis:vis static $name:ident: $ty:ty = $init:expr;) => {
        ::loom::thread_local!($vis static $name: $ty = $init;);
    };
}

pub(crate) use current_thread_local;
