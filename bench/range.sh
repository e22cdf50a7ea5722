#!/usr/bin/env bash
# Parallel range fetch of one big layer (issue 13, target 3): `hoist pull` of an image with one
# 1 GiB layer, one stream against parts on several connections, through the testkit's fault
# proxy capping each connection at 50 MB/s, and unthrottled on loopback straight from the
# registry. Prints one markdown table of medians (wall seconds, user + system CPU seconds, peak
# RSS) for bench/RESULTS.md.
#
#   bench/range.sh [RUNS]            (default 5 runs of each row)
#
# Environment:
#   HOIST=PATH    the hoist binary (default: target/release/hoist, built if missing)
#   HOIST_B=PATH  a second hoist build to compare (A/B): every row runs both, alternating run
#                 by run, so the machine's load falls on both alike
#   TESTKIT=PATH  the testkit binary (default: target/release/testkit, built if missing)
#   WORK=DIR      cache for the image and the registry's storage (default ~/.cache/hoist-range)
#   STORE=DIR     where the pulled store roots go (default /dev/shm: tmpfs)
#   SIZE_MB=N     the layer's size (default 1024)
#   RATE=N        the cap per connection in bytes/s (default 50000000)
#
# Needs docker-registry, skopeo, pigz, python3 and /usr/bin/time. Run it on a quiet machine:
# the unthrottled rows measure the CPU.
set -euo pipefail

runs=${1:-5}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
work=${WORK:-$HOME/.cache/hoist-range}
store=${STORE:-/dev/shm}/hoist-range-$$
size_mb=${SIZE_MB:-1024}
rate=${RATE:-50000000}
target=${CARGO_TARGET_DIR:-$repo/target}
hoist=${HOIST:-$target/release/hoist}
testkit=${TESTKIT:-$target/release/testkit}
if [ ! -x "$hoist" ] || [ ! -x "$testkit" ]; then
  (cd "$repo" && cargo build --release --locked -q -p hoist-cli -p hoist-testkit)
fi
mkdir -p "$work" "$store"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$store"
}
trap cleanup EXIT

# shellcheck source=bench/common.sh
. "$here/common.sh"

# ------------------------------------------------------------------ the image, made once
image=$work/oci-$size_mb
if [ ! -d "$image" ]; then
  echo "== making a ${size_mb} MiB layer" >&2
  rm -rf "$work/layer" && mkdir -p "$work/layer"
  head -c "$((size_mb << 20))" /dev/urandom >"$work/layer/random.bin"
  python3 "$here/mkimage.py" "$image.tmp" latest gzip "$work/layer"
  rm -rf "$work/layer"
  mv "$image.tmp" "$image"
fi

# ------------------------------------------------------------------ registry and proxy
port=$(free_port)
registry_config "$port" "$work/registry" >"$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
wait_port "$port"
registry=127.0.0.1:$port
skopeo copy -q --dest-tls-verify=false "oci:$image:latest" "docker://$registry/range/big:v1"

"$testkit" proxy --upstream "http://$registry" --throttle "$rate" >"$work/proxy.out" &
pids+=($!)
proxy=$(proxy_address "$work/proxy.out")

printf 'range_fetch_threshold = 0\n' >"$work/one-stream.toml"
printf '' >"$work/parts.toml" # the defaults: 64 MiB threshold, 16 MiB parts, 4 connections

# ------------------------------------------------------------------ runs
# one HOIST HOST CONFIG [--no-unpack]: prints "SECONDS RSS_KB CPU_SECONDS" of one pull into a
# fresh root.
one() {
  local bin=$1 host=$2 config=$3
  shift 3
  rm -rf "$store/root"
  sync
  /usr/bin/time -f '%e %M %U %S' -o "$store/time" \
    "$bin" --root "$store/root" --config "$work/$config.toml" pull -q "$@" "$host/range/big:v1" >/dev/null
  awk '{ print $1, $2, $3 + $4 }' "$store/time"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

rows=(
  "capped 50 MB/s per connection|$proxy|one-stream|--no-unpack"
  "capped 50 MB/s per connection|$proxy|parts|--no-unpack"
  "loopback, no cap|$registry|one-stream|--no-unpack"
  "loopback, no cap|$registry|parts|--no-unpack"
  "loopback, no cap, unpacked|$registry|one-stream|"
  "loopback, no cap, unpacked|$registry|parts|"
)
builds=("$hoist")
[ -n "${HOIST_B:-}" ] && builds+=("$HOIST_B")
echo "| link | fetch | \`hoist pull\` | build | median s | median CPU s | median peak RSS MB |"
echo "|---|---|---|---|---|---|---|"
for row in "${rows[@]}"; do
  IFS='|' read -r link host config flags <<<"$row"
  for b in "${!builds[@]}"; do : >"$store/samples-$b"; done
  for _ in $(seq "$runs"); do
    for b in "${!builds[@]}"; do
      # shellcheck disable=SC2086
      one "${builds[$b]}" "$host" "$config" $flags >>"$store/samples-$b"
    done
  done
  for b in "${!builds[@]}"; do
    secs=$(awk '{ print $1 }' "$store/samples-$b" | median)
    rss=$(awk '{ print $2 }' "$store/samples-$b" | median)
    cpu=$(awk '{ print $3 }' "$store/samples-$b" | median)
    name=$(basename "${builds[$b]}")
    echo "| $link | $config | \`pull -q ${flags:-(unpack)}\` | $name | $secs | $cpu | $((${rss%.*} / 1024)) |"
  done
done
