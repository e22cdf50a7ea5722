#!/usr/bin/env bash
# hoist sync against skopeo sync: the 100-image set, registry to registry, cold and warm.
#
#   bench/sync.sh [--runs N] [--concurrency N]
#
# 1. builds the testkit's `testkit` binary (debug) and, unless HOIST=/path/to/hoist names one,
#    hoist in release; skopeo is the chroot's (SKOPEO_CHROOT, default
#    /var/tmp/hoist-interop-sid: Debian unstable's 1.22) when it has one, else Debian 12's
#    /usr/bin/skopeo (1.9) — the table says which;
# 2. starts two docker-registry (distribution 2.8) processes on loopback, plain HTTP: the
#    source, seeded by `testkit seed` with 20 repositories × 5 tags (four one-layer images and
#    a two-platform index each, every layer a tiny directory of its own: 100 images, 120
#    manifests, 140 layers), and the destination;
# 3. cold: hyperfine runs `hoist sync` and `skopeo sync --all --preserve-digests` of the same
#    skopeo YAML file alternately, the destination registry stopped, emptied and restarted
#    before every run (`--prepare`);
#    warm: the destination already holds everything (one sync of each tool first), every run
#    has nothing to do;
# 4. prints the medians as a markdown table (ratio = skopeo ÷ hoist, > 1: hoist is faster) and
#    leaves hyperfine's JSON under $WORK.
#
# Not part of CI. Loopback only: no network beyond 127.0.0.1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")

runs=5
concurrency=4
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift ;;
    --concurrency) concurrency=$2; shift ;;
    reset) # internal: `sync.sh reset WORK` restarts the destination registry empty
      work=$2
      if [ -f "$work/dest.pid" ]; then kill "$(cat "$work/dest.pid")" 2>/dev/null || true; fi
      while [ -f "$work/dest.pid" ] && kill -0 "$(cat "$work/dest.pid")" 2>/dev/null; do sleep 0.05; done
      rm -rf "$work/dest/storage"
      docker-registry serve "$work/dest/config.yml" >>"$work/dest/log" 2>&1 &
      echo $! >"$work/dest.pid"
      until curl -fsS "http://$(cat "$work/dest/addr")/v2/" >/dev/null 2>&1; do sleep 0.05; done
      exit 0 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

work=$(mktemp -d "${TMPDIR:-/tmp}/hoist-sync-bench.XXXXXX")
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
cargo build -q --manifest-path "$repo/Cargo.toml" -p hoist-testkit --bin testkit
testkit=$CARGO_TARGET_DIR/debug/testkit
if [ -z "${HOIST:-}" ]; then
  cargo build -q --release --manifest-path "$repo/Cargo.toml" -p hoist-cli
  HOIST=$CARGO_TARGET_DIR/release/hoist
fi
chroot_dir=${SKOPEO_CHROOT:-/var/tmp/hoist-interop-sid}
if [ -x "$chroot_dir/usr/bin/skopeo" ]; then
  skopeo=(chroot "$chroot_dir" skopeo)
  yaml_path=/tmp/sync-bench.yml # inside the chroot
else
  skopeo=(skopeo)
  yaml_path=$work/sync.yml
fi
skopeo_version=$("${skopeo[@]}" --version | awk '{print $3}')
hoist_version=$("$HOIST" --version | awk '{print $2}')

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
registry() { # NAME: config, storage and address under $work/NAME
  local name=$1 addr
  addr=127.0.0.1:$(port)
  mkdir -p "$work/$name"
  echo "$addr" >"$work/$name/addr"
  cat >"$work/$name/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/$name/storage
  delete:
    enabled: true
http:
  addr: $addr
EOF
}
cleanup() {
  for pid in "$work"/*.pid; do [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true; done
}
trap cleanup EXIT

registry source
registry dest
docker-registry serve "$work/source/config.yml" >>"$work/source/log" 2>&1 &
echo $! >"$work/source.pid"
src=$(cat "$work/source/addr")
dst=$(cat "$work/dest/addr")
until curl -fsS "http://$src/v2/" >/dev/null 2>&1; do sleep 0.05; done
"$0" reset "$work"

echo "seeding 20 repositories x 5 tags on $src ..." >&2
for r in $(seq -w 0 19); do
  for tag in 1.0 1.1 1.2 1.3 multi; do
    layer=$work/layers/repo-$r-$tag
    mkdir -p "$layer"
    echo "repo-$r:$tag" >"$layer/name.txt"
    platforms=()
    [ "$tag" = multi ] && platforms=(--platform linux/amd64 --platform linux/arm64)
    "$testkit" seed --registry "$src" --repo "repo-$r:$tag" --from-dir "$layer" \
      "${platforms[@]}" >/dev/null
  done
done
{
  echo "$src:"
  echo "  tls-verify: false"
  echo "  images:"
  for r in $(seq -w 0 19); do echo "    repo-$r: []"; done
} >"$work/sync.yml"
[ "$yaml_path" = "$work/sync.yml" ] || cp "$work/sync.yml" "$chroot_dir$yaml_path"

hoist_cmd="$HOIST sync -q --concurrency $concurrency --src yaml --dest docker $work/sync.yml $dst/mirror"
skopeo_cmd="${skopeo[*]} sync --all --preserve-digests --dest-tls-verify=false --src yaml --dest docker $yaml_path $dst/mirror"

hyperfine --runs "$runs" --prepare "$0 reset $work" --export-json "$work/cold.json" \
  -n hoist "$hoist_cmd" -n skopeo "$skopeo_cmd" >&2
# Warm: both tools' copies in place first; then every run has nothing to move.
$hoist_cmd >/dev/null
$skopeo_cmd >/dev/null 2>&1
hyperfine --runs "$runs" --warmup 1 --export-json "$work/warm.json" \
  -n hoist "$hoist_cmd" -n skopeo "$skopeo_cmd" >&2

python3 - "$work" "$hoist_version" "$skopeo_version" "$runs" "$concurrency" <<'EOF'
import json, sys
work, hv, sv, runs, conc = sys.argv[1:]
print(f"| case | hoist {hv} (--concurrency {conc}) | skopeo {sv} | ratio |")
print("|---|---:|---:|---:|")
for case in ("cold", "warm"):
    res = {r["command"]: r["median"] for r in json.load(open(f"{work}/{case}.json"))["results"]}
    h, s = res["hoist"], res["skopeo"]
    print(f"| {case}: 100 images | {h:.2f} s | {s:.2f} s | {s / h:.2f} |")
print(f"\nmedians of {runs} runs; JSON in {work}")
EOF
