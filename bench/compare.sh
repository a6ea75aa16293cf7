#!/usr/bin/env bash
# Times ctxlint against its peers on the real-code corpus (issue 6, part 4) and prints one
# Markdown table with ratios:
#   Rust:   ctxlint (all rules) vs ast-grep vs semgrep, with the peer rules of bench/peers/
#   Python: ctxlint (all rules) vs ruff --select B039 vs ruff --select ALL vs semgrep (and
#           ast-grep, untargeted)
# plus every command's findings, files and peak RSS (/usr/bin/time -v), and ctxlint's
# scaling on 1x, 2x and 4x copies of the Rust corpus (hard links).
#
#   bench/compare.sh                   # the whole corpus (corpus/rust corpus/apps, corpus/python)
#   bench/compare.sh --quick           # smoke test: 300 Rust files, 3 runs
#   bench/compare.sh --lang rust       # rust | python | all (default)
#   bench/compare.sh --rust-files N    # an evenly spread subset of N Rust files, for every tool
#   bench/compare.sh --runs N          # hyperfine runs per command (default 5, --quick 3)
#   CTXLINT=path/to/ctxlint bench/compare.sh   # time that binary instead of building one
#
# Installs on first use, pinned, under bench/out/peers/ (ignored by git): @ast-grep/cli from
# npm, semgrep and ruff from PyPI in a venv; hyperfine and time from Debian if missing.
# Re-running reuses them and needs no network (semgrep runs with a local config, metrics and
# the version check off). Builds target/release/ctxlint, and the corpus with bench/corpus.sh
# if it is not there yet (that one needs the network once).
#
# Outputs under bench/out/ (ignored by git):
#   compare.md            the printed table
#   compare/run/          this run's hyperfine JSON, every tool's findings, file count and
#                         /usr/bin/time -v log, raw.json (every number the table used)
#   compare/subset-N/, compare/scale-*/   hard-linked copies of the corpus, kept for re-runs
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

AST_GREP_VERSION=0.51.1
SEMGREP_VERSION=1.185.0
RUFF_VERSION=0.17.6

lang=all
runs=
rust_files=0
quick=0
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --lang) lang=${2:?--lang needs rust, python or all}; shift ;;
        --lang=*) lang=${1#--lang=} ;;
        --runs) runs=${2:?--runs needs a number}; shift ;;
        --runs=*) runs=${1#--runs=} ;;
        --rust-files) rust_files=${2:?--rust-files needs a number}; shift ;;
        --rust-files=*) rust_files=${1#--rust-files=} ;;
        -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "compare.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$lang" in rust | python | all) ;; *) echo "compare.sh: --lang must be rust, python or all" >&2; exit 2 ;; esac
if [ "$quick" = 1 ]; then
    [ "$rust_files" != 0 ] || rust_files=300
    runs=${runs:-3}
fi
runs=${runs:-5}

out=bench/out/compare # the subset and scale copies, kept across runs
run=$out/run          # this run's results, made anew
peers=bench/out/peers
rm -rf "$run" bench/out/compare.md
mkdir -p "$out" "$run" "$peers"
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'compare.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------
# Tools (installed once, pinned; later runs reuse them and need no network)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
    as_root apt-get install -y -qq "$@" > /dev/null ||
        { as_root apt-get update -qq > /dev/null && as_root apt-get install -y -qq "$@" > /dev/null; }
}
command -v hyperfine > /dev/null || { log "installing hyperfine (Debian)"; apt_install hyperfine; }
[ -x /usr/bin/time ] || { log "installing time (Debian)"; apt_install time; }

# The native binary, not a node wrapper: node's start-up is not ast-grep's.
ast_grep=
for candidate in "$peers"/npm/node_modules/@ast-grep/cli-linux-*/ast-grep "$peers"/npm/node_modules/@ast-grep/cli/ast-grep; do
    if [ -x "$candidate" ] && [ "$("$candidate" --version 2> /dev/null)" = "ast-grep $AST_GREP_VERSION" ]; then
        ast_grep=$candidate
        break
    fi
done
if [ -z "$ast_grep" ]; then
    log "installing @ast-grep/cli@$AST_GREP_VERSION (npm) into $peers/npm"
    npm install --prefix "$peers/npm" --no-audit --no-fund --save-exact --loglevel=error \
        "@ast-grep/cli@$AST_GREP_VERSION" > /dev/null
    for candidate in "$peers"/npm/node_modules/@ast-grep/cli-linux-*/ast-grep "$peers"/npm/node_modules/@ast-grep/cli/ast-grep; do
        if [ -x "$candidate" ] && [ "$("$candidate" --version 2> /dev/null)" = "ast-grep $AST_GREP_VERSION" ]; then
            ast_grep=$candidate
            break
        fi
    done
    [ -n "$ast_grep" ] || die "no ast-grep $AST_GREP_VERSION binary under $peers/npm"
