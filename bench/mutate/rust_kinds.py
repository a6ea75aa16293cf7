"""The Rust mutation kinds, found with a light reading of Rust source (comments and
literals blanked, braces matched, each block classified as fn, closure, async block,
macro, mod, impl or plain block).

- rust-discard-enter-guard (CTX001), natural: `let _g = span.enter();` followed by more
  code in its block, with `_g` not used again, becomes `let _ = span.enter();`.
- rust-await-under-guard (CTX004), natural where the corpus has it (an entered guard in an
  async body, a one-line `.await` statement after the guard's block: the statement moves to
  the end of the guard's scope); injected otherwise: a scoped guard (`let span = ..;
  { let _enter = span.enter(); event!(..); }`) goes before one of an async fn's own
  `.await` statements, which then moves into that scope.
- rust-remove-instrument (CTX003), natural where the corpus has it (a spawned `async`
  block that logs, given a carrier, whose caller has a span); injected otherwise: a spawned
  future that logs, with `.in_current_span()` / `.instrument(..)`, as the first statement
  of an `#[instrument]`ed fn or right after an entered span guard, in non-test code; the
  carrier is removed.

Guards on a tokio runtime, handle or `LocalSet` are left out (they enter no span). Each
`sites_<kind>(parsed file)` yields `Site`s whose `make(rng)` returns the `Mutant`.
"""

import bisect
import re

from common import MARKER, Kind, Mutant, Site, strip_marker

# ----- reading Rust ----------------------------------------------------------------------


# Where a comment or literal may start: `//`, `/*`, a raw string (`r#"`, `br"`), a string
# (`"`, `b"`), a quote (a char literal or a lifetime). Identifiers are matched whole so that
# the `r` or `b` ending one is not read as a prefix.
LITERAL_START = re.compile(r"//|/\*|\b(?:br|cr|r)(#*)\"|\b[bc]?\"|\"|'|[A-Za-z_]\w*")


def mask(src):
    """`src` with comments and the insides of string and char literals blanked (newlines
    kept), so that regexes and brace matching only see code."""
    out = list(src)
    n = len(src)

    def blank(a, b):
        for k in range(a, min(b, n)):
            if out[k] != "\n":
                out[k] = " "

    def string_end(j):  # j: just after the opening quote
        while j < n:
            q = src.find('"', j)
            if q < 0:
                return n
            backslashes = 0
            while src[q - 1 - backslashes] == "\\":
                backslashes += 1
            if backslashes % 2 == 0:
                return q
            j = q + 1
        return n

    i = 0
    while True:
        m = LITERAL_START.search(src, i)
        if m is None:
            break
        token, i = m.group(0), m.end()
        if token == "//":
            j = src.find("\n", i)
            j = n if j < 0 else j
            blank(m.start(), j)
            i = j
        elif token == "/*":
            depth, j = 1, i
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(m.start(), j)
            i = j
        elif token.endswith('"') and m.group(1) is not None:  # raw string
            hashes = m.group(1)
            end = src.find('"' + hashes, i)
            end = n if end < 0 else end
            blank(i, end)
            i = end + 1 + len(hashes)
        elif token.endswith('"'):
            end = string_end(i)
            blank(i, end)
            i = end + 1
        elif token == "'":
            start = m.start()
            if start + 1 < n and src[start + 1] == "\\":
                end = src.find("'", start + 3)
                end = n if end < 0 else end
                blank(start + 1, end)
                i = end + 1
            elif start + 2 < n and src[start + 2] == "'":
                blank(start + 1, start + 2)
                i = start + 3
            # else: a lifetime or a label
        elif token == "b" and i < n and src[i] == "'":
            pass  # a byte char: its quote is read next
    return "".join(out)


HEAD_STOP = set(";{},")


class Block:
    __slots__ = ("open", "close", "parent", "kind", "is_async", "head", "name")


