#!/usr/bin/env bash
# Interoperability of hoist's sigstore signatures with skopeo 1.22 and cosign 3.1 (issue 12,
# acceptance with the real peers). Not part of CI: CI's tests sign and read with the
# testkit's independent signer instead.
#
# In a Debian unstable chroot (scripts/interop-lib.sh; skopeo and cosign installed when
# missing) against a docker-registry on loopback, with keys from `skopeo
# generate-sigstore-key`, `cosign generate-key-pair` and `hoist generate-sigstore-key`, and a
# registries.d enabling use-sigstore-attachments for every registry:
# 1. an image signed by `skopeo copy --sign-by-sigstore-private-key`, and one by `cosign
#    sign --key` (offline: no signing config, no Rekor upload, the old `.sig` layout), pass
#    `hoist pull` under a policy `sigstoreSigned` with that key;
# 2. under another key, unsigned, or signed for another identity, they are refused by
#    `hoist pull` with a one-line reason and nothing stored (`hoist images`, blobs/);
#    for 1 and 2, skopeo is asked the same question under the same policy and must agree —
#    the peer is the reference;
# 3. images signed by `hoist copy` and `hoist push --sign-by-sigstore-private-key` (with a
#    hoist-generated key, a cosign-generated key and a skopeo-generated key; an image and an
#    index) verify with `skopeo copy` under a `sigstoreSigned` policy and with `cosign verify
#    --key` (and not with another key); a wrong passphrase copies nothing and says so in one
#    line;
# 4. signatures already there are kept when hoist adds one: `cosign verify` passes with both
#    keys, and a policy requiring both keys passes in hoist and skopeo; and (5.) the other way
#    round, cosign and skopeo add theirs to hoist's `.sig` manifest, and all three verify;
# 6. `hoist copy` carries signatures from one repository to another (skopeo and cosign
#    verify them there), and `--remove-signatures` leaves them out;
# 7. an image signed by `cosign sign --key` pulled by hoist into its store and copied into an
#    `oci:` layout (the `.sig` manifest kept as an `index.json` entry named
#    `sha256-DIGEST.sig`, which skopeo reads as `oci:DIR:sha256-DIGEST.sig`), then pushed
#    and copied on by hoist to other repositories: `cosign verify --key` and skopeo (policy
#    `sigstoreSigned`) accept it there;
# 2b. every signedIdentity rule over tags, digests, a mirror, cosign's repository-only
#    identity, a signed index and an index with only one platform signed: hoist accepts
#    exactly what skopeo accepts.
# Prints PASS/FAIL per check and exits 1 when one failed.
#
# Note on cosign's identity: `cosign sign` claims the repository only
# (`"docker-reference": "REG/REPO"`, no tag), which containers/image's default
# `matchRepoDigestOrExact` refuses (containers-policy.json(5): cosign signatures need
# `matchRepository` or `exactRepository`); both verdicts are checked against skopeo.
#
# Usage: sudo scripts/interop-sign.sh   (KEEP=1 keeps the work directory)
set -uo pipefail # not -e: a failed check is reported and the others still run
. "$(dirname "$0")/interop-lib.sh"

die() {
  echo "FAIL: setup: $*"
  exit 1
}

interop_build || die "cannot build hoist"
interop_chroot skopeo:skopeo cosign:cosign || die "cannot install skopeo and cosign"
interop_start
echo "== skopeo $(peer dpkg-query -W -f '${Version}' skopeo), cosign $(peer dpkg-query -W -f '${Version}' cosign)"

passphrase=interop-pass
printf '%s\n' "$passphrase" >"$work/pass"
mkdir "$work/registries.d"
printf 'default-docker:\n  use-sigstore-attachments: true\n' >"$work/registries.d/default.yaml"
printf '{"default": [{"type": "insecureAcceptAnything"}]}\n' >"$work/accept.json"

