#!/usr/bin/env python3
"""Times CPython's contextvars (PEP 567) on the operations of ctxvars/benches/ops.rs.

Prints JSON to stdout: nanoseconds per operation, for 1 and 16 variables set.

    python3 bench/cpython.py > bench/out/cpython.json

Method
------
* Every measurement is `timeit`: `Timer.autorange()` picks a loop count that runs for at
  least 0.2 s, then the best (minimum) of `--rounds` x `--repeat` runs of that count is
  kept, as the `timeit` documentation recommends. The rounds alternate between the sizes.
* The cost of timeit's own loop is measured with the statement `pass` and subtracted from
  every result, so the numbers are the cost of the statement alone (the Rust numbers
  carry next to no loop overhead). The raw, unsubtracted times are under "gross".
* "N vars set": inside a fresh `contextvars.Context()`, the measured variable `V` plus
  N - 1 other distinct `ContextVar`s are set before timing, as in the Rust benchmarks.
* Operations (statement timed -> reported value):
  - get:          `v.get()`
  - with:         not reported: Python has no borrowing accessor (`get` already returns
                  a reference), so the CPython column shows n/a.
  - set_reset:    `t = v.set(2); v.reset(t)`
  - scope:        `t = v.set(2)` / `try: f()` / `finally: v.reset(t)` (the idiom for
                  ctxvars' `V.scope(2, f)`) minus a direct `f()` call: the overhead added
                  around `f`. The gross time and the `f()` call are in "gross".
  - copy_context: `copy_context()` (the result is dropped right away, as in Rust)
  - run:          `ctx.run(f)` minus a direct `f()` call, `ctx` being a copy of the
                  context with the N vars set; `f` is `def f(): return 0`. The gross
                  `ctx.run(f)` time and the `f()` call are in "gross".
  - poll:         the overhead asyncio adds per task step, which is how Python carries a
                  context through a coroutine: `ctx.run(send, None)` minus `send(None)`,
                  `send` being the `.send` of a generator that yields forever (the
                  always-ready future of the Rust benchmark).
"""

import argparse
import contextvars
import json
import platform
import sys
import timeit

SIZES = (1, 16)
VARS = [contextvars.ContextVar(f"v{i}") for i in range(16)]
V = VARS[0]


def f():
    return 0


def forever():
    while True:
        yield 1


SCOPE_STMT = """\
t = v.set(2)
try:
    f()
finally:
    v.reset(t)
"""

# Statement timed for each entry of "gross".
STATEMENTS = {
    "loop": "pass",
    "get": "v.get()",
    "set_reset": "t = v.set(2); v.reset(t)",
    "scope": SCOPE_STMT,
    "copy_context": "copy_context()",
    "run": "run(f)",
    "call_f": "f()",
    "poll": "run(send, None)",
    "send": "send(None)",
}


def prepare(n):
    """Sets `n` vars in the current (fresh) context; returns a timer per statement."""
    for i, var in enumerate(VARS[:n]):
        var.set(i + 1)
    assert V.get() == 1 and len(contextvars.copy_context()) == n

    namespace = {
        "V": V,
        "F": f,
        "COPY_CONTEXT": contextvars.copy_context,
        "SNAPSHOT": contextvars.copy_context(),
        "GENERATOR": forever(),
    }
    # Names bound in `setup` are locals of timeit's inner function: fast lookups.
    setup = (
        "v = V; f = F; copy_context = COPY_CONTEXT; run = SNAPSHOT.run; "
        "send = GENERATOR.send"
    )
    timers = {}
    for name, stmt in STATEMENTS.items():
        timer = timeit.Timer(stmt, setup=setup, globals=namespace)
        number, _ = timer.autorange()  # at least 0.2 s per timing run
        timers[name] = (timer, number)
    return timers


def time_all(timers, repeat):
    """Best-of-`repeat` ns per execution of each statement (gross: loop included)."""
    return {
        name: min(timer.repeat(repeat=repeat, number=number)) / number * 1e9
        for name, (timer, number) in timers.items()
    }


def net(gross):
    """The cost of each operation alone (see the module docstring)."""
    loop = gross["loop"]
    return {
        "get": gross["get"] - loop,
        "set_reset": gross["set_reset"] - loop,
        "scope": gross["scope"] - gross["call_f"],
        "copy_context": gross["copy_context"] - loop,
        "run": gross["run"] - gross["call_f"],
        "poll": gross["poll"] - gross["send"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds over the sizes"
    )
    parser.add_argument(
        "--repeat", type=int, default=2, help="timeit runs per op and round"
    )
    args = parser.parse_args()

    # One fresh context per size, so the 1-var timings do not see the 16-var ones. The
    # sizes are timed in alternating rounds, keeping the best of every round, so a slow
    # spell of a busy machine does not land on one size only.
    contexts = {n: contextvars.Context() for n in SIZES}
    timers = {n: contexts[n].run(prepare, n) for n in SIZES}
    best = {n: {} for n in SIZES}
    for _ in range(args.rounds):
        for n in SIZES:
            for name, ns in contexts[n].run(time_all, timers[n], args.repeat).items():
                best[n][name] = min(ns, best[n].get(name, ns))

    results = {}
    for n in SIZES:
        for op, ns in net(best[n]).items():
            results.setdefault(op, {})[str(n)] = round(ns, 3)
    gross = {str(n): {name: round(ns, 3) for name, ns in best[n].items()} for n in SIZES}

    json.dump(
        {
            "implementation": platform.python_implementation(),
            "python": sys.version.split()[0],
            "unit": "ns/op",
            "method": (
                "timeit, best of %d rounds x %d runs (loop count from autorange); "
                "timeit loop cost subtracted; scope and run: minus a direct f() call; "
                "poll: ctx.run(send, None) minus send(None)" % (args.rounds, args.repeat)
            ),
            "results": results,
            "gross": gross,
        },
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
