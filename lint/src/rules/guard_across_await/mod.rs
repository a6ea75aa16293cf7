pub(crate) mod rust;

use crate::registry::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports a context guard (an entered span guard, an opentelemetry `ContextGuard`, a
    /// `ctxvars::VarGuard`, a `tracing::dispatcher::DefaultGuard`) that is still alive at an
    /// `.await` in the same async body.
    ///
    /// ## Why is this bad?
    /// The guard sets a per-thread context. At the `.await` the task yields and the worker
    /// thread runs other tasks, still inside this task's span or context, so their events
    /// are attributed to the wrong request; when the task resumes on another thread the
    /// guard is dropped there, exiting a span that thread never entered.
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
    ///     fetch().instrument(span).await;
    /// }
    /// ```
    pub(crate) struct GuardAcrossAwait {
        code: "CTX004",
        name: "guard-across-await",
        severity: Error,
    }
}
