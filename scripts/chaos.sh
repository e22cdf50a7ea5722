#!/usr/bin/env bash
# The reliability harness of issue 15 (see docs/reliability.md): kill -9 at random points of
# pull, push, copy, load and export; pulls and pushes through the fault proxy on a random
# schedule; four processes pulling, pushing, removing and pruning one store. Prints the figures.
#
#   scripts/chaos.sh [--kills N] [--fault-runs N] [--fault-workers N] [--soak-seconds N]
#                    [--only kills,faults,soak] [--kill-ops pull,push,copy,load,export]
#                    [--layer-mib N] [--seed N] [--work DIR --keep]
#
# Defaults: 50 kills per operation, 100 faulty pulls and 100 faulty pushes, a 600 s soak
# (about an hour on 2 busy cores with a debug build). Not run by CI. Needs root (as CI: the
# store's modes and ownership are applied) and docker-registry; only loopback is used.
# HOIST=/path/to/hoist tests that binary instead of building a debug one. The harness runs
# at nice 10; its output is also written to chaos-<date>.log in the work tree's target/.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "chaos.sh runs as root, as CI does (sudo scripts/chaos.sh …)" >&2
  exit 1
fi
if ! command -v docker-registry >/dev/null 2>&1; then
  echo "chaos.sh needs docker-registry: scripts/install-test-deps.sh, or apt-get install docker-registry" >&2
  exit 1
fi

target=${CARGO_TARGET_DIR:-target}
echo "== building the harness (crates/hoist-testkit/examples/chaos)"
cargo build --locked -q -p hoist-testkit --example chaos
if [ -z "${HOIST:-}" ]; then
  echo "== building hoist (debug)"
  cargo build --locked -q -p hoist-cli
  HOIST=$target/debug/hoist
fi
log=$target/chaos-$(date -u +%Y%m%dT%H%M%SZ).log
echo "== running against $HOIST; log: $log"
nice -n 10 "$target/debug/examples/chaos" --hoist "$HOIST" "$@" 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"
