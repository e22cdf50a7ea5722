#!/usr/bin/env bash
# hoist against the tools people use today, on the same images, registry and filesystem.
#
#   bench/run.sh [--quick] [--dir DIR | --ext4 FILE] [--runs N]
#
# 1. installs what it needs from Debian (docker-registry skopeo umoci containerd debootstrap
#    hyperfine time pigz zstd) and builds hoist in release;
# 2. builds the images (cached under $BENCH_CACHE, default /dev/shm/hoist-bench): a Debian
#    minbase rootfs (debootstrap, from the Debian mirror) as one layer; a 2-layer image of about
#    400 MB compressed (the rootfs plus large incompressible files, whiteouts, hard links); 50
#    small layers; one layer of 100k small files; one 2 GB layer of compressible files and the
#    Debian rootfs split into 50 layers (split50, gzip only) (not in --quick); each in
#    gzip and zstd (--quick: fewer);
# 3. starts a docker-registry on loopback serving them, a second empty one for pushes (emptied
#    before every push run) and a containerd with its own root, state and socket, restarted
#    empty before every `ctr` run;
# 4. runs each comparison with hyperfine (hoist and peer in one hyperfine invocation, cold
#    store before every run) and wraps every tool in /usr/bin/time for peak RSS (containerd's
#    own VmHWM for `ctr`, whose work happens in the daemon);
#    BENCH_IMAGES="debian:gzip twolayer:zstd ..." picks the images (name:compression).
#    BENCH_CASES="pull push ..." picks the comparisons (pull export no-unpack push loadpush;
#    floor; with the current peers pull-ctr21 pull-ctr21p no-unpack-crane export-crane
#    export-remote-crane (`hoist export docker://…`, nothing stored, against crane export)
#    unpack unpack-umoci06 (`hoist export oci:LAYOUT`, a layout skopeo wrote, against umoci
#    unpack of the same layout: Debian 12's 0.4.7, gzip only, and 0.6 from Debian unstable)
#    push-skopeo122 loadpush-skopeo122 copydir-skopeo122 — `hoist copy --dest-compress gzip dir:…
#    docker://…`, one step like skopeo's).
#    BENCH_PEERS=all (default) | debian12: with or without the current peers (containerd 2.1,
#    crane, skopeo 1.2x from Debian unstable), which bench/peers.sh sets up (see there).
#    "floor" is each image's layer blobs through pigz -d / zstd -d into tar -x (no registry).
#    BENCH_AB=/path/to/hoist: an A/B of two hoist builds instead — that binary (say, a build
#    from before a change) takes the peer's place in every row, run the same way, so the
#    ratio is its median ÷ this build's (> 1: this build is faster).
# 5. prints the table (bench/table.py), issue 13's targets met or not (bench/targets.py), and
#    leaves JSON under $WORK/results.
#
# The stores being measured (hoist root, containerd root, skopeo layouts, unpacked trees) live on
# tmpfs by default, or under DIR with --dir DIR (the disk), or with --ext4 FILE on a journaled
# ext4 made for the run in FILE (sparse, 24 GB, on the disk FILE is on; loop device with direct
# I/O, so the disk's own page cache is not in the way; unmounted and removed at the end).
# --ext4 is the disk bench to use where the disk's own filesystem is an ext4 without a journal
# (this VM's root): there the kernel does not reuse an inode freed less than 60 s ago (360 s
# while its inode table block is dirty), so every run after the bench's wipe pays a rescan of
# the freed inodes on each file it creates — debian's pull measured 4.6-5.3 s, 90 % of it in
# the kernel's recently_deleted(), against 0.40 s on a journaled ext4 on the same disk.
# Images and registries stay in the cache either way. Not part of CI. Needs root (containerd,
# umoci unpack, debootstrap, mount).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")

quick=0
dir=
ext4=
runs=
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --dir) dir=$2; shift ;;
    --ext4) ext4=$2; shift ;;
    --runs) runs=$2; shift ;;
    -h|--help) sed -n '2,46p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$runs" ] || runs=$([ $quick = 1 ] && echo 3 || echo 5)