# policy NAME REQUIREMENTS — NAME.json with paths as hoist sees them, NAME.peer.json as the
# peers see them (@W@ is the work directory). Every docker image gets REQUIREMENTS.
policy() {
  local body='{"default": [{"type": "reject"}], "transports": {"docker": {"": '"$2"'}}}'
  printf '%s\n' "${body//@W@/$work}" >"$work/$1.json"
  printf '%s\n' "${body//@W@/$pwork}" >"$work/$1.peer.json"
}
# signed_by KEY [IDENTITY] — a sigstoreSigned requirement (keyPath) as JSON.
signed_by() {
  local identity=
  [ -z "${2:-}" ] || identity=', "signedIdentity": {"type": "'"$2"'"}'
  printf '{"type": "sigstoreSigned", "keyPath": "@W@/%s"%s}' "$1" "$identity"
}

skopeo_cmd() { peer skopeo --registries.d "$pwork/registries.d" "$@"; }
cosign_cmd() { peer env COSIGN_PASSWORD="$passphrase" cosign "$@"; }
hoist_cmd() { "$hoist" "$@"; }

echo "== keys"
skopeo_cmd generate-sigstore-key --output-prefix skopeo --passphrase-file pass >/dev/null ||
  die "skopeo generate-sigstore-key"
skopeo_cmd generate-sigstore-key --output-prefix other --passphrase-file pass >/dev/null ||
  die "skopeo generate-sigstore-key (other)"
cosign_cmd generate-key-pair --output-key-prefix cosign >/dev/null 2>&1 ||
  die "cosign generate-key-pair"
hoist_cmd generate-sigstore-key --output-prefix "$work/hoist" --passphrase-file "$work/pass" \
  >/dev/null || die "hoist generate-sigstore-key"

echo "== images at $reg"
"$testkit" seed --registry "$reg" --repo src/app:v1 --from-dir "$here/scripts" >/dev/null ||
  die "testkit seed"
sk_copy() {
  skopeo_cmd --policy "$pwork/accept.json" copy -q --src-tls-verify=false \
    --dest-tls-verify=false "$@"
}
sign_skopeo=(--sign-by-sigstore-private-key skopeo.private --sign-passphrase-file pass)
sk_copy "${sign_skopeo[@]}" "docker://$reg/src/app:v1" "docker://$reg/skopeo/app:v1" ||
  die "skopeo copy --sign-by-sigstore-private-key"
sk_copy "${sign_skopeo[@]}" --sign-identity "$reg/elsewhere/app:v1" \
  "docker://$reg/src/app:v1" "docker://$reg/wrongid/app:v1" ||
  die "skopeo copy --sign-identity"
sk_copy "docker://$reg/src/app:v1" "docker://$reg/cosign/app:v1" || die "skopeo copy"
cosign_digest=$(hoist_cmd digest "$reg/cosign/app:v1") || die "hoist digest"
cosign_sign=(sign --use-signing-config=false --tlog-upload=false --new-bundle-format=false
  --allow-http-registry --yes)
cosign_cmd "${cosign_sign[@]}" --key cosign.key "$reg/cosign/app@$cosign_digest" \
  >"$work/cosign-sign.log" 2>&1 || die "cosign sign: $(cat "$work/cosign-sign.log")"

policy skopeo "[$(signed_by skopeo.pub)]"
policy cosign "[$(signed_by cosign.pub matchRepository)]"
policy cosign-exact "[$(signed_by cosign.pub)]"
policy other "[$(signed_by other.pub)]"
policy other-repository "[$(signed_by other.pub matchRepository)]"
policy hoist "[$(signed_by hoist.pub)]"
policy both "[$(signed_by cosign.pub matchRepository), $(signed_by hoist.pub)]"

# hoist_pull POLICY REF — `hoist pull` into a new store: $out, $status, $root.
hoist_pull() {
  root=$(mktemp -d "$work/store.XXXXXX")
  out=$(HOIST_ROOT=$root hoist_cmd pull -q --policy "$work/$1.json" \
    --registries.d "$work/registries.d" "$2" 2>&1)
  status=$?
}
# skopeo_pull POLICY REF — `skopeo copy` to a dir: under the same policy: $peer_out, $peer_status.
skopeo_pull() {
  local dest
  dest=$(mktemp -d "$work/dir.XXXXXX")
  peer_out=$(skopeo_cmd --policy "$pwork/$1.peer.json" copy -q --src-tls-verify=false \
    "docker://$2" "dir:$pwork/${dest##*/}" 2>&1)
  peer_status=$?
}
# stored ROOT — what the store at ROOT holds: its images and its number of blobs.
stored() {
  local blobs images
  blobs=$(find "$1/blobs" -type f 2>/dev/null | wc -l)
  images=$(HOIST_ROOT=$1 hoist_cmd images -q 2>&1)
  echo "${images:+images: $images, }$blobs blobs"
}

