pub(crate) mod rust;

use crate::registry::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports a context value that is set and not restored: a span entered by a guard that
    /// is dropped at once, an opentelemetry context attached or a default subscriber set
    /// with the guard thrown away, a `ctxvars` token that is discarded or not passed to
    /// `reset` on every path out of the function, or a guard passed to `std::mem::forget`.
    ///
    /// ## Why is this bad?
    /// A guard dropped at once means nothing was entered, so the code after it logs and
    /// traces without the context the author meant to set. A value set and never restored
    /// (a forgotten guard, a token not reset on an early `return` or `?`) leaks into
    /// whatever runs next on the thread: the next request logs with the previous
    /// request's id.
    ///
    /// ## Known problems
    /// A guard dropped at once as the last statement of its block is not reported: no code
    /// was left to run inside it, and tests enter and exit a span that way on purpose.
    /// A token dropped inside `Context::run(|| ..)` or a `ctxvars::propagate`d closure is not
    /// reported: that set fills a context of its own. A closure handed to your own executor
    /// that runs jobs in snapshots is not recognised; suppress the finding there with the
    /// reason, or wrap the job with `ctxvars::propagate` where it is submitted.
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
    /// Use instead:
    /// ```rust
    /// fn handle(req: Request) -> Result<(), Error> {
    ///     let _entered = span.enter();
    ///     REQUEST_ID.scope(req.id.clone(), || validate(&req))
    /// }
    /// ```
    pub(crate) struct SetWithoutReset {
        code: "CTX001",
        name: "set-without-reset",
        severity: Error,
    }
}
