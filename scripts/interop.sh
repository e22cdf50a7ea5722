#!/usr/bin/env bash
# Every cross-tool check of issue 12 in turn — scripts/interop-referrers.sh (oras),
# scripts/interop-sign.sh (skopeo, cosign) and scripts/interop-fulcio.sh when present — then
# one summary line per script and the totals. Not part of CI (the peers come from Debian
# unstable, in the chroot scripts/interop-lib.sh builds when missing; needs root).
#
# Usage: sudo scripts/interop.sh   (KEEP=1 keeps each script's work directory)
set -uo pipefail
cd "$(dirname "$0")"

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
summary=()
total_pass=0
total_fail=0
worst=0
for script in interop-referrers.sh interop-sign.sh interop-fulcio.sh; do
  [ -f "$script" ] || continue
  echo "######## $script"
  bash "$script" 2>&1 | tee "$logs/$script.log"
  status=${PIPESTATUS[0]}
  passes=$(grep -c '^PASS: ' "$logs/$script.log")
  fails=$(grep -c '^FAIL: ' "$logs/$script.log")
  total_pass=$((total_pass + passes))
  total_fail=$((total_fail + fails))
  # A script that stopped early (exit status but no FAIL line) still counts as failed.
  if [ "$status" != 0 ]; then worst=1; fi
  summary+=("$(printf '%-22s %3d passed %3d failed  exit %d' "$script" "$passes" "$fails" "$status")")
done

echo "######## summary"
printf '%s\n' "${summary[@]}"
echo "total: $total_pass passed, $total_fail failed"
exit $worst
