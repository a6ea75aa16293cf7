//! `ContextVar`, its `Token` and the scoped ways to set it.

use std::fmt;
use std::marker::PhantomData;
use std::num::NonZeroU64;

use crate::current::{fresh_id, try_current, with_current, Id};
use crate::sync::{AtomicU64, Ordering};
use crate::value::Value;

/// A context variable: a key whose value depends on the context the code runs in.
///
/// Declare one per piece of request state, usually in a `static`:
///
/// ```
/// use ctxvars::ContextVar;
///
/// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
///
/// REQUEST_ID.scope("req-1".to_string(), || {
///     assert_eq!(REQUEST_ID.get().as_deref(), Some("req-1"));
/// });
/// assert_eq!(REQUEST_ID.get(), None);
/// ```
///
/// Each `ContextVar` is its own key, like a Python `ContextVar` object: two variables with
/// the same name are still different variables.
pub struct ContextVar<T> {
    name: &'static str,
    /// Assigned on first use; 0 means "not yet" (identities start at 1).
    id: AtomicU64,
    default: Option<fn() -> T>,
}

impl<T: Send + Sync + 'static> ContextVar<T> {
    /// A variable without a default: `get` returns `None` until it is set.
    pub const fn new(name: &'static str) -> Self {
        ContextVar {
            name,
            id: AtomicU64::new(0),
            default: None,
        }
    }

    /// A variable whose `get` falls back to `default()` when it is not set.
    pub const fn with_default(name: &'static str, default: fn() -> T) -> Self {
        ContextVar {
            name,
            id: AtomicU64::new(0),
            default: Some(default),
        }
    }

    /// The name given at construction (for logs and debugging; not the key).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// This variable's identity, assigned on first use.
    #[inline]
    pub(crate) fn id(&self) -> Id {
        match NonZeroU64::new(self.id.load(Ordering::Relaxed)) {
            Some(id) => id,
            None => self.assign_id(),
        }
    }

    /// This variable's identity if it was ever used (an unused variable is set nowhere).
    #[inline]
    pub(crate) fn assigned_id(&self) -> Option<Id> {
        NonZeroU64::new(self.id.load(Ordering::Relaxed))
    }

    #[cold]
    fn assign_id(&self) -> Id {
        let fresh = fresh_id();
        // Only uniqueness matters, so Relaxed suffices: every thread agrees on the winner.
        match self
            .id
            .compare_exchange(0, fresh.get(), Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fresh,
            Err(winner) => NonZeroU64::new(winner).unwrap_or(fresh),
        }
    }

    /// The value in the current context, else the default, else `None`.
    #[inline]
    pub fn get(&self) -> Option<T>
    where
        T: Clone,
    {
        let found = self.assigned_id().and_then(|var| {
            try_current(|current| {
                current.with_var(var, |value| {
                    // SAFETY: looked up under this `ContextVar<T>`'s own id.
                    value.map(|value| unsafe { value.downcast::<T>() }.clone())
                })
            })
            .flatten()
        });
        found.or_else(|| self.default.map(|default| default()))
    }

    /// Calls `f` with a reference to the value in the current context (else the default,
    /// else `None`), without cloning it. `f` may use ctxvars, including setting this variable.
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
        let var = self.assigned_id();
        with_current(|current| match (current, var) {
            (Some(current), Some(var)) => current.with_var(var, |value| match value {
                // SAFETY: looked up under this `ContextVar<T>`'s own id.
                Some(value) => f(Some(unsafe { value.downcast::<T>() })),
                None => self.with_default_value(f),
            }),
            _ => self.with_default_value(f),
        })
    }

    fn with_default_value<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
        match self.default {
            Some(default) => f(Some(&default())),
            None => f(None),
        }
    }

    /// Sets the value in the current context and returns a [`Token`] that restores the
    /// previous value when passed to [`reset`](Self::reset).
    ///
    /// Dropping the token does **not** restore anything (as in Python). Prefer
    /// [`scope`](Self::scope) or [`set_guard`](Self::set_guard), which cannot forget.
    #[must_use = "the token is needed to restore the previous value; use `scope` or `set_guard` to restore automatically"]
    #[inline]
    pub fn set(&self, value: T) -> Token<T> {
        let var = self.id();
        let value = Value::new(self.name, value);
        let set = try_current(|current| {
            let context = current.id();
            (context, current.put(var, Some(value)).into_value())
        });
        let (context, old) = match set {
            Some((context, old)) => (Some(context), old),
            // Thread-local storage is being torn down: the value has nowhere to live, and a
            // token bound to no context is rejected by `reset`.
            None => (None, None),
        };
        Token {
            var,
            var_name: self.name,
            context,
            old,
            _type: PhantomData,
        }
    }

    /// Restores the value `token` saw before its `set`, in the context that made it.
    ///
    /// Fails, changing nothing, if the token belongs to another variable
    /// ([`TokenError::DifferentVar`]) or was made in another context
    /// ([`TokenError::DifferentContext`]). Tokens need not be reset in LIFO order.
    #[inline]
    pub fn reset(&self, token: Token<T>) -> Result<(), TokenError> {
        if Some(token.var) != self.assigned_id() {
            return Err(TokenError::DifferentVar);
        }
        let Some(context) = token.context else {
            return Err(TokenError::DifferentContext);
        };
        let Token { var, old, .. } = token;
        let restored = try_current(|current| current.is(context).then(|| current.put(var, old)));
        match restored {
            // Dropped here, after the thread state is released: a value's `Drop` may use ctxvars.
            Some(Some(displaced)) => {
                drop(displaced);
                Ok(())
            }
            _ => Err(TokenError::DifferentContext),
        }
    }

    /// Runs `f` with the variable set to `value`, restoring the previous value when `f`
    /// returns or panics.
    #[inline]
    pub fn scope<R>(&self, value: T, f: impl FnOnce() -> R) -> R {
        let _restore = self.set_guard(value);
        f()
    }

    /// Sets the variable until the returned guard is dropped.
    ///
    /// The guard is `!Send`: it must be dropped on the thread, and in the context, that
    /// created it. If it is dropped inside another context (moved into a
    /// [`Context::run`](crate::Context::run) closure), the reset is rejected like a foreign
    /// token and the value stays set in the context that made it.
    #[inline]
    pub fn set_guard(&self, value: T) -> VarGuard<'_, T> {
        VarGuard {
            var: self,
            token: Some(self.set(value)),
            _not_send: PhantomData,
        }
    }
}

