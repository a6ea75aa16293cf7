//! `Value`: a type-erased, reference-counted variable value.
//!
//! It is `Arc<dyn Any>` cut to what a context needs: one counter instead of two (no weak
//! references), and dropping the last reference costs a load instead of two atomic
//! read-modify-writes. A `set` + `reset` pair creates and drops one value, so this is most of
//! the difference between a 10 ns and a 50 ns set/reset.
//!
//! For the same reason each thread keeps the last freed value block for the next `set`: a
//! set/reset loop then never reaches the allocator.

use std::alloc::{self, Layout};
use std::any::Any;
use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::sync::{fence, AtomicUsize, Ordering};

/// The part of every allocation the erased handle can see.
struct Header {
    refs: AtomicUsize,
    /// The name of the variable holding the value, for `Debug` of a `Context`.
    var_name: &'static str,
    /// Drops the whole `Inner<T>` allocation this header starts.
    destroy: unsafe fn(NonNull<Header>),
    #[cfg(debug_assertions)]
    type_id: std::any::TypeId,
}

/// `repr(C)` so a pointer to the `Inner<T>` is a pointer to its header.
#[repr(C)]
struct Inner<T> {
    header: Header,
    value: T,
}

/// A shared handle on a value of a type only the owning `ContextVar<T>` knows.
pub(crate) struct Value {
    ptr: NonNull<Header>,
    /// Owns a `Send + Sync` value behind a shared pointer, like `Arc<dyn Any + Send + Sync>`.
    _owns: PhantomData<Box<dyn Any + Send + Sync>>,
}

// SAFETY: values are only ever made from `T: Send + Sync` (see `Value::new`), and the counter
// is atomic, so handles may move and be shared across threads like an `Arc`.
unsafe impl Send for Value {}
// SAFETY: as above.
unsafe impl Sync for Value {}

/// Above this many references a counter overflow becomes possible; abort like `Arc` does.
const MAX_REFS: usize = isize::MAX as usize;

impl Value {
    #[inline]
    pub(crate) fn new<T: Any + Send + Sync>(var_name: &'static str, value: T) -> Self {
        let inner = Inner {
            header: Header {
                refs: AtomicUsize::new(1),
                var_name,
                destroy: destroy::<T>,
                #[cfg(debug_assertions)]
                type_id: std::any::TypeId::of::<T>(),
            },
            value,
        };
        let layout = Layout::new::<Inner<T>>();
        let recycled = SPARE_BLOCK
            .try_with(|spare| spare.take(layout))
            .ok()
            .flatten();
        // SAFETY: `Inner<T>` has a non-zero size (the header).
        let block = recycled.or_else(|| NonNull::new(unsafe { alloc::alloc(layout) }));
        let block = block
            .unwrap_or_else(|| alloc::handle_alloc_error(layout))
            .cast::<Inner<T>>();
        // SAFETY: `block` is fresh or recycled memory with `Inner<T>`'s layout, used by no one.
        unsafe { block.as_ptr().write(inner) };
        Value {
            ptr: block.cast(),
            _owns: PhantomData,
        }
    }

    /// The name of the variable the value was set on.
    pub(crate) fn var_name(&self) -> &'static str {
        self.header().var_name
    }

    fn header(&self) -> &Header {
        // SAFETY: the allocation lives while any handle (this one) does.
        unsafe { self.ptr.as_ref() }
    }

    /// The value as a `T`.
    ///
    /// # Safety
    /// `T` must be the type this value was made from. Entries keyed by a var id are only ever
    /// written by the `ContextVar<T>` that owns the id, so a value found under the id of a
    /// `ContextVar<T>` is a `T`.
    #[inline]
    pub(crate) unsafe fn downcast<T: Any>(&self) -> &T {
        #[cfg(debug_assertions)]
        assert!(
            self.header().type_id == std::any::TypeId::of::<T>(),
            "context value of an unexpected type"
        );
        &self.ptr.cast::<Inner<T>>().as_ref().value
    }
}

impl Clone for Value {
    #[inline]
    fn clone(&self) -> Self {
        // Relaxed as in `Arc::clone`: a new reference can only come from an existing one.
        if self.header().refs.fetch_add(1, Ordering::Relaxed) > MAX_REFS {
            std::process::abort();
        }
        Value {
            ptr: self.ptr,
            _owns: PhantomData,
        }
    }
}

