#!/usr/bin/env bash
# Pulls from a registry far away: the bench registry behind the testkit's fault proxy holding
# every answer back DELAY ms (one round trip more per request, as over a WAN), hoist against
# crane and skopeo 1.22 (from bench/peers.sh's Debian unstable chroot, when it is there) and,
# with HOIST_B, another hoist build. What it shows is the requests a pull waits on one after
# the other (ping, manifest, config, layers over the download slots), not the CPU.
#
#   bench/latency.sh [RUNS]          (default 7 runs of each row)
#
# Environment:
#   IMAGES="debian:gzip small50:gzip"   images of bench/run.sh's cache (run it once with
#                 BENCH_IMAGES naming them: it builds them and pushes them into its registry)
#   DELAY=MS      the delay of every answer (default 20)
#   HOIST=PATH    the hoist binary (default: target/release/hoist, built if missing)
#   HOIST_B=PATH  a second hoist build (A/B): its rows run beside this one's
#   TESTKIT=PATH  the testkit binary (default: target/release/testkit, built if missing)
#   BENCH_CACHE   bench/run.sh's cache (default /dev/shm/hoist-bench)
#   BENCH_SID     the chroot with crane and skopeo 1.22 (default /var/tmp/hoist-bench-sid)
#
# Rows: `hoist pull --no-unpack` beside `crane pull --format oci` and `skopeo copy docker://…
# oci:…` (fetch and store, nothing unpacked), then `hoist pull` (unpacked). Stores on tmpfs.
# Prints one markdown table of medians in ms. Needs docker-registry and hyperfine. Not part
# of CI.
set -euo pipefail

runs=${1:-7}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cache=${BENCH_CACHE:-/dev/shm/hoist-bench}
sid=${BENCH_SID:-/var/tmp/hoist-bench-sid}
delay=${DELAY:-20}
images=${IMAGES:-"debian:gzip small50:gzip"}
target=${CARGO_TARGET_DIR:-$repo/target}
hoist=${HOIST:-$target/release/hoist}
testkit=${TESTKIT:-$target/release/testkit}
if [ ! -x "$hoist" ] || [ ! -x "$testkit" ]; then
  (cd "$repo" && cargo build --release --locked -q -p hoist-cli -p hoist-testkit)
fi
[ -d "$cache/registry" ] || { echo "no $cache/registry: run bench/run.sh first" >&2; exit 1; }

work=$(mktemp -d /dev/shm/hoist-latency.XXXXXX)
mkdir -p "$sid/tmp" 2>/dev/null || true
peer_dir=$(mktemp -d "$sid/tmp/latency.XXXXXX" 2>/dev/null || echo "")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work" "$peer_dir"
}
trap cleanup EXIT

# shellcheck source=bench/common.sh
. "$here/common.sh"

# ------------------------------------------------------------------ registry and proxy
port=$(free_port)
registry_config "$port" "$cache/registry" >"$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
wait_port "$port"
"$testkit" proxy --upstream "http://127.0.0.1:$port" --delay "$delay" >"$work/proxy.out" 2>&1 &
pids+=($!)
reg=$(proxy_address "$work/proxy.out")

# ------------------------------------------------------------------ rows
median_ms() { # hyperfine JSON -> median in ms
  python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$1"
}
row() { # LABEL IMAGE PREPARE COMMAND
  local json=$work/row.json
  if hyperfine --shell=bash --style=none --runs "$runs" --prepare "$3" --export-json "$json" "$4" \
    >"$work/row.log" 2>&1; then
    echo "| $1 | $2 | $(median_ms "$json") |"
  else
    echo "| $1 | $2 | failed: $(tail -1 "$work/row.log") |"
  fi
}

echo "Each answer held back $delay ms; medians of $runs runs (ms)."
echo
echo "| command | image | median ms |"
echo "|---|---|---:|"
for im in $images; do
  name=${im%%:*} comp=${im#*:}
  ref=$reg/bench/$name:$comp
  for build in "$hoist" ${HOIST_B:+"$HOIST_B"}; do
    label="hoist pull --no-unpack"
    [ "$build" = "$hoist" ] || label="hoist (B) pull --no-unpack"
    row "$label" "$im" "rm -rf $work/store" "$build --root $work/store pull -q --no-unpack $ref"
  done
  if [ -n "$peer_dir" ] && [ -x "$sid/usr/bin/crane" ]; then
    inside=${peer_dir#"$sid"}
    row "crane pull --format oci" "$im" "rm -rf $peer_dir/crane" \
      "chroot $sid crane pull --insecure --format oci $ref $inside/crane >/dev/null"
    row "skopeo 1.22 copy docker:// oci:" "$im" "rm -rf $peer_dir/skopeo" \
      "chroot $sid skopeo copy -q --src-tls-verify=false docker://$ref oci:$inside/skopeo:img >/dev/null"
  fi
  for build in "$hoist" ${HOIST_B:+"$HOIST_B"}; do
    label="hoist pull"
    [ "$build" = "$hoist" ] || label="hoist (B) pull"
    row "$label" "$im" "rm -rf $work/store" "$build --root $work/store pull -q $ref"
  done
done
