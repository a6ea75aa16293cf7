//! The per-thread current context and the copy-on-write variable map behind it.
//!
//! A context is an `Arc` of a small sorted vector of `(var id, value)` entries: a snapshot
//! is one `Arc` clone, and a `set` mutates in place while nothing else shares the map
//! (copy-on-write). Values are type-erased, reference-counted [`Value`]s so a copied map
//! shares them without requiring `T: Clone`.

use std::cell::{Cell, UnsafeCell};
use std::mem;
use std::num::NonZeroU64;

use crate::sync::{Arc, AtomicU64, Ordering};
use crate::value::Value;

/// The identity of a `ContextVar` or of a context (never reused).
pub(crate) type Id = NonZeroU64;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Hands out a process-wide unique identity.
pub(crate) fn fresh_id() -> Id {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    // 2^64 identities are never exhausted in practice; wrapping would only alias identities.
    NonZeroU64::new(id).unwrap_or(NonZeroU64::MIN)
}

#[derive(Clone)]
struct Entry {
    var: Id,
    value: Value,
}

/// The variables of one context, sorted by var id. Contexts usually hold a handful of
/// variables, where a sorted vector beats a hash trie on both lookups and copies.
#[derive(Clone, Default)]
pub(crate) struct Vars {
    entries: Vec<Entry>,
}

impl Vars {
    /// Where `var` is (`Ok`) or would be inserted (`Err`).
    #[inline(always)]
    fn position(&self, var: Id) -> Result<usize, usize> {
        if self.entries.len() > LINEAR_SEARCH_MAX {
            return self.entries.binary_search_by_key(&var, |entry| entry.var);
        }
        // Short maps: a forward scan is predictable and needs no dependent loads.
        let at = self
            .entries
            .iter()
            .take_while(|entry| entry.var < var)
            .count();
        match self.entries.get(at) {
            Some(entry) if entry.var == var => Ok(at),
            _ => Err(at),
        }
    }

    #[inline]
    pub(crate) fn get(&self, var: Id) -> Option<&Value> {
        self.position(var).ok().map(|at| &self.entries[at].value)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &'static str> + Clone + '_ {
        self.entries.iter().map(|entry| entry.value.var_name())
    }

    /// Sets `var` (or removes it when `value` is `None`); returns the value it replaced.
    #[inline(always)]
    fn put(&mut self, var: Id, value: Option<Value>) -> Option<Value> {
        match (self.position(var), value) {
            (Ok(at), Some(value)) => Some(mem::replace(&mut self.entries[at].value, value)),
            (Ok(at), None) => Some(self.entries.remove(at).value),
            (Err(at), Some(value)) => {
                self.entries.insert(at, Entry { var, value });
                None
            }
            (Err(_), None) => None,
        }
    }
}

/// Up to this many variables a linear scan beats a binary search.
const LINEAR_SEARCH_MAX: usize = 16;

/// A context's map: `None` while empty, so fresh contexts never allocate.
pub(crate) type Map = Option<Arc<Vars>>;

/// Values a mutation displaced. They are dropped only after the thread state is no
/// longer borrowed, because dropping a value runs user code that may use ctxvars again.
#[must_use]
pub(crate) struct Displaced {
    value: Option<Value>,
    _map: Option<Arc<Vars>>,
}

impl Displaced {
    /// The displaced value; the displaced map (if any) is dropped here, outside `put`.
    #[inline(always)]
    pub(crate) fn into_value(self) -> Option<Value> {
        self.value
    }
}

/// The state of one thread: the context it is running in.
pub(crate) struct Current {
    /// The running context's map.
    vars: UnsafeCell<Map>,
    /// The running context's identity, assigned on its first `set` (tokens need it).
    id: Cell<Option<Id>>,
    /// How many `get`/`with` calls are running user code with a reference into `vars`.
    borrows: Cell<usize>,
    /// Maps replaced while `borrows > 0`; freed when the last borrow ends.
    retired: UnsafeCell<Vec<Arc<Vars>>>,
}

// Invariants that make the `UnsafeCell` accesses below sound:
// 1. No `&`/`&mut` to `vars` or `retired` outlives the function that creates it, and none is
//    held while user code (a value's `Clone`/`Drop`, a callback) runs — except the `&Vars`
//    into the *heap* map that `with_var` hands to user code while `borrows > 0`.
// 2. While `borrows > 0`, mutations never write into the current map and never drop it:
//    they install a modified copy and park the old map in `retired`. So every `&Vars`
//    handed out stays valid until its borrow ends.
crate::sync::current_thread_local! {
    static CURRENT: Current = Current {
        vars: UnsafeCell::new(None),
        id: Cell::new(None),
        borrows: Cell::new(0),
        retired: UnsafeCell::new(Vec::new()),
    };
}

/// Runs `f` with this thread's state; `None` while thread-local storage is torn down.
#[inline]
pub(crate) fn try_current<R>(f: impl FnOnce(&Current) -> R) -> Option<R> {
    CURRENT.try_with(f).ok()
}

/// Runs `f` with this thread's state, or with `None` while thread-local storage is being
/// torn down (a value's destructor running at thread exit): ctxvars then behaves as an
/// empty context whose changes are discarded.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Current>) -> R) -> R {
    let mut f = Some(f);
    if let Ok(Some(result)) = CURRENT.try_with(|current| f.take().map(|f| f(Some(current)))) {
        return result;
    }
    match f {
        Some(f) => f(None),
        // `try_with` returns `Err` only without calling its closure, which took `f`.
        None => unreachable!("thread-local access failed after running its callback"),
    }
}