fi

venv=$peers/venv
semgrep=$venv/bin/semgrep
ruff=$venv/bin/ruff
# (No `| grep -q` under pipefail: grep quitting early fails the pipeline.)
installed_version() { "$venv/bin/python" -m pip show "$1" 2> /dev/null | sed -n 's/^Version: //p'; }
if ! { [ -x "$semgrep" ] && [ -x "$ruff" ] &&
    [ "$(installed_version semgrep)" = "$SEMGREP_VERSION" ] &&
    [ "$(installed_version ruff)" = "$RUFF_VERSION" ]; }; then
    log "installing semgrep==$SEMGREP_VERSION and ruff==$RUFF_VERSION (PyPI) into $venv"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check \
        "semgrep==$SEMGREP_VERSION" "ruff==$RUFF_VERSION"
fi
# No network: a local config, no metrics, no version check.
export SEMGREP_ENABLE_VERSION_CHECK=0 SEMGREP_SEND_METRICS=off
semgrep_version=$("$semgrep" --version --disable-version-check 2> /dev/null | tail -1)
[ "$semgrep_version" = "$SEMGREP_VERSION" ] || die "semgrep says version '$semgrep_version', expected $SEMGREP_VERSION"

if [ -n "${CTXLINT:-}" ]; then
    ctxlint=$CTXLINT # a binary built elsewhere (e.g. another commit's), used as it is
    [ -x "$ctxlint" ] || die "CTXLINT=$ctxlint is not an executable"
else
    log "building ctxlint (cargo build --release -p ctxlint)"
    cargo build --release -p ctxlint
    target_dir=$(cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    ctxlint=$target_dir/release/ctxlint
fi
ctxlint_version=$("$ctxlint" --version)

if [ ! -d corpus/rust ] || [ ! -d corpus/apps ] || [ ! -d corpus/python ]; then
    log "building the corpus"
    bench/corpus.sh
fi

{
    if [ -n "${CTXLINT:-}" ]; then
        echo "ctxlint:   $ctxlint_version ($ctxlint, given by CTXLINT)"
    else
        echo "ctxlint:   $ctxlint_version (built from $(git rev-parse --short HEAD 2> /dev/null || echo '?')$(git diff --quiet HEAD -- lint 2> /dev/null || echo ' with lint/ modified'))"
    fi
    echo "ast-grep:  $("$ast_grep" --version) ($ast_grep)"
    echo "semgrep:   $semgrep_version ($semgrep)"
    echo "ruff:      $("$ruff" --version) ($ruff)"
    echo "hyperfine: $(hyperfine --version)"
    echo "machine:   $(nproc) cores, $(uname -srm)"
} | tee "$run/versions.txt" >&2

# ---------------------------------------------------------------------------------------
# Corpus: the whole one, or an evenly spread subset of N Rust files (hard links, same
# relative paths), the same for every tool.

if [ "$rust_files" = 0 ]; then
    rust_dirs=(corpus/rust corpus/apps)
    rust_corpus="corpus/rust + corpus/apps"
    scale_tag=full
else
    subset=$out/subset-$rust_files
    list=$out/subset-$rust_files.files
    find corpus/rust corpus/apps -name '*.rs' -type f | LC_ALL=C sort |
        awk -v n="$rust_files" '{ f[NR] = $0 } END {
            if (n > NR) n = NR
            for (i = 0; i < n; i++) print f[int(i * NR / n) + 1] }' > "$list.new"
    if ! cmp -s "$list.new" "$list" || [ ! -d "$subset" ]; then
        rm -rf "$subset" "$out/scale-$rust_files"
        mkdir -p "$subset"
        (cd corpus && sed 's|^corpus/||' "../$list.new" | xargs -d '\n' cp -l --parents -t "../$subset")
    fi
    mv "$list.new" "$list"
    rust_dirs=("$subset/rust" "$subset/apps")
    rust_corpus="$(wc -l < "$list") of the $(find corpus/rust corpus/apps -name '*.rs' -type f | wc -l) .rs files of corpus/rust + corpus/apps (every k-th in path order), $subset"
    scale_tag=$rust_files
fi
python_dirs=(corpus/python)
rust_bytes=$(find "${rust_dirs[@]}" -name '*.rs' -type f -print0 | du -cb --files0-from=- | tail -1 | cut -f1)
python_bytes=$(find "${python_dirs[@]}" \( -name '*.py' -o -name '*.pyi' \) -type f -print0 | du -cb --files0-from=- | tail -1 | cut -f1)