# accepted WHAT POLICY REF
accepted() {
  hoist_pull "$2" "$3"
  local held
  held=$(stored "$root")
  if [ "$status" = 0 ] && [ "$held" != "0 blobs" ]; then
    pass "hoist pull accepts $1 (policy $2)"
  else
    fail "hoist pull accepts $1 (policy $2)" "$out"
  fi
  skopeo_pull "$2" "$3"
  if [ "$peer_status" = 0 ]; then pass "skopeo agrees"; else fail "skopeo agrees" "$peer_out"; fi
}

# refused WHAT POLICY REF REASON — refused in one line containing REASON, nothing stored.
refused() {
  hoist_pull "$2" "$3"
  local lines held
  lines=$(grep -c . <<<"$out")
  held=$(stored "$root")
  if [ "$status" != 0 ] && [ "$lines" = 1 ] && grep -qF -- "$4" <<<"$out"; then
    pass "hoist pull refuses $1 (policy $2): $out"
  else
    fail "hoist pull refuses $1 (policy $2) in one line saying \"$4\"" "exit $status: $out"
  fi
  if [ "$held" = "0 blobs" ]; then pass "nothing stored"; else fail "nothing stored" "$held"; fi
  skopeo_pull "$2" "$3"
  if [ "$peer_status" != 0 ]; then
    pass "skopeo agrees: $(tail -n1 <<<"$peer_out" | cut -c1-200)"
  else
    fail "skopeo agrees (it accepted)" "$peer_out"
  fi
}

echo "== 1. signed by the peers, accepted"
accepted "skopeo's signature" skopeo "$reg/skopeo/app:v1"
accepted "cosign's signature" cosign "$reg/cosign/app:v1"
accepted "cosign's signature, by digest" cosign "$reg/cosign/app@$cosign_digest"

echo "== 2. refused"
refused "skopeo's signature under another key" other "$reg/skopeo/app:v1" "not signed by"
refused "cosign's signature under another key" other-repository "$reg/cosign/app:v1" \
  "not signed by"
refused "an unsigned image" skopeo "$reg/src/app:v1" "no signature exists"
refused "a signature for another identity" skopeo "$reg/wrongid/app:v1" \
  "elsewhere/app:v1\" not accepted by signedIdentity matchRepoDigestOrExact"
refused "cosign's repository-only identity under matchRepoDigestOrExact" cosign-exact \
  "$reg/cosign/app:v1" "not accepted by signedIdentity matchRepoDigestOrExact"

# verified WHAT REF KEY POLICY — skopeo under POLICY and cosign verify with KEY accept REF;
# cosign verify with another key refuses it.
verified() {
  skopeo_pull "$4" "$2"
  if [ "$peer_status" = 0 ]; then
    pass "skopeo accepts $1 (policy $4)"
  else
    fail "skopeo accepts $1 (policy $4)" "$peer_out"
  fi
  local out
  if out=$(cosign_cmd verify --key "$3" --insecure-ignore-tlog=true --allow-http-registry \
    "$2" 2>&1); then
    pass "cosign verify --key $3 accepts $1"
  else
    fail "cosign verify --key $3 accepts $1" "$out"
  fi
  if out=$(cosign_cmd verify --key other.pub --insecure-ignore-tlog=true \
    --allow-http-registry "$2" 2>&1); then
    fail "cosign verify --key other.pub refuses $1" "$out"
  else
    pass "cosign verify --key other.pub refuses $1"
  fi
}

echo "== 2b. every signedIdentity rule: hoist's verdict is skopeo's"
# skopeo/app:v2 and mirror/app:v1 are skopeo/app:v1 copied with its signature (claiming
# skopeo/app:v1); multi/app:v1 is an index cosign signed, multi/one:v1 an index only one of
# whose platform manifests cosign signed.
sk_copy "docker://$reg/skopeo/app:v1" "docker://$reg/skopeo/app:v2" || die "skopeo copy v2"
sk_copy "docker://$reg/skopeo/app:v1" "docker://$reg/mirror/app:v1" || die "skopeo copy mirror"
skopeo_digest=$(hoist_cmd digest "$reg/skopeo/app:v1") || die "hoist digest"
for repo in multi/app multi/one; do
  "$testkit" seed --registry "$reg" --repo "$repo:v1" --platform linux/amd64 \
    --platform linux/arm64 >/dev/null || die "testkit seed $repo"
