pub(crate) mod python;
pub(crate) mod rust;

use crate::registry::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports a `thread_local!` (in Python, a `threading.local`) used as request or task state
    /// in async code: a write followed by an `.await` in the same async body, or a read in
    /// async code of a thread-local that some async code writes.
    ///
    /// A write stores a task's value: `KEY.set(v)`, `KEY.replace(v)`,
    /// `KEY.with(|c| c.set(v))`, `KEY.with(|c| *c.borrow_mut() = v)`,
    /// `KEY.with_borrow_mut(|x| *x = v)`. The `.await` must be in the same body: one inside a
    /// nested `async` block or closure does not count, and a loop's `.await` follows a write
    /// later in the loop.
    ///
    /// In Python, the same for the attributes of a `threading.local()` (or of an instance of a
    /// subclass defined in the same module): a module-level one (also imported from another
    /// module of the run), a class attribute (reached as `Class.tl` in its module, or through
    /// `self`/`cls` in the class's methods) or an instance attribute made in a method
    /// (`self.tl = threading.local()`, reached through `self` in the class's methods). A write
    /// (`tl.x = v`, `setattr(tl, "x", v)`) in an `async def` is reported when it is still in
    /// place where the coroutine suspends: an `await`, an `async for` or `async with`, or the
    /// `yield` of an async generator (an `asynccontextmanager` yields to the body of its
    /// `async with`). A read (`tl.x`, `getattr`, `hasattr`) in an `async def`
    /// is reported when async code anywhere in the run writes that attribute, unless this
    /// coroutine wrote it itself since it last suspended. `asgiref.local.Local` is not a
    /// `threading.local` and is never reported.
    ///
    /// ## Why is this bad?
    /// After an `.await` the task may resume on another worker thread, and other tasks run
    /// on this one in between: they see the value this task wrote, and this task reads
    /// whatever they wrote. Saving the old value and restoring it after the `.await` does not
    /// help: the new value is visible during the await.
    ///
    /// Python's event loop runs every task on one thread, so all of them share one
    /// `threading.local`: a value a request handler stores is what every other request sees
    /// while the handler awaits, and what it reads back after its `await` is whichever request
    /// stored last. A `contextvars.ContextVar` is per task instead (each task runs in a copy of
    /// its creator's context), and `asgiref.local.Local` uses one in async code.
    ///
    /// Thread-locals that async code uses without storing a task's value are fine and are
    /// not reported: a random-number generator or counter updated from its own value, a
    /// scratch buffer filled and used inside one `with` call, a pool or cache, a flag set and
    /// cleared with no `.await` between, values cleared with `None`/`false`/`take()`.
    ///
    /// In Python likewise: a value set and then restored, deleted or cleared before the next
    /// suspension; `del`, `delattr` and empty values (`None`, `False`, `0`, `""`, `[]`);
    /// counters (`tl.n += 1`, `tl.n = tl.n + 1`); the restore of a value saved from the
    /// attribute (`old = tl.x` .. `tl.x = old`); per-thread values (the running event loop,
    /// the thread's id); a per-thread cache or flag written under a test of the same attribute
    /// (`if not hasattr(tl, "client"):`, after `if getattr(tl, "ready", False): return`, in
    /// `except AttributeError:`) by a coroutine that never clears it.
    /// Nested `def`s and lambdas inside a coroutine are not async code. The coroutine a module
    /// hands to `asyncio.run(..)`/`run_until_complete(..)` (the parent of every task) and test
    /// files are not checked.
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
    /// In Python, only code in an `async def` counts: a synchronous function or method that
    /// async code calls (a `set_current_user(..)` helper, a runtime context's `attach`) is not
    /// followed, and a write whose value outlives the coroutine without a suspension in it (a
    /// setter written as a coroutine) is not reported. Thread-locals held by an instance are
    /// known only in the methods of the class that makes them (not in subclasses or through
    /// other objects), and mutations of a stored object (`tl.stack.append(v)`, `tl.data[k] = v`)
    /// are not writes.
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
    /// ```python
    /// _local = threading.local()
    ///
    /// async def handle(request):
    ///     _local.request_id = request.id
    ///     await db.query()  # other requests' tasks run now and see this id
    ///     log.info("done [%s]", _local.request_id)  # whichever request stored last
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
    ///
    /// ```python
    /// request_id = contextvars.ContextVar("request_id", default="-")
    ///
    /// async def handle(request):
    ///     token = request_id.set(request.id)
    ///     try:
    ///         await db.query()
    ///         log.info("done [%s]", request_id.get())
    ///     finally:
    ///         request_id.reset(token)
    /// ```
    pub(crate) struct ThreadLocalInAsync {
        code: "CTX002",
        name: "thread-local-in-async",
        severity: Warning,
    }
}
