pub(crate) mod python;

use crate::registry::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports a `ContextVar` whose default is a mutable object, and a context value
    /// mutated in place after `get()`.
    ///
    /// A default (the `default=` keyword) is mutable when it is a list, dict or set literal
    /// or comprehension, a call of `list`, `dict`, `set`, `bytearray`, `dict.fromkeys`, a
    /// `collections` container (`defaultdict`, `OrderedDict`, `deque`, `Counter`,
    /// `ChainMap`), a `weakref` container or `types.SimpleNamespace`, or an instance of a
    /// class of the same module whose state changes after construction: a container
    /// subclass, a dataclass or attrs class with fields that is not `frozen`, a class whose
    /// methods (other than the constructor) write to `self`, or one that stores a
    /// container on `self`. Sentinels, frozen dataclasses, named tuples and `()`,
    /// `frozenset()`, `MappingProxyType(..)`, `None` are fine, and so are instances of
    /// classes from other modules.
    ///
    /// A mutation is a container method (`append`, `extend`, `setdefault`, `popitem`,
    /// `appendleft`, ..) called on the value, an item written or deleted
    /// (`var.get()[key] = v`, `del var.get()[key]`, `var.get()[key] += 1`), or either of
    /// these on an item of the value (`var.get()[key].append(x)`). The value is
    /// `var.get()` itself or a local name bound to it (`items = var.get()`) and not since
    /// rebound (`items = list(items)` makes a copy). Methods other objects share (`add`,
    /// `update`, `pop`, `remove`, `clear`, `insert`, `sort`, ..) count only when the
    /// variable is known to hold a container: from its type (`ContextVar[set[str]]`), its
    /// default, a container passed to `get(..)` or a container it is `set` to in the file.
    ///
    /// ## Why is this bad?
    /// A context keeps a *reference*: `copy_context()` copies the mapping, not the values.
    /// A mutable default is one object shared by every context that never set the variable,
    /// and a value mutated in place changes it for every context holding it: the tasks
    /// `asyncio` starts and the jobs run in `copy_context()` all hold their parent's
    /// object. One request's data shows up in another's, which is exactly what context
    /// variables are meant to prevent.
    ///
    /// A function that `set` the variable earlier in its body owns the value it gets back
    /// (`token = queries.set([])` then `queries.get().append(q)`): that is the usual way to
    /// give each request its own object, and it is not reported.
    ///
    /// ## Known problems
    /// Writes through attributes are not reported (`var.get().user = u`,
    /// `var.get().tags.add(t)`): a variable holding an object rather than a container is
    /// usually a handle the request shares on purpose (a session, a span, a request
    /// namespace like Flask's `g`). Such an object used as a default is still reported. Names and `set`s are followed in source
    /// order, without telling branches apart, and only for variables declared at module
    /// level or as attributes of the enclosing class; a value passed to another function
    /// that mutates it is not followed. A value set in the same function is still shared
    /// with the tasks and copied contexts started after the `set`.
    ///
    /// ## Example
    /// ```python
    /// breadcrumbs: ContextVar[list[str]] = ContextVar("breadcrumbs", default=[])
    ///
    /// def visit(page):
    ///     breadcrumbs.get().append(page)  # every request appends to the same list
    ///
    /// def add_header(key, value):
    ///     headers = task_headers.get({})
    ///     headers[key] = value  # writes into the dict other jobs hold
    ///     task_headers.set(headers)
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// breadcrumbs: ContextVar[tuple[str, ...]] = ContextVar("breadcrumbs", default=())
    ///
    /// def visit(page):
    ///     breadcrumbs.set((*breadcrumbs.get(), page))
    ///
    /// def add_header(key, value):
    ///     task_headers.set({**task_headers.get({}), key: value})
    /// ```
    pub(crate) struct MutableContextValue {
        code: "CTX006",
        name: "mutable-context-value",
        severity: Error,
    }
}