# ---------------------------------------------------------------------------------------
# Commands. Every tool gets the same directories, all cores, its own ignore files turned
# off where they would skip the corpus (it is git-ignored), and no cache.

sg_rust=bench/peers/ast-grep/rust/sgconfig.yml
sg_python=bench/peers/ast-grep/python/sgconfig.yml
semgrep_rust=bench/peers/semgrep/rust.yml
semgrep_python=bench/peers/semgrep/python.yml
jobs=$(nproc)
# semgrep: without --no-git-ignore it scans nothing here (corpus/ is git-ignored), without
# --x-ignore-semgrepignore-files its default ignores skip tests/, and without the other two
# it skips files over 1 MB and gives up on slow ones.
semgrep_flags="scan --metrics=off --disable-version-check --no-git-ignore --x-ignore-semgrepignore-files --max-target-bytes=0 --timeout=0 --jobs $jobs --quiet --json"
# ast-grep: ctxlint walks hidden folders too.
sg_flags="scan --no-ignore hidden --json=compact"
ruff_flags="check --isolated --no-cache --exit-zero --output-format json"

# id|tool|language|rules|command (run by hyperfine with --shell=none: no quotes, no globs)
commands=()
if [ "$lang" != python ]; then
    commands+=(
        "ctxlint-rust|ctxlint|Rust|all (CTX001–CTX004)|$ctxlint check --exit-zero --output-format json ${rust_dirs[*]}"
        "ast-grep-rust|ast-grep|Rust|4 (bench/peers/ast-grep/rust)|$ast_grep $sg_flags -c $sg_rust ${rust_dirs[*]}"
        "semgrep-rust|semgrep|Rust|4 (bench/peers/semgrep/rust.yml)|$semgrep $semgrep_flags --config $semgrep_rust ${rust_dirs[*]}"
    )
fi
if [ "$lang" != rust ]; then
    ruff_all_rules=$("$ruff" rule --all --output-format json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
    commands+=(
        "ctxlint-python|ctxlint|Python|all (CTX001–CTX003, CTX005, CTX006)|$ctxlint check --exit-zero --output-format json ${python_dirs[*]}"
        "ruff-b039|ruff --select B039|Python|1 (B039)|$ruff $ruff_flags --select B039 ${python_dirs[*]}"
        "ruff-all|ruff --select ALL|Python|ALL ($ruff_all_rules)|$ruff $ruff_flags --select ALL ${python_dirs[*]}"
        "ast-grep-python|ast-grep|Python|5 (bench/peers/ast-grep/python)|$ast_grep $sg_flags -c $sg_python ${python_dirs[*]}"
        "semgrep-python|semgrep|Python|5 (bench/peers/semgrep/python.yml)|$semgrep $semgrep_flags --config $semgrep_python ${python_dirs[*]}"
    )
fi

# ---------------------------------------------------------------------------------------
# 1. The peer rules parse and run: every rule fires on bench/peers/samples/, no errors.

check_rules() { # tool config sample expected-ids...
    local tool=$1 config=$2 sample=$3 found
    shift 3
    case "$tool" in
        ast-grep) found=$("$ast_grep" scan -c "$config" --json=stream "$sample" |
            python3 -c 'import json, sys; print(" ".join(sorted({json.loads(l)["ruleId"] for l in sys.stdin})))') ;;
        semgrep) found=$("$semgrep" scan --metrics=off --disable-version-check --no-git-ignore --quiet --json \
            --config "$config" "$sample" | python3 -c '
import json, sys
report = json.load(sys.stdin)
if report["errors"]:
    sys.exit("semgrep errors: " + json.dumps(report["errors"])[:2000])
print(" ".join(sorted({r["check_id"].rsplit(".", 1)[-1] for r in report["results"]})))') ;;
    esac || die "$tool failed on $sample with $config"
    [ "$found" = "$*" ] || die "$tool with $config on $sample: rules that fired: '$found', expected: '$*'"
    echo "  $tool $config: all $# rules parse and fire on $sample" >&2
}
log "checking the peer rules"
if [ "$lang" != python ]; then
    rust_rules=(ctx001-set-without-reset ctx002-thread-local-in-async ctx003-unpropagated-spawn ctx004-guard-across-await)
    check_rules ast-grep "$sg_rust" bench/peers/samples/sample.rs "${rust_rules[@]}"
    check_rules semgrep "$semgrep_rust" bench/peers/samples/sample.rs "${rust_rules[@]}"
fi
if [ "$lang" != rust ]; then
    python_rules=(ctx001-set-without-reset ctx002-thread-local-in-async ctx003-unpropagated-spawn ctx005-shared-context-run ctx006-mutable-context-value)
    check_rules ast-grep "$sg_python" bench/peers/samples/sample.py "${python_rules[@]}"
    check_rules semgrep "$semgrep_python" bench/peers/samples/sample.py "${python_rules[@]}"
