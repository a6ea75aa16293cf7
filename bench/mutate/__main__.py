#!/usr/bin/env python3
"""Recall by mutation: injects one known context bug at a time into copies of real corpus
files and checks that ctxlint reports it, with the right code, on the right line.

    python3 bench/mutate                       # full run: 70 mutants per kind, both languages
    python3 bench/mutate --lang rust --bin target/release/ctxlint
    python3 bench/mutate --smoke               # a few mutants per kind, for CI (< 60 s)

Kinds (the issue's six):

    rust-remove-instrument              CTX003  drop `.instrument(..)`/`.in_current_span()`
                                                from a spawned future that logs
    rust-discard-enter-guard            CTX001  `let _g = span.enter()` -> `let _ = span.enter()`
    rust-await-under-guard              CTX004  move an `.await` into an entered guard's scope
    python-reset-outside-finally        CTX001  delete `finally: var.reset(token)`, or move
                                                the reset out of `finally`
    python-run-in-executor-without-ctx  CTX003  `run_in_executor(None, ctx.run, f)` ->
                                                `run_in_executor(None, f)`, f reads a ContextVar
    python-submit-context-twice         CTX005  one copied Context submitted to a pool twice

Sites are "natural" (the pattern as the corpus wrote it) where the corpus has them; where it
has too few, a small correct snippet is injected into a real file at a function boundary
(or, for Rust, into a real function that has the needed context) and that is mutated:
each module's docstrings say which. A site counts only when ctxlint does not already
report the code on that line of the unmutated file (else it is "skipped").

Each mutant is linted with the files that give it its crate-wide facts. `--unit file`
lints the mutated file alone, at its relative path with its crate's `Cargo.toml` beside it
(the crate's module names are then the same); `--unit crate` adds the other files of its
crate (Rust: the nearest `Cargo.toml`'s directory) or package (Python: the top-level
package), as symbolic links. The default, `auto`, is `file` for Rust, whose sites keep the
context, the spawn and the log in one function (a crate can be 700 files, 1.6 s a run),
and `crate` for Python, whose natural sites use context variables defined in a sibling
module (structlog's live in `structlog/contextvars.py`).

`--smoke` (for CI) checks 4 mutants per kind with the fixed seed in well under a minute
once the corpus is there; the target then means every one of them is found. Without a
corpus it first runs bench/corpus.sh, which fetches the pinned sources (sha256-checked
crates, pinned PyPI versions) from crates.io and PyPI, the registries CI reaches: the
repository's own fixtures would make poor hosts (most of their sites are findings already).

Exit status: 0 when every kind reaches the target recall, 1 when one does not, 2 on errors
(ctxlint failed, or does not know a kind's rule yet).
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import python_kinds  # noqa: E402
import rust_kinds  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SEED = 6
TARGET = 0.95
FULL_PER_KIND = 70
SMOKE_PER_KIND = 4
LANGS = {
    "rust": (rust_kinds, ("rust", "apps"), ".rs"),
    "python": (python_kinds, ("python",), ".py"),
}


def main():
    parser = argparse.ArgumentParser(
        prog="python3 bench/mutate",
        description=__doc__.split("\n\n")[0].replace("\n", " "),
        epilog="See the module docstring (bench/mutate/__main__.py) for the kinds and the design.",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"default {DEFAULT_SEED}")
    parser.add_argument("--per-kind", type=int, help=f"mutants per kind (default {FULL_PER_KIND}, {SMOKE_PER_KIND} with --smoke)")
    parser.add_argument("--lang", choices=["rust", "python", "all"], default="all")
    parser.add_argument("--kind", action="append", help="only this kind (repeatable)")
    parser.add_argument("--bin", help="the ctxlint binary (default: cargo build --release, then target/release/ctxlint)")
    parser.add_argument("--corpus", default=str(ROOT / "corpus"), help="built by bench/corpus.sh (default: corpus/)")
    parser.add_argument(
        "--unit", choices=["auto", "crate", "file"], default="auto", help="what is linted with each mutated file (default auto)"
    )
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_PER_KIND} mutants per kind; fetch the corpus if missing")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="ctxlint runs at a time")
    parser.add_argument("--keep", help="write the mutants here (original/ and mutated/ per mutant) and keep them")
    parser.add_argument("--json", help="also write every mutant's outcome to this file")
    args = parser.parse_args()
    per_kind = args.per_kind or (SMOKE_PER_KIND if args.smoke else FULL_PER_KIND)
    started = time.monotonic()

    corpus = Path(args.corpus)
    if not corpus.is_dir() and args.smoke and corpus.resolve() == (ROOT / "corpus").resolve():
        # CI has no corpus: bench/corpus.sh fetches its pinned, checksummed sources from the
        # package registries (crates.io, PyPI) and reuses them on later runs.
        print("corpus missing: running bench/corpus.sh", file=sys.stderr)
        subprocess.run(["bash", str(ROOT / "bench" / "corpus.sh")], check=True, stdout=subprocess.DEVNULL)
    if not corpus.is_dir():
        sys.exit(f"no corpus at {corpus}: run bench/corpus.sh first")
    binary = args.bin or build()

    langs = ["rust", "python"] if args.lang == "all" else [args.lang]
    mutants = []
    available = {}  # kind -> natural sites in the corpus
    for lang in langs:
        module, dirs, ext = LANGS[lang]
        kinds = {name: kind for name, kind in module.KINDS.items() if not args.kind or name in args.kind}
        candidates = hosts(list_files(corpus, dirs, ext), kinds)
        for name, kind in kinds.items():
            rng = random.Random(f"{args.seed}:{name}")
            chosen, available[name] = choose(kind, *candidates[name], per_kind, rng)
            for site, mutant in chosen:
                mutants.append({"kind": name, "code": kind.code, "lang": lang, "site": site, "mutant": mutant})

    scratch = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="ctxlint-mutate-"))
    try:
        with ThreadPoolExecutor(args.jobs) as pool:
            outcomes = list(
                pool.map(
                    lambda pair: evaluate(pair[0], pair[1], binary, corpus, scratch, args.unit),
                    enumerate(mutants),
                )
            )
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    for entry, outcome in zip(mutants, outcomes):
        entry.update(outcome)

    ok = report(mutants, available)
    print(f"\nseed {args.seed}, {per_kind} per kind, unit {args.unit}, {time.monotonic() - started:.1f} s")
    if args.json:
        with open(args.json, "w") as out:
            json.dump([{k: v for k, v in m.items() if k not in ("site", "mutant")} for m in mutants], out, indent=1)
    errors = [m for m in mutants if m["status"] == "error"]
    if errors:
        sys.exit(2)
    sys.exit(0 if ok else 1)


def build():
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "ctxlint"], cwd=ROOT, check=True)
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return str(Path(json.loads(meta.stdout)["target_directory"]) / "release" / "ctxlint")


def list_files(corpus, dirs, ext):
    """(path relative to the corpus, text) of every host file, sorted."""
    files = []
    for top in dirs:
        for dirpath, dirnames, filenames in os.walk(corpus / top):
            dirnames[:] = sorted(d for d in dirnames if not d.endswith(".dist-info") and d != "__pycache__")
            for filename in sorted(filenames):
                if filename.endswith(ext):
                    path = Path(dirpath) / filename
                    files.append((path.relative_to(corpus).as_posix(), path))
    return files


def read(path):
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def hosts(files, kinds):
    """For each kind, the files that may hold a natural site and those that may take an
    injected one (by the kind's cheap substring tests), reading each file once."""
    candidates = {name: ([], []) for name in kinds}
    for rel, path in files:
        text = read(path)
        if text is None:
            continue
        for name, kind in kinds.items():
            if kind.natural_needle(text):
                candidates[name][0].append((rel, path))
            if kind.injected and kind.injected_needle(text):
                candidates[name][1].append((rel, path))
    return candidates


def choose(kind, natural_files, injectable, count, rng):
    """`count` (site, mutant) pairs and the number of natural sites: natural sites first,
    spread over files (one site per file in turn); if there are too few, injected sites from
    files drawn at random (reading files until `count` of them have a site), spread the same
    way."""
    natural = {}
    for rel, path in natural_files:
        parsed = kind.parse(read(path), rel)
        sites = list(kind.natural(parsed)) if parsed is not None else []
        if sites:
            natural[rel] = sites
    chosen = spread(natural, count, rng)
    injected = {}
    injectable = list(injectable)
    rng.shuffle(injectable)
    for rel, path in injectable:
        if len(chosen) + len(injected) >= count:
            break
        parsed = kind.parse(read(path), rel)
        sites = list(kind.injected(parsed)) if parsed is not None else []
        if sites:
            injected[rel] = sites
    chosen += spread(injected, count - len(chosen), rng)
    out = []
    for site in chosen:
        mutant = site.make(rng)
        if mutant is not None and mutant.mutated != mutant.original:
            out.append((site, mutant))
    return out, sum(len(sites) for sites in natural.values())


def spread(by_file, count, rng):
    """Up to `count` sites, one per file in a random order of the files, then again."""
    order = sorted(by_file)
    rng.shuffle(order)
    pools = {rel: rng.sample(by_file[rel], len(by_file[rel])) for rel in order}
    chosen = []
    while len(chosen) < count and any(pools.values()):
        for rel in order:
            if pools[rel] and len(chosen) < count:
                chosen.append(pools[rel].pop())
    return chosen


def unit_files(rel, corpus, lang, unit):
    """The host's crate (Rust) or top-level package (Python) root, relative to the corpus,
    and the other files of the unit to lint with it."""
    parts = rel.split("/")
    if lang == "rust":
        root = None
        for depth in range(len(parts) - 1, 1, -1):
            if (corpus.joinpath(*parts[:depth]) / "Cargo.toml").is_file():
                root = "/".join(parts[:depth])
                break
        ext = ".rs"
    else:
        root = "/".join(parts[:2]) if len(parts) > 2 else None
        ext = ".py"
    if unit == "auto":
        unit = "file" if lang == "rust" else "crate"
    if unit == "file" or root is None:
        return root, []
    others = []
    for dirpath, dirnames, filenames in os.walk(corpus / root):
        dirnames[:] = [d for d in dirnames if d not in ("target", "__pycache__")]
        for filename in filenames:
            if filename.endswith(ext):
                other = (Path(dirpath) / filename).relative_to(corpus).as_posix()
                if other != rel:
                    others.append(other)
    return root, sorted(others)


def evaluate(index, entry, binary, corpus, scratch, unit):
    site, mutant = entry["site"], entry["mutant"]
    rel = site.path
    root, others = unit_files(rel, corpus, entry["lang"], unit)
    results = {}
    for variant, text in (("original", mutant.original), ("mutated", mutant.mutated)):
        base = scratch / f"{index:04d}" / variant
        target = base / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        if root is not None and (corpus / root / "Cargo.toml").is_file():
            shutil.copyfile(corpus / root / "Cargo.toml", base / root / "Cargo.toml")
        for other in others:
            link = base / other
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                os.symlink(corpus.resolve() / other, link)
        cmd = [binary, "check", "--output-format", "json", "--exit-zero", "--select", f"{entry['code']},CTX000", rel, *others]
        proc = subprocess.run(cmd, cwd=base, capture_output=True, text=True)
        try:
            findings = json.loads(proc.stdout) if proc.returncode == 0 else None
        except json.JSONDecodeError:
            findings = None
        if findings is None:
            reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return {"status": "error", "reason": reason, "file": rel, "line": mutant.line, "origin": site.origin}
        results[variant] = [f for f in findings if os.path.normpath(f["filename"]) == rel]
    code = entry["code"]

    def lines(findings, which=code):
        return sorted({f["location"]["row"] for f in findings if f["code"] == which})

    outcome = {"file": rel, "line": mutant.line, "origin": site.origin}
    outcome["snippet"] = mutant.mutated.split("\n")[mutant.line - 1].strip()[:100]
    if lines(results["mutated"], "CTX000"):
        return {**outcome, "status": "skipped", "reason": "the mutant does not parse"}
    if mutant.line_original in lines(results["original"]):
        return {**outcome, "status": "skipped", "reason": f"{code} already on that line unmutated"}
    if mutant.line in lines(results["mutated"]):
        return {**outcome, "status": "found"}
    before = len(lines(results["original"]))
    elsewhere = lines(results["mutated"])
    reason = f"{code} elsewhere: lines {elsewhere}" if len(elsewhere) > before else f"no new {code}"
    return {**outcome, "status": "missed", "reason": reason}


def report(mutants, available):
    kinds = list(available)  # every kind run, also one that found no site
    ok = True
    print("| kind | code | mutants (natural/injected) | found | missed | skipped | recall | target met |")
    print("|---|---|---|---|---|---|---|---|")
    for name in kinds:
        ms = [m for m in mutants if m["kind"] == name]
        code = ms[0]["code"] if ms else "?"
        count = lambda status: sum(m["status"] == status for m in ms)  # noqa: E731
        found, missed, skipped, errors = count("found"), count("missed"), count("skipped"), count("error")
        natural = sum(m["origin"] == "natural" for m in ms)
        checked = found + missed
        recall = found / checked if checked else 0.0
        met = checked > 0 and recall >= TARGET and not errors
        ok &= met
        extra = f", {errors} errors" if errors else ""
        print(
            f"| {name} | {code} | {len(ms)} ({natural}/{len(ms) - natural}) | {found} | {missed}{extra} "
            f"| {skipped} | {100 * recall:.1f} % | {'yes' if met else 'NO'} |"
        )
    print("natural sites in the corpus: " + ", ".join(f"{name} {count}" for name, count in available.items()))
    for lang in LANGS:
        ms = [m for m in mutants if m["lang"] == lang and m["status"] in ("found", "missed")]
        if ms:
            found = sum(m["status"] == "found" for m in ms)
            print(f"{lang}: {len(ms)} mutants checked, {found} found ({100 * found / len(ms):.1f} %)")
    for status in ("missed", "error", "skipped"):
        listed = [m for m in mutants if m["status"] == status]
        if listed:
            print(f"\n{status}:")
            for m in listed:
                print(f"  {m['kind']} {m['file']}:{m['line']} ({m['origin']}): {m.get('reason', '')}")
                if m.get("snippet"):
                    print(f"      {m['snippet']}")
    return ok


if __name__ == "__main__":
    main()
