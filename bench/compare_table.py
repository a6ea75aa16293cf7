#!/usr/bin/env python3
"""Prints bench/compare.sh's table (ctxlint vs ast-grep, semgrep and ruff) as Markdown.

Reads what bench/compare.sh left in its output folder (bench/out/compare/run/):

* `commands.txt`: one `id|tool|language|rules|command` line per timed command;
* `<id>.json`, `<id>.rc`, `<id>.time`, `<id>.files`: the findings printed by one untimed
  run, its exit code, its `/usr/bin/time -v` log and the number of files the tool says it
  checked;
* `hyperfine-rust.json`, `hyperfine-python.json`, `hyperfine-scale.json`: hyperfine's
  exports.

* Times are hyperfine's **median** over the runs (± the standard deviation); "CPU time"
  is its mean user + system time, which shows the work done when the machine is noisy.
* Ratios are peer/ctxlint on the same files: above 1 means ctxlint is faster. The scaling
  rows show the time over the 1x time instead.
* Peak RSS is `/usr/bin/time -v`'s "Maximum resident set size": the largest single
  process (for semgrep that is its `semgrep-core` child), not a sum.
* "met?" checks the issue's targets: Rust at least 2x faster than ast-grep and 10x faster
  than semgrep, Python within 1.5x of `ruff --select B039`, ctxlint's peak RSS under
  300 MB, and time growing linearly with the corpus (within ±25 %).
"""

import argparse
import json
import os
import re
import sys

RSS_LIMIT_MB = 300.0
# Minimum peer/ctxlint time ratio per command id.
TARGET_RATIO = {"ast-grep-rust": 2.0, "semgrep-rust": 10.0, "ruff-b039": 1 / 1.5}
TARGET_TEXT = {
    "ast-grep-rust": "ctxlint ≥ 2× faster",
    "semgrep-rust": "ctxlint ≥ 10× faster",
    "ruff-b039": "ctxlint within 1.5× of it",
}
LINEAR_TOLERANCE = 0.25


def read(path, default=None):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return default


def findings(out, tool_id):
    """Number of findings in the saved output, and a note on errors the tool reported."""
    text = read(os.path.join(out, tool_id + ".json"), "")
    data = json.loads(text) if text.strip() else []
    if tool_id.startswith("semgrep"):
        errors = data.get("errors", [])
        note = None
        if errors:
            kinds = {}
            for error in errors:
                # A plain name, or [name, details] (e.g. PartialParsing and its locations).
                kind = error.get("type", "?")
                kind = kind if isinstance(kind, str) else kind[0]
                kinds[kind] = kinds.get(kind, 0) + 1
            note = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        return len(data["results"]), note, len(data.get("paths", {}).get("scanned", []))
    return len(data), None, None


def files_checked(out, tool_id, scanned):
    if scanned is not None:
        return scanned
    text = read(os.path.join(out, tool_id + ".files"), "")
    if tool_id.startswith("ctxlint"):
        match = re.search(r"(\d+) files?\b", text)
    elif tool_id.startswith("ast-grep"):
        match = re.search(r"scannedFileCount=(\d+)", text)
    else:
        match = re.search(r"(\d+)", text)
    return int(match.group(1)) if match else None


def peak_rss_mb(out, tool_id):
    text = read(os.path.join(out, tool_id + ".time"), "")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    return int(match.group(1)) / 1024 if match else None


def hyperfine(path):
    text = read(path)
    if text is None:
        return {}
    return {r["command"]: r for r in json.loads(text)["results"]}


def seconds(result):
    median = result["median"]
    spread = result.get("stddev") or 0.0
    if median < 1:
        return f"{median * 1000:.0f} ms ± {spread * 1000:.0f}"
    return f"{median:.2f} s ± {spread:.2f}"


def cpu(result):
    """hyperfine's mean user + system time: the work done, whatever the parallelism."""
    total = result["user"] + result["system"]
    return f"{total * 1000:.0f} ms" if total < 1 else f"{total:.2f} s"