class RustFile:
    """A file's code: masked text, lines, and its `{ }` blocks, each classified as `fn`,
    `closure`, `async` (block), `macro` (`name! { }`), `mod`, or `block` (anything else)."""

    def __init__(self, text, path):
        self.text = text
        self.path = path
        self.code = mask(text)
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.blocks = []
        self._match_braces()

    def line_of(self, pos):  # 1-based
        return bisect.bisect_right(self.line_starts, pos)

    def line_text(self, line):
        start = self.line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start : len(self.text) if end < 0 else end]

    def _match_braces(self):
        code, stack, parents = self.code, [], []
        for pos, c in enumerate(code):
            if c in "([":
                stack.append((c, pos, None))
            elif c == "{":
                block = Block()
                block.open = pos
                block.parent = parents[-1] if parents else None
                self.blocks.append(block)
                stack.append((c, pos, block))
                parents.append(block)
            elif c in ")]}":
                if not stack:
                    raise ValueError("unbalanced")
                opener, _, block = stack.pop()
                if (opener, c) not in (("(", ")"), ("[", "]"), ("{", "}")):
                    raise ValueError("unbalanced")
                if block is not None:
                    block.close = pos
                    parents.pop()
        if stack:
            raise ValueError("unbalanced")
        for block in self.blocks:
            self._classify(block)

    def head_start(self, pos):
        """Where the statement or item that `pos` ends began (after the previous `;`, `{`,
        `}` or `,` outside brackets)."""
        code, depth, i = self.code, 0, pos - 1
        while i >= 0:
            c = code[i]
            if c in ")]":
                depth += 1
            elif c in "([":
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and c in HEAD_STOP:
                break
            i -= 1
        return i + 1

    def _classify(self, block):
        head = self.code[self.head_start(block.open) : block.open]
        block.head, block.is_async, block.name = head, False, None
        tail = head.rstrip()
        closure = re.search(r"\|[^|]*\|\s*(->[^{]*)?$|\|\|\s*(->[^{]*)?$", tail)
        if closure:
            block.kind = "closure"
            block.is_async = bool(re.search(r"\basync\s+(move\s+)?\|", tail))
        elif re.search(r"\basync(\s+move)?$", tail):
            block.kind, block.is_async = "async", True
        elif re.search(r"\bfn\s+\w+", tail):
            block.kind = "fn"
            block.name = re.search(r"\bfn\s+(\w+)", tail).group(1)
            block.is_async = bool(re.search(r"\basync\b[^;]*\bfn\b", tail))
        elif re.search(r"!\s*(\w+\s*)?$", tail):
            block.kind = "macro"
            block.name = re.search(r"(\w+)\s*!\s*(\w+\s*)?$", tail)
            block.name = block.name.group(1) if block.name else None
        elif re.search(r"\bmod\s+\w+$", tail):
            block.kind = "mod"
        elif re.search(r"\bimpl\b", tail):
            block.kind = "impl"
            m = re.search(r"\bimpl\b.*?([A-Za-z_]\w*)\s*(<[^{]*>)?\s*(where\b.*)?$", tail, re.S)
            m2 = re.search(r"\bfor\s+(?:[\w:]+::)?([A-Za-z_]\w*)", tail)
            block.name = m2.group(1) if m2 else (m.group(1) if m else None)
        else:
            block.kind = "block"

    def block_at(self, pos):
        """The innermost block whose braces enclose `pos`."""
        best = None
        for block in self.blocks:
            if block.open < pos < block.close and (best is None or block.open > best.open):
                best = block
        return best

    def ancestors(self, block):
        while block is not None:
            yield block
            block = block.parent

    def body_of(self, block):
        """The fn, closure or `async` block whose code `block` is part of."""
        for b in self.ancestors(block):
            if b.kind in ("fn", "closure", "async"):
                return b
        return None

    def in_macro_rules(self, block):
        return any(b.kind == "macro" and b.name == "macro_rules" for b in self.ancestors(block))

    def is_test_code(self, block):
        """Test code as ctxlint's rules define it: a test path, a `#[cfg(test)]` module,
        a `#[test]`-like fn."""
        if is_test_path(self.path):
            return True
        for b in self.ancestors(block):
            if b.kind == "mod" and CFG_TEST.search(b.head):
                return True
            if b.kind == "fn" and TEST_ATTR.search(b.head):
                return True
        return False


