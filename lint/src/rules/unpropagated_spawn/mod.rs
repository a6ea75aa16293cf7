pub(crate) mod python;
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
    /// In Python, a callable handed to another thread or process is reported when it reads
    /// the context and nothing carries it. The hand-overs: `submit` and `map` of a
    /// `concurrent.futures` executor, `loop.run_in_executor`, `threading.Thread(target=..)`,
    /// `threading.Timer`, and `apply`, `apply_async`, `map`, `imap`, `starmap` (and their
    /// `_async`/`_unordered` forms) of a `multiprocessing` pool. All three must hold:
    ///
    /// - the callable **reads** the context: `.get()` of a module-level `ContextVar` of the
    ///   run, or opentelemetry's `trace.get_current_span()`, `context.get_current()`,
    ///   `context.get_value(..)`, `baggage.get_baggage(..)`, `baggage.get_all()` or
    ///   `propagate.inject(..)` without an explicit context; in a lambda's body, a function
    ///   or method of the module, or the functions these call (of the module, or of another
    ///   module of the run that reads one). A function that sets the variable itself (or
    ///   attaches an opentelemetry context, or starts a current span) reads its own value,
    ///   not the caller's;
    /// - the **pool** is known: a name, `self` attribute or `with .. as` target bound to
    ///   `ThreadPoolExecutor(..)`, `ProcessPoolExecutor(..)`, `ThreadPool(..)` or `Pool(..)`,
    ///   a parameter or attribute annotated with one of them or with `Executor` (also
    ///   quoted, `Optional[..]` or `| None`), or an instance of a subclass defined in the
    ///   module that does not redefine `submit` or `map`. `run_in_executor(None, ..)` uses
    ///   the loop's default `ThreadPoolExecutor`;
    /// - **no carrier** is applied: the work is handed over as `ctx.run` or
    ///   `contextvars.copy_context().run` (also inside `functools.partial`), wrapped by a
    ///   function of the project, or submitted to an `extra-executors` pool (dotted names
    ///   of classes or factories whose pools run work in a copy of the submitter's
    ///   context). `asyncio.to_thread`, `asyncio.create_task`, `loop.create_task` and
    ///   `TaskGroup.create_task` copy the context themselves and are never reported.
    ///
    /// Work given to a process pool is reported as well: no context reaches another
    /// process, and its fix is to pass the values as arguments.
    ///
    /// ## Why is this bad?
    /// Spans and contexts are per thread and per task. Spawned work starts with an empty
    /// context, so its logs and traces lose the request they belong to: the trace shows a
    /// gap, and the log lines carry no request id.
    ///
    /// Python's context variables are per thread too. A new thread, and a worker of a
    /// `ThreadPoolExecutor` (the loop's default executor included), runs work in its own
    /// context: empty, or whatever earlier work on that worker left set. The work reads
    /// the variables' defaults: the log line has no request id, the span no parent, the
    /// outgoing request no trace headers. Only asyncio tasks and `asyncio.to_thread` copy
    /// the caller's context (and, from Python 3.14, `threading.Thread(context=..)`).
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
    /// In Python, `.submit` and `.map` on a receiver whose pool is not known (an
    /// unannotated parameter, a job queue, a Dask client) are not checked: such an object
    /// may copy the context itself. A function of another module counts as reading when it
    /// reads a variable of its own module or opentelemetry's context, directly or through
    /// functions of its own module. Variables that are not module-level (class attributes,
    /// dictionary entries) and framework proxies backed by context variables (Flask's
    /// `request` and `g`) are not known. Work spawned at module level (at import, before
    /// any request) and test files are not checked. A long-lived worker that reads a
    /// variable no caller sets is reported too; suppress the finding where that is meant.
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
    /// ```python
    /// request_id = contextvars.ContextVar("request_id", default="-")
    ///
    /// def store(upload):
    ///     log.info("stored %s [%s]", upload.name, request_id.get())
    ///
    /// def handle(upload, pool: ThreadPoolExecutor):
    ///     pool.submit(store, upload)  # the worker logs "-"
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
    ///
    /// ```python
    /// def handle(upload, pool: ThreadPoolExecutor):
    ///     pool.submit(contextvars.copy_context().run, store, upload)
    /// ```
    pub(crate) struct UnpropagatedSpawn {
        code: "CTX003",
        name: "unpropagated-spawn",
        severity: Warning,
    }
}
