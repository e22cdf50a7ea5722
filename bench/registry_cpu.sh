#!/usr/bin/env bash
# The registry's share of the work: the CPU time the bench's registry (docker-registry, on the
# same cores as the tool) spends while hoist and its peers pull from it or push to it, beside
# the tool's own CPU time and the wall time. On a 2-core machine a row where the registry
# spends more than the tool is bound by the registry as much as by the tool.
#
#   bench/registry_cpu.sh [RUNS]     (default 5 runs of each row)
#
# Environment:
#   IMAGES="small50:zstd big2g:gzip"   images of bench/run.sh's cache (run it once with
#                 BENCH_IMAGES naming them: it builds them and pushes them into its registry)
#   HOIST=PATH    the hoist binary (default: target/release/hoist, built if missing)
#   BENCH_CACHE   bench/run.sh's cache (default /dev/shm/hoist-bench)
#   BENCH_SID     the chroot with crane and skopeo 1.22 (default /var/tmp/hoist-bench-sid):
#                 their rows when it is there
#
# Rows, per image: `hoist pull --no-unpack` beside `crane pull --format oci` (from the cache's
# registry), then `hoist push` beside skopeo 1.22's `copy oci:… docker://…` (to an empty
# registry started before each run). CPU: user + system of the tool and its children (GNU
# time), and of the registry process over the same run (/proc/PID/stat, 10 ms ticks). Stores
# on tmpfs. Prints one markdown table of medians. Needs docker-registry. Not part of CI.
set -euo pipefail

runs=${1:-5}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/common.sh
. "$here/common.sh"
bench_settings "small50:zstd big2g:gzip"
[ -d "$cache/registry" ] || { echo "no $cache/registry: run bench/run.sh first" >&2; exit 1; }

scratch_dirs registry-cpu
peers=$([ -n "$peer_dir" ] && [ -x "$sid/usr/bin/crane" ] && echo yes || true)
chrooted=${peer_dir#"$sid"} # the peers' scratch directory as they see it

# serve NAME STORAGE: a docker-registry on STORAGE; its address in $work/NAME.addr, its pid in
# $work/NAME.pid (a previous one of that name stopped first).
serve() {
  local port
  if [ -f "$work/$1.pid" ]; then
    kill "$(cat "$work/$1.pid")" 2>/dev/null || true
    while kill -0 "$(cat "$work/$1.pid")" 2>/dev/null; do sleep 0.05; done
  fi
  port=$(free_port)
  registry_config "$port" "$2" >"$work/$1.yml"
  docker-registry serve "$work/$1.yml" >>"$work/$1.log" 2>&1 &
  echo $! >"$work/$1.pid"
  pids+=($!)
  wait_port "$port"
  echo "127.0.0.1:$port" >"$work/$1.addr"
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# measure LABEL REGISTRY PREPARE COMMAND: "| LABEL | wall | tool CPU | registry CPU |" (ms,
# medians of $runs), PREPARE run before each, REGISTRY the name given to serve.
measure() {
  local samples=$work/samples before after
  : >"$samples"
  for _ in $(seq "$runs"); do
    eval "$3"
    before=$(ticks "$(cat "$work/$2.pid")")
    /usr/bin/time -f '%e %U %S' -o "$work/time" bash -c "$4" >/dev/null 2>"$work/err" ||
      { echo "| $1 | failed: $(tail -1 "$work/err") |"; return 0; }
    after=$(ticks "$(cat "$work/$2.pid")")
    echo "$(cat "$work/time") $((after - before))" >>"$samples"
  done
  python3 - "$1" "$samples" <<'PY'
import statistics, sys
rows = [list(map(float, line.split())) for line in open(sys.argv[2])]
wall = statistics.median(r[0] for r in rows)
cpu = statistics.median(r[1] + r[2] for r in rows)
registry = statistics.median(r[3] for r in rows)
print(f"| {sys.argv[1]} | {wall * 1000:.0f} | {cpu * 1000:.0f} | {registry * 10:.0f} |")
PY
}

serve src "$cache/registry"
src=$(cat "$work/src.addr")
echo "| row | wall ms | tool CPU ms | registry CPU ms |"
echo "|---|---:|---:|---:|"
for image in $images; do
  name=${image%%:*} comp=${image#*:}
  ref=bench/$name:$comp
  measure "$image hoist pull --no-unpack" src "rm -rf $work/store" \
    "$hoist --root $work/store pull -q --no-unpack $src/$ref"
  [ -z "$peers" ] || measure "$image crane pull --format oci" src "rm -rf $peer_dir/crane" \
    "chroot $sid crane pull --insecure --format oci $src/$ref $chrooted/crane"
  # push: the image pulled once by each tool, to an empty registry every run
  rm -rf "$work/pushsrc" "$peer_dir/pushsrc"
  "$hoist" --root "$work/pushsrc" pull -q --no-unpack "$src/$ref" >/dev/null
  [ -z "$peers" ] || chroot "$sid" skopeo copy -q --src-tls-verify=false "docker://$src/$ref" \
    "oci:$chrooted/pushsrc:img" >/dev/null
  fresh_dst="rm -rf $work/dst-registry; serve dst $work/dst-registry; dst=\$(cat $work/dst.addr)"
  measure "$image hoist push" dst \
    "$fresh_dst; $hoist --root $work/pushsrc tag $src/$ref \$dst/$ref >/dev/null" \
    "$hoist --root $work/pushsrc push -q \$(cat $work/dst.addr)/$ref"
  [ -z "$peers" ] || measure "$image skopeo 1.22 copy oci:→docker://" dst "$fresh_dst" \
    "chroot $sid skopeo copy -q --dest-tls-verify=false oci:$chrooted/pushsrc:img docker://\$(cat $work/dst.addr)/$ref"
done
