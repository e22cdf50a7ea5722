# Shared by the scripts/interop-*.sh checks (sourced, never run on its own): the Debian
# unstable chroot holding the peer tools, a docker-registry on a free loopback port, a work
# directory both sides see, and PASS/FAIL bookkeeping.
#
# The chroot (`debootstrap --variant=minbase sid`, default /var/tmp/hoist-interop-sid, or
# $CHROOT) shares the host's network namespace, so a registry on 127.0.0.1 is reachable from
# inside. Files the peers read live under the chroot's /tmp: `$work` is the host's path of the
# work directory, `$pwork` the same directory as the peers see it.
#
# Environment: CHROOT, HOIST (the hoist binary), TESTKIT (the testkit binary), KEEP=1 (keep
# the work directory).

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$here/scripts/loopback-registry.sh"
chroot_dir=${CHROOT:-/var/tmp/hoist-interop-sid}
hoist=${HOIST:-$here/target/debug/hoist}
testkit=${TESTKIT:-$here/target/debug/testkit}

# Builds hoist and the testkit when their binaries are missing.
interop_build() {
  [ -x "$hoist" ] || (cd "$here" && cargo build -p hoist-cli)
  [ -x "$testkit" ] || (cd "$here" && cargo build -p hoist-testkit --bin testkit)
}

# interop_chroot PACKAGE:BINARY… — builds the chroot when missing (~4 minutes; needs root)
# and installs each PACKAGE whose BINARY (under /usr/bin) is missing.
interop_chroot() {
  if [ ! -x "$chroot_dir/usr/bin/apt-get" ]; then
    echo "== building the sid chroot at $chroot_dir (debootstrap --variant=minbase sid)"
    command -v debootstrap >/dev/null || apt-get install -y debootstrap
    debootstrap --variant=minbase sid "$chroot_dir" http://deb.debian.org/debian
  fi
  local missing=() spec
  for spec in "$@"; do
    [ -x "$chroot_dir/usr/bin/${spec#*:}" ] || missing+=("${spec%%:*}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]} in the chroot"
    # A clock ahead of the mirror's Valid-Until must not stop the install.
    chroot "$chroot_dir" apt-get -o Acquire::Check-Valid-Until=false update
    chroot "$chroot_dir" apt-get install -y --no-install-recommends "${missing[@]}" ca-certificates
  fi
}

# peer COMMAND… — runs a peer tool inside the chroot (in $pwork, with a HOME of its own).
peer() {
  chroot "$chroot_dir" env HOME=/root sh -c 'cd "$0" && exec "$@"' "$pwork" "$@"
}

# interop_start — the work directory and a registry (CNCF distribution 2.8) at $reg; both
# go away on exit.
interop_start() {
  mkdir -p "$chroot_dir/tmp"
  work=$(mktemp -d "$chroot_dir/tmp/hoist-interop.XXXXXX")
  pwork=/tmp/${work##*/}
  registry_pid=
  trap interop_cleanup EXIT
  start_registry "$work"
}

interop_cleanup() {
  [ -n "${registry_pid:-}" ] && kill "$registry_pid" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}

passed=0
failed=0
# pass WHAT / fail WHAT [DETAILS] — one line per check; details indented below a failure.
pass() { passed=$((passed + 1)); echo "PASS: $1"; }
fail() {
  failed=$((failed + 1))
  echo "FAIL: $1"
  [ -z "${2:-}" ] || sed 's/^/      /' <<<"$2"
}
# check TEXT PATTERN WHAT — PASS when TEXT contains PATTERN (fixed string).
check() { if grep -qF -- "$2" <<<"$1"; then pass "$3"; else fail "$3" "$1"; fi; }

# interop_summary NAME — prints the totals; the exit status is 1 when a check failed.
interop_summary() {
  echo "== $1: $passed passed, $failed failed"
  [ "$failed" = 0 ]
}