done
multi_digest=$(hoist_cmd digest "$reg/multi/app:v1") || die "hoist digest"
cosign_cmd "${cosign_sign[@]}" --key cosign.key "$reg/multi/app@$multi_digest" \
  >>"$work/cosign-sign.log" 2>&1 || die "cosign sign multi/app: $(cat "$work/cosign-sign.log")"
one_platform=$(hoist_cmd manifest "$reg/multi/one:v1" | python3 -c \
  'import json,sys; print(json.load(sys.stdin)["manifests"][0]["digest"])') ||
  die "hoist manifest multi/one"
cosign_cmd "${cosign_sign[@]}" --key cosign.key "$reg/multi/one@$one_platform" \
  >>"$work/cosign-sign.log" 2>&1 || die "cosign sign multi/one: $(cat "$work/cosign-sign.log")"
# identity RULE-JSON — sigstoreSigned by skopeo's or cosign's key with that signedIdentity.
identity() {
  printf '[{"type": "sigstoreSigned", "keyPaths": ["@W@/skopeo.pub", "@W@/cosign.pub"], "signedIdentity": %s}]' "$1"
}
rules=(
  '{"type": "matchRepoDigestOrExact"}'
  '{"type": "matchExact"}'
  '{"type": "matchRepository"}'
  '{"type": "exactReference", "dockerReference": "'"$reg"'/skopeo/app:v1"}'
  '{"type": "exactReference", "dockerReference": "'"$reg"'/skopeo/app:v2"}'
  '{"type": "exactRepository", "dockerRepository": "'"$reg"'/skopeo/app"}'
  '{"type": "exactRepository", "dockerRepository": "'"$reg"'/cosign/app"}'
  '{"type": "remapIdentity", "prefix": "'"$reg"'/mirror", "signedPrefix": "'"$reg"'/skopeo"}'
)
refs=("$reg/skopeo/app:v1" "$reg/skopeo/app:v2" "$reg/skopeo/app@$skopeo_digest"
  "$reg/mirror/app:v1" "$reg/cosign/app:v1" "$reg/cosign/app@$cosign_digest"
  "$reg/multi/app:v1" "$reg/multi/one:v1" "$reg/multi/one@$(hoist_cmd digest "$reg/multi/one:v1")")
n=0
for rule in "${rules[@]}"; do
  n=$((n + 1))
  policy "rule$n" "$(identity "$rule")"
  for ref in "${refs[@]}"; do
    hoist_pull "rule$n" "$ref"
    skopeo_pull "rule$n" "$ref"
    [ "$status" = 0 ] && mine=accepts || mine=refuses
    [ "$peer_status" = 0 ] && theirs=accepts || theirs=refuses
    what="${ref#"$reg"/} under $(tr -d '"{} ' <<<"$rule" | sed "s|$reg/||g")"
    if [ $mine = $theirs ]; then
      pass "both ${mine%s} $what"
    else
      fail "hoist $mine but skopeo $theirs $what" "hoist: $out
skopeo: $peer_out"
    fi
  done
done

