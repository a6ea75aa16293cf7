#!/usr/bin/env bash
# Runs ctxlint (release, all rules) over the Rust corpus and prints findings per rule, the
# wall time and the throughput. Run bench/corpus.sh first.
#   bench/corpus/run.sh            # summary
#   bench/corpus/run.sh --json F   # also write every finding to F (for triage)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
dirs=(corpus/rust corpus/apps)
for dir in "${dirs[@]}"; do
    [ -d "$dir" ] || { echo "run bench/corpus.sh first" >&2; exit 2; }
done
cargo build -q --release -p ctxlint
bin=target/release/ctxlint
bytes=$(find "${dirs[@]}" -name '*.rs' -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
files=$(find "${dirs[@]}" -name '*.rs' -type f | wc -l)
echo "corpus: $files .rs files, $((bytes / 1000000)) MB"
start=$(date +%s.%N)
"$bin" check --exit-zero --statistics --output-format concise "${dirs[@]}"
end=$(date +%s.%N)
python3 - "$start" "$end" "$bytes" <<'PY'
import sys
start, end, size = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
print(f"time: {end - start:.2f} s wall, {size / (end - start) / 1e6:.1f} MB/s")
PY
if [ "${1:-}" = "--json" ]; then
    "$bin" check --exit-zero --output-format json "${dirs[@]}" > "$2"
    echo "findings written to $2"
fi
