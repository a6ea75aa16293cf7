pub(crate) mod python;

use crate::registry::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports one `contextvars.Context` object handed to several threads that may run it
    /// at the same time: a single `copy_context()` result submitted to a pool (or given to
    /// threads) inside a loop or comprehension, mapped over items, or handed over a second
    /// time while the first hand-off may still be running.
    ///
    /// A hand-off is `pool.submit(..)`, `pool.map(..)`, `loop.run_in_executor(..)`,
    /// `asyncio.to_thread(..)` or `threading.Thread(target=.., args=..)` whose callable
    /// enters a context held in a name: `ctx.run`, a lambda calling `ctx.run(..)`, or a
    /// function of the same module that calls `.run` on the parameter the context is
    /// passed for (`pool.submit(worker, ctx, payload)`), or on a context it closes over;
    /// `functools.partial` and `self.method` are followed. The context is a name bound
    /// only to `contextvars.copy_context()` or `contextvars.Context()`, or a parameter
    /// annotated `Context`.
    ///
    /// Not reported: a context taken anew in the loop body or per submission
    /// (`copy_context().run`, `ctx.copy().run`), a worker that copies the context it is
    /// given, a hand-off waited for before the next one (`await ..`, `.result()`,
    /// `.join()`, `wait(..)`, leaving `with pool:`), a loop that leaves after the
    /// hand-off (`break`, `return`), exclusive branches, an executor created with
    /// `max_workers=1` in the same file (its jobs run one after another), and `ctx.run`
    /// called on the current thread or by asyncio (`loop.call_soon(cb, context=ctx)`,
    /// `create_task(.., context=ctx)`: the event loop runs them one at a time).
    ///
    /// ## Why is this bad?
    /// A `Context` can be entered by one thread at a time. When two workers run the same
    /// one, the second `ctx.run(..)` raises `RuntimeError: cannot enter context: ... is
    /// already entered`, and the job fails only under load, when the runs overlap. When they
    /// do not overlap, the jobs still share one context and see each other's `set`s.
    ///
    /// ## Known problems
    /// A context reaches the hand-off only through a name: one stored in an attribute
    /// (`self.ctx`), a container, or a variable also bound to something else is not
    /// followed, nor is a callable first assigned to a variable (`job = partial(..)`).
    /// Functions of other modules are not looked into. Branches and waits are judged from
    /// the code's order, so a wait in one branch counts for all paths.
    ///
    /// ## Example
    /// ```python
    /// ctx = contextvars.copy_context()
    /// with ThreadPoolExecutor(max_workers=2) as pool:
    ///     for payload in payloads:
    ///         pool.submit(ctx.run, handle, payload)  # one Context, many threads
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// with ThreadPoolExecutor(max_workers=2) as pool:
    ///     for payload in payloads:
    ///         pool.submit(contextvars.copy_context().run, handle, payload)
    /// ```
    pub(crate) struct SharedContextRun {
        code: "CTX005",
        name: "shared-context-run",
        severity: Error,
    }
}