cache=${BENCH_CACHE:-/dev/shm/hoist-bench}
mkdir -p "$cache"
[ -z "$dir" ] || [ -z "$ext4" ] || { echo "--dir and --ext4 are two places for the stores: pick one" >&2; exit 2; }
if [ -n "$dir" ]; then mkdir -p "$dir"; base=$(cd "$dir" && pwd); else base=$cache; fi
work=$(mktemp -d "$base/run.XXXXXX")
run=$(mktemp -d /run/hoist-bench.XXXXXX) # sockets and containerd state: short paths, tmpfs
stores=$work/store
loop=
release_ext4() { # unmount, detach and remove what --ext4 made, as far as it got
  [ -n "$ext4" ] || return 0
  ! mountpoint -q "$run/ext4" || umount "$run/ext4" || true
  [ -z "$loop" ] || losetup -d "$loop" 2>/dev/null || true
  rm -f "$ext4"
}
if [ -n "$ext4" ]; then
  [ ! -e "$ext4" ] || { echo "$ext4 exists; --ext4 makes a new file there" >&2; exit 2; }
  trap release_ext4 EXIT # until cleanup() below takes over
  truncate -s 24G "$ext4"
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$ext4"
  loop=$(losetup -f --show --direct-io=on "$ext4")
  mkdir -p "$run/ext4"
  mount "$loop" "$run/ext4"
  base=$ext4 stores=$run/ext4/store
fi
log=$work/log
mkdir -p "$log" "$work/results"

# ---------------------------------------------------------------- dependencies and hoist
need=()
for pair in docker-registry:docker-registry skopeo:skopeo umoci:umoci ctr:containerd \
  debootstrap:debootstrap hyperfine:hyperfine pigz:pigz zstd:zstd; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# ---------------------------------------------------------------- image sources
