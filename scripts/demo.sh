#!/usr/bin/env bash
# A real pull, end to end, on this machine and without the internet:
#   1. installs docker-registry (the CNCF distribution registry) and busybox-static from Debian,
#   2. starts a registry on a free loopback port with its own temporary storage,
#   3. pushes a small real image to it (a busybox root filesystem, made here),
#   4. runs `hoist pull` on it into a temporary store (blobs verified, layers unpacked),
#   5. lists the store, exports the image's root filesystem and runs its busybox.
# Everything lives under one temporary directory, removed at the end (KEEP=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
[ -x /bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "the demo needs: ${need[*]}; run as root, or: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "== building hoist"
cargo build --release --locked -q -p hoist-cli -p hoist-testkit
hoist=target/release/hoist
testkit=target/release/testkit

work=$(mktemp -d)
registry_pid=
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

. scripts/loopback-registry.sh
start_registry "$work"
port=${reg##*:}
echo "== started docker-registry on $reg"

echo "== pushing a busybox image to 127.0.0.1:$port/demo/busybox:latest"
rootfs="$work/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in sh ls cat echo mkdir rm; do ln -s busybox "$rootfs/bin/$applet"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
"$testkit" seed --registry "127.0.0.1:$port" --repo demo/busybox:latest --from-dir "$rootfs"

export HOIST_ROOT="$work/store"
echo "== hoist pull 127.0.0.1:$port/demo/busybox:latest"
"$hoist" pull "127.0.0.1:$port/demo/busybox:latest"
echo "== hoist pull again (nothing to download)"
"$hoist" pull "127.0.0.1:$port/demo/busybox:latest"
echo "== hoist images"
"$hoist" images
echo "== the store is an OCI image layout plus hoist's own parts:"
ls "$HOIST_ROOT"
echo "== hoist export, then run the exported busybox"
"$hoist" export "127.0.0.1:$port/demo/busybox:latest" "$work/rootfs-out"
ls -l "$work/rootfs-out/bin" | head -5
"$work/rootfs-out/bin/busybox" echo "hello from the exported image"