# copy_agrees POLICY REF — `hoist copy` (every platform) into an oci: layout and `skopeo
# copy --all` into a dir: give the same verdict under POLICY.
copy_agrees() {
  local dest hoist_out hoist_status
  dest=$(mktemp -u "$work/layout.XXXXXX")
  hoist_out=$(hoist_cmd copy -q --policy "$work/$1.json" --registries.d "$work/registries.d" \
    "docker://$2" "oci:$dest:v1" 2>&1)
  hoist_status=$?
  dest=$(mktemp -d "$work/dir.XXXXXX")
  peer_out=$(skopeo_cmd --policy "$pwork/$1.peer.json" copy -q --all --src-tls-verify=false \
    "docker://$2" "dir:$pwork/${dest##*/}" 2>&1)
  peer_status=$?
  [ "$hoist_status" = 0 ] && mine=accepts || mine=refuses
  [ "$peer_status" = 0 ] && theirs=accepts || theirs=refuses
  if [ $mine = $theirs ]; then
    pass "hoist copy and skopeo copy --all both ${mine%s} ${2#"$reg"/} (policy $1)"
  else
    fail "hoist copy $mine but skopeo copy --all $theirs ${2#"$reg"/} (policy $1)" \
      "hoist: $hoist_out
skopeo: $peer_out"
  fi
}
echo "== 2c. every platform copied: hoist copy and skopeo copy --all agree"
copy_agrees cosign "$reg/multi/app:v1"
copy_agrees cosign "$reg/multi/one:v1"
copy_agrees cosign "$reg/cosign/app:v1"
copy_agrees skopeo "$reg/src/app:v1"

echo "== 3. signed by hoist, verified by the peers"
sign_hoist=(--sign-by-sigstore-private-key "$work/hoist.private"
  --sign-passphrase-file "$work/pass")
sign_cosign_key=(--sign-by-sigstore-private-key "$work/cosign.key"
  --sign-passphrase-file "$work/pass")
if out=$(hoist_cmd copy -q --policy "$work/accept.json" "${sign_hoist[@]}" \
  "docker://$reg/src/app:v1" "docker://$reg/hoist-copy/app:v1" 2>&1); then
  pass "hoist copy --sign-by-sigstore-private-key (hoist's key)"
  verified "hoist copy's signature" "$reg/hoist-copy/app:v1" hoist.pub hoist
else
  fail "hoist copy --sign-by-sigstore-private-key (hoist's key)" "$out"
fi
if out=$(hoist_cmd copy -q --policy "$work/accept.json" "${sign_cosign_key[@]}" \
  "docker://$reg/src/app:v1" "docker://$reg/hoist-copy-cosign/app:v1" 2>&1); then
  pass "hoist copy --sign-by-sigstore-private-key (cosign's key)"
  verified "hoist copy's signature" "$reg/hoist-copy-cosign/app:v1" cosign.pub cosign-exact
else
  fail "hoist copy --sign-by-sigstore-private-key (cosign's key)" "$out"
fi
if out=$(hoist_cmd copy -q --policy "$work/accept.json" "${sign_hoist[@]}" \
  "docker://$reg/multi/one:v1" "docker://$reg/hoist-multi/app:v1" 2>&1); then
  pass "hoist copy --sign-by-sigstore-private-key of an index"
  verified "hoist copy's signatures of an index (index and platforms)" \
    "$reg/hoist-multi/app:v1" hoist.pub hoist
  copy_agrees hoist "$reg/hoist-multi/app:v1"
else
  fail "hoist copy --sign-by-sigstore-private-key of an index" "$out"
fi
if out=$(hoist_cmd copy -q --policy "$work/accept.json" --sign-by-sigstore-private-key \
  "$work/skopeo.private" --sign-passphrase-file "$work/pass" \
  "docker://$reg/src/app:v1" "docker://$reg/hoist-copy-skopeo/app:v1" 2>&1); then
  pass "hoist copy --sign-by-sigstore-private-key (skopeo's key)"
  verified "hoist copy's signature" "$reg/hoist-copy-skopeo/app:v1" skopeo.pub skopeo
else
  fail "hoist copy --sign-by-sigstore-private-key (skopeo's key)" "$out"
fi
printf 'not-the-passphrase\n' >"$work/wrong-pass"
out=$(hoist_cmd copy -q --policy "$work/accept.json" --sign-by-sigstore-private-key \
  "$work/cosign.key" --sign-passphrase-file "$work/wrong-pass" \
  "docker://$reg/src/app:v1" "docker://$reg/wrong-pass/app:v1" 2>&1)
status=$?
if [ "$status" != 0 ] && [ "$(grep -c . <<<"$out")" = 1 ] &&
  grep -qF "wrong passphrase" <<<"$out" && ! hoist_cmd digest "$reg/wrong-pass/app:v1" \
  >/dev/null 2>&1; then
  pass "a wrong passphrase for cosign's key: nothing copied, one line: $out"