CFG_TEST = re.compile(r"#\[\s*cfg\s*\((?![^\]]*\b(?:not|any)\s*\()[^\]]*\btest\b[^\]]*\)\s*\]")
TEST_ATTR = re.compile(r"#\[\s*(\w+\s*::\s*)*test\b")
INSTRUMENT_ATTR = re.compile(r"#\[\s*(tracing\s*::\s*)?instrument\b")


def is_test_path(path):
    for part in path.split("/"):
        stem = part[:-3] if part.endswith(".rs") else part
        if stem in ("test", "tests", "testing") or stem.startswith("test_"):
            return True
        if stem.endswith("_test") or stem.endswith("_tests"):
            return True
    return False


def indent_of(line):
    return line[: len(line) - len(line.lstrip())]


# ----- span guards -----------------------------------------------------------------------

# `let _guard = span.enter();` on one line. The receiver excludes `$` (a macro_rules
# fragment) and `;`.
GUARD = re.compile(
    r"^(?P<indent>[ \t]*)let\s+(?P<mut>mut\s+)?(?P<name>\w+)\s*(?::[^=;]+)?=\s*"
    r"(?P<recv>[^;$=]+?)\.(?P<method>enter|entered)\(\)\s*;",
    re.M,
)
# A runtime's or executor's guard (`rt.enter()`, `h.enter()` with `h: &Handle`,
# `self.enter()` in `impl Runtime`) enters no span: dropping or holding it is no context bug
# (CTX001 and CTX004 document the same exception). Decided from the receiver's name, its
# binding or parameter type in the file, and for `self` the `impl`'s type.
RUNTIME_NAME = re.compile(r"(?i)^(h\d*|rt\w*|\w*_rt|\w*runtime\w*|\w*handle\w*|local\w*|\w*executor\w*|exec)$")
RUNTIME_TYPE = re.compile(r"\b(Runtime|Handle|LocalSet|LocalRuntime|Builder)\b|\.handle\(\)|\bruntime\b")


def is_span_receiver(rf, guard):
    recv = re.sub(r"\s+", "", guard.m.group("recv"))
    if recv == "self":
        impl = next((b for b in rf.ancestors(guard.block) if b.kind == "impl"), None)
        return impl is not None and "Span" in (impl.name or "")
    if RUNTIME_TYPE.search(recv):
        return False
    name = re.split(r"[.:]", recv.rstrip("()"))[-1] if re.fullmatch(r"[\w.:]+", recv) else None
    if name is None or "span" in name.lower():
        return True
    if RUNTIME_NAME.match(name):
        return False
    before = rf.code[: guard.start]
    binding = None
    for binding in re.finditer(rf"\blet\s+(?:mut\s+)?{re.escape(name)}\s*(?::[^=;]+)?=([^;]+);", before):
        pass
    if binding and RUNTIME_TYPE.search(binding.group(0)):
        return False
    if re.search(rf"\b{re.escape(name)}\s*:\s*&?\s*(?:mut\s+)?[\w:]*\b(Runtime|Handle|LocalSet)\b", before):
        return False
    return True


class Guard:
    def __init__(self, rf, match):
        self.rf, self.m = rf, match
        self.name = match.group("name")
        self.method = match.group("method")
        self.start, self.end = match.start(), match.end()
        self.line = rf.line_of(match.start("recv"))
        self.block = rf.block_at(match.start())

    def code_after(self):
        """The code between the guard's `;` and the end of its block."""
        return self.rf.code[self.end : self.block.close]


def guards(rf, methods=("enter",)):
    for m in GUARD.finditer(rf.code):
        if m.group("method") not in methods or m.group("name") == "_":
            continue
        guard = Guard(rf, m)
        if guard.block is None or rf.in_macro_rules(guard.block) or not is_span_receiver(rf, guard):
            continue
        if rf.line_of(m.start()) != rf.line_of(m.end() - 1):
            continue
        yield guard


# ----- rust-discard-enter-guard (CTX001) ---------------------------------------------------


def sites_discard_enter_guard(rf):
    """`let _g = span.enter();` → `let _ = span.enter();`. Only where code follows the guard
    in its block (a guard dropped as its block's last statement entered nothing for any code:
    CTX001's documented non-bug) and the binding is not used again (the mutant compiles)."""
    for guard in guards(rf):
        after = guard.code_after()
        if not after.strip() or re.search(rf"\b{re.escape(guard.name)}\b", after):
            continue
        yield Site(rf.path, "natural", _discard(rf, guard))


