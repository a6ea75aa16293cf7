pub(crate) mod rust;

use crate::registry::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports a context guard (an entered span guard, an opentelemetry `ContextGuard`, a
    /// `ctxvars::VarGuard`, a `tracing::dispatcher::DefaultGuard`) that is still alive at an
    /// `.await` in the same async body.
    ///
    /// An async body is an `async fn`, an `async` block or an `async` closure. Macros that
    /// await implicitly count as an `.await`: `select!`, `join!`, `try_join!`, `pending!`;
    /// so does `async { .. }.await`. An `.await` inside a nested `async` block that is not
    /// awaited there (a spawned task) does not.
    ///
    /// ## Why is this bad?
    /// The guard sets a per-thread context. At the `.await` the task yields and the worker
    /// thread runs other tasks, still inside this task's span or context, so their events
    /// are attributed to the wrong request; when the task resumes on another thread the
    /// guard is dropped there, exiting a span that thread never entered.
    ///
    /// ## Known problems
    /// A guard stops being followed where its variable is used as a value: dropped
    /// (`drop(g)`), moved into a collection, a struct, a function or a `move` closure. A
    /// guard stored that way and held across an `.await` is not reported, and a guard
    /// dropped on only one branch of an `if` or `match` is taken as dropped after it.
    /// Guards made by `span.entered()` are not recognised yet.
    ///
    /// A default subscriber set in test code (a `#[test]` or current-thread
    /// `#[tokio::test]`, a `#[cfg(test)]` module, a file under `tests/` or named like a
    /// test helper) or in a `#[tokio::main]` body is not reported: every task there runs
    /// on that thread and is meant to see it. `enter()` on a receiver named like a tokio
    /// runtime, handle or `LocalSet` (`rt`, `rt1`, `handle`, `local`, `self` in
    /// `impl Runtime`) is taken to be the runtime's guard, not a span's.
    ///
    /// ## Example
    /// ```rust
    /// async fn handle(span: Span) {
    ///     let _entered = span.enter();
    ///     fetch().await; // other tasks on this thread now run inside `span`
    /// }
    /// ```
    ///
    /// Use instead:
    /// ```rust
    /// use tracing::Instrument;
    ///
    /// async fn handle(span: Span) {
    ///     {
    ///         let _entered = span.enter(); // dropped at the end of the block
    ///         tracing::info!("validating");
    ///     }
    ///     fetch().instrument(span).await;
    /// }
    /// ```
    pub(crate) struct GuardAcrossAwait {
        code: "CTX004",
        name: "guard-across-await",
        severity: Error,
    }
}