else
  fail "a wrong passphrase for cosign's key: nothing copied, one line" "exit $status: $out"
fi
export HOIST_ROOT=$work/push-store
for key in hoist cosign; do
  ref=$reg/hoist-push-$key/app:v1
  [ $key = hoist ] && sign=("${sign_hoist[@]}") || sign=("${sign_cosign_key[@]}")
  [ $key = hoist ] && policy_name=hoist || policy_name=cosign-exact
  if out=$(hoist_cmd pull -q --policy "$work/accept.json" "$reg/src/app:v1" 2>&1 &&
    hoist_cmd tag "$reg/src/app:v1" "$ref" 2>&1 &&
    hoist_cmd push -q "${sign[@]}" "$ref" 2>&1); then
    pass "hoist push --sign-by-sigstore-private-key ($key's key)"
    verified "hoist push's signature" "$ref" "$key.pub" "$policy_name"
  else
    fail "hoist push --sign-by-sigstore-private-key ($key's key)" "$out"
  fi
done
unset HOIST_ROOT

echo "== 4. hoist adds a signature to cosign's, keeping it"
if out=$(hoist_cmd copy -q --policy "$work/accept.json" "${sign_hoist[@]}" \
  "docker://$reg/cosign/app:v1" "docker://$reg/cosign/app:v1" 2>&1); then
  pass "hoist copy signs an image cosign signed"
else
  fail "hoist copy signs an image cosign signed" "$out"
fi
for key in cosign.pub hoist.pub; do
  if out=$(cosign_cmd verify --key "$key" --insecure-ignore-tlog=true --allow-http-registry \
    "$reg/cosign/app:v1" 2>&1); then
    pass "cosign verify --key $key still accepts it"
  else
    fail "cosign verify --key $key still accepts it" "$out"
  fi
done
accepted "both signatures, each required" both "$reg/cosign/app:v1"

echo "== 5. the peers add signatures to hoist's, keeping it"
hoist_copy_digest=$(hoist_cmd digest "$reg/hoist-copy/app:v1")
if out=$(cosign_cmd "${cosign_sign[@]}" --key cosign.key \
  "$reg/hoist-copy/app@$hoist_copy_digest" 2>&1) &&
  out=$(sk_copy "${sign_skopeo[@]}" "docker://$reg/hoist-copy/app:v1" \
    "docker://$reg/hoist-copy/app:v1" 2>&1); then
  pass "cosign sign and skopeo copy --sign-by-sigstore-private-key add to hoist's signature"
else
  fail "cosign sign and skopeo copy --sign-by-sigstore-private-key add to hoist's signature" "$out"
fi
policy all-three "[$(signed_by hoist.pub), $(signed_by cosign.pub matchRepository), $(signed_by skopeo.pub)]"
accepted "hoist's, cosign's and skopeo's signatures, each required" all-three \
  "$reg/hoist-copy/app:v1"

echo "== 6. hoist copy carries signatures between repositories, as skopeo copy does"
if out=$(hoist_cmd copy -q --policy "$work/accept.json" "docker://$reg/skopeo/app:v1" \
  "docker://$reg/carried/app:v1" 2>&1) &&
  out=$(hoist_cmd copy -q --policy "$work/accept.json" "docker://$reg/cosign/app:v1" \
    "docker://$reg/carried-cosign/app:v1" 2>&1) &&
  out=$(hoist_cmd copy -q --policy "$work/accept.json" --remove-signatures \
    "docker://$reg/skopeo/app:v1" "docker://$reg/bare/app:v1" 2>&1); then
  pass "hoist copy (and --remove-signatures) between repositories"
else
  fail "hoist copy (and --remove-signatures) between repositories" "$out"
fi
# The carried signature still claims skopeo/app:v1: a mirror's policy remaps the name.
policy carried '[{"type": "sigstoreSigned", "keyPath": "@W@/skopeo.pub", "signedIdentity":
  {"type": "remapIdentity", "prefix": "'"$reg"'/carried", "signedPrefix": "'"$reg"'/skopeo"}}]'