def _discard(rf, guard):
    def make(_rng):
        m = guard.m
        pattern_start = m.start("mut") if m.group("mut") else m.start("name")
        eq = rf.text.index("=", m.end("name"))
        mutated = rf.text[:pattern_start] + "_ " + rf.text[eq:]
        return Mutant(rf.text, mutated, guard.line, guard.line)

    return make


# ----- rust-await-under-guard (CTX004) -----------------------------------------------------

AWAIT_STMT = re.compile(r"^[ \t]*(?!return\b|break\b|continue\b|\}|\.)[^{}\n]*\.await\b[^{}\n]*;[ \t]*$", re.M)
AWAITING_MACRO = re.compile(r"\b(select|select_biased|join|try_join|pending)!|\.await\b")


def await_statements(rf, start, end):
    """Single-line statements with an `.await` between `start` and `end` that begin a
    statement (the code before them ends with `;`, `{` or `}`) and have balanced brackets."""
    for m in AWAIT_STMT.finditer(rf.code, start, end):
        line = m.group(0)
        if line.count("(") != line.count(")") or line.count("[") != line.count("]"):
            continue
        before = rf.code[: m.start()].rstrip()
        if before and before[-1] not in ";{}":
            continue
        yield m


def sites_await_under_guard(rf):
    """Natural: an entered span guard in an async body whose scope has no `.await`, and a
    single-line `.await` statement after the guard's block in the same body; the statement
    is moved to just after the guard."""
    for guard in guards(rf):
        body = rf.body_of(guard.block)
        if body is None or not body.is_async:
            continue
        if AWAITING_MACRO.search(guard.code_after()):
            continue
        chain = []
        for b in rf.ancestors(guard.block):
            chain.append(b)
            if b is body:
                break
        candidates = []
        for m in await_statements(rf, guard.block.close, body.close):
            block = rf.block_at(m.start())
            if block in chain and block is not guard.block:
                candidates.append(m)
        if candidates:
            yield Site(rf.path, "natural", _move_await(rf, guard, candidates))


def _move_await(rf, guard, candidates):
    def make(rng):
        stmt = rng.choice(candidates)
        lines = rf.text.split("\n")
        s_line = rf.line_of(stmt.start())
        moved = lines.pop(s_line - 1).strip()
        # At the end of the guard's scope when nothing there drops the guard and its `}` is
        # on a line of its own, else right after the guard.
        end_line = rf.line_of(guard.block.close)
        at = rf.line_of(guard.start)
        if not re.search(rf"\b{re.escape(guard.name)}\b", guard.code_after()) and not lines[end_line - 1].strip().rstrip(",;)").rstrip("}"):
            at = end_line - 1
        lines.insert(at, indent_of(lines[rf.line_of(guard.start) - 1]) + moved)
        return Mutant(rf.text, "\n".join(lines), guard.line, guard.line)

    return make


STEP_SPAN = [
    ('let step_span = tracing::debug_span!("{fn}");', "tracing::debug!(\"{fn}: starting\");"),
    ('let span = tracing::info_span!("{fn}_step");', 'tracing::info!("preparing");'),
    ('let span = tracing::Span::current();', 'tracing::trace!("{fn} about to wait");'),
]


def sites_await_under_guard_injected(rf):
    """Injected: in an async fn, before one of its own single-line `.await` statements, a
    scoped guard (`let span = ..; { let _enter = span.enter(); event!(..); }`, the usual
    correct shape); the mutation then moves the `.await` statement into that scope."""
    for block in rf.blocks:
        if block.kind != "fn" or not block.is_async or rf.in_macro_rules(block):
            continue
        stmts = [m for m in await_statements(rf, block.open + 1, block.close) if rf.block_at(m.start()) is block]
        if stmts:
            yield Site(rf.path, "injected", _inject_scoped_guard(rf, block, stmts))


