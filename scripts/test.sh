#!/usr/bin/env bash
# Runs every test: formatting and lints, the Rust unit and integration tests,
# the MCP conformance suite against the real gateway, and the official Python
# SDK end-to-end and hostile-input tests. Installs the clients it needs
# (scripts/install-test-clients.sh) idempotently under .cache/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all -- --check
step "clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
step "build"
cargo build --workspace --all-targets --quiet
step "test clients"
scripts/install-test-clients.sh
step "rust tests"
mkdir -p target
if ! cargo test --workspace > target/rust-tests.log 2>&1; then
  cat target/rust-tests.log
  exit 1
fi
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "rust: %d passed, %d failed\n", passed, failed }' target/rust-tests.log
step "conformance suite"
scripts/conformance.sh
step "python sdk and hostile inputs"
.cache/venv/bin/python -m pytest tests/python -q -p no:cacheprovider