impl Current {
    /// The running context's identity, assigning one if it has none yet.
    #[inline]
    pub(crate) fn id(&self) -> Id {
        match self.id.get() {
            Some(id) => id,
            None => {
                let id = fresh_id();
                self.id.set(Some(id));
                id
            }
        }
    }

    /// Whether the running context is `id` (a context without an identity is nobody's).
    #[inline]
    pub(crate) fn is(&self, id: Id) -> bool {
        self.id.get() == Some(id)
    }

    #[cold]
    fn free_retired(&self) {
        // SAFETY: invariant 1; the vector is moved out before its maps (and the user `Drop`
        // code of their values) are dropped.
        let retired = unsafe { mem::take(&mut *self.retired.get()) };
        drop(retired);
    }

    /// Calls `f` with `var`'s value in the running context. `f` may use ctxvars freely.
    #[inline]
    pub(crate) fn with_var<R>(&self, var: Id, f: impl FnOnce(Option<&Value>) -> R) -> R {
        let outer = self.borrows.get();
        self.borrows.set(outer + 1);
        let _borrow = Borrow {
            current: self,
            outer,
        };
        // SAFETY: invariant 2 keeps the heap map alive and unchanged while `borrows > 0`;
        // the reference to the slot itself ends with this statement.
        let vars = unsafe { (*self.vars.get()).as_deref() };
        f(vars.and_then(|vars| vars.get(var)))
    }

    /// A new handle on the running context's map (an `Arc` clone, O(1)).
    #[inline]
    pub(crate) fn snapshot(&self) -> Map {
        // SAFETY: invariant 1; cloning an `Arc` runs no user code.
        unsafe { (*self.vars.get()).clone() }
    }

    /// Makes `(vars, id)` the running context and returns the previous one.
    #[inline]
    pub(crate) fn swap(&self, vars: Map, id: Option<Id>) -> (Map, Option<Id>) {
        // SAFETY: invariant 1; moving the `Arc`s drops nothing, and a map that is borrowed
        // stays alive in whoever holds it now (the caller restores it later).
        let vars = unsafe { mem::replace(&mut *self.vars.get(), vars) };
        (vars, self.id.replace(id))
    }

    /// Sets `var` in the running context (removes it for `None`); returns what it displaced.
    #[inline(always)]
    pub(crate) fn put(&self, var: Id, value: Option<Value>) -> Displaced {
        if self.borrows.get() == 0 {
            // SAFETY: invariant 1: this `&mut` ends before we return and no user code runs
            // while it lives (no borrow is lent out, and displaced values are returned).
            let slot = unsafe { &mut *self.vars.get() };
            #[cfg(loom)]
            if crate::mutant::active(crate::mutant::Mutant::SetInPlace) {
                if let Some(shared) = slot.as_ref() {
                    // SAFETY: none: the mutant skips the uniqueness check on purpose (`Mutant`).
                    let vars = unsafe { &mut *Arc::as_ptr(shared).cast_mut() };
                    return Displaced {
                        value: vars.put(var, value),
                        _map: None,
                    };
                }
            }
            if let Some(vars) = slot.as_mut().and_then(Arc::get_mut) {
                return Displaced {
                    value: vars.put(var, value),
                    _map: None,
                };
            }
        }
        self.put_into_copy(var, value)
    }

    /// `put` for a map that is shared with a snapshot, lent to a running `with`, or absent.
    #[cold]
    #[inline(never)]
    fn put_into_copy(&self, var: Id, value: Option<Value>) -> Displaced {
        // SAFETY: invariant 1: this `&mut` ends before we return and no user code runs while
        // it lives (allocation and reference counting only).
        let slot = unsafe { &mut *self.vars.get() };
        let mut copy = slot.as_deref().cloned().unwrap_or_default();
        let old_value = copy.put(var, value);
        let Some(old_map) = slot.replace(Arc::new(copy)) else {
            return Displaced {
                value: old_value,
                _map: None,
            };
        };
        if self.borrows.get() > 0 {
            // Invariant 2: a `with` may hold a reference into the old map.
            // SAFETY: invariant 1; `retired` is only touched here and in `free_retired`.
            unsafe { (*self.retired.get()).push(old_map) };
            return Displaced {
                value: old_value,
                _map: None,
            };
        }
        Displaced {
            value: old_value,
            _map: Some(old_map),
        }
    }
}

/// Ends one `with_var` borrow; the last one frees the maps retired meanwhile.
struct Borrow<'a> {
    current: &'a Current,
    /// The count before this borrow. Restoring it (rather than decrementing) keeps the
    /// next `get` from waiting on this store-to-load round trip in tight loops.
    outer: usize,
}

impl Drop for Borrow<'_> {
    #[inline]
    fn drop(&mut self) {
        let current = self.current;
        current.borrows.set(self.outer);
        // SAFETY (the `retired` access): invariant 1.
        if self.outer == 0 && unsafe { !(*current.retired.get()).is_empty() } {
            current.free_retired();
        }
    }
}