def _inject_scoped_guard(rf, block, stmts):
    def make(rng):
        stmt = rng.choice(stmts)
        let_span, event = rng.choice(STEP_SPAN)
        var = re.search(r"let (\w+)", let_span).group(1)
        lines = rf.text.split("\n")
        at = rf.line_of(stmt.start()) - 1
        ind = indent_of(lines[at])
        inner = ind + "    "
        stmt_text = lines[at].strip()
        guard = f"{inner}let _enter = {var}.enter();"
        snippet = [ind + let_span.format(fn=block.name), ind + "{", guard + MARKER, inner + event.format(fn=block.name), ind + "}"]
        before = lines[:at] + snippet + [lines[at]] + lines[at + 1 :]
        after = lines[:at] + snippet[:4] + [inner + stmt_text] + snippet[4:] + lines[at + 1 :]
        original, line = strip_marker("\n".join(before))
        mutated, _ = strip_marker("\n".join(after))
        return Mutant(original, mutated, line, line)

    return make


# ----- rust-remove-instrument (CTX003) -----------------------------------------------------

SPAWN = re.compile(r"\b(?:tokio\s*::\s*)?(?:task\s*::\s*)?spawn(?:_local)?\s*\(")
EVENT = re.compile(r"\b(trace|debug|info|warn|error|event)!\s*\(|\b\w+_span!\s*\(|\bSpan\s*::\s*current\s*\(")
CARRIER = re.compile(r"\.\s*(in_current_span\s*\(\s*\)|instrument\s*\()\s*$")


def _closing(code, open_pos):
    depth = 0
    for i in range(open_pos, len(code)):
        if code[i] in "([{":
            depth += 1
        elif code[i] in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _carrier_span(code, arg_start, arg_end):
    """The `.instrument(..)` / `.in_current_span()` that ends the spawned expression, as
    (start, end) with the whitespace before the dot, or None."""
    arg = code[arg_start:arg_end].rstrip().rstrip(",").rstrip()
    end = arg_start + len(arg)
    if arg.endswith(")"):
        depth = 0
        for i in range(end - 1, arg_start - 1, -1):
            if code[i] == ")":
                depth += 1
            elif code[i] == "(":
                depth -= 1
                if depth == 0:
                    head = code[arg_start:i + 1]
                    m = CARRIER.search(head)
                    if m:
                        dot = arg_start + m.start()
                        while dot > arg_start and code[dot - 1] in " \t\n":
                            dot -= 1
                        return dot, end
                    return None
    return None


def has_context(rf, pos, block):
    """Whether code at `pos` runs with a span current by CTX003's documented semantics:
    the body of an `#[instrument]`ed fn (also inside its `async` blocks), or after an
    entered span guard in an enclosing block of the same body."""
    body = rf.body_of(block)
    for b in rf.ancestors(block):
        if b.kind == "fn":
            if INSTRUMENT_ATTR.search(b.head):
                return True
            break
        if b.kind == "closure":
            break
    for g in guards(rf, ("enter", "entered")):
        if g.start < pos and rf.body_of(g.block) is body and g.block in list(rf.ancestors(block)):
            if not re.search(rf"\b(drop\s*\(\s*{re.escape(g.name)}\s*\)|{re.escape(g.name)}\s*\.\s*exit\b)", rf.code[g.end:pos]):
                return True
    return False


def sites_remove_instrument(rf):
    """Natural: a spawn of a literal `async` block that logs, given `.instrument(..)` or
    `.in_current_span()`, in non-test code whose caller has a span; the carrier is removed."""
    code = rf.code
    for m in SPAWN.finditer(code):
        open_paren = m.end() - 1
        close = _closing(code, open_paren)
        if close < 0:
            continue
        arg_start = open_paren + 1
        arg = code[arg_start:close]
        stripped = arg.lstrip()
        if not re.match(r"async\b", stripped):
            continue
        carrier = _carrier_span(code, arg_start, close)
        if carrier is None:
            continue
        work = code[arg_start : carrier[0]]
        if not EVENT.search(work) or "parent:" in work:
            continue
        block = rf.block_at(m.start())
        if block is None or rf.is_test_code(block) or rf.in_macro_rules(block):
            continue
        if not has_context(rf, m.start(), block):
            continue
        line = rf.line_of(m.start())
        yield Site(rf.path, "natural", _remove_carrier(rf, carrier, line))


