#!/usr/bin/env bash
# Interoperability of hoist's OCI 1.1 referrers with oras (issue 12, item 3). Not part of CI.
#
# 1. builds a Debian unstable chroot (`debootstrap --variant=minbase sid`) with oras in it,
#    when $CHROOT (default /var/tmp/hoist-interop-sid) does not have it yet (~4 minutes; needs
#    root; the chroot shares loopback, so a registry on 127.0.0.1 is reachable from inside);
# 2. starts a docker-registry (CNCF distribution 2.8: no referrers API, so both tools use the
#    referrers tag schema) on a free loopback port and pushes a small image with the testkit;
# 3. `hoist attach` an SBOM ⇒ `oras discover` must list it (same digest, same artifact type);
# 4. `oras attach` a signature ⇒ `hoist discover` must list it;
# 5. `hoist copy` registry → oci: layout ⇒ `oras discover --oci-layout` lists both there;
#    `hoist copy` into the store and back to a second repository ⇒ `oras discover` lists both,
#    digests unchanged.
# Prints PASS/FAIL per check and exits 1 when one failed.
#
# Usage: sudo scripts/interop-referrers.sh   (KEEP=1 keeps the work directory)
set -euo pipefail
. "$(dirname "$0")/interop-lib.sh"

interop_build
interop_chroot oras:oras
interop_start
export HOIST_ROOT="$work/store"

echo "== an image at $reg/interop/app:v1"
printf 'hello\n' >"$work/sig.txt"
"$testkit" seed --registry "$reg" --repo interop/app:v1 --from-dir "$here/scripts"
subject=$("$hoist" digest "$reg/interop/app:v1")

echo "== hoist attach ⇒ oras discover"
printf '{"sbom":true}\n' >"$work/sbom.json"
hoist_digest=$("$hoist" attach -q --artifact-type application/vnd.example.sbom \
  --subject "$reg/interop/app:v1" "$work/sbom.json")
out=$(peer oras discover --plain-http --format json "$reg/interop/app@$subject" 2>&1 || true)
check "$out" "$hoist_digest" "oras discover lists hoist's artifact $hoist_digest"
check "$out" "application/vnd.example.sbom" "with its artifact type"

echo "== oras attach ⇒ hoist discover"
oras_digest=$(peer oras attach --plain-http --artifact-type application/vnd.example.sig \
  --format go-template='{{.digest}}' "$reg/interop/app@$subject" sig.txt)
out=$("$hoist" discover "$reg/interop/app:v1" 2>&1 || true)
check "$out" "$oras_digest" "hoist discover lists oras's artifact $oras_digest"

echo "== hoist copy ⇒ oci: layout ⇒ oras discover --oci-layout"
"$hoist" copy "$reg/interop/app:v1" "oci:$work/layout:v1" >/dev/null
out=$(peer oras discover --format json --oci-layout "$pwork/layout@$subject" 2>&1 || true)
check "$out" "$hoist_digest" "the layout keeps hoist's artifact"
check "$out" "$oras_digest" "the layout keeps oras's artifact"

echo "== hoist copy ⇒ store ⇒ registry ⇒ oras discover"
"$hoist" copy "$reg/interop/app:v1" hoist:interop/app:v1 >/dev/null
"$hoist" copy hoist:interop/app:v1 "$reg/back/app:v1" >/dev/null
out=$(peer oras discover --plain-http --format json "$reg/back/app@$subject" 2>&1 || true)
check "$out" "$hoist_digest" "hoist's artifact came back with its digest"
check "$out" "$oras_digest" "oras's artifact came back with its digest"

interop_summary interop-referrers