def mark(ok):
    return "—" if ok is None else ("yes" if ok else "**no**")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--runs", required=True)
    parser.add_argument("--rust-corpus", default="")
    parser.add_argument("--rust-bytes", type=int, default=0)
    parser.add_argument("--python-corpus", default="")
    parser.add_argument("--python-bytes", type=int, default=0)
    parser.add_argument("--versions", help="a file with one line per tool")
    parser.add_argument("--raw-json")
    args = parser.parse_args()
    out = args.out

    commands = []
    for line in read(os.path.join(out, "commands.txt"), "").splitlines():
        tool_id, tool, language, rules, command = line.split("|", 4)
        commands.append(dict(id=tool_id, tool=tool, language=language, rules=rules,
                             command=command))
    times = {}
    times.update(hyperfine(os.path.join(out, "hyperfine-rust.json")))
    times.update(hyperfine(os.path.join(out, "hyperfine-python.json")))
    scale = hyperfine(os.path.join(out, "hyperfine-scale.json"))

    rows, raw, notes, all_met = [], {"commands": [], "scaling": []}, [], True
    base = {}
    for c in commands:
        if c["id"].startswith("ctxlint") and c["id"] in times:
            base[c["language"]] = times[c["id"]]["median"]
    # A tool that checked no file was fast for nothing: its row, and every ratio against
    # it when it is ctxlint, fail.
    checked = {}
    for c in commands:
        count, error_note, scanned = findings(out, c["id"])
        checked[c["id"]] = (count, error_note, files_checked(out, c["id"], scanned))
    empty_base = {c["language"] for c in commands
                  if c["id"].startswith("ctxlint") and not checked[c["id"]][2]}
    for c in commands:
        count, error_note, files = checked[c["id"]]
        rss = peak_rss_mb(out, c["id"])
        result = times.get(c["id"])
        ratio = None
        if result and base.get(c["language"]):
            ratio = result["median"] / base[c["language"]]
        if c["id"].startswith("ctxlint"):
            target = f"peak RSS < {RSS_LIMIT_MB:.0f} MB"
            ok = None if rss is None else rss < RSS_LIMIT_MB
        elif c["id"] in TARGET_RATIO:
            target = TARGET_TEXT[c["id"]]
            ok = None if ratio is None else ratio >= TARGET_RATIO[c["id"]]
        else:
            target, ok = "—", None
        if not files or c["language"] in empty_base:
            ok = False
            if not files:
                notes.append(f"{c['tool']} ({c['language']}) checked no file: its time "
                             "means nothing" + (", nor do the ratios against it."
                                                if c["id"].startswith("ctxlint") else "."))
        if ok is False:
            all_met = False
        if error_note:
            notes.append(f"{c['tool']} ({c['language']}) reported errors on some files "
                         f"(still checked the rest): {error_note}.")
        rows.append([
            c["tool"], c["language"], c["rules"],
            "?" if files is None else str(files), str(count),
            seconds(result) if result else "not timed", cpu(result) if result else "",
            "1" if c["id"].startswith("ctxlint") else (f"{ratio:.1f}×" if ratio else "—"),
            f"{rss:.0f} MB" if rss is not None else "?", target, mark(ok),
        ])
        raw["commands"].append(dict(id=c["id"], tool=c["tool"], language=c["language"],
                                    rules=c["rules"], command=c["command"], files=files,
                                    findings=count, errors=error_note, peak_rss_mb=rss,
                                    median_s=result and result["median"],
                                    mean_s=result and result["mean"],
                                    stddev_s=result and result.get("stddev"),
                                    times_s=result and result.get("times"),
                                    ratio_peer_over_ctxlint=ratio, target=target, met=ok))

    if scale:
        one = scale.get("ctxlint-1x")
        for n in (1, 2, 4):
            result = scale.get(f"ctxlint-{n}x")
            if not result:
                continue
            growth = result["median"] / one["median"] if one else None
            rss = peak_rss_mb(out, f"ctxlint-{n}x")
            if n == 1:
                target, ok = "1× baseline", None
            else:
                low, high = n * (1 - LINEAR_TOLERANCE), n * (1 + LINEAR_TOLERANCE)
                target = f"{low:g}–{high:g}× (linear ±25 %)"
                ok = growth is not None and low <= growth <= high
                all_met = all_met and ok
            rows.append([
                f"ctxlint, {n}× corpus", "Rust", "all (CTX001–CTX004)", "", "",
                seconds(result), cpu(result), f"{growth:.2f}× of 1×" if growth else "—",
                f"{rss:.0f} MB" if rss is not None else "?", target, mark(ok),
            ])
            raw["scaling"].append(dict(copies=n, median_s=result["median"],
                                       mean_s=result["mean"], stddev_s=result.get("stddev"),
                                       times_s=result.get("times"), growth=growth,
                                       peak_rss_mb=rss, met=ok))

    header = ["tool", "language", "rules", "files", "findings", "median time", "CPU time",
              "ratio (peer/ctxlint)", "peak RSS", "target", "met?"]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] * 3 + ["---:"] * 6 + ["---"] * 2) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    print("\n".join(lines))
    print()
    print(f"Runs: hyperfine --warmup 1 --runs {args.runs}, median ± standard deviation.")
    if args.rust_corpus:
        print(f"Rust corpus: {args.rust_corpus} ({args.rust_bytes / 1e6:.1f} MB of .rs).")
    if args.python_corpus and any(c["language"] == "Python" for c in commands):
        print(f"Python corpus: {args.python_corpus} ({args.python_bytes / 1e6:.1f} MB of .py).")
    print("Ratio: the peer's median time over ctxlint's (above 1: ctxlint is faster); "
          "scaling rows: time over the 1× time.")
    print("CPU time: mean user + system time per run (all threads and child processes).")
    print("Peak RSS: the largest single process (semgrep: its semgrep-core child).")
    for note in notes:
        print(note)
    if args.versions:
        print()
        print("```")
        print(read(args.versions, "").rstrip())
        print("```")
    print("All targets met." if all_met else "Some targets are **not** met.")
    raw["all_met"] = all_met
    if args.raw_json:
        with open(args.raw_json, "w", encoding="utf-8") as f:
            json.dump(raw, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