impl Drop for Value {
    #[inline]
    fn drop(&mut self) {
        #[cfg(loom)]
        if self.drop_mutated() {
            return;
        }
        let refs = &self.header().refs;
        // The last handle needs no read-modify-write: nobody else can clone it any more. The
        // Acquire load orders every other handle's (Release) drop before the destruction.
        let last = refs.load(Ordering::Acquire) == 1 || {
            let was_last = refs.fetch_sub(1, Ordering::Release) == 1;
            if was_last {
                fence(Ordering::Acquire);
            }
            was_last
        };
        if last {
            // SAFETY: this was the last handle; `destroy` is the one made for this allocation.
            unsafe { (self.header().destroy)(self.ptr) }
        }
    }
}

impl Value {
    /// `Drop` with the active mutant's bug; `false` (nothing done) when no drop mutant is on.
    #[cfg(loom)]
    fn drop_mutated(&mut self) -> bool {
        use crate::mutant::{active, Mutant};
        let refs = &self.header().refs;
        let last = if active(Mutant::LostLastDrop) {
            let last = refs.load(Ordering::Acquire) == 1;
            if !last {
                refs.fetch_sub(1, Ordering::Release);
            }
            last
        } else if active(Mutant::DropWithoutAcquire) {
            refs.load(Ordering::Relaxed) == 1 || refs.fetch_sub(1, Ordering::Relaxed) == 1
        } else {
            return false;
        };
        if last {
            // SAFETY: as in `drop` for `LostLastDrop`, which leaks but never frees early;
            // `DropWithoutAcquire` frees without the ordering on purpose.
            unsafe { (self.header().destroy)(self.ptr) }
        }
        true
    }
}

/// Drops an `Inner<T>` and recycles or frees its memory.
///
/// # Safety
/// `header` must start a live `Inner<T>` made by `Value::new::<T>` that nothing else uses.
unsafe fn destroy<T>(header: NonNull<Header>) {
    let inner = header.cast::<Inner<T>>();
    // The value's `Drop` may use ctxvars (even set a variable); the block is recycled after.
    std::ptr::drop_in_place(inner.as_ptr());
    let layout = Layout::new::<Inner<T>>();
    let block = inner.cast::<u8>();
    let kept = SPARE_BLOCK
        .try_with(|spare| spare.keep(block, layout))
        .unwrap_or(false);
    if !kept {
        alloc::dealloc(block.as_ptr(), layout);
    }
}

/// Blocks larger than this are not kept: a spare block should cost a thread little memory.
const MAX_SPARE_SIZE: usize = 256;

/// One freed value block per thread, reused by the next value of the same layout.
struct SpareBlock(Cell<Option<(NonNull<u8>, Layout)>>);

impl SpareBlock {
    #[inline]
    fn take(&self, layout: Layout) -> Option<NonNull<u8>> {
        match self.0.get() {
            Some((block, spare_layout)) if spare_layout == layout => {
                self.0.set(None);
                Some(block)
            }
            _ => None,
        }
    }

    /// Keeps `block` if the slot is free and the block small; returns whether it did.
    #[inline]
    fn keep(&self, block: NonNull<u8>, layout: Layout) -> bool {
        if layout.size() > MAX_SPARE_SIZE {
            return false;
        }
        match self.0.replace(Some((block, layout))) {
            None => true,
            Some((older, older_layout)) => {
                // SAFETY: the slot owned `older`, allocated with `older_layout`.
                unsafe { alloc::dealloc(older.as_ptr(), older_layout) };
                true
            }
        }
    }
}

impl Drop for SpareBlock {
    fn drop(&mut self) {
        if let Some((block, layout)) = self.0.take() {
            // SAFETY: the slot owned `block`, allocated with `layout`.
            unsafe { alloc::dealloc(block.as_ptr(), layout) };
        }
    }
}

crate::sync::current_thread_local! {
    static SPARE_BLOCK: SpareBlock = SpareBlock(Cell::new(None));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as StdCounter;
    use std::sync::Arc as StdArc;

    struct CountsDrops(StdArc<StdCounter>);

    impl Drop for CountsDrops {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn value_is_dropped_once_when_the_last_clone_goes() {
        let drops = StdArc::new(StdCounter::new(0));
        let first = Value::new("v", CountsDrops(drops.clone()));
        let second = first.clone();
        let third = second.clone();
        drop(first);
        drop(third);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(second);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn clones_dropped_on_other_threads_free_the_value_once() {
        let drops = StdArc::new(StdCounter::new(0));
        let value = Value::new("v", CountsDrops(drops.clone()));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let clone = value.clone();
                std::thread::spawn(move || drop(clone))
            })
            .collect();
        drop(value);
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn downcast_reads_the_stored_value() {
        let value = Value::new("v", String::from("req-1"));
        // SAFETY: made from a String.
        assert_eq!(unsafe { value.downcast::<String>() }, "req-1");
    }
}
