#!/usr/bin/env bash
# Runs hoist's whole test suite: formatting, lints, and every unit and integration test.
# Integration tests start real `docker-registry` processes (CNCF distribution, Debian package
# docker-registry) on loopback; this script installs what they need when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked "$@"
# The tests of hostile input and of the store once more as an unprivileged user (needs root to
# drop to it; CI runs as root).
if [ "$(id -u)" = 0 ]; then scripts/test-unprivileged.sh; fi
