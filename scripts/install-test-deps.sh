#!/usr/bin/env bash
# Installs the real peers hoist's tests talk to, from Debian packages, when they are missing:
#   docker-registry  the CNCF distribution registry the integration tests start
#   skopeo           reads hoist's store as an OCI layout in the store tests
#   umoci            unpacks images into the reference rootfs the export tests compare with
#   pigz             a second gzip decoder the compression tests check hoist's output with
set -euo pipefail

need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v umoci >/dev/null 2>&1 || need+=(umoci)
command -v pigz >/dev/null 2>&1 || need+=(pigz)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "hoist tests need: ${need[*]}; run as root, or: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The Debian package enables a registry service on :5000; the tests start their own.
if command -v service >/dev/null 2>&1; then service docker-registry stop >/dev/null 2>&1 || true; fi
