#!/usr/bin/env bash
# Coverage-guided fuzzing of hoist's parsers (fuzz/, cargo-fuzz + libFuzzer; see
# docs/reliability.md): references, manifests/indexes/configs, WWW-Authenticate and token
# answers, layer tars as the unpacker reads them, docker-archive and OCI archives.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET…]      (default 300 s, every target)
#
# Needs a nightly toolchain (rustup toolchain install nightly) and cargo-fuzz
# (cargo install cargo-fuzz). Not run by CI: fuzz/ is outside the workspace. Each target starts
# from fuzz/seeds/TARGET and keeps its corpus in fuzz/corpus/TARGET (not committed); a crash
# leaves its input in fuzz/artifacts/TARGET and makes the script exit non-zero. Prints, per
# target, the executions and the corpus size.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(reference manifest www_authenticate layer_tar docker_archive trust)
# The layer and archive targets make a directory per input: keep them in memory.
export TMPDIR=${TMPDIR:-/dev/shm}

echo "== building the fuzz targets (nightly)"
cargo +nightly fuzz build -s none
status=0
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  log=$(mktemp)
  echo "== $target for ${seconds}s"
  if nice -n 10 cargo +nightly fuzz run -s none "$target" "corpus/$target" "seeds/$target" -- \
      -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 >"$log" 2>&1; then
    result=ok
  else
    result=CRASH; status=1
    grep -E "panicked|ERROR|SUMMARY|artifact" "$log" | head -20
  fi
  runs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" | tail -1)
  cov=$(grep -oE "cov: [0-9]+" "$log" | tail -1)
  echo "$target: $result, ${runs:-?} executions in ${seconds}s, $cov, corpus $(ls "corpus/$target" | wc -l) inputs"
  rm -f "$log"
done
exit $status
