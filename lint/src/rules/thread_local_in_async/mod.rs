pub(crate) mod rust;

use crate::registry::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports a `thread_local!` used as request or task state in async code: a write followed
    /// by an `.await` in the same async body, or a read in async code of a thread-local that
    /// some async code writes.
    ///
    /// A write stores a task's value: `KEY.set(v)`, `KEY.replace(v)`,
    /// `KEY.with(|c| c.set(v))`, `KEY.with(|c| *c.borrow_mut() = v)`,
    /// `KEY.with_borrow_mut(|x| *x = v)`. The `.await` must be in the same body: one inside a
    /// nested `async` block or closure does not count, and a loop's `.await` follows a write
    /// later in the loop.
    ///
    /// ## Why is this bad?
    /// After an `.await` the task may resume on another worker thread, and other tasks run
    /// on this one in between: they see the value this task wrote, and this task reads
    /// whatever they wrote. Saving the old value and restoring it after the `.await` does not
    /// help: the new value is visible during the await.
    ///
    /// Thread-locals that async code uses without storing a task's value are fine and are
    /// not reported: a random-number generator or counter updated from its own value, a
    /// scratch buffer filled and used inside one `with` call, a pool or cache, a flag set and
    /// cleared with no `.await` between, values cleared with `None`/`false`/`take()`.
    ///
    /// ## Known problems
    /// Only writes in the crate's own async code count; a thread-local written by a
    /// synchronous helper that async code calls is not tracked. The bodies of
    /// `#[tokio::main]`/`#[tokio::test]` functions and futures passed straight to `block_on`
    /// are not treated as task code (they stay on the thread that blocks on them), even on
    /// a current-thread runtime whose other tasks share that thread. Writes inside
    /// `select!` arms and stream macros are not seen. On thread-per-core runtimes (tasks
    /// never migrate) a reported read may be intended.
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
