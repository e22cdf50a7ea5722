#!/usr/bin/env bash
# Keyless (Fulcio + Rekor) signatures: hoist and skopeo 1.22 judge them alike (issue 12,
# acceptance: "a Fulcio-style signature made by the testkit with its own CA and Rekor key is
# accepted by hoist and by skopeo 1.22 under the same policy, and refused by both when the
# email or issuer differs"). Not part of CI.
#
# 1. builds a Debian unstable chroot (`debootstrap --variant=minbase sid`) with skopeo in it,
#    when $CHROOT (default /var/tmp/hoist-interop-sid) does not have it yet (needs root; the
#    chroot shares loopback, so a registry on 127.0.0.1 is reachable from inside);
# 2. starts a docker-registry on a free loopback port and pushes small images;
# 3. signs it with the testkit's keyless signer (`testkit sign-keyless`: its own Fulcio-style
#    CA and Rekor key; a certificate for $EMAIL from $ISSUER), and three more images each with
#    a CA and Rekor key of their own: one to have another CA and Rekor key at hand, one logged
#    an hour after its certificate expired, one with no Rekor bundle;
# 4. under one policy.json (`sigstoreSigned` with `fulcio` caPath/oidcIssuer/subjectEmail and
#    `rekorPublicKeyPath`) and one registries.d (use-sigstore-attachments), `skopeo copy
#    docker://… oci:…` and `hoist pull` must both accept the image; with the policy's
#    subjectEmail changed, its oidcIssuer changed, its CA or its Rekor key another one's, both
#    must refuse it, and both must refuse the late and the unlogged image; an image signed
#    with a key and logged (`keyPath` + `rekorPublicKeyPath`) is accepted by both, and
#    refused by both under another Rekor key (and the keyless image under that key). (skopeo is
#    given --remove-signatures because an oci: layout cannot hold signatures; the policy is
#    judged on the source all the same.)
# The policy's files live at the same absolute path outside and inside the chroot, so the very
# same policy file is given to both tools.
#
# Usage: sudo scripts/interop-fulcio.sh   (KEEP=1 keeps the work directory)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
chroot_dir=${CHROOT:-/var/tmp/hoist-interop-sid}
hoist=${HOIST:-$here/target/debug/hoist}
testkit=${TESTKIT:-$here/target/debug/testkit}
email=${EMAIL:-release@example.com}
issuer=${ISSUER:-https://accounts.example.com}
[ -x "$hoist" ] || (cd "$here" && cargo build -p hoist-cli)
[ -x "$testkit" ] || (cd "$here" && cargo build -p hoist-testkit --bin testkit)

if [ ! -x "$chroot_dir/usr/bin/apt-get" ]; then
  echo "== building the sid chroot at $chroot_dir (debootstrap --variant=minbase sid)"
  command -v debootstrap >/dev/null || apt-get install -y debootstrap
  debootstrap --variant=minbase sid "$chroot_dir" http://deb.debian.org/debian
fi
if [ ! -x "$chroot_dir/usr/bin/skopeo" ]; then
  # A clock ahead of the mirror's Valid-Until must not stop the install.
  chroot "$chroot_dir" apt-get -o Acquire::Check-Valid-Until=false update
  chroot "$chroot_dir" apt-get install -y --no-install-recommends skopeo ca-certificates
fi
skopeo() { chroot "$chroot_dir" skopeo "$@"; }
echo "== $(skopeo --version)"

# The work directory: the same path on the host and in the chroot.
name=hoist-fulcio.$$
work=/tmp/$name
mkdir -p "$work" "$chroot_dir/tmp/$name"
registry_pid=
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then
    echo "kept $work and $chroot_dir$work"
  else
    rm -rf "$work" "${chroot_dir:?}/tmp/$name"
  fi
}
trap cleanup EXIT

. "$here/scripts/loopback-registry.sh"
start_registry "$work"
export HOIST_ROOT="$work/store"

# sign REPO DIR [FLAGS…]: pushes a small image to REPO:v1 and signs it keyless for $email from
# $issuer with a new CA and Rekor key, whose public halves go to DIR.
sign() {
  local repo=$1 dir=$2 digest
  shift 2
  mkdir -p "$dir"
  "$testkit" seed --registry "$reg" --repo "$repo:v1" --from-dir "$here/scripts" >/dev/null
  digest=$("$hoist" digest "$reg/$repo:v1")
  "$testkit" sign-keyless --registry "$reg" --repo "$repo" --digest "$digest" \
    --identity "$reg/$repo:v1" --email "$email" --issuer "$issuer" --out "$dir" "$@"
}
echo "== images at $reg/interop/…, signed keyless for $email from $issuer"
sign interop/app "$work/a"
sign interop/other "$work/b"
sign interop/late "$work/late" --logged-at-offset 3600
sign interop/unlogged "$work/unlogged" --unlogged
# A key-signed image whose signature a Rekor-style log recorded (keyPath + rekorPublicKeyPath).
mkdir -p "$work/keyed"
"$testkit" seed --registry "$reg" --repo interop/keyed:v1 --from-dir "$here/scripts" >/dev/null
keyed_digest=$("$hoist" digest "$reg/interop/keyed:v1")
"$testkit" sign-key-logged --registry "$reg" --repo interop/keyed --digest "$keyed_digest" \
  --identity "$reg/interop/keyed:v1" --out "$work/keyed"

