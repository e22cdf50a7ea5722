# Helpers the bench scripts share (sourced, not run): their common settings, a free loopback
# port, waiting for a listener, a docker-registry configuration, the address the testkit proxy
# prints, the scratch directories of a run, and a markdown row of a command's hyperfine median.

bench_settings() { # DEFAULT_IMAGES: sets repo, cache (BENCH_CACHE), sid (BENCH_SID), images
  # (IMAGES, else DEFAULT_IMAGES) and hoist (HOIST, else the release build, built if missing)
  repo=$(cd "$here/.." && pwd)
  cache=${BENCH_CACHE:-/dev/shm/hoist-bench}
  sid=${BENCH_SID:-/var/tmp/hoist-bench-sid}
  images=${IMAGES:-$1}
  hoist=${HOIST:-${CARGO_TARGET_DIR:-$repo/target}/release/hoist}
  [ -x "$hoist" ] || (cd "$repo" && cargo build --release --locked -q -p hoist-cli)
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
registry_config() { # PORT STORAGE
  printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage:\n  filesystem: {rootdirectory: %s}\n  delete: {enabled: true}\nhttp: {addr: 127.0.0.1:%s}\n' "$2" "$1"
}
proxy_address() { # FILE the proxy's output goes to -> HOST:PORT once it printed it, or fails
  for _ in $(seq 200); do grep -q '^proxy: ' "$1" 2>/dev/null && break; sleep 0.05; done
  sed -n 's/^proxy: \([^ ]*\) .*/\1/p' "$1" | grep . || { echo "the proxy did not start: $(cat "$1")" >&2; return 1; }
}
scratch_dirs() { # NAME: sets work (on tmpfs) and peer_dir (in the chroot at $sid, or empty)
  # and pids; on exit the processes in pids are killed and both directories removed.
  work=$(mktemp -d "/dev/shm/hoist-$1.XXXXXX")
  mkdir -p "$sid/tmp" 2>/dev/null || true
  peer_dir=$(mktemp -d "$sid/tmp/$1.XXXXXX" 2>/dev/null || echo "")
  pids=()
  trap scratch_cleanup EXIT
}
scratch_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work" "$peer_dir"
}
median_ms() { # hyperfine JSON -> median in ms
  python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$1"
}
row() { # CELLS PREPARE COMMAND: "| CELLS | median ms |" of COMMAND ($runs runs, PREPARE before
  # each), or the failure in its place
  local json=$work/row.json
  if hyperfine --shell=bash --style=none --runs "$runs" --prepare "$2" --export-json "$json" "$3" \
    >"$work/row.log" 2>&1; then
    echo "| $1 | $(median_ms "$json") |"
  else
    echo "| $1 | failed: $(tail -1 "$work/row.log") |"
  fi
}
