"""The Python mutation kinds, found with `ast`.

Natural sites: `token = var.set(..)` … `finally: var.reset(token)` (the corpus has a few,
in structlog), `run_in_executor(x, ctx.run, f)` with `f` a module function reading a
module ContextVar, and one `copy_context()` result submitted once. The corpus has too few
of them, so each kind also injects a small correct snippet (a new function, or a method
when the boundary is inside a class, using the module's own ContextVar when it has one,
else a fresh one) before a real `def`/`class` of a non-test module, and mutates that.
Every mutant is checked to parse.
"""

import ast
import re

from common import MARKER, Kind, Mutant, Site, strip_marker

# ----- reading Python ----------------------------------------------------------------------


class PyFile:
    def __init__(self, text, path):
        self.text = text
        self.path = path
        self.tree = ast.parse(text)
        self.lines = text.split("\n")

    def offset(self, lineno, col):
        """The character offset of ast's (1-based line, UTF-8 byte column)."""
        before = sum(len(line) + 1 for line in self.lines[: lineno - 1])
        return before + len(self.lines[lineno - 1].encode()[:col].decode(errors="ignore"))

    def segment(self, node):
        return self.text[self.offset(node.lineno, node.col_offset) : self.offset(node.end_lineno, node.end_col_offset)]


def parse(text, path):
    if is_test_path(path):
        return None
    try:
        return PyFile(text, path)
    except (SyntaxError, ValueError):
        return None


