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
#   INDEX=N       also the index rows (below) with an index of N image manifests (default
#                 12; 0: none)
#
# Rows: `hoist pull --no-unpack` beside `crane pull --format oci` and `skopeo copy docker://…
# oci:…` (fetch and store, nothing unpacked), then `hoist pull` (unpacked), then `hoist export
# docker://…` beside `crane export … - | tar -x` (a rootfs, nothing stored). Stores on tmpfs.
# Index rows: the first image of IMAGES is copied into a scratch registry (behind a proxy of
# its own) as N image manifests that differ by an annotation, under one OCI index (`idx`),
# with an SBOM (`hoist attach`) referring to the index and one to each platform; then `hoist
# copy docker://…:idx oci:…` (referrers and signatures carried, the default), the same with
# `--no-referrers`, `skopeo copy --all` (which carries neither), `hoist pull --no-unpack
# --all-platforms`, the first push of the index back (`hoist copy oci:… docker://…` beside
# `skopeo copy --all oci:… docker://…`), and registry to registry: `hoist copy` beside
# `oras cp -r` (which carries the referrers too; installed in the chroot when there),
# `skopeo copy --all` and `crane copy` (which do not). A destination repository is removed
# before each run.
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

# shellcheck source=bench/common.sh
. "$here/common.sh"
scratch_dirs latency

# ------------------------------------------------------------------ registry and proxy
# serve NAME STORAGE: a docker-registry on STORAGE behind a delaying proxy; sets port_NAME (the
# registry's own port) and reg_NAME (the proxy's HOST:PORT).
serve() {
  local port
  port=$(free_port)
  registry_config "$port" "$2" >"$work/$1.yml"
  docker-registry serve "$work/$1.yml" >"$work/$1.log" 2>&1 &
  pids+=($!)
  wait_port "$port"
  "$testkit" proxy --upstream "http://127.0.0.1:$port" --delay "$delay" >"$work/$1-proxy.out" 2>&1 &
  pids+=($!)
  printf -v "port_$1" %s "$port"
  printf -v "reg_$1" %s "$(proxy_address "$work/$1-proxy.out")"
}
serve cache "$cache/registry"
port=$port_cache reg=$reg_cache

# ------------------------------------------------------------------ rows
image_row() { row "$1 | $2" "$3" "$4"; } # LABEL IMAGE PREPARE COMMAND
hoist_rows() { # LABEL IMAGE PREPARE ARGS: `hoist ARGS` of this build, then of HOIST_B's
  local build label
  for build in "$hoist" ${HOIST_B:+"$HOIST_B"}; do
    label="hoist $1"
    [ "$build" = "$hoist" ] || label="hoist (B) $1"
    image_row "$label" "$2" "$3" "$build $4"
  done
}

