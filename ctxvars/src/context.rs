//! `Context`: a snapshot of context variables that code can run inside.

use std::fmt;

use crate::current::{try_current, with_current, Id, Map};
use crate::var::ContextVar;

/// A set of context-variable values, like Python's `contextvars.Context`.
///
/// [`Context::current`] (or [`copy_context`]) snapshots the running context in O(1);
/// [`Context::run`] runs code inside a context, and what that code sets stays in the
/// context for the next `run`. Sending a snapshot to another thread, task or job and
/// running the work inside it is how context crosses a boundary.
///
/// `run` takes `&mut self`, so one `Context` cannot be entered twice at once (CPython
/// raises "cannot enter context: ... is already entered" at run time; here it does not
/// compile):
///
/// ```compile_fail
/// let mut ctx = ctxvars::Context::new();
/// ctx.run(|| ctx.run(|| ())); // error[E0499]: `ctx` borrowed mutably twice
/// ```
///
/// A clone is a new context with the same values (Python's `Context.copy()`): changes in
/// one are not seen by the other, and a token made in one is rejected by the other.
pub struct Context {
    vars: Map,
    /// Assigned by the first `set` made while this context runs.
    id: Option<Id>,
}

impl Context {
    /// An empty context: no variable is set in it.
    pub fn new() -> Self {
        Context {
            vars: None,
            id: None,
        }
    }

    /// A snapshot of the current context, in O(1). Same as [`copy_context`].
    #[inline]
    pub fn current() -> Self {
        let vars = try_current(|current| current.snapshot()).flatten();
        Context { vars, id: None }
    }

    /// Runs `f` with this context as the current one.
    ///
    /// Variables `f` sets are kept in `self` afterwards; the caller's context is restored
    /// when `f` returns and when it panics.
    #[inline]
    pub fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        with_current(|current| match current {
            Some(current) => {
                let (vars, id) = current.swap(self.vars.take(), self.id.take());
                let _restore = Restore {
                    context: self,
                    caller_vars: vars,
                    caller_id: id,
                    current,
                };
                f()
            }
            // Thread-local storage is being torn down: there is no current context to switch.
            None => f(),
        })
    }

    /// The value `var` has in this context (defaults are not consulted).
    #[inline]
    pub fn get<T: Send + Sync + 'static>(&self, var: &ContextVar<T>) -> Option<&T> {
        let value = self.vars.as_deref()?.get(var.assigned_id()?)?;
        // SAFETY: looked up under `var`'s own id, and `var` is a `ContextVar<T>`.
        Some(unsafe { value.downcast::<T>() })
    }

    /// Whether `var` is set in this context.
    pub fn contains<T: Send + Sync + 'static>(&self, var: &ContextVar<T>) -> bool {
        self.get(var).is_some()
    }

    /// How many variables are set in this context.
    pub fn len(&self) -> usize {
        self.vars.as_deref().map_or(0, |vars| vars.len())
    }

    /// Whether no variable is set in this context.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Puts the caller's context back when `run` ends, normally or by a panic.
struct Restore<'a, 'c> {
    context: &'a mut Context,
    caller_vars: Map,
    caller_id: Option<Id>,
    current: &'c crate::current::Current,
}

impl Drop for Restore<'_, '_> {
    #[inline]
    fn drop(&mut self) {
        #[cfg(loom)]
        if std::thread::panicking()
            && crate::mutant::active(crate::mutant::Mutant::RunKeepsContextOnPanic)
        {
            return;
        }
        let (vars, id) = self.current.swap(self.caller_vars.take(), self.caller_id);
        self.context.vars = vars;
        self.context.id = id;
    }
}

impl Clone for Context {
    /// A new context with the same values and its own identity (Python's `Context.copy()`).
    #[inline]
    fn clone(&self) -> Self {
        Context {
            vars: self.vars.clone(),
            id: None,
        }
    }
}

impl Default for Context {
    fn default() -> Self {
        Context::new()
    }
}

impl fmt::Debug for Context {
    /// Lists the names of the variables set, never their values (they may be secrets).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self
            .vars
            .as_deref()
            .into_iter()
            .flat_map(|vars| vars.names());
        f.debug_struct("Context")
            .field("vars", &DebugNames(names))
            .finish()
    }
}

struct DebugNames<I>(I);

impl<I: Iterator<Item = &'static str> + Clone> fmt::Debug for DebugNames<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.clone()).finish()
    }
}

/// A snapshot of the current context (Python's `contextvars.copy_context()`).
#[inline]
pub fn copy_context() -> Context {
    Context::current()
}