def _remove_carrier(rf, carrier, line):
    def make(_rng):
        start, end = carrier
        return Mutant(rf.text, rf.text[:start] + rf.text[end:], line, line)

    return make


SPAWNERS = ["tokio::spawn", "tokio::task::spawn"]
CARRIERS = [".in_current_span()", ".instrument(tracing::Span::current())", '.instrument(tracing::info_span!("background"))']
LEVELS = ["trace", "debug", "info", "warn"]


def spawn_snippet(rng, ind, what):
    """A spawned future that logs, given a carrier: one line or rustfmt's layout."""
    spawner, carrier, level = rng.choice(SPAWNERS), rng.choice(CARRIERS), rng.choice(LEVELS)
    event = f'tracing::{level}!("{what}");'
    if rng.random() < 0.5:
        good = [f"{ind}{spawner}(async move {{ {event} }}{carrier});{MARKER}"]
        bad = [f"{ind}{spawner}(async move {{ {event} }});{MARKER}"]
    else:
        i2, i3 = ind + "    ", ind + "        "
        head = [f"{ind}{spawner}({MARKER}", f"{i2}async move {{", f"{i3}{event}", f"{i2}}}"]
        good = head + [f"{i2}{carrier},", f"{ind});"]
        bad = head[:3] + [f"{i2}}},", f"{ind});"]
    return good, bad


def sites_remove_instrument_injected(rf):
    """Injected: a spawned future that logs, given a carrier, as the first statement of an
    `#[instrument]`ed fn or right after an entered span guard (non-test code); the mutation
    removes the carrier."""
    lines = rf.text.split("\n")
    for block in rf.blocks:
        if block.kind != "fn" or not INSTRUMENT_ATTR.search(block.head):
            continue
        if rf.is_test_code(block) or rf.in_macro_rules(block):
            continue
        open_line = rf.line_of(block.open)
        if rf.code[block.open + 1 :].split("\n", 1)[0].strip() or rf.line_of(block.close) == open_line:
            continue
        nxt = lines[open_line] if open_line < len(lines) else ""
        ind = indent_of(nxt) if nxt.strip() and rf.line_of(block.close) > open_line + 1 else indent_of(lines[open_line - 1]) + "    "
        yield Site(rf.path, "injected", _inject_spawn(rf, open_line, ind, f"{block.name}: in the background"))
    for guard in guards(rf, ("enter", "entered")):
        if rf.is_test_code(guard.block):
            continue
        g_line = rf.line_of(guard.start)
        ind = guard.m.group("indent")
        yield Site(rf.path, "injected", _inject_spawn(rf, g_line, ind, "spawned under the guard"))


def _inject_spawn(rf, after_line, ind, what):
    def make(rng):
        lines = rf.text.split("\n")
        good, bad = spawn_snippet(rng, ind, what)
        original, line = strip_marker("\n".join(lines[:after_line] + good + lines[after_line:]))
        mutated, _ = strip_marker("\n".join(lines[:after_line] + bad + lines[after_line:]))
        return Mutant(original, mutated, line, line)

    return make


def parse(text, path):
    try:
        return RustFile(text, path)
    except ValueError:
        return None


def _spawn_with_carrier(text):
    return "spawn" in text and ("instrument(" in text or "in_current_span" in text)


def _instrumented_or_guarded(text):
    return "instrument" in text or ".enter()" in text or ".entered()" in text


KINDS = {
    "rust-remove-instrument": Kind(
        "CTX003",
        parse,
        sites_remove_instrument,
        _spawn_with_carrier,
        sites_remove_instrument_injected,
        _instrumented_or_guarded,
    ),
    "rust-discard-enter-guard": Kind("CTX001", parse, sites_discard_enter_guard, lambda text: ".enter()" in text),
    "rust-await-under-guard": Kind(
        "CTX004",
        parse,
        sites_await_under_guard,
        lambda text: ".enter()" in text and ".await" in text,
        sites_await_under_guard_injected,
        lambda text: "async fn" in text and ".await" in text,
    ),
}