accepted "skopeo's signature carried by hoist copy" carried "$reg/carried/app:v1"
refused "a copy made with --remove-signatures" carried "$reg/bare/app:v1" "no signature exists"
for key in cosign.pub hoist.pub; do
  if out=$(cosign_cmd verify --key "$key" --insecure-ignore-tlog=true --allow-http-registry \
    "$reg/carried-cosign/app:v1" 2>&1); then
    pass "cosign verify --key $key accepts the signature hoist copy carried"
  else
    fail "cosign verify --key $key accepts the signature hoist copy carried" "$out"
  fi
done

echo "== 7. signatures through the store and an oci: layout, as cosign and skopeo read them"
# cosign/app:v1 carries cosign's signature (and hoist's, from 4.). Pulled into a store
# reading sigstore attachments, and copied into an oci: layout, its `.sig` manifest is kept
# as an index.json entry named sha256-DIGEST.sig; pushed or copied on from there it lands
# under that tag at another repository, where cosign and skopeo verify it.
cosign_sig_tag=$(sed 's/:/-/' <<<"$cosign_digest").sig
export HOIST_ROOT=$work/carry-store
if out=$(hoist_cmd pull -q --registries.d "$work/registries.d" "$reg/cosign/app:v1" 2>&1 &&
  hoist_cmd tag "$reg/cosign/app:v1" "$reg/store-pushed/app:v1" 2>&1 &&
  hoist_cmd push -q "$reg/store-pushed/app:v1" 2>&1); then
  pass "hoist pull stores cosign's signature, hoist push carries it"
else
  fail "hoist pull stores cosign's signature, hoist push carries it" "$out"
fi
# skopeo_reads_sig LAYOUT WHAT — skopeo inspect reads cosign's `.sig` manifest in the layout
# $work/LAYOUT by its name.
skopeo_reads_sig() {
  local out
  if out=$(peer skopeo inspect --raw "oci:$pwork/$1:$cosign_sig_tag" 2>&1) &&
    grep -qF simplesigning <<<"$out"; then
    pass "skopeo inspect reads the signature in $2 (oci:DIR:$cosign_sig_tag)"
  else
    fail "skopeo inspect reads the signature in $2" "$out"
  fi
}
skopeo_reads_sig carry-store "hoist's store"
unset HOIST_ROOT
if out=$(hoist_cmd copy -q "docker://$reg/cosign/app:v1" "oci:$work/carry-layout:v1" 2>&1 &&
  hoist_cmd copy -q "oci:$work/carry-layout:v1" "docker://$reg/oci-pushed/app:v1" 2>&1); then
  pass "hoist copy carries cosign's signature into an oci: layout and out of it"
else
  fail "hoist copy carries cosign's signature into an oci: layout and out of it" "$out"
fi
skopeo_reads_sig carry-layout "hoist's oci: layout"
if out=$(skopeo_cmd --policy "$pwork/accept.json" copy -q --dest-tls-verify=false \
  "oci:$pwork/carry-layout:$cosign_sig_tag" "docker://$reg/skopeo-moved/app:$cosign_sig_tag" 2>&1) &&
  out=$(hoist_cmd copy -q --remove-signatures "docker://$reg/cosign/app:v1" \
    "docker://$reg/skopeo-moved/app:v1" 2>&1) &&
  out=$(cosign_cmd verify --key cosign.pub --insecure-ignore-tlog=true --allow-http-registry \
    "$reg/skopeo-moved/app:v1" 2>&1); then
  pass "skopeo copies the signature out of hoist's oci: layout as an image; cosign verifies it"
else
  fail "skopeo copies the signature out of hoist's oci: layout as an image; cosign verifies it" "$out"
fi
policy carried-cosign '[{"type": "sigstoreSigned", "keyPath": "@W@/cosign.pub", "signedIdentity":
  {"type": "exactRepository", "dockerRepository": "'"$reg"'/cosign/app"}}]'
for repo in store-pushed oci-pushed; do
  if out=$(cosign_cmd verify --key cosign.pub --insecure-ignore-tlog=true --allow-http-registry \
    "$reg/$repo/app:v1" 2>&1); then
    pass "cosign verify --key cosign.pub accepts $repo/app:v1"
  else
    fail "cosign verify --key cosign.pub accepts $repo/app:v1" "$out"
  fi
  accepted "cosign's signature carried to $repo/app" carried-cosign "$reg/$repo/app:v1"
done

interop_summary interop-sign
