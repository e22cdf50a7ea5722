# The current peers of issue 13, sourced by run.sh when BENCH_PEERS=new (the default) or all:
#
# - containerd 2.1 from Debian unstable: its package downloaded with a temporary apt source
#   (kept under $cache/peers/apt, never in /etc/apt) and unpacked with `dpkg -x` into
#   $cache/peers/containerd-2.1 — its binaries run on Debian 12. Two daemons, each with its
#   own root, state and socket and a `version = 3` config whose transfer service unpacks with
#   the native snapshotter: `concurrent_layer_fetch_buffer` 0 ("ctr21") and 64 MiB ("ctr21p",
#   parallel range fetch of one layer), both with `max_concurrent_downloads = 3`.
# - crane, skopeo 1.2x and umoci 0.6 inside a Debian unstable chroot (`debootstrap --variant=minbase sid`
#   at $BENCH_SID, default /var/tmp/hoist-bench-sid, built when missing; it shares loopback).
#   The store being measured is bind-mounted into the chroot at /bench-store, so the peers
#   write to the same filesystem as hoist.
#
# Defines: ctr21_restart, ctr21p_restart, ctr21_pull, ctr21p_pull, crane_pull, crane_export,
# umoci06_unpack, skopeo122_push, skopeo122_dir_push (and exports them); peers_cleanup (called
# by run.sh's cleanup).

peers=$cache/peers
sid=${BENCH_SID:-/var/tmp/hoist-bench-sid}
mkdir -p "$peers"

# ---------------------------------------------------------------- containerd 2.1
ctr21_dir=$peers/containerd-2.1
if [ ! -x "$ctr21_dir/usr/bin/containerd" ]; then
  echo "== containerd 2.1 from Debian unstable (apt-get download + dpkg -x)"
  apt_dir=$peers/apt
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/dl"
  echo "deb http://deb.debian.org/debian unstable main" >"$apt_dir/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives"
    -o Acquire::Check-Valid-Until=false -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" update -qq
  (cd "$apt_dir/dl" && rm -f containerd_*.deb && apt-get "${apt_opts[@]}" download containerd -qq)
  rm -rf "$ctr21_dir.tmp"
  dpkg -x "$apt_dir"/dl/containerd_*.deb "$ctr21_dir.tmp"
  mv "$ctr21_dir.tmp" "$ctr21_dir"
fi
ctr21_bin=$ctr21_dir/usr/bin
case "$("$ctr21_bin/containerd" --version)" in
  *" 2.1."*) ;;
  *) echo "containerd in $ctr21_dir is not 2.1: $("$ctr21_bin/containerd" --version)" >&2; exit 1 ;;
esac

ctr21_config() { # NAME FETCH_BUFFER
  cat <<TOML
version = 3
root = "$S/$1"
state = "$run/$1-state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime"]
[grpc]
  address = "$run/$1.sock"
[plugins.'io.containerd.transfer.v1.local']
  max_concurrent_downloads = 3
  concurrent_layer_fetch_buffer = $2
  [[plugins.'io.containerd.transfer.v1.local'.unpack_config]]
    platform = "linux/amd64"
    snapshotter = "native"
    differ = "walking"
TOML
}
ctr21_config ctr21 0 >"$run/ctr21.toml"
ctr21_config ctr21p $((64 << 20)) >"$run/ctr21p.toml"
export ctr21_bin

daemon_restart() { # NAME: stop, wipe the root, start empty, wait for the socket
  local name=$1
  if [ -f "$run/$name.pid" ]; then
    kill "$(cat "$run/$name.pid")" 2>/dev/null || true
    while kill -0 "$(cat "$run/$name.pid")" 2>/dev/null; do sleep 0.05; done
  fi
  rm -rf "${S:?}/$name" "$run/$name-state"
  "$ctr21_bin/containerd" --config "$run/$name.toml" >>"$run/$name.log" 2>&1 &
  echo $! >"$run/$name.pid"
  for _ in $(seq 200); do
    "$ctr21_bin/ctr" --address "$run/$name.sock" version >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "containerd 2.1 ($name) did not start; see $run/$name.log" >&2
  return 1
}
ctr21_restart() { daemon_restart ctr21; }
ctr21p_restart() { daemon_restart ctr21p; }
daemon_pull() { # NAME REF: the transfer service's pull (ctr 2.x's default), unpacked natively
  rss "$ctr21_bin/ctr" --address "$run/$1.sock" -n bench image pull --plain-http \
    --snapshotter native "$src_reg/$2" >/dev/null
  awk '/VmHWM/ {print $2}' "/proc/$(cat "$run/$1.pid")/status" >>"$RSS"
}
ctr21_pull() { daemon_pull ctr21 "$1"; }
ctr21p_pull() { daemon_pull ctr21p "$1"; }

# ---------------------------------------------------------------- crane and skopeo 1.2x
if [ ! -x "$sid/usr/bin/apt-get" ]; then
  echo "== debootstrap --variant=minbase sid $sid (for crane and skopeo)"
  rm -rf "$sid"
  debootstrap --variant=minbase sid "$sid" http://deb.debian.org/debian >"$log/debootstrap-sid.log" 2>&1
fi
if [ ! -x "$sid/usr/bin/crane" ] || [ ! -x "$sid/usr/bin/skopeo" ] || [ ! -x "$sid/usr/bin/oras" ] ||
  [ ! -x "$sid/usr/bin/umoci" ]; then
  echo "== crane, skopeo, umoci and oras (for bench/latency.sh) in the sid chroot"
  chroot "$sid" apt-get -o Acquire::Check-Valid-Until=false update -qq
  chroot "$sid" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    crane skopeo umoci oras ca-certificates >/dev/null
fi
mkdir -p "$sid/bench-store"
mount --bind "$S" "$sid/bench-store"
peers_cleanup() { umount "$sid/bench-store" 2>/dev/null || true; }
export sid

# crane pull --format oci: a layout of the image, nothing unpacked (beside hoist --no-unpack).
crane_pull() { rss chroot "$sid" crane pull --insecure --format oci "$src_reg/$1" /bench-store/crane >/dev/null; }
# crane export: the flattened rootfs as a tar, untarred (beside hoist pull + export).
crane_export() {
  mkdir -p "$S/out"
  rss chroot "$sid" crane export --insecure "$src_reg/$1" - | rss tar -x -C "$S/out"
}
skopeo122_push() {
  rss chroot "$sid" skopeo copy -q --dest-tls-verify=false "oci:/bench-store/pushsrc-oci:img" \
    "docker://$dst_reg/$1" >/dev/null
}
# umoci 0.6 unpack of the layout skopeo wrote for the push (beside hoist export oci:).
umoci06_unpack() {
  rss chroot "$sid" umoci unpack --image /bench-store/pushsrc-oci:img /bench-store/bundle >/dev/null
}
skopeo122_dir_push() {
  rss chroot "$sid" skopeo copy -q --dest-tls-verify=false "dir:/bench-store/dirsrc" \
    "docker://$dst_reg/$1" >/dev/null
}
export -f daemon_restart ctr21_restart ctr21p_restart daemon_pull ctr21_pull ctr21p_pull \
  crane_pull crane_export umoci06_unpack skopeo122_push skopeo122_dir_push