echo "Each answer held back $delay ms; medians of $runs runs (ms)."
echo
echo "| command | image | median ms |"
echo "|---|---|---:|"
for im in $images; do
  name=${im%%:*} comp=${im#*:}
  ref=$reg/bench/$name:$comp
  hoist_rows "pull --no-unpack" "$im" "rm -rf $work/store" "--root $work/store pull -q --no-unpack $ref"
  if [ -n "$peer_dir" ] && [ -x "$sid/usr/bin/crane" ]; then
    inside=${peer_dir#"$sid"}
    image_row "crane pull --format oci" "$im" "rm -rf $peer_dir/crane" \
      "chroot $sid crane pull --insecure --format oci $ref $inside/crane >/dev/null"
    image_row "skopeo 1.22 copy docker:// oci:" "$im" "rm -rf $peer_dir/skopeo" \
      "chroot $sid skopeo copy -q --src-tls-verify=false docker://$ref oci:$inside/skopeo:img >/dev/null"
  fi
  hoist_rows "pull" "$im" "rm -rf $work/store" "--root $work/store pull -q $ref"
  hoist_rows "export docker://" "$im" "rm -rf $work/out" \
    "--root $work/store export docker://$ref $work/out"
  if [ -n "$peer_dir" ] && [ -x "$sid/usr/bin/crane" ]; then
    # crane runs in the chroot (on the disk); tar writes beside hoist's tree, on tmpfs
    image_row 'crane export - \| tar -x' "$im" "rm -rf $work/crane-out && mkdir $work/crane-out" \
      "chroot $sid crane export --insecure $ref - | tar -x -C $work/crane-out"
  fi
done

# ------------------------------------------------------------------ an index
count=${INDEX:-12}
[ "$count" -gt 0 ] || exit 0
first=${images%% *}
serve scratch "$work/scratch"
port2=$port_scratch reg2=$reg_scratch
"$hoist" --root "$work/seed" copy -q "docker://127.0.0.1:$port/bench/${first%%:*}:${first#*:}" \
  "docker://127.0.0.1:$port2/idx/app:base" >/dev/null
rm -rf "$work/seed"
python3 - "127.0.0.1:$port2" "$count" <<'PY'
import hashlib, json, sys, urllib.request
host, count = sys.argv[1], int(sys.argv[2])
base = f"http://{host}/v2/idx/app/manifests"
accept = "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"
answer = urllib.request.urlopen(urllib.request.Request(f"{base}/base", headers={"Accept": accept}))
media_type, manifest = answer.headers["Content-Type"], json.loads(answer.read())
def put(reference, body, kind):
    urllib.request.urlopen(urllib.request.Request(f"{base}/{reference}", data=body, method="PUT",
                                                  headers={"Content-Type": kind}))
entries = []
for i in range(count):
    variant = dict(manifest, annotations={"bench.variant": str(i)})
    body = json.dumps(variant).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    put(digest, body, media_type)
    entries.append({"mediaType": media_type, "digest": digest, "size": len(body),
                    "platform": {"architecture": "amd64", "os": "linux", "variant": f"v{i}"}})
index = "application/vnd.oci.image.index.v1+json"
put("idx", json.dumps({"schemaVersion": 2, "mediaType": index, "manifests": entries}).encode(), index)
PY
src=$reg2/idx/app:idx
label="index of $count ($first)"
# An SBOM referring to the index and one to each platform (OCI 1.1; the fallback tags, as
# docker-registry 2.8 has no referrers API).
echo '{"packages":[]}' >"$work/sbom.json"
for digest in $(curl -s -H 'Accept: application/vnd.oci.image.index.v1+json' \
  "http://127.0.0.1:$port2/v2/idx/app/manifests/idx" -D "$work/index.headers" |
  python3 -c 'import json,sys; [print(m["digest"]) for m in json.load(sys.stdin)["manifests"]]') \
  "$(sed -n 's/^Docker-Content-Digest: *\([^[:space:]]*\).*/\1/ip' "$work/index.headers")"; do
  "$hoist" attach -q --artifact-type application/vnd.example.sbom \
    --subject "127.0.0.1:$port2/idx/app@$digest" "$work/sbom.json" >/dev/null
done
"$hoist" copy -q "docker://$src" "oci:$work/index-layout:idx" >/dev/null
for build in "$hoist" ${HOIST_B:+"$HOIST_B"}; do
  b=""
  [ "$build" = "$hoist" ] || b=" (B)"
  image_row "hoist$b copy docker:// oci:" "$label" "rm -rf $work/out" "$build copy -q docker://$src oci:$work/out:idx"
  image_row "hoist$b copy --no-referrers docker:// oci:" "$label" "rm -rf $work/out" \
    "$build copy -q --no-referrers docker://$src oci:$work/out:idx"
  image_row "hoist$b pull --no-unpack --all-platforms" "$label" "rm -rf $work/store" \
    "$build --root $work/store pull -q --no-unpack --all-platforms $src"
  image_row "hoist$b copy oci: docker:// (first push)" "$label" "rm -rf $work/scratch/docker/registry/v2/repositories/pushed" \
    "$build copy -q oci:$work/index-layout:idx docker://$reg2/pushed/app:idx"
  image_row "hoist$b copy docker:// docker://" "$label" "rm -rf $work/scratch/docker/registry/v2/repositories/copied" \
    "$build copy -q docker://$src docker://$reg2/copied/app:idx"
done
if [ -n "$peer_dir" ] && [ -x "$sid/usr/bin/skopeo" ]; then
  inside=${peer_dir#"$sid"}
  cp -a "$work/index-layout" "$peer_dir/index-layout"
  image_row "skopeo 1.22 copy --all docker:// oci:" "$label" "rm -rf $peer_dir/out" \
    "chroot $sid skopeo copy -q --all --src-tls-verify=false docker://$src oci:$inside/out:idx"
  image_row "skopeo 1.22 copy --all oci: docker:// (first push)" "$label" \
    "rm -rf $work/scratch/docker/registry/v2/repositories/pushed" \
    "chroot $sid skopeo copy -q --all --dest-tls-verify=false oci:$inside/index-layout:idx docker://$reg2/pushed/app:idx"
  image_row "skopeo 1.22 copy --all docker:// docker://" "$label" \
    "rm -rf $work/scratch/docker/registry/v2/repositories/copied" \
    "chroot $sid skopeo copy -q --all --src-tls-verify=false --dest-tls-verify=false docker://$src docker://$reg2/copied/app:idx"
fi
if [ -n "$peer_dir" ] && [ -x "$sid/usr/bin/crane" ]; then
  image_row "crane copy" "$label" "rm -rf $work/scratch/docker/registry/v2/repositories/copied" \
    "chroot $sid crane copy --insecure $src $reg2/copied/app:idx 2>/dev/null"
fi
if [ -n "$peer_dir" ] && [ -x "$sid/usr/bin/oras" ]; then
  image_row "oras cp -r" "$label" "rm -rf $work/scratch/docker/registry/v2/repositories/copied" \
    "chroot $sid oras cp -r --from-plain-http --to-plain-http $src $reg2/copied/app:idx >/dev/null"
fi
