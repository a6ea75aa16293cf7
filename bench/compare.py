#!/usr/bin/env python3
"""Prints the ctxvars / opentelemetry / task_local / CPython comparison as Markdown.

Reads criterion's results (`<target>/criterion/**/new/{benchmark,estimates}.json`, written
by `cargo bench -p ctxvars --bench ops`) and the JSON printed by `bench/cpython.py`.

* Rust numbers are criterion's **median** point estimate (`--statistic mean` for the mean):
  the median resists the scheduling noise of a small shared machine better.
* The `poll` rows show the wrapper's **overhead per poll**: the wrapped future minus the
  bare inner future of the same group (`bare` for ctxvars and opentelemetry,
  `bare_pending` for task_local, see ctxvars/benches/ops.rs); the CPython value is
  `ctx.run(send, None)` minus `send(None)`.
* Ratios are other/ctxvars: above 1 means ctxvars is faster.
* "met?" checks the issue's targets: the absolute bound where there is one, and ctxvars at
  least 3x faster than opentelemetry wherever opentelemetry has the operation.
"""

import argparse
import json
import math
import os
import sys

OPS = ["get", "with", "set_reset", "scope", "copy_context", "run", "poll"]
SIZES = ["1", "16"]
LIBS = ["ctxvars", "opentelemetry", "task_local"]
# Absolute targets in ns per op, from the issue.
TARGET_NS = {"get": 2.0, "set_reset": 10.0, "copy_context": 3.0, "run": 5.0}
MIN_OTEL_RATIO = 3.0
# The bare future each library's poll overhead is measured against.
POLL_BASE = {
    "ctxvars": "bare",
    "opentelemetry": "bare",
    "task_local": "bare_pending",
}
LABEL = {"set_reset": "set+reset", "poll": "poll overhead"}


def load_criterion(root, statistic, since):
    """{(group, function): {...estimates..., "stale": bool}} for every criterion result."""
    results = {}
    for dirpath, _dirnames, filenames in os.walk(root):
        if os.path.basename(dirpath) != "new":
            continue
        if "benchmark.json" not in filenames or "estimates.json" not in filenames:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as fh:
            meta = json.load(fh)
        estimates_path = os.path.join(dirpath, "estimates.json")
        with open(estimates_path) as fh:
            est = json.load(fh)
        if meta["group_id"].split("/")[0] not in OPS:
            continue  # some other benchmark's results
        key = (meta["group_id"], meta["function_id"])
        if meta.get("value_str"):
            key = (meta["group_id"], f"{meta['function_id']}/{meta['value_str']}")
        results[key] = {
            "ns": est[statistic]["point_estimate"],
            "median": est["median"]["point_estimate"],
            "median_ci": (
                est["median"]["confidence_interval"]["lower_bound"],
                est["median"]["confidence_interval"]["upper_bound"],
            ),
            "mean": est["mean"]["point_estimate"],
            "slope": (est.get("slope") or {}).get("point_estimate"),
            "std_dev": est["std_dev"]["point_estimate"],
            "stale": since is not None and os.path.getmtime(estimates_path) < since,
        }
    return results


def fmt_ns(value):
    if value is None:
        return "n/a"
    if abs(value) < 10:
        return f"{value:.2f} ns"
    if abs(value) < 100:
        return f"{value:.1f} ns"
    return f"{value:.0f} ns"


def ratio(num, den):
    """num/den; a ctxvars cost at or below zero (a wrapper overhead lost in the noise)
    counts as infinitely faster than any positive cost."""
    if den > 0:
        return num / den
    return math.inf if num > 0 else math.nan


