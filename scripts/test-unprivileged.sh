#!/usr/bin/env bash
# Runs the tests of hostile input, of the store and of the commands that write into it again as
# an unprivileged user (issue 15: "every hostile case … run both as root and as an unprivileged
# user where the behaviour differs"). The suite itself runs as root in CI; as another user
# unpacking cannot chown or mknod, the store root may belong to someone else, removal must
# make directories writable through their own descriptors — the code paths that differ.
#
#   scripts/test-unprivileged.sh            (as root; drops to $HOIST_TEST_USER, default nobody)
#
# Builds the test binaries (as root, like scripts/test.sh), then runs the chosen ones with
# `setpriv` as the user. The checkout and its target directory must be reachable by that user:
# when a directory on the way is closed to others (a clone under /root), it is opened for
# traversal only (o+x) and the script says so.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd -P) # as cargo names sources: absolute, symlinks resolved
user=${HOIST_TEST_USER:-nobody}
[ "$(id -u)" = 0 ] || { echo "test-unprivileged.sh: run it as root (it drops to $user)" >&2; exit 2; }
uid=$(id -u "$user")
gid=$(id -g "$user")

# Library unit tests (module filters) and integration test binaries, by package.
lib_filters=(store:: export:: unpack::nofollow registry::)
hoist_tests=(archive_hostile copy_hostile_files export_routes layers_store unpack_gnu_tar)
cli_tests=(pull export archive manage copy store_lock)

echo "== test-unprivileged.sh: finding the test binaries (cargo test --workspace --no-run)"
# The same `cargo test --workspace` build the suite just ran, so nothing is rebuilt (`-p PACKAGE`
# resolves features anew and can rebuild every dependency: minutes and gigabytes). Its JSON
# names each test binary with the absolute path of its source; its errors are shown.
build_log=$(mktemp)
if ! artifacts=$(cargo test --workspace --locked --no-run --message-format=json 2>"$build_log"); then
  cat "$build_log" >&2
  echo "test-unprivileged.sh: cargo test --workspace --no-run failed" >&2
  exit 1
fi
rm -f "$build_log"
# "SOURCE BINARY" per executable built (test harnesses; also the CLI and examples, never picked).
binaries=$(printf '%s\n' "$artifacts" |
  sed -n 's/.*"src_path":"\([^"]*\)".*"executable":"\([^"]*\)".*/\1 \2/p')
pick() { # SOURCE (relative to the checkout) -> binary path, or fail naming what is missing
  local found
  found=$(printf '%s\n' "$binaries" | awk -v s="$repo/$1" '$1 == s { print $2 }')
  [ -n "$found" ] || { echo "test-unprivileged.sh: no test binary for $1" >&2; exit 1; }
  echo "$found"
}

# Traversal for the user down to the binaries (and the fixtures the tests name by path).
open_path() {
  local dir=$1
  while [ "$dir" != / ]; do
    if ! setpriv --reuid="$uid" --regid="$gid" --clear-groups test -x "$dir"; then
      echo "test-unprivileged.sh: opening $dir for traversal by $user (o+x)"
      chmod o+x "$dir"
    fi
    dir=$(dirname "$dir")
  done
}
lib_bin=$(pick crates/hoist/src/lib.rs)
open_path "$(dirname "$lib_bin")"

work=$(mktemp -d)
chown "$uid:$gid" "$work"
trap 'rm -rf "$work"' EXIT
as_user() {
  (cd "$work" && setpriv --reuid="$uid" --regid="$gid" --clear-groups \
    env -i PATH="$PATH" HOME="$work" TMPDIR="$work" RUST_BACKTRACE=1 "$@")
}

echo "== as $user: hoist library (${lib_filters[*]})"
as_user "$lib_bin" "${lib_filters[@]}"
for t in "${hoist_tests[@]}"; do
  echo "== as $user: hoist tests/$t.rs"
  bin=$(pick "crates/hoist/tests/$t.rs")
  as_user "$bin"
done
for t in "${cli_tests[@]}"; do
  echo "== as $user: hoist-cli tests/$t.rs"
  bin=$(pick "crates/hoist-cli/tests/$t.rs")
  as_user "$bin"
done