mkdir -p "$work/registries.d"
cat > "$work/registries.d/interop.yaml" <<YML
docker:
  $reg:
    use-sigstore-attachments: true
YML
# policy NAME EMAIL ISSUER CA_DIR REKOR_DIR: a policy requiring a keyless signature by EMAIL
# from ISSUER, certified by the CA of CA_DIR and logged with the Rekor key of REKOR_DIR.
policy() {
  cat > "$work/$1.json" <<JSON
{
  "default": [{"type": "reject"}],
  "transports": {
    "docker": {
      "$reg/interop": [{
        "type": "sigstoreSigned",
        "fulcio": {"caPath": "$4/fulcio-ca.pem", "oidcIssuer": "$3", "subjectEmail": "$2"},
        "rekorPublicKeyPath": "$5/rekor.pub",
        "signedIdentity": {"type": "matchRepository"}
      }]
    }
  }
}
JSON
}
policy accept "$email" "$issuer" "$work/a" "$work/a"
policy other-email "someone-else@example.com" "$issuer" "$work/a" "$work/a"
policy other-issuer "$email" "https://issuer.example.net" "$work/a" "$work/a"
policy other-ca "$email" "$issuer" "$work/b" "$work/a"
policy other-rekor "$email" "$issuer" "$work/a" "$work/b"
policy late "$email" "$issuer" "$work/late" "$work/late"
policy unlogged "$email" "$issuer" "$work/unlogged" "$work/unlogged"
# keyed NAME REKOR_DIR: a policy requiring the key of keyed/ with a bundle by REKOR_DIR's key.
keyed() {
  cat > "$work/$1.json" <<JSON
{"default": [{"type": "reject"}], "transports": {"docker": {"$reg/interop": [{
  "type": "sigstoreSigned", "keyPath": "$work/keyed/key.pub",
  "rekorPublicKeyPath": "$2/rekor.pub", "signedIdentity": {"type": "matchRepository"}}]}}}
JSON
}
keyed key-rekor "$work/keyed"
keyed key-other-rekor "$work/a"
cp -a "$work/." "$chroot_dir$work/"

fail=0
# run TOOL POLICY REPO EXPECT: EXPECT is accept or refuse.
run() {
  local tool=$1 policy=$2 repo=$3 expect=$4 out status
  case $tool in
    skopeo)
      rm -rf "$chroot_dir$work/out"
      out=$(skopeo --policy "$work/$policy.json" --registries.d "$work/registries.d" copy \
        --src-tls-verify=false --remove-signatures "docker://$reg/$repo:v1" "oci:$work/out:v1" 2>&1) && status=0 || status=$?
      ;;
    hoist)
      rm -rf "$HOIST_ROOT"
      out=$("$hoist" pull -q --policy "$work/$policy.json" --registries.d "$work/registries.d" \
        "$reg/$repo:v1" 2>&1) && status=0 || status=$?
      ;;
  esac
  local got=accept
  [ "$status" = 0 ] || got=refuse
  if [ "$got" = "$expect" ]; then
    echo "PASS: $tool ${got}s $repo under $policy"
  else
    echo "FAIL: $tool ${got}s $repo under $policy (expected $expect)"
    fail=1
  fi
  [ "$got" = refuse ] && echo "    $(tail -n 1 <<<"$out")"
  return 0
}

echo "== the same policy for both tools"
for case in accept:interop/app:accept other-email:interop/app:refuse \
  other-issuer:interop/app:refuse other-ca:interop/app:refuse other-rekor:interop/app:refuse \
  late:interop/late:refuse unlogged:interop/unlogged:refuse \
  key-rekor:interop/keyed:accept key-other-rekor:interop/keyed:refuse \
  key-rekor:interop/app:refuse; do
  IFS=: read -r policy repo expect <<<"$case"
  run skopeo "$policy" "$repo" "$expect"
  run hoist "$policy" "$repo" "$expect"
done

exit $fail
