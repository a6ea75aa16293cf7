pub(crate) mod rust;

use crate::registry::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports a `thread_local!` used as request or task state in async code: a write
    /// followed by an `.await` in the same async body, or a read in async code of a
    /// thread-local that some async code writes.
    ///
    /// ## Why is this bad?
    /// After an `.await` the task may resume on another worker thread, and other tasks run
    /// on this one in between: they see the value this task wrote, and this task reads
    /// whatever they wrote. Thread-locals that async code only reads (a random-number
    /// generator, a scratch buffer) are fine and are not reported.
    ///
    /// ## Known problems
    /// Only writes visible in the crate's own async code count; a thread-local written by
    /// a synchronous helper that async code calls is not tracked.
    ///
    /// ## Example
    /// ```rust
    /// thread_local!(static REQUEST_ID: RefCell<String> = RefCell::new(String::new()));
    ///
    /// async fn handle(req: Request) {
    ///     REQUEST_ID.with(|id| *id.borrow_mut() = req.id.clone());
    ///     db.query().await; // resumes on any worker; other tasks see this id
    /// }
    /// ```
    ///
    /// Use instead:
    /// ```rust
    /// static REQUEST_ID: ctxvars::ContextVar<String> = ctxvars::ContextVar::new("request_id");
    ///
    /// async fn handle(req: Request) {
    ///     let mut cx = ctxvars::Context::current();
    ///     cx.run(|| drop(REQUEST_ID.set(req.id.clone())));
    ///     async { db.query().await }.with_context(cx).await;
    /// }
    /// ```
    pub(crate) struct ThreadLocalInAsync {
        code: "CTX002",
        name: "thread-local-in-async",
        severity: Warning,
    }
}