def is_test_path(path):
    parts = path.split("/")
    name = parts[-1]
    return (
        any(part in ("test", "tests", "testing") for part in parts[:-1])
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


def valid(text):
    try:
        ast.parse(text)
        return True
    except SyntaxError:
        return False


def indent_of(line):
    return line[: len(line) - len(line.lstrip())]


def functions(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def own_nodes(func):
    """The nodes of a function's body, not those of nested functions, classes or lambdas."""
    stack = list(func.body)
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                stack.append(child)


def method_call(node, name):
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name


def module_context_vars(tree):
    """Module-level names bound to `ContextVar(..)` / `contextvars.ContextVar(..)`."""
    names = []
    for stmt in tree.body:
        value = getattr(stmt, "value", None)
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
        if not isinstance(value, ast.Call):
            continue
        func = value.func
        if (isinstance(func, ast.Name) and func.id == "ContextVar") or (
            isinstance(func, ast.Attribute) and func.attr == "ContextVar"
        ):
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


# ----- python-reset-outside-finally (CTX001) -------------------------------------------------


def reset_sites(pf):
    """(set call, try, reset statement): `tok = var.set(..)` before a `try` whose `finally`
    has `var.reset(tok)`, in the same function."""
    for func in functions(pf.tree):
        sets = {}
        for node in own_nodes(func):
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and method_call(node.value, "set")
            ):
                sets[node.targets[0].id] = node.value
        for node in own_nodes(func):
            if not isinstance(node, ast.Try) or not node.finalbody:
                continue
            for stmt in node.finalbody:
                call = getattr(stmt, "value", None)
                if not (isinstance(stmt, ast.Expr) and method_call(call, "reset") and len(call.args) == 1):
                    continue
                arg = call.args[0]
                set_call = sets.get(arg.id) if isinstance(arg, ast.Name) else None
                if set_call is None or set_call.lineno >= node.lineno:
                    continue
                if ast.unparse(set_call.func.value) != ast.unparse(call.func.value):
                    continue
                yield set_call, node, stmt


def sites_reset(pf):
    for set_call, try_node, reset in reset_sites(pf):
        yield Site(pf.path, "natural", _reset_mutation(pf, set_call.lineno))


def _reset_mutation(pf, set_line):
    """Deletes the reset from `finally`, or moves it after the `try` statement (the rng
    picks); an emptied `finally` goes, and a `try` left with no clause is unwrapped."""

    def make(rng):
        site = next((s for s in reset_sites(pf) if s[0].lineno == set_line), None)
        if site is None:
            return None
        _, try_node, reset = site
        lines = list(pf.lines)
        # Moved after the `try` (the reset then runs only when the body does not raise),
        # unless the body ends by leaving, where a reset after it would be dead code.
        leaves = isinstance(try_node.body[-1], (ast.Return, ast.Raise))
        moved = not leaves and rng.random() < 0.5
        reset_text = [l.strip() for l in lines[reset.lineno - 1 : reset.end_lineno]]
        header = next(
            n for n in range(try_node.finalbody[0].lineno, 0, -1) if lines[n - 1].lstrip().startswith("finally")
        )
        alone = len(try_node.finalbody) == 1
        edits = []  # (first line, last line, replacement lines), 1-based, inclusive
        if alone:
            edits.append((header, try_node.end_lineno, []))
        elif header == reset.lineno:
            edits.append((header, reset.end_lineno, [indent_of(lines[header - 1]) + "finally:"]))
        else:
            edits.append((reset.lineno, reset.end_lineno, []))
        if alone and not try_node.handlers and not try_node.orelse:
            # `try:` with only `finally`: the body becomes plain code.
            body_indent = indent_of(lines[try_node.body[0].lineno - 1])
            width = len(body_indent) - len(indent_of(lines[try_node.lineno - 1]))
            body = []
            for line in lines[try_node.lineno : header - 1]:
                strip = min(width, len(indent_of(line)))
                body.append(line[strip:])
            edits.append((try_node.lineno, header - 1, body))
        if moved:
            indent = indent_of(lines[try_node.lineno - 1])
            at = try_node.end_lineno
            edits.append((at + 1, at, [indent + text for text in reset_text]))
        for first, last, replacement in sorted(edits, key=lambda e: (-e[0], -e[1])):
            lines[first - 1 : last] = replacement
        mutated = "\n".join(lines)
        if not valid(mutated):
            return None
        return Mutant(pf.text, mutated, set_line, set_line)

    return make


# ----- python-run-in-executor-without-ctx (CTX003) -------------------------------------------


def executor_calls(pf):
    """`x.run_in_executor(executor, <..>.run, f, ..)`: the call and the line of
    `run_in_executor` (where CTX003 reports, as the Rust rule reports the spawn function)."""
    for node in ast.walk(pf.tree):
        if method_call(node, "run_in_executor") and len(node.args) >= 3:
            carrier = node.args[1]
            if isinstance(carrier, ast.Attribute) and carrier.attr == "run":
                yield node, node.func.end_lineno


def reads_context_var(pf, name):
    """Whether module function `name` calls `.get(..)` on a module ContextVar."""
    cvars = set(module_context_vars(pf.tree))
    for stmt in pf.tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
            return any(
                method_call(n, "get") and isinstance(n.func.value, ast.Name) and n.func.value.id in cvars
                for n in ast.walk(stmt)
            )
    return False


def sites_executor(pf):
    for call, line in executor_calls(pf):
        f = call.args[2]
        if isinstance(f, ast.Name) and reads_context_var(pf, f.id):
            yield Site(pf.path, "natural", _drop_carrier(pf, line))


def _drop_carrier(pf, line):
    def make(_rng):
        call = next((c for c, l in executor_calls(pf) if l == line), None)
        if call is None:
            return None
        start = pf.offset(call.args[1].lineno, call.args[1].col_offset)
        end = pf.offset(call.args[2].lineno, call.args[2].col_offset)
        mutated = pf.text[:start] + pf.text[end:]
        return Mutant(pf.text, mutated, line, line) if valid(mutated) else None

    return make


# ----- python-submit-context-twice (CTX005) --------------------------------------------------


def sites_submit(pf):
    """Natural: in a function, `ctx = copy_context()` submitted once (`pool.submit(ctx.run,
    ..)` or `run_in_executor(pool, ctx.run, ..)`) by a one-line statement outside loops;
    the statement is duplicated."""
    for func in functions(pf.tree):
        copies = {
            n.targets[0].id
            for n in own_nodes(func)
            if isinstance(n, ast.Assign)
            and len(n.targets) == 1
            and isinstance(n.targets[0], ast.Name)
            and isinstance(n.value, ast.Call)
            and getattr(n.value.func, "attr", getattr(n.value.func, "id", None)) == "copy_context"
        }
        uses = {}
        loops = [n for n in own_nodes(func) if isinstance(n, (ast.For, ast.AsyncFor, ast.While, ast.comprehension))]
        for stmt in own_nodes(func):
            if not isinstance(stmt, (ast.Expr, ast.Assign)) or stmt.lineno != stmt.end_lineno:
                continue
            for call in ast.walk(stmt):
                position = 0 if method_call(call, "submit") else 1 if method_call(call, "run_in_executor") else None
                if position is None or len(call.args) <= position:
                    continue
                arg = call.args[position]
                if isinstance(arg, ast.Attribute) and arg.attr == "run" and isinstance(arg.value, ast.Name):
                    if arg.value.id in copies:
                        in_loop = any(l.lineno <= stmt.lineno <= l.end_lineno for l in loops if hasattr(l, "end_lineno"))
                        uses.setdefault(arg.value.id, []).append(None if in_loop else stmt)
        for ctx, stmts in uses.items():
            if len(stmts) == 1 and stmts[0] is not None:
                yield Site(pf.path, "natural", _duplicate(pf, stmts[0].lineno))


def _duplicate(pf, line):
    def make(_rng):
        lines = list(pf.lines)
        lines.insert(line, lines[line - 1])
        mutated = "\n".join(lines)
        return Mutant(pf.text, mutated, line, line + 1) if valid(mutated) else None

    return make


# ----- injection ------------------------------------------------------------------------------

VAR_NAMES = ["request_id", "tenant_id", "correlation_id", "current_user", "trace_tag"]


def boundaries(pf):
    """Where a snippet can go: before a top-level `def`/`class` ("module"), or before a
    method of a top-level class ("method"), above its decorators and comments. Yields
    (kind, 0-based line index, indentation, enclosing top-level statement's line index)."""
    for stmt in pf.tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            top = _start(pf, stmt)
            yield "module", top, "", top
            if isinstance(stmt, ast.ClassDef):
                for member in stmt.body:
                    if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        yield "method", _start(pf, member), indent_of(pf.lines[member.lineno - 1]), top


def _start(pf, node):
    first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    while first > 0 and pf.lines[first - 1].lstrip().startswith("#"):
        first -= 1
    return first


def import_point(pf):
    """The 0-based line before which new imports go: after the docstring and `__future__`."""
    for index, stmt in enumerate(pf.tree.body):
        docstring = index == 0 and isinstance(stmt, ast.Expr) and isinstance(getattr(stmt, "value", None), ast.Constant)
        future = isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"
        if not (docstring or future):
            return _start(pf, stmt) if hasattr(stmt, "decorator_list") else stmt.lineno - 1
    return len(pf.lines)


def unique(pf, name):
    while re.search(rf"\b{name}\b", pf.text):
        name += "_"
    return name


def inject(pf, rng, build, needs_var=True):
    """The host with a snippet at a random boundary: (text, marked line, names).
    `build(names)` returns (module-level lines, function lines, imports to add): the
    module-level lines (and a fresh ContextVar when one is used) go before the boundary's
    top-level statement, the function (a method, with `self`, when the boundary is in a
    class) at the boundary, missing imports after the docstring and `__future__` imports."""
    where, at, indent, top = rng.choice(list(boundaries(pf)))
    own = module_context_vars(pf.tree)
    base = rng.choice(VAR_NAMES)
    names = {
        "fn": unique(pf, rng.choice(["handle", "process", "run", "dispatch"]) + "_with_" + base),
        "value": base,
        "self": "self, " if where == "method" else "",
        "reader": unique(pf, "_read_" + base),
        "worker": unique(pf, "_work_on_" + base),
    }
    fresh = not own or rng.random() < 0.5
    names["var"] = unique(pf, "_" + base + "_var") if fresh else rng.choice(own)
    module_lines, func_lines, imports = build(names)
    if needs_var and fresh:
        module_lines = [f'{names["var"]} = contextvars.ContextVar("{base}", default=None)', "", ""] + module_lines
        imports = set(imports) | {"contextvars"}
    missing = [m for m in sorted(imports) if not re.search(rf"^import {re.escape(m)}\s*$", pf.text, re.M)]
    func_lines = [indent + line if line else "" for line in func_lines]
    if where == "module":
        edits = [(at, module_lines + func_lines + ["", ""])]
    else:
        edits = [(at, func_lines + [""])]
        if module_lines:
            edits.append((top, module_lines))
    if missing:
        point = import_point(pf)
        follows = pf.lines[point] if point < len(pf.lines) else ""
        spacer = [""] if follows.strip() and not follows.startswith(("import ", "from ")) else []
        edits.append((point, [f"import {m}" for m in missing] + spacer))
    lines = list(pf.lines)
    # Bottom-up, so earlier positions stay valid; at one position the imports go first.
    for position, new in sorted(edits, key=lambda e: (-e[0], e[1][0].startswith("import "))):
        lines[position:position] = new
    text, line = strip_marker("\n".join(lines))
    return text, line, names


RESET_TEMPLATES = [
    [
        "def {fn}({self}{value}, handler, *args, **kwargs):",
        "    token = {var}.set({value})" + MARKER,
        "    try:",
        "        return handler(*args, **kwargs)",
        "    finally:",
        "        {var}.reset(token)",
    ],
    [
        "async def {fn}({self}{value}, handler, *args):",
        "    token = {var}.set({value})" + MARKER,
        "    try:",
        "        result = await handler(*args)",
        "    finally:",
        "        {var}.reset(token)",
        "    return result",
    ],
    [
        "def {fn}({self}{value}, handler, *args):",
        "    token = {var}.set({value})" + MARKER,
        "    try:",
        "        result = handler(*args)",
        "    except KeyError:",
        "        result = None",
        "    finally:",
        "        {var}.reset(token)",
        "    return result",
    ],
]


def sites_reset_injected(pf):
    if list(boundaries(pf)):
        yield Site(pf.path, "injected", _inject_reset(pf))


def _inject_reset(pf):
    def make(rng):
        template = rng.choice(RESET_TEMPLATES)
        text, line, _ = inject(pf, rng, lambda n: ([], [l.format(**n) for l in template], []))
        host = parse(text, pf.path)
        return _reset_mutation(host, line)(rng) if host else None

    return make


EXECUTOR_TEMPLATES = [
    (
        ["def {reader}():", "    return {var}.get()"],
        [
            "async def {fn}({self}):",
            "    loop = asyncio.get_running_loop()",
            "    ctx = contextvars.copy_context()",
            "    return await loop.run_in_executor(None, ctx.run, {reader})" + MARKER,
        ],
    ),
    (
        ["def {reader}(item):", "    return {var}.get(), item"],
        [
            "async def {fn}({self}item):",
            "    loop = asyncio.get_event_loop()",
            "    result = await loop.run_in_executor(",
            "        None, contextvars.copy_context().run, {reader}, item" + MARKER,
            "    )",
            "    return result",
        ],
    ),
]


def sites_executor_injected(pf):
    if list(boundaries(pf)):
        yield Site(pf.path, "injected", _inject_executor(pf))


def _inject_executor(pf):
    def make(rng):
        module, func = rng.choice(EXECUTOR_TEMPLATES)
        build = lambda n: ([l.format(**n) for l in module] + ["", ""], [l.format(**n) for l in func], ["asyncio", "contextvars"])  # noqa: E731
        text, _, names = inject(pf, rng, build)
        host = parse(text, pf.path)
        if host is None:
            return None
        lines = [line for call, line in executor_calls(host) if _reader_name(call) == names["reader"]]
        return _drop_carrier(host, lines[0])(rng) if lines else None

    return make


def _reader_name(call):
    f = call.args[2]
    return f.id if isinstance(f, ast.Name) else None


SUBMIT_TEMPLATES = [
    [
        "def {fn}({self}executor, first, second):",
        "    ctx = contextvars.copy_context()",
        "    a = executor.submit(ctx.run, {worker}, first)",
        "    b = executor.submit(contextvars.copy_context().run, {worker}, second)" + MARKER,
        "    return a.result(), b.result()",
    ],
    [
        "def {fn}({self}items):",
        "    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:",
        "        ctx = contextvars.copy_context()",
        "        head = pool.submit(ctx.run, {worker}, items[0])",
        "        tail = pool.submit(contextvars.copy_context().run, {worker}, items[1:])" + MARKER,
        "    return head.result(), tail.result()",
    ],
    [
        "async def {fn}({self}executor, first, second):",
        "    loop = asyncio.get_running_loop()",
        "    ctx = contextvars.copy_context()",
        "    a = loop.run_in_executor(executor, ctx.run, {worker}, first)",
        "    b = loop.run_in_executor(executor, contextvars.copy_context().run, {worker}, second)" + MARKER,
        "    return await asyncio.gather(a, b)",
    ],
]


def sites_submit_injected(pf):
    if list(boundaries(pf)):
        yield Site(pf.path, "injected", _inject_submit(pf))


def _inject_submit(pf):
    """Two jobs, each with its own copy; the mutation gives the second the first's copy."""

    def make(rng):
        template = rng.choice(SUBMIT_TEMPLATES)
        worker = ["def {worker}(item):", "    return repr(item)", "", ""]
        imports = ["contextvars", "asyncio" if "asyncio" in "".join(template) else "concurrent.futures"]
        build = lambda n: ([l.format(**n) for l in worker], [l.format(**n) for l in template], imports)  # noqa: E731
        text, line, _ = inject(pf, rng, build, needs_var=False)
        lines = text.split("\n")
        lines[line - 1] = lines[line - 1].replace("contextvars.copy_context().run", "ctx.run")
        mutated = "\n".join(lines)
        return Mutant(text, mutated, line, line) if valid(text) and valid(mutated) else None

    return make


KINDS = {
    "python-reset-outside-finally": Kind(
        "CTX001", parse, sites_reset, lambda text: ".reset(" in text, sites_reset_injected, lambda text: "def " in text
    ),
    "python-run-in-executor-without-ctx": Kind(
        "CTX003",
        parse,
        sites_executor,
        lambda text: "run_in_executor" in text,
        sites_executor_injected,
        lambda text: "def " in text,
    ),
    "python-submit-context-twice": Kind(
        "CTX005", parse, sites_submit, lambda text: "copy_context" in text, sites_submit_injected, lambda text: "def " in text
    ),
}
