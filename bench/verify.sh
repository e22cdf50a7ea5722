#!/usr/bin/env bash
# What signature verification adds to a `hoist pull` (issue 12: "time added to a pull by
# verification: measured in bench/, expected under 50 ms on loopback").
#
#   bench/verify.sh [--runs N]        (HOIST=/path/to/hoist picks the build; default
#                                      target/release/hoist, else target/debug/hoist)
#
# 1. starts a docker-registry on a free loopback port and pushes one small image (the
#    testkit's `seed`: one layer of scripts/), then signs it with a new cosign-format key
#    (`hoist generate-sigstore-key`, `hoist copy --sign-by-sigstore-private-key` into a second
#    repository, so both pulls read the very same image);
# 2. runs hyperfine on two pulls of that image into an empty store (emptied before every run):
#    `accept`, under a policy of `insecureAcceptAnything` (nothing is verified: what a pull
#    costs without verification; an explicit policy, so that a machine's own
#    /etc/containers/policy.json does not change the baseline), and `key`, under
#    `sigstoreSigned` with the key's public half (the `.sig` manifest and payload fetched, the
#    ECDSA signature, digest and identity checked), sigstore attachments enabled by a
#    registries.d for both;
#    KEYLESS=1 adds a third, `keyless`: the same image signed by the testkit's keyless signer
#    (`testkit sign-keyless`) and pulled under `fulcio` + `rekorPublicKeyPath` (certificate
#    chain, Rekor SET and entry checked too; needs a hoist that verifies them);
#    The commands run in 6 rounds of hyperfine (a share of the runs each), so that load from
#    elsewhere on the machine drifting during the run weighs on every command alike;
# 3. prints the medians (and quartiles) and their differences (KEEP=1 keeps the JSON).
# Not part of CI.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=60
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
hoist=${HOIST:-}
if [ -z "$hoist" ]; then
  hoist=$here/target/release/hoist
  [ -x "$hoist" ] || hoist=$here/target/debug/hoist
fi
testkit=${TESTKIT:-$here/target/debug/testkit}
[ -x "$hoist" ] || (cd "$here" && cargo build -p hoist-cli)
[ -x "$testkit" ] || (cd "$here" && cargo build -p hoist-testkit --bin testkit)
for tool in docker-registry hyperfine python3; do
  command -v $tool >/dev/null || { echo "needs $tool" >&2; exit 2; }
done

# On tmpfs (registry storage and store): what is timed is hoist's work, not the disk's fsyncs.
work=$(mktemp -d "${BENCH_DIR:-/dev/shm}/hoist-bench-verify.XXXXXX")
registry_pid=
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

. "$here/scripts/loopback-registry.sh"
start_registry "$work"
export HOIST_ROOT="$work/store"

"$testkit" seed --registry "$reg" --repo bench/app:v1 --from-dir "$here/scripts" >/dev/null
printf 'bench passphrase\n' >"$work/passphrase"
"$hoist" generate-sigstore-key --output-prefix "$work/key" --passphrase-file "$work/passphrase" >/dev/null
"$hoist" copy --sign-by-sigstore-private-key "$work/key.private" \
  --sign-passphrase-file "$work/passphrase" \
  "docker://$reg/bench/app:v1" "docker://$reg/bench/signed:v1" >/dev/null

names=(accept key)
if [ "${KEYLESS:-0}" = 1 ]; then
  names+=(keyless)
  "$testkit" seed --registry "$reg" --repo bench/keyless:v1 --from-dir "$here/scripts" >/dev/null
  digest=$("$hoist" digest "$reg/bench/keyless:v1")
  "$testkit" sign-keyless --registry "$reg" --repo bench/keyless --digest "$digest" \
    --identity "$reg/bench/keyless:v1" --email bench@example.com \
    --issuer https://issuer.example.com --out "$work" >/dev/null
fi

mkdir -p "$work/registries.d"
printf 'docker:\n  %s:\n    use-sigstore-attachments: true\n' "$reg" >"$work/registries.d/bench.yaml"
cat >"$work/accept.json" <<JSON
{"default": [{"type": "insecureAcceptAnything"}]}
JSON
cat >"$work/key.json" <<JSON
{"default": [{"type": "reject"}],
 "transports": {"docker": {"$reg/bench": [{"type": "sigstoreSigned", "keyPath": "$work/key.pub"}]}}}
JSON

cat >"$work/keyless.json" <<JSON
{"default": [{"type": "reject"}],
 "transports": {"docker": {"$reg/bench": [{"type": "sigstoreSigned",
   "fulcio": {"caPath": "$work/fulcio-ca.pem", "oidcIssuer": "https://issuer.example.com",
              "subjectEmail": "bench@example.com"},
   "rekorPublicKeyPath": "$work/rekor.pub"}]}}}
JSON

# pull NAME: the command pulling the image that policy NAME.json judges.
pull() {
  local repo=bench/signed
  [ "$1" = keyless ] && repo=bench/keyless
  echo "$hoist pull -q --policy $work/$1.json --registries.d $work/registries.d $reg/$repo:v1"
}
# Each must work before it is timed.
commands=()
for name in "${names[@]}"; do
  $(pull "$name") >/dev/null
  rm -rf "$HOIST_ROOT"
  commands+=(-n "$name" "$(pull "$name")")
done

# In rounds, so that a machine whose load drifts during the run weighs on every command alike.
rounds=6
per_round=$(( (runs + rounds - 1) / rounds ))
echo "== $("$hoist" --version 2>/dev/null || echo hoist) at $hoist, $((per_round * rounds)) runs each in $rounds rounds"
for round in $(seq $rounds); do
  hyperfine --style none --warmup 2 --runs "$per_round" --prepare "rm -rf $HOIST_ROOT" \
    --export-json "$work/verify-$round.json" "${commands[@]}"
done

python3 - "$work"/verify-*.json <<'PY'
import json, statistics, sys
times = {}
for path in sys.argv[1:]:
    for result in json.load(open(path))["results"]:
        times.setdefault(result["command"], []).extend(result["times"])
medians = {name: statistics.median(t) * 1000 for name, t in times.items()}
quartiles = {name: statistics.quantiles(t, n=4) for name, t in times.items()}
for name, (q1, _, q3) in quartiles.items():
    print(f"{name:>8}: {len(times[name])} runs, median {medians[name]:6.1f} ms, IQR {q1 * 1000:6.1f} … {q3 * 1000:6.1f} ms")
base = medians.pop("accept")
print(f"median pull, no verification: {base:7.1f} ms")
for name, median in medians.items():
    print(f"median pull, {name:>7} policy:   {median:7.1f} ms  (verification adds {median - base:5.1f} ms; target < 50 ms)")
PY