def fmt_ratio(num, den):
    if num is None or den is None:
        return "n/a"
    value = ratio(num, den)
    if math.isnan(value):
        return "n/a"
    return "∞" if math.isinf(value) else f"{value:.1f}×"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--criterion", default="target/criterion", help="criterion output dir")
    parser.add_argument("--cpython", default="bench/out/cpython.json", help="bench/cpython.py output")
    parser.add_argument("--statistic", choices=["median", "mean"], default="median")
    parser.add_argument(
        "--since",
        type=float,
        help="Unix time the benchmark run started; older criterion results are flagged stale",
    )
    parser.add_argument("--raw-json", help="also write the raw numbers used to this file")
    args = parser.parse_args()

    crit = load_criterion(args.criterion, args.statistic, args.since)
    if not any(group.split("/")[0] in OPS for group, _ in crit):
        sys.exit(f"no ctxvars benchmark results under {args.criterion}; run cargo bench first")
    cpython = {}
    cpython_meta = {}
    if os.path.exists(args.cpython):
        with open(args.cpython) as fh:
            cpython_meta = json.load(fh)
        cpython = cpython_meta.get("results", {})
    else:
        print(f"warning: {args.cpython} not found; CPython column empty", file=sys.stderr)

    stale_used = set()

    def rust(op, n, lib):
        """ns/op for lib, or its poll overhead; None when not measured."""
        entry = crit.get((f"{op}/{n}", lib))
        if entry is None:
            return None
        if entry["stale"]:
            stale_used.add(f"{op}/{n}/{lib}")
        if op != "poll":
            return entry["ns"]
        base = crit.get((f"{op}/{n}", POLL_BASE[lib]))
        if base is None:
            return None
        if base["stale"]:
            stale_used.add(f"{op}/{n}/{POLL_BASE[lib]}")
        return entry["ns"] - base["ns"]

    header = [
        "op",
        "vars",
        "ctxvars",
        "opentelemetry",
        "task_local",
        f"CPython {cpython_meta.get('python', '')}".strip(),
        "otel/ctxvars",
        "CPython/ctxvars",
        "target",
        "met?",
    ]
    rows = []
    misses = []
    for op in OPS:
        for n in SIZES:
            ours = rust(op, n, "ctxvars")
            otel = rust(op, n, "opentelemetry")
            tl = rust(op, n, "task_local")
            py = cpython.get(op, {}).get(n)
            targets = []
            failed = []
            if op in TARGET_NS:
                targets.append(f"≤ {TARGET_NS[op]:g} ns")
                if ours is None or ours > TARGET_NS[op]:
                    failed.append(f"> {TARGET_NS[op]:g} ns")
            if otel is not None:
                targets.append(f"≥ {MIN_OTEL_RATIO:g}× otel")
                if ours is None or not ratio(otel, ours) >= MIN_OTEL_RATIO:
                    failed.append(f"only {fmt_ratio(otel, ours)} otel")
            if not targets:
                met = "—"
            elif ours is None:
                met = "not measured"
            elif failed:
                met = "**NO** (" + ", ".join(failed) + ")"
                misses.append(f"{op}/{n}: " + ", ".join(failed))
            else:
                met = "yes"
            rows.append(
                [
                    LABEL.get(op, op),
                    n,
                    fmt_ns(ours),
                    fmt_ns(otel),
                    fmt_ns(tl),
                    fmt_ns(py),
                    fmt_ratio(otel, ours),
                    fmt_ratio(py, ours),
                    "; ".join(targets) or "—",
                    met,
                ]
            )

    print(f"## ctxvars vs opentelemetry vs tokio::task_local vs CPython (criterion {args.statistic}, ns/op)\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print(
        "Ratios are other/ctxvars (> 1: ctxvars faster). `poll overhead` = wrapped future "
        "minus bare future per poll; bare futures:"
        + "".join(
            f" {n} vars: bare {fmt_ns(crit.get(('poll/' + n, 'bare'), {}).get('ns'))},"
            f" bare_pending {fmt_ns(crit.get(('poll/' + n, 'bare_pending'), {}).get('ns'))};"
            for n in SIZES
        )
    )
    if cpython_meta:
        print(f"CPython: {cpython_meta.get('method', '')}.")
    if stale_used:
        print(
            "\n**Stale**: these results predate this run (filtered out?): "
            + ", ".join(sorted(stale_used))
        )
    print()
    if misses:
        print("Targets missed: " + "; ".join(misses) + ".")
    else:
        print("All targets met.")

    print("\n### Raw criterion estimates (ns/op)\n")
    print("| group | function | median | median 95% CI | mean | slope | std dev |")
    print("|---|---|---|---|---|---|---|")
    order = {op: i for i, op in enumerate(OPS)}

    def sort_key(key):
        group, function = key
        op, _, n = group.partition("/")
        return (order.get(op, len(OPS)), op, int(n) if n.isdigit() else math.inf, function)

    for key in sorted(crit, key=sort_key):
        e = crit[key]
        lo, hi = e["median_ci"]
        slope = f"{e['slope']:.3f}" if e["slope"] is not None else "—"
        stale = " (stale)" if e["stale"] else ""
        print(
            f"| {key[0]} | {key[1]}{stale} | {e['median']:.3f} | {lo:.3f} – {hi:.3f} "
            f"| {e['mean']:.3f} | {slope} | {e['std_dev']:.3f} |"
        )

    if args.raw_json:
        with open(args.raw_json, "w") as fh:
            json.dump(
                {
                    "statistic": args.statistic,
                    "criterion": {f"{g}/{f}": e for (g, f), e in sorted(crit.items(), key=lambda kv: sort_key(kv[0]))},
                    "cpython": cpython_meta,
                },
                fh,
                indent=2,
            )
            fh.write("\n")


if __name__ == "__main__":
    main()
