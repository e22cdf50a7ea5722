#!/usr/bin/env bash
# Interoperability of hoist's OCI 1.1 referrers with oras (issue 12, item 3). Not part of CI.
#
# 1. builds a Debian unstable chroot (`debootstrap --variant=minbase sid`) with oras in it,
#    when $CHROOT (default /var/tmp/hoist-interop-sid) does not have it yet (~4 minutes; needs
#    root; the chroot shares loopback, so a registry on 127.0.0.1 is reachable from inside);
# 2. starts a docker-registry (CNCF distribution 2.8: no referrers API, so both tools use the
#    referrers tag schema) on a free loopback port and pushes a small image with hoist;
# 3. `hoist attach` an SBOM ⇒ `oras discover` must list it (same digest, same artifact type);
# 4. `oras attach` a signature ⇒ `hoist discover` must list it;
# 5. `hoist copy` registry → oci: layout ⇒ `oras discover --oci-layout` lists both there;
#    `hoist copy` into the store and back to a second repository ⇒ `oras discover` lists both,
#    digests unchanged.
#
# Usage: sudo scripts/interop-referrers.sh   (KEEP=1 keeps the work directory)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
chroot_dir=${CHROOT:-/var/tmp/hoist-interop-sid}
hoist=${HOIST:-$here/target/debug/hoist}
testkit=${TESTKIT:-$here/target/debug/testkit}
[ -x "$hoist" ] || (cd "$here" && cargo build -p hoist-cli)
[ -x "$testkit" ] || (cd "$here" && cargo build -p hoist-testkit --bin testkit)

if [ ! -x "$chroot_dir/usr/bin/apt-get" ]; then
  echo "== building the sid chroot at $chroot_dir (debootstrap --variant=minbase sid)"
  command -v debootstrap >/dev/null || apt-get install -y debootstrap
  debootstrap --variant=minbase sid "$chroot_dir" http://deb.debian.org/debian
fi
if [ ! -x "$chroot_dir/usr/bin/oras" ]; then
  # A clock ahead of the mirror's Valid-Until must not stop the install.
  chroot "$chroot_dir" apt-get -o Acquire::Check-Valid-Until=false update
  chroot "$chroot_dir" apt-get install -y --no-install-recommends oras ca-certificates
fi
oras() { chroot "$chroot_dir" oras "$@"; }

work=$(mktemp -d)
registry_pid=
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $work/registry}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$port}
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
reg=127.0.0.1:$port
export HOIST_ROOT="$work/store"

echo "== an image at $reg/interop/app:v1"
printf 'hello\n' >"$work/hello.txt"
"$testkit" seed --registry "$reg" --repo interop/app:v1 --from-dir "$here/scripts"
subject=$("$hoist" digest "$reg/interop/app:v1")

fail=0
check() { if grep -q -- "$2" <<<"$1"; then echo "ok: $3"; else echo "FAILED: $3"; echo "$1"; fail=1; fi; }

echo "== hoist attach ⇒ oras discover"
printf '{"sbom":true}\n' >"$work/sbom.json"
hoist_digest=$("$hoist" attach -q --artifact-type application/vnd.example.sbom \
  --subject "$reg/interop/app:v1" "$work/sbom.json")
out=$(oras discover --plain-http --format json "$reg/interop/app@$subject")
check "$out" "$hoist_digest" "oras discover lists hoist's artifact $hoist_digest"
check "$out" "application/vnd.example.sbom" "with its artifact type"

echo "== oras attach ⇒ hoist discover"
cp "$work/hello.txt" "$chroot_dir/tmp/sig.txt"
oras_digest=$(chroot "$chroot_dir" sh -c "cd /tmp && oras attach --plain-http --artifact-type application/vnd.example.sig \
  --format go-template='{{.digest}}' $reg/interop/app@$subject sig.txt")
out=$("$hoist" discover "$reg/interop/app:v1")
check "$out" "$oras_digest" "hoist discover lists oras's artifact $oras_digest"

echo "== hoist copy ⇒ oci: layout ⇒ oras discover --oci-layout"
"$hoist" copy "$reg/interop/app:v1" "oci:$work/layout:v1" >/dev/null
cp -a "$work/layout" "$chroot_dir/tmp/layout"
out=$(oras discover --format json --oci-layout "/tmp/layout@$subject")
check "$out" "$hoist_digest" "the layout keeps hoist's artifact"
check "$out" "$oras_digest" "the layout keeps oras's artifact"
rm -rf "$chroot_dir/tmp/layout"

echo "== hoist copy ⇒ store ⇒ registry ⇒ oras discover"
"$hoist" copy "$reg/interop/app:v1" hoist:interop/app:v1 >/dev/null
"$hoist" copy hoist:interop/app:v1 "$reg/back/app:v1" >/dev/null
out=$(oras discover --plain-http --format json "$reg/back/app@$subject")
check "$out" "$hoist_digest" "hoist's artifact came back with its digest"
check "$out" "$oras_digest" "oras's artifact came back with its digest"

exit $fail
