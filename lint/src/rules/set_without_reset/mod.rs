pub(crate) mod python;
pub(crate) mod rust;

use crate::registry::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports a context value that is set and not restored: a span entered by a guard that
    /// is dropped at once, an opentelemetry context attached or a default subscriber set
    /// with the guard thrown away, a `ctxvars` token that is discarded or not passed to
    /// `reset` on every path out of the function, or a guard passed to `std::mem::forget`.
    ///
    /// In Python: `var.set(value)` on a `ContextVar` (module-level here or imported from
    /// another module of the run, a class attribute, a parameter annotated `ContextVar`, a
    /// variable of an enclosing function), or opentelemetry's `context.attach(ctx)`, whose
    /// token is discarded, never reset, or reset where an exception or a `return`, `raise`,
    /// `break`, `continue` or `yield` before the reset skips it: the reset belongs in a
    /// `finally:` (or a catch-all `except:`) that starts right after the set. Not reported:
    ///
    /// - a token returned, stored (`self.token = var.set(..)`) or passed on (to a call, a
    ///   closure, `ExitStack.callback`); a pytest fixture that resets after its `yield`;
    /// - putting a saved value back (`old = var.get()` .. `finally: var.set(old)`) and other
    ///   updates of the current value (`var.set(var.get() + (item,))`); a set under a test
    ///   of the current value or in `except LookupError:` (filling a value the context
    ///   lacks, a per-context cache); clearing (`var.set(None)`, an empty container);
    /// - sets in an ending method (`__exit__`, `stop`, `tearDown`), in the other methods of
    ///   a class whose ending method resets or sets the variable, and in a module that
    ///   clears the variable in another function (paired hooks: Django's
    ///   `process_request`/`process_response`, Celery's `task_prerun`/`task_postrun`);
    /// - sets that no code of the caller's context outlives: in a function the module runs
    ///   in a copy of the context (`ctx.run(f)`, `asyncio.run`, `create_task`,
    ///   `loop.call_soon`, `to_thread`, a thread's `target=`), an asyncio protocol callback,
    ///   an async test (each runs as a task), a function the module's top level calls
    ///   (start-up code such as `main()`), before a `while True:` loop that never ends; at
    ///   module level; on a variable the function itself creates.
    ///
    /// ## Why is this bad?
    /// A guard dropped at once means nothing was entered, so the code after it logs and
    /// traces without the context the author meant to set. A value set and never restored
    /// (a forgotten guard, a token not reset on an early `return` or `?`) leaks into
    /// whatever runs next on the thread: the next request logs with the previous
    /// request's id.
    ///
    /// In Python the value stays in the thread's context: a WSGI worker thread, a thread
    /// pool worker or a Celery worker hands it to the next request or job. A
    /// `contextlib.contextmanager` generator gets the `with` body's exception thrown in at
    /// its `yield`, so a reset after the `yield` without `finally:` is skipped exactly when
    /// the body fails.
    ///
    /// ## Known problems
    /// A guard dropped at once as the last statement of its block is not reported: no code
    /// was left to run inside it, and tests enter and exit a span that way on purpose.
    /// A token dropped inside `Context::run(|| ..)` or a `ctxvars::propagate`d closure is not
    /// reported: that set fills a context of its own. A closure handed to your own executor
    /// that runs jobs in snapshots is not recognised; suppress the finding there with the
    /// reason, or wrap the job with `ctxvars::propagate` where it is submitted.
    ///
    /// Python: a function that code in another module runs in a copy of the context
    /// (`ctx.run(f)` elsewhere) is reported, and so is a deliberate setter
    /// (`def set_current_user(user): current_user.set(user)`) unless the module clears the
    /// variable somewhere — let it return the token instead — and a sync test whose autouse
    /// fixture in a `conftest.py` clears the variable. A clear anywhere in the module
    /// excuses all its unrestored sets of that variable, paired or not, and an update of
    /// the current value (`var.set(var.get() + (item,))`) that piles up across requests is
    /// not reported. Between a set and the `try:` that resets it only statements that
    /// leave are considered, not calls that could raise.
    ///
    /// ## Example
    /// ```rust
    /// fn handle(req: Request) -> Result<(), Error> {
    ///     let _ = span.enter(); // dropped at once: nothing is entered
    ///     let token = REQUEST_ID.set(req.id.clone());
    ///     validate(&req)?; // returns without resetting: the id leaks
    ///     REQUEST_ID.reset(token).unwrap();
    ///     Ok(())
    /// }
    /// ```
    ///
    /// ```python
    /// def authenticate(request):
    ///     current_user.set(lookup(request.token))  # the next request sees this user
    ///
    /// def handle(request):
    ///     token = request_id.set(request.id)
    ///     response = dispatch(request)  # if this raises, the reset is skipped
    ///     request_id.reset(token)
    ///     return response
    /// ```
    ///
    /// Use instead:
    /// ```rust
    /// fn handle(req: Request) -> Result<(), Error> {
    ///     let _entered = span.enter();
    ///     REQUEST_ID.scope(req.id.clone(), || validate(&req))
    /// }
    /// ```
    ///
    /// ```python
    /// def handle(request):
    ///     token = request_id.set(request.id)
    ///     try:
    ///         return dispatch(request)
    ///     finally:
    ///         request_id.reset(token)
    /// ```
    pub(crate) struct SetWithoutReset {
        code: "CTX001",
        name: "set-without-reset",
        severity: Error,
    }
}
