#!/usr/bin/env bash
# Runs ctxlint (release) over the corpus crates and prints findings per rule, the time
# and the throughput. Run bench/corpus/fetch.sh first.
#   bench/corpus/run.sh            # summary
#   bench/corpus/run.sh --json F   # also write every finding to F (for triage)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
vendor=corpus/vendor
[ -d "$vendor" ] || { echo "run bench/corpus/fetch.sh first" >&2; exit 2; }
mapfile -t crates < <(ls -d "$vendor"/{tokio,tracing,hyper,axum,opentelemetry}* 2>/dev/null | sort)
cargo build -q --release -p ctxlint
bin=target/release/ctxlint
bytes=$(find "${crates[@]}" -name '*.rs' -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
files=$(find "${crates[@]}" -name '*.rs' -type f | wc -l)
echo "corpus: ${#crates[@]} crates, $files .rs files, $((bytes / 1024 / 1024)) MB"
printf '%s\n' "${crates[@]##*/}" | paste -sd' '
start=$(date +%s.%N)
"$bin" check --exit-zero --statistics --output-format concise "${crates[@]}"
end=$(date +%s.%N)
python3 - "$start" "$end" "$bytes" <<'PY'
import sys
start, end, size = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
print(f"time: {end - start:.2f} s wall, {size / (end - start) / 1e6:.1f} MB/s")
PY
if [ "${1:-}" = "--json" ]; then
    "$bin" check --exit-zero --output-format json "${crates[@]}" > "$2"
    echo "findings written to $2"
fi