impl<T> fmt::Debug for ContextVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextVar")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A receipt from [`ContextVar::set`]: passing it to [`ContextVar::reset`] restores the
/// value the variable had before.
///
/// A token is consumed by `reset`, so the compiler rejects a second use:
///
/// ```compile_fail
/// static V: ctxvars::ContextVar<u32> = ctxvars::ContextVar::new("v");
/// let token = V.set(1);
/// V.reset(token).unwrap();
/// V.reset(token).unwrap(); // error[E0382]: use of moved value: `token`
/// ```
#[must_use = "dropping a token does not restore the previous value; pass it to `reset`"]
pub struct Token<T> {
    var: Id,
    var_name: &'static str,
    /// `None` for a token made while thread-local storage was torn down.
    context: Option<Id>,
    old: Option<Value>,
    _type: PhantomData<fn() -> T>,
}

impl<T: Send + Sync + 'static> Token<T> {
    /// The name of the variable that made this token.
    pub fn var_name(&self) -> &'static str {
        self.var_name
    }

    /// The value the variable had before the `set`; `None` if it was not set.
    pub fn old_value(&self) -> Option<&T> {
        // SAFETY: `old` was read from this token's variable, a `ContextVar<T>`.
        self.old
            .as_ref()
            .map(|value| unsafe { value.downcast::<T>() })
    }
}

impl<T> fmt::Debug for Token<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets: show only whether there was one.
        f.debug_struct("Token")
            .field("var", &self.var_name)
            .field("had_old_value", &self.old.is_some())
            .finish()
    }
}

/// Why [`ContextVar::reset`] rejected a token. Mirrors CPython's errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenError {
    /// The token was already used (CPython's `RuntimeError`). `reset` consumes its token,
    /// so safe Rust cannot reuse one; the variant keeps the error kinds one-to-one with
    /// CPython's for code that maps between them.
    AlreadyUsed,
    /// The token was made in another context (CPython's `ValueError`).
    DifferentContext,
    /// The token was made by another variable (CPython's `ValueError`).
    DifferentVar,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenError::AlreadyUsed => "token has already been used once",
            TokenError::DifferentContext => "token was created in a different Context",
            TokenError::DifferentVar => "token was created by a different ContextVar",
        })
    }
}

impl std::error::Error for TokenError {}

/// Keeps a variable set until dropped; made by [`ContextVar::set_guard`].
#[must_use = "the variable is reset as soon as the guard is dropped"]
pub struct VarGuard<'a, T: Send + Sync + 'static> {
    var: &'a ContextVar<T>,
    token: Option<Token<T>>,
    /// The reset must happen on the thread (and in the context) of the set.
    _not_send: PhantomData<*const ()>,
}

impl<T: Send + Sync + 'static> Drop for VarGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        #[cfg(loom)]
        if std::thread::panicking()
            && crate::mutant::active(crate::mutant::Mutant::GuardSkipsResetOnPanic)
        {
            return;
        }
        if let Some(token) = self.token.take() {
            // A rejected reset (guard dropped in another context) leaves that context as the
            // documented behaviour of `set_guard` says; panicking in drop would abort unwinds.
            let _ = self.var.reset(token);
        }
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for VarGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VarGuard")
            .field("var", &self.var.name)
            .finish()
    }
}