fi

# ---------------------------------------------------------------------------------------
# 2. One run of each command under /usr/bin/time -v: its findings, files, exit code and
#    peak RSS (of the largest process: semgrep's is its semgrep-core child).

log "counting findings and peak RSS (one run each)"
for entry in "${commands[@]}"; do
    IFS='|' read -r id _ _ _ command <<< "$entry"
    echo "  $id: $command" >&2
    set +e
    # shellcheck disable=SC2086 # the command is split on spaces, as hyperfine -N does
    /usr/bin/time -v -o "$run/$id.time" $command > "$run/$id.json" 2> "$run/$id.stderr"
    echo $? > "$run/$id.rc"
    set -e
    [ "$(cat "$run/$id.rc")" = 0 ] || { tail -20 "$run/$id.stderr" >&2; die "$id exited with $(cat "$run/$id.rc"): it is not timed"; }
    case "$id" in
        ctxlint-*) # the file count is in the summary of the full format only
            dirs=${command#*--output-format json }
            # shellcheck disable=SC2086
            "$ctxlint" check --exit-zero --select CTX000 $dirs | tail -1 > "$run/$id.files" ;;
        ast-grep-*)
            # shellcheck disable=SC2086
            ${command/ scan / scan --inspect summary } 2>&1 > /dev/null | { grep 'scannedFileCount' || true; } > "$run/$id.files" ;;
        ruff-*)
            # shellcheck disable=SC2086
            ${command/ --output-format json / --show-files } | { grep -c . || true; } > "$run/$id.files" ;;
    esac
done

# ---------------------------------------------------------------------------------------
# 3. Timing: hyperfine, all commands of a language in one run.

hyperfine_run() { # language export-json ids...
    local language=$1 export=$2 args=()
    shift 2
    for entry in "${commands[@]}"; do
        IFS='|' read -r id _ lang_ _ command <<< "$entry"
        [ "$lang_" = "$language" ] && args+=(-n "$id" "$command")
    done
    log "timing $language: hyperfine --warmup 1 --runs $runs"
    hyperfine -N --warmup 1 --runs "$runs" --export-json "$export" "${args[@]}" >&2
}
[ "$lang" = python ] || hyperfine_run Rust "$run/hyperfine-rust.json"
[ "$lang" = rust ] || hyperfine_run Python "$run/hyperfine-python.json"

# ---------------------------------------------------------------------------------------
# 4. Scaling: ctxlint on 1, 2 and 4 copies of the Rust corpus (hard links), every copy
#    under the same parent so paths are alike.

if [ "$lang" != python ]; then
    scale=$out/scale-$scale_tag
    # Copies of other files (a rebuilt corpus) are made anew.
    stamp=$(find "${rust_dirs[@]}" -type f -printf '%p %i\n' | LC_ALL=C sort | md5sum | cut -d' ' -f1)
    [ "$(cat "$scale/stamp" 2> /dev/null)" = "$stamp" ] || { rm -rf "$scale" && mkdir -p "$scale" && echo "$stamp" > "$scale/stamp"; }
    scale_args=()
    for n in 1 2 4; do
        dirs=()
        for ((i = 1; i <= n; i++)); do
            copy=$scale/$n/copy$i
            for src in "${rust_dirs[@]}"; do
                dest=$copy/$(basename "$src")
                [ -d "$dest" ] || { mkdir -p "$copy" && cp -al "$src" "$dest.partial" && mv "$dest.partial" "$dest"; }
                dirs+=("$dest")
            done
        done
        command="$ctxlint check --exit-zero --output-format json ${dirs[*]}"
        scale_args+=(-n "ctxlint-${n}x" "$command")
        # shellcheck disable=SC2086
        /usr/bin/time -v -o "$run/ctxlint-${n}x.time" $command > /dev/null ||
            die "ctxlint exited with $? on ${n}x the corpus"
    done
    log "timing ctxlint's scaling: 1x, 2x, 4x the Rust corpus"
    hyperfine -N --warmup 1 --runs "$runs" --export-json "$run/hyperfine-scale.json" "${scale_args[@]}" >&2
fi

# ---------------------------------------------------------------------------------------
# 5. The table.

printf '%s\n' "${commands[@]}" > "$run/commands.txt"
python3 bench/compare_table.py \
    --out "$run" \
    --runs "$runs" \
    --rust-corpus "$rust_corpus" --rust-bytes "$rust_bytes" \
    --python-corpus "${python_dirs[*]}" --python-bytes "$python_bytes" \
    --versions "$run/versions.txt" \
    --raw-json "$run/raw.json" | tee bench/out/compare.md
