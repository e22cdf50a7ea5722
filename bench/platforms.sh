#!/usr/bin/env bash
# `hoist pull --all-platforms` from a registry far away: an index of N platforms, each image
# one small layer of its own (`testkit seed`, like a static binary built for N architectures),
# behind the testkit's fault proxy holding every answer back DELAY ms. What it shows is the
# round trips the pull waits on per platform (manifests, signatures, configs, layers), not
# bytes or CPU. Self-contained: no bench cache needed.
#
#   bench/platforms.sh [RUNS]        (default 7 runs of each row)
#
# Environment:
#   PLATFORMS=N   platforms in the index (default 12, at most 16)
#   DELAY=MS      the delay of every answer (default 20)
#   HOIST=PATH    the hoist binary (default: target/release/hoist, built if missing)
#   HOIST_B=PATH  a second hoist build (A/B): its rows run beside this one's
#   TESTKIT=PATH  the testkit binary (default: target/release/testkit, built if missing)
#   BENCH_SID     the chroot with crane and skopeo 1.22 (bench/peers.sh; default
#                 /var/tmp/hoist-bench-sid): their rows when it is there
#
# Rows (stores on tmpfs, removed before each run):
#   - unsigned: `hoist pull --no-unpack --all-platforms`, `hoist pull --all-platforms`,
#     `skopeo copy --all docker://… oci:…` (1.22) and `crane pull --format oci` (both fetch
#     the whole index into a layout);
#   - signed: every platform and the index signed (`hoist copy --sign-by-sigstore-private-key`)
#     and a policy requiring a signature by that key (`sigstoreSigned`, registries.d with
#     `use-sigstore-attachments`): `hoist pull --no-unpack --all-platforms` (judges every
#     platform, stores the signatures) beside skopeo 1.22 `copy --all --remove-signatures`
#     under the same policy (an `oci:` layout cannot hold them).
# Prints one markdown table of medians in ms. Needs docker-registry (through the testkit) and
# hyperfine. Not part of CI.
set -euo pipefail

runs=${1:-7}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
sid=${BENCH_SID:-/var/tmp/hoist-bench-sid}
delay=${DELAY:-20}
count=${PLATFORMS:-12}
target=${CARGO_TARGET_DIR:-$repo/target}
hoist=${HOIST:-$target/release/hoist}
testkit=${TESTKIT:-$target/release/testkit}
if [ ! -x "$hoist" ] || [ ! -x "$testkit" ]; then
  (cd "$repo" && cargo build --release --locked -q -p hoist-cli -p hoist-testkit)
fi
archs=(amd64 arm64 386 ppc64le s390x riscv64 mips64le arm loong64 mips sparc64 ia64 alpha m68k sh4 hppa)
[ "$count" -ge 1 ] && [ "$count" -le ${#archs[@]} ] || { echo "PLATFORMS: 1 to ${#archs[@]}" >&2; exit 1; }

# shellcheck source=bench/common.sh
. "$here/common.sh"
scratch_dirs platforms

# ------------------------------------------------------------------ registry, images, proxy
"$testkit" serve anonymous >"$work/serve.out" 2>&1 &
pids+=($!)
for _ in $(seq 200); do grep -q '^registry: ' "$work/serve.out" && break; sleep 0.05; done
direct=$(sed -n 's/^registry: \([^ ]*\) .*/\1/p' "$work/serve.out" | grep .)
platforms=()
for arch in "${archs[@]:0:$count}"; do platforms+=(--platform "linux/$arch"); done
"$testkit" seed --registry "$direct" --repo multi/app:v1 "${platforms[@]}" >/dev/null
"$testkit" proxy --upstream "http://$direct" --delay "$delay" >"$work/proxy.out" 2>&1 &
pids+=($!)
reg=$(proxy_address "$work/proxy.out")

# Signed: a key, every manifest of a copy of the index signed for the name it is pulled by.
echo pass >"$work/pass"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$work/any.json"
"$hoist" --root "$work/signer" generate-sigstore-key --output-prefix "$work/key" \
  --passphrase-file "$work/pass" >/dev/null
"$hoist" --root "$work/signer" copy -q --policy "$work/any.json" \
  --sign-by-sigstore-private-key "$work/key.private" --sign-passphrase-file "$work/pass" \
  --sign-identity "$reg/signed/app:v1" "docker://$direct/multi/app:v1" "docker://$direct/signed/app:v1" >/dev/null
policy() { # KEY_PATH -> a policy requiring a signature by it
  printf '{"default":[{"type":"reject"}],"transports":{"docker":{"":[{"type":"sigstoreSigned","keyPath":"%s","signedIdentity":{"type":"matchRepository"}}]}}}\n' "$1"
}
mkdir -p "$work/regd"
printf 'default-docker:\n  use-sigstore-attachments: true\n' >"$work/regd/default.yaml"
policy "$work/key.pub" >"$work/policy.json"
trust=(--policy "$work/policy.json" --registries.d "$work/regd")
: >"$work/config.toml"
export HOIST_CONFIG=$work/config.toml

# ------------------------------------------------------------------ rows

echo "An index of $count platforms (one small layer each); each answer held back $delay ms;"
echo "medians of $runs runs (ms)."
echo
echo "| command | median ms |"
echo "|---|---:|"
for build in "$hoist" ${HOIST_B:+"$HOIST_B"}; do
  b=""
  [ "$build" = "$hoist" ] || b=" (B)"
  row "hoist$b pull --no-unpack --all-platforms" "rm -rf $work/store" \
    "$build --root $work/store pull -q --no-unpack --all-platforms $reg/multi/app:v1"
  row "hoist$b pull --all-platforms" "rm -rf $work/store" \
    "$build --root $work/store pull -q --all-platforms $reg/multi/app:v1"
done
peers=""
[ -n "$peer_dir" ] && [ -x "$sid/usr/bin/crane" ] && [ -x "$sid/usr/bin/skopeo" ] && peers=yes
if [ -n "$peers" ]; then
  inside=${peer_dir#"$sid"}
  row "skopeo 1.22 copy --all docker:// oci:" "rm -rf $peer_dir/skopeo" \
    "chroot $sid skopeo copy -q --all --src-tls-verify=false docker://$reg/multi/app:v1 oci:$inside/skopeo:v1"
  row "crane pull --format oci (the whole index)" "rm -rf $peer_dir/crane" \
    "chroot $sid crane pull --insecure --format oci $reg/multi/app:v1 $inside/crane >/dev/null"
fi
for build in "$hoist" ${HOIST_B:+"$HOIST_B"}; do
  b=""
  [ "$build" = "$hoist" ] || b=" (B)"
  row "signed: hoist$b pull --no-unpack --all-platforms under the policy" "rm -rf $work/store" \
    "$build --root $work/store pull -q --no-unpack --all-platforms ${trust[*]} $reg/signed/app:v1"
done
if [ -n "$peers" ]; then
  cp "$work/key.pub" "$peer_dir/key.pub"
  cp -r "$work/regd" "$peer_dir/regd"
  policy "$inside/key.pub" >"$peer_dir/policy.json"
  row "signed: skopeo 1.22 copy --all --remove-signatures under the policy" "rm -rf $peer_dir/skopeo" \
    "chroot $sid skopeo --policy $inside/policy.json --registries.d $inside/regd copy -q --all --remove-signatures --src-tls-verify=false docker://$reg/signed/app:v1 oci:$inside/skopeo:v1"
fi
