#!/usr/bin/env bash
# Copying and exporting from archive files: an uncompressed docker-archive or oci-archive is read
# in place by hoist (its layers never staged; see copy/archive_source.rs), beside skopeo 1.22.
#
#   bench/archive.sh [RUNS]     (default 5 runs of each row)
#
# Environment:
#   IMAGES="debian:gzip big2g:gzip"   images of bench/run.sh's cache (its OCI layouts: run it
#                 once with BENCH_IMAGES naming them)
#   HOIST=PATH    the hoist binary (default: target/release/hoist, built if missing)
#   BEFORE=PATH   another hoist build, measured in the same rows (an A/B), optional
#   BENCH_CACHE   bench/run.sh's cache (default /dev/shm/hoist-bench)
#   BENCH_SID     the chroot with skopeo 1.22 (default /var/tmp/hoist-bench-sid): its rows when
#                 it is there
#
# For each image a docker-archive and an oci-archive are written once (by hoist, from the
# cached layout) on the disk (the chroot's /tmp, else /var/tmp), then each row copies from one:
# `copy docker-archive:… oci:…` and `copy oci-archive:… oci:…` into a layout on the same disk,
# and `export docker-archive:…` into a directory on tmpfs. skopeo 1.22's copies stand beside
# them; it compresses a docker-archive's plain layers on the way into `oci:` where hoist keeps
# them, so that row is not the same work. Prints one markdown table of medians (ms). Not part
# of CI.
set -euo pipefail

runs=${1:-5}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/common.sh
. "$here/common.sh"
bench_settings "debian:gzip big2g:gzip"

scratch_dirs archive
skopeo=$([ -n "$peer_dir" ] && [ -x "$sid/usr/bin/skopeo" ] && echo yes || true)
disk=${peer_dir:-$(mktemp -d /var/tmp/hoist-archive.XXXXXX)}
trap 'scratch_cleanup; rm -rf "$disk"' EXIT
chrooted=${disk#"$sid"} # the same directory as the chroot sees it

echo "| image | row | tool | median ms |"
echo "|---|---|---|---:|"
for im in $images; do
  name=${im%%:*} comp=${im#*:}
  layout=$cache/oci/$name-$comp
  [ -d "$layout" ] || { echo "no $layout: run bench/run.sh with BENCH_IMAGES=$im first" >&2; exit 1; }
  "$hoist" copy -q "oci:$layout" "docker-archive:$disk/docker.tar:bench/$name:$comp" >/dev/null
  "$hoist" copy -q "oci:$layout" "oci-archive:$disk/oci.tar:v1" >/dev/null
  tools=("hoist=$hoist")
  [ -z "${BEFORE:-}" ] || tools+=("before=$BEFORE")
  for tool in "${tools[@]}"; do
    label=${tool%%=*} bin=${tool#*=}
    row "$im | copy docker-archive:→oci: | $label" "rm -rf $disk/out" \
      "$bin copy -q docker-archive:$disk/docker.tar oci:$disk/out:v1 >/dev/null"
    row "$im | copy oci-archive:→oci: | $label" "rm -rf $disk/out" \
      "$bin copy -q oci-archive:$disk/oci.tar oci:$disk/out:v1 >/dev/null"
    row "$im | export docker-archive:→tmpfs | $label" "rm -rf $work/rootfs" \
      "$bin export docker-archive:$disk/docker.tar $work/rootfs"
  done
  if [ -n "$skopeo" ]; then
    row "$im | copy docker-archive:→oci: | skopeo 1.22 (compresses)" "rm -rf $disk/out" \
      "chroot $sid skopeo copy -q docker-archive:$chrooted/docker.tar oci:$chrooted/out:v1"
    row "$im | copy oci-archive:→oci: | skopeo 1.22" "rm -rf $disk/out" \
      "chroot $sid skopeo copy -q oci-archive:$chrooted/oci.tar oci:$chrooted/out:v1"
  fi
  rm -rf "$disk/out" "$disk/docker.tar" "$disk/oci.tar" "$work/rootfs"
done
