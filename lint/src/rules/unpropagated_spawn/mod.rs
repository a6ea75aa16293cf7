pub(crate) mod rust;

use crate::registry::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports work handed to another thread or task that uses the caller's context
    /// without carrying it: the caller has a context (an `#[instrument]`ed function, an
    /// entered span, an attached opentelemetry `Context`, a `ctxvars` variable set), the
    /// spawned code uses it (tracing events, `Span::current()`, a context read) and no
    /// carrier (`.instrument(..)`, `.in_current_span()`, `.with_context(..)`,
    /// `ctxvars::propagate`) is applied.
    ///
    /// ## Why is this bad?
    /// Spans and contexts are per thread and per task. Spawned work starts with an empty
    /// context, so its logs and traces lose the request they belong to: the trace shows a
    /// gap, and the log lines carry no request id.
    ///
    /// ## Known problems
    /// Spawn functions of crates ctxlint does not know are not checked; add them with
    /// `extra-spawn-functions`. Custom carriers go in `extra-carriers`.
    ///
    /// ## Example
    /// ```rust
    /// #[tracing::instrument]
    /// async fn handle(req: Request) {
    ///     tokio::spawn(async move {
    ///         tracing::info!("sending email"); // logged outside the request's span
    ///     });
    /// }
    /// ```
    ///
    /// Use instead:
    /// ```rust
    /// use tracing::Instrument;
    ///
    /// #[tracing::instrument]
    /// async fn handle(req: Request) {
    ///     tokio::spawn(async move { tracing::info!("sending email") }.in_current_span());
    /// }
    /// ```
    pub(crate) struct UnpropagatedSpawn {
        code: "CTX003",
        name: "unpropagated-spawn",
        severity: Warning,
    }
}