src=$cache/src
mkdir -p "$src"
if [ ! -d "$src/debian" ]; then
  echo "== debootstrap --variant=minbase bookworm (from the Debian mirror)"
  rm -rf "$src/debian.tmp"
  debootstrap --variant=minbase bookworm "$src/debian.tmp" http://deb.debian.org/debian \
    >"$log/debootstrap.log" 2>&1
  # like the official debian images: no downloaded .debs, no apt lists
  rm -rf "$src"/debian.tmp/var/cache/apt/archives/*.deb "$src"/debian.tmp/var/lib/apt/lists/*
  mv "$src/debian.tmp" "$src/debian"
fi
if [ ! -d "$src/big" ]; then
  echo "== large files, whiteouts, hard links (second layer of the 2-layer image)"
  t=$src/big.tmp && rm -rf "$t" && mkdir -p "$t/opt/data" "$t/usr/share/doc" "$t/usr/share/man" "$t/etc"
  for i in 1 2 3 4 5 6; do head -c 60M /dev/urandom >"$t/opt/data/blob$i"; done
  ln "$t/opt/data/blob1" "$t/opt/data/blob1.hardlink"
  ln "$t/opt/data/blob2" "$t/opt/data/blob2.hardlink"
  touch "$t/usr/share/doc/.wh.apt" "$t/etc/.wh.motd" "$t/usr/share/man/.wh..wh..opq"
  mv "$t" "$src/big"
fi
if [ ! -d "$src/small50" ]; then
  echo "== 50 small layers"
  python3 - "$src/small50.tmp" <<'PY'
import base64, os, sys
root = sys.argv[1]
for layer in range(50):
    d = os.path.join(root, f"{layer:02}", "srv", f"layer{layer:02}")
    os.makedirs(d)
    for i in range(40):  # 40 files of 8 KiB, half compressible
        with open(os.path.join(d, f"f{i}"), "wb") as f:
            f.write(base64.b64encode(os.urandom(3072)) + bytes(4096))
PY
  mv "$src/small50.tmp" "$src/small50"
fi
if [ ! -d "$src/files100k" ]; then
  echo "== one layer of 100k small files"
  python3 - "$src/files100k.tmp" <<'PY'
import base64, os, sys
root = sys.argv[1]
for d in range(1000):
    p = os.path.join(root, "data", f"d{d:03}")
    os.makedirs(p)
    for i in range(100):  # 100k files of 1 KiB
        with open(os.path.join(p, f"f{i:02}"), "wb") as f:
            f.write(base64.b64encode(os.urandom(768)))
PY
  mv "$src/files100k.tmp" "$src/files100k"
fi
if [ $quick = 0 ] && [ ! -d "$src/split50" ]; then
  echo "== debian split into 50 layers"
  # the same files as debian, spread over 50 layers by a hash of their path: same bytes,
  # 50 times the layers (for "flat with layer count"); hard links become copies, device
  # nodes are left out.
  python3 - "$src/debian" "$src/split50.tmp" <<'PY'
import os, shutil, sys, zlib
src, dst = sys.argv[1:]
for layer in range(50):
    os.makedirs(os.path.join(dst, f"{layer:02}"))
for root, dirs, files in os.walk(src):
    rel = os.path.relpath(root, src)
    for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
        path = os.path.join(root, name)
        if not (os.path.islink(path) or os.path.isfile(path)):
            continue
        layer = zlib.crc32(os.path.join(rel, name).encode()) % 50
        target = os.path.join(dst, f"{layer:02}", rel, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.islink(path):
            os.symlink(os.readlink(path), target)
        else:
            shutil.copy2(path, target)
PY
  mv "$src/split50.tmp" "$src/split50"
fi
if [ $quick = 0 ] && [ ! -d "$src/big2g" ]; then
  echo "== one 2 GB layer"
  t=$src/big2g.tmp && rm -rf "$t" && mkdir -p "$t/data"
  # compressible like real content (about 40%): the Debian rootfs's files, concatenated
  find "$src/debian" -type f -size +0 | sort >"$t.list"
  for i in $(seq 16); do
    while xargs -d '\n' cat <"$t.list" 2>/dev/null; do :; done | head -c 128M >"$t/data/part$i" || true
  done
  rm -f "$t.list"
  mv "$t" "$src/big2g"
fi

layers_of() { # image name -> its layer directories, in order
  case "$1" in
    debian) echo "$src/debian" ;;
    twolayer) echo "$src/debian $src/big" ;;
    small50) ls -d "$src"/small50/* ;;
    split50) ls -d "$src"/split50/* ;;
    files100k) echo "$src/files100k" ;;
    big2g) echo "$src/big2g" ;;
  esac
}
if [ -n "${BENCH_IMAGES:-}" ]; then # e.g. BENCH_IMAGES="debian:gzip twolayer:gzip"
  images=$BENCH_IMAGES
elif [ $quick = 1 ]; then
  images="debian:gzip debian:zstd small50:gzip"
else
  images="debian:gzip debian:zstd twolayer:gzip twolayer:zstd small50:gzip small50:zstd"
  images+=" files100k:gzip files100k:zstd big2g:gzip big2g:zstd split50:gzip"
fi
for im in $images; do
  name=${im%%:*} comp=${im#*:}
  if [ ! -f "$cache/oci/$name-$comp/index.json" ]; then
    echo "== image $name ($comp)"
    rm -rf "$cache/oci/$name-$comp"
    # shellcheck disable=SC2046
    python3 "$here/mkimage.py" "$cache/oci/$name-$comp" latest "$comp" $(layers_of "$name")
  fi
done

echo "== building hoist (release)"
(cd "$repo" && cargo build --release --locked -q -p hoist-cli)
hoist=${CARGO_TARGET_DIR:-$repo/target}/release/hoist

# ---------------------------------------------------------------- registries and containerd
# shellcheck source=bench/common.sh
. "$here/common.sh"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$run/containerd.pid" ] && kill "$(cat "$run/containerd.pid")" 2>/dev/null || true
  [ -f "$run/dst.pid" ] && kill "$(cat "$run/dst.pid")" 2>/dev/null || true
  for d in ctr21 ctr21p; do [ -f "$run/$d.pid" ] && kill "$(cat "$run/$d.pid")" 2>/dev/null || true; done
  sleep 0.5
  ! declare -F peers_cleanup >/dev/null || peers_cleanup
  release_ext4
  rm -rf "$run"
  [ "${KEEP:-0}" = 1 ] || rm -rf "$work/store" "$work/out"
}
trap cleanup EXIT

src_port=$(free_port)
registry_config "$src_port" "$cache/registry" >"$run/src.yml"
docker-registry serve "$run/src.yml" >"$log/registry-src.log" 2>&1 &
pids+=($!)
wait_port "$src_port"
src_reg=127.0.0.1:$src_port
dst_port=$(free_port)
dst_reg=127.0.0.1:$dst_port
registry_config "$dst_port" "$stores/dst-registry" >"$run/dst.yml"

echo "== pushing the images to the bench registry $src_reg"
for im in $images; do
  name=${im%%:*} comp=${im#*:}
  skopeo copy -q "oci:$cache/oci/$name-$comp:latest" "docker://$src_reg/bench/$name:$comp" \
    --dest-tls-verify=false >/dev/null
done

cat >"$run/containerd.toml" <<TOML
version = 2
root = "$stores/containerd"
state = "$run/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$run/c.sock"
TOML

# ---------------------------------------------------------------- the measured steps
# Exported so hyperfine's bash runs them; each tool is wrapped in /usr/bin/time (peak RSS in
# KiB appended to $RSS). Every function starts from a cold store (its prepare_* wiped it).
export hoist run work src_reg dst_reg
S=$stores
export S
rss() { /usr/bin/time -f %M -a -o "$RSS" "$@"; }
containerd_restart() { # stop, wipe the root, start empty, wait for the socket
  if [ -f "$run/containerd.pid" ]; then
    kill "$(cat "$run/containerd.pid")" 2>/dev/null || true
    while kill -0 "$(cat "$run/containerd.pid")" 2>/dev/null; do sleep 0.05; done
  fi
  rm -rf "$S/containerd" "$run/containerd-state"
  containerd --config "$run/containerd.toml" >>"$run/containerd.log" 2>&1 &
  echo $! >"$run/containerd.pid"
  for _ in $(seq 200); do ctr --address "$run/c.sock" version >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "containerd did not start; see $run/containerd.log" >&2
  return 1
}
dst_restart() { # an empty registry to push to
  if [ -f "$run/dst.pid" ]; then
    kill "$(cat "$run/dst.pid")" 2>/dev/null || true
    while kill -0 "$(cat "$run/dst.pid")" 2>/dev/null; do sleep 0.05; done
  fi
  rm -rf "$S/dst-registry"
  docker-registry serve "$run/dst.yml" >>"$run/dst.log" 2>&1 &
  echo $! >"$run/dst.pid"
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/${dst_reg/://}") 2>/dev/null && return 0; sleep 0.05; done
  return 1
}
ctr_pull() {
  rss ctr --address "$run/c.sock" -n bench image pull --plain-http --snapshotter native "$src_reg/$1" >/dev/null
  # the daemon does the work: its peak RSS over this run (it was restarted empty before)
  awk '/VmHWM/ {print $2}' "/proc/$(cat "$run/containerd.pid")/status" >>"$RSS"
}
hoist_pull() { rss "$hoist" --root "$S/hoist" pull -q "$@"; }
hoist_pull_export() { hoist_pull "$src_reg/$1" && rss "$hoist" --root "$S/hoist" export "$src_reg/$1" "$S/out"; }
# export straight from the registry, nothing stored (beside crane export)
hoist_export_remote() { rss "$hoist" --root "$S/hoist" export "docker://$src_reg/$1" "$S/out"; }
skopeo_pull() { rss skopeo copy -q --src-tls-verify=false "docker://$src_reg/$1" "oci:$S/skopeo:img" >/dev/null; }
skopeo_umoci() { skopeo_pull "$1" && rss umoci unpack --image "$S/skopeo:img" "$S/bundle" >/dev/null; }
# a layout on the filesystem to a rootfs: the push source skopeo wrote, unpacked
hoist_export_layout() { rss "$hoist" --root "$S/hoist" export "oci:$S/pushsrc-oci:img" "$S/out"; }
umoci_unpack() { rss umoci unpack --image "$S/pushsrc-oci:img" "$S/bundle" >/dev/null; }
hoist_push() { rss "$hoist" --root "${PUSHSRC:-$S/pushsrc}" push -q "$dst_reg/$1" >/dev/null; }
skopeo_push() { rss skopeo copy -q --dest-tls-verify=false "oci:$S/pushsrc-oci:img" "docker://$dst_reg/$1" >/dev/null; }
# docker save's archive (uncompressed layers) loaded into an empty store, then pushed: every
# layer is compressed (gzip, all cores) on the way; skopeo does the same from a dir: copy whose
# layers were decompressed.
hoist_load_push() {
  rss "$hoist" --root "$S/loadsrc" load -q -i "$S/archive.tar" >/dev/null &&
    rss "$hoist" --root "$S/loadsrc" push -q "$dst_reg/$1" >/dev/null
}
# the same in one step, as the issue allows once dir: exists: hoist copy compressing on the way
hoist_dir_push() {
  rss "$hoist" --root "$S/loadsrc" copy -q --dest-compress gzip "dir:$S/dirsrc" "docker://$dst_reg/$1" >/dev/null
}
skopeo_dir_push() { rss skopeo copy -q --dest-tls-verify=false "dir:$S/dirsrc" "docker://$dst_reg/$1" >/dev/null; }
# Removes what a run wrote, then waits for the filesystem to write back what the last run left
# dirty (syncfs): on a disk the next run would otherwise start under that write-back.
wipe() { rm -rf "$S/hoist" "$S/out" "$S/skopeo" "$S/bundle" "$S/loadsrc" "$S/crane"; sync -f "$S"; }
wipe_all() { # after each command's runs: one tool's data at a time on the filesystem
  wipe
  for d in containerd ctr21 ctr21p; do
    if [ -f "$run/$d.pid" ]; then
      kill "$(cat "$run/$d.pid")" 2>/dev/null || true
      while kill -0 "$(cat "$run/$d.pid")" 2>/dev/null; do sleep 0.05; done
      rm -f "$run/$d.pid"
    fi
    rm -rf "${S:?}/$d"
  done
  rm -rf "$S/crane"
}
# The floor: each layer's blob decompressed by the fastest standalone tool (pigz -d, zstd -d)
# into tar -x, in order — no registry, no hashing, no store.
floor_unpack() { # NAME-COMP
  mkdir -p "$S/out"
  while read -r tool blob; do
    rss "$tool" -dc <"$blob" | rss tar -x -C "$S/out" || return 1
  done <"$work/layers-$1"
}
mkdir -p "$S"
case "${BENCH_PEERS:-all}" in
  all) [ -n "${BENCH_AB:-}" ] || . "$here/peers.sh" ;;
  debian12) ;;
  *) echo "BENCH_PEERS must be all or debian12" >&2; exit 2 ;;
esac
export -f rss containerd_restart dst_restart ctr_pull hoist_pull hoist_pull_export hoist_export_remote skopeo_pull \
  skopeo_umoci hoist_export_layout umoci_unpack hoist_push skopeo_push hoist_load_push hoist_dir_push skopeo_dir_push wipe wipe_all floor_unpack

bench() { # CASE IMAGE HOIST_CMD HOIST_PREPARE PEER_CMD PEER_PREPARE
  local id=$1-$2
  # BENCH_AB: the other hoist build is the peer, run exactly as this one (its own prepare)
  # (push reads a store that build pulled into: PUSHSRC).
  if [ -n "${BENCH_AB:-}" ]; then
    set -- "$1" "$2" "$3" "$4" "hoist=$BENCH_AB PUSHSRC=$S/pushsrc-ab $3" "$4"
  fi
  case " ${BENCH_CASES:-$1} " in *" $1 "*) ;; *) return 0 ;; esac
  # an A/B compares the two builds once per kind of work
  [ -z "${BENCH_AB:-}" ] || case $1 in pull | export | no-unpack | push | loadpush) ;; *) return 0 ;; esac
  echo "== $1 $2"
  : >"$work/results/$id.hoist.rss"
  : >"$work/results/$id.peer.rss"
  hyperfine --shell=bash --style=basic --runs "$runs" \
    --export-json "$work/results/$id.json" --cleanup wipe_all \
    --command-name hoist --prepare "$4" "RSS=$work/results/$id.hoist.rss $3" \
    ${5:+--command-name peer --prepare "$6" "RSS=$work/results/$id.peer.rss $5"} \
    >"$log/$id.hyperfine" 2>&1 || { echo "   failed, see $log/$id.hyperfine"; tail -5 "$log/$id.hyperfine"; }
}

for im in $images; do
  name=${im%%:*} comp=${im#*:}
  ref=bench/$name:$comp
  bench pull "$name:$comp" "hoist_pull $src_reg/$ref" wipe \
    "ctr_pull $ref" containerd_restart
  # the floor: the layer blobs of the image's layout, in order, with the tool that inflates them
  python3 - "$cache/oci/$name-$comp" >"$work/layers-$name-$comp" <<'PY'
import json, os, sys
oci = sys.argv[1]
blob = lambda d: os.path.join(oci, "blobs", *d.split(":"))
index = json.load(open(os.path.join(oci, "index.json")))
manifest = json.load(open(blob(index["manifests"][0]["digest"])))
for layer in manifest["layers"]:
    print("zstd" if "zstd" in layer["mediaType"] else "pigz", blob(layer["digest"]))
PY
  bench floor "$name:$comp" "hoist_pull $src_reg/$ref" wipe "floor_unpack $name-$comp" wipe
  if declare -F ctr21_pull >/dev/null; then
    bench pull-ctr21 "$name:$comp" "hoist_pull $src_reg/$ref" wipe "ctr21_pull $ref" ctr21_restart
    bench pull-ctr21p "$name:$comp" "hoist_pull $src_reg/$ref" wipe "ctr21p_pull $ref" ctr21p_restart
    bench no-unpack-crane "$name:$comp" "hoist_pull --no-unpack $src_reg/$ref" wipe \
      "crane_pull $ref" wipe
    bench export-crane "$name:$comp" "hoist_pull_export $ref" wipe "crane_export $ref" wipe
    bench export-remote-crane "$name:$comp" "hoist_export_remote $ref" wipe "crane_export $ref" wipe
  fi
  # umoci 0.4.7 (Debian 12) cannot unpack zstd layers: hoist alone for those
  bench export "$name:$comp" "hoist_pull_export $ref" wipe \
    "$([ "$comp" = zstd ] || echo "skopeo_umoci $ref")" wipe
  bench no-unpack "$name:$comp" "hoist_pull --no-unpack $src_reg/$ref" wipe \
    "skopeo_pull $ref" wipe
  # push: the same image, pulled once by each tool, to an empty registry every run
  rm -rf "$S/pushsrc" "$S/pushsrc-oci"
  "$hoist" --root "$S/pushsrc" pull -q --no-unpack "$src_reg/$ref" >/dev/null
  "$hoist" --root "$S/pushsrc" tag "$src_reg/$ref" "$dst_reg/$ref" >/dev/null
  if [ -n "${BENCH_AB:-}" ]; then
    rm -rf "$S/pushsrc-ab"
    "$BENCH_AB" --root "$S/pushsrc-ab" pull -q --no-unpack "$src_reg/$ref" >/dev/null
    "$BENCH_AB" --root "$S/pushsrc-ab" tag "$src_reg/$ref" "$dst_reg/$ref" >/dev/null
  fi
  skopeo copy -q --src-tls-verify=false "docker://$src_reg/$ref" "oci:$S/pushsrc-oci:img" >/dev/null
  bench push "$name:$comp" "hoist_push $ref" dst_restart "skopeo_push $ref" dst_restart
  # the same layout unpacked into a rootfs (umoci 0.4.7 cannot read zstd layers)
  bench unpack "$name:$comp" hoist_export_layout wipe "$([ "$comp" = zstd ] || echo umoci_unpack)" wipe
  ! declare -F umoci06_unpack >/dev/null ||
    bench unpack-umoci06 "$name:$comp" hoist_export_layout wipe umoci06_unpack wipe
  ! declare -F skopeo122_push >/dev/null ||
    bench push-skopeo122 "$name:$comp" "hoist_push $ref" dst_restart "skopeo122_push $ref" dst_restart
  if [ "$comp" = gzip ]; then # load + push needing compression (gzip either way)
    "$hoist" --root "$S/pushsrc" save -o "$S/archive.tar" "$dst_reg/$ref"
    skopeo copy -q --src-tls-verify=false --dest-decompress "docker://$src_reg/$ref" "dir:$S/dirsrc" >/dev/null
    bench loadpush "$name:$comp" "hoist_load_push $ref" "dst_restart; wipe" \
      "skopeo_dir_push $ref" dst_restart
    ! declare -F skopeo122_dir_push >/dev/null ||
      bench loadpush-skopeo122 "$name:$comp" "hoist_load_push $ref" "dst_restart; wipe" \
        "skopeo122_dir_push $ref" dst_restart
    ! declare -F skopeo122_dir_push >/dev/null ||
      bench copydir-skopeo122 "$name:$comp" "hoist_dir_push $ref" "dst_restart; wipe" \
        "skopeo122_dir_push $ref" dst_restart
    rm -rf "$S/archive.tar" "$S/dirsrc"
  fi
  rm -rf "$S/pushsrc" "$S/pushsrc-oci" "$S/pushsrc-ab"
done

# ---------------------------------------------------------------- the table
fs=$(df -T "$S" | awk 'NR==2 {print $2}')
echo
echo "hoist $("$hoist" --version 2>/dev/null | head -1) · $(nproc) cores · $(free -g | awk '/Mem:/ {print $2}') GiB · kernel $(uname -r) · stores on $fs ($base) · $runs runs"
python3 "$here/table.py" "$work/results" "$cache/oci" | tee "$work/results/table.md"
[ -z "${BENCH_AB:-}" ] || echo "(A/B: every \"peer\" column above is $BENCH_AB, run the same way as this build)"
if [ -z "${BENCH_AB:-}" ]; then
  echo
  python3 "$here/targets.py" "$work/results" $([ "$fs" = tmpfs ] || echo --disk) | tee "$work/results/targets.md"
fi
echo "(results: $work/results)"
