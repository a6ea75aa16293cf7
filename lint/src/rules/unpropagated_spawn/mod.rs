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
    /// In detail, all three must hold:
    ///
    /// - the caller **has** a context: the body of an `#[instrument]`ed function, a span
    ///   guard (`span.enter()`, `span.entered()`) or an attached opentelemetry `Context`
    ///   still in scope, the closure of `span.in_scope(..)`, a future given
    ///   `.instrument(span)`, a `ctxvars` variable set (`set`, `set_guard`, `scope`);
    /// - the spawned work **uses** it: tracing events and span macros (`info!`,
    ///   `tracing::debug!`, `info_span!`) without an explicit `parent:`,
    ///   `Span::current()`, `Context::current()`, a read of a `ContextVar`, or a call of a
    ///   function of this crate that does one of these;
    /// - **no carrier** is applied: `.in_current_span()`, `.instrument(..)`,
    ///   `.with_current_context()`, opentelemetry's `.with_context(cx)`,
    ///   `ctxvars::propagate`, `ctxvars::thread::spawn`, `ctxvars::tokio::spawn`,
    ///   `extra-carriers`, or a span or context captured outside and entered, attached or
    ///   used with `in_scope` inside the work.
    ///
    /// Spawns: `tokio::spawn`, `tokio::task::spawn`, `spawn_blocking`, `spawn_local`, the
    /// `spawn*` methods of a `JoinSet`, `JoinMap`, `TaskTracker`, `LocalSet`, tokio
    /// runtime `Handle`/`Runtime` or `tokio::task::Builder`, `std::thread::spawn`,
    /// `thread::Builder::spawn`, `s.spawn(..)` in `thread::scope`, `rayon::spawn` and
    /// `s.spawn(..)` in `rayon::scope`, and `extra-spawn-functions` (full paths; a
    /// `Type::method` entry matches that method on a receiver known to be a `Type`).
    ///
    /// ## Why is this bad?
    /// Spans and contexts are per thread and per task. Spawned work starts with an empty
    /// context, so its logs and traces lose the request they belong to: the trace shows a
    /// gap, and the log lines carry no request id.
    ///
    /// ## Known problems
    /// Spawners ctxlint does not know (a custom executor, a `threadpool`, hyper's
    /// `Executor`) are not checked; add them with `extra-spawn-functions`, and custom
    /// carriers with `extra-carriers`. A method spawn is recognised only when the
    /// receiver's type is known from a constructor, an annotation, a parameter or a struct
    /// field of the same file.
    ///
    /// Functions are matched by name (`name`, or `Type::name` for methods called on
    /// `self` or on a receiver of known type), so a function of another module with the
    /// same name can be taken for a context-using one; a function defined in the same file
    /// takes precedence. Calling an `#[instrument]`ed function is not a use: its logs keep
    /// a span of their own (without a parent).
    ///
    /// Test code is not checked: `#[test]` and `#[tokio::test]` functions, `#[cfg(test)]`
    /// modules and files under `tests/`, where spawning under a context is how propagation
    /// is tested. Reads inside `assert!`-like macros are not uses.
    ///
    /// A span guard's context does not reach `async` blocks written under it (they are
    /// polled later, anywhere); an `#[instrument]`ed async function's span does. A guard
    /// counts as entered from its `let` to the end of its block, a `drop(guard)`, or
    /// `guard.exit()`. Macros whose tokens are not Rust syntax (`select!`) are only
    /// scanned for tracing macros, and not when they also spawn or enter a context.
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
