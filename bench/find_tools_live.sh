#!/usr/bin/env bash
# find_tools through a live gateway at 10 000 bridged tools, against a plain
# fs.stat call on the same gateway in the same run (interleaved, closed loop,
# 2026-07-28 era). Usage: bench/find_tools_live.sh [BIN_DIR] [SECONDS]
# (BIN_DIR holds micromcp and micromcp-loadtest; default target/debug).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/debug}
seconds=${2:-10}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export MICROMCP_TOKEN=bench-token-0123456789abcdefghijklmnop
mkdir -p "$work/root" && echo hello > "$work/root/hello.txt"
printf 'version = 1\n[catalog]\nfind_tools = true\n' > "$work/micromcp.toml"
python=${PYTHON:-.cache/venv/bin/python}
printf '{"mcpServers":{"many":{"command":"%s","args":["%s","10000"]}}}' \
  "$(cd "$(dirname "$python")" && pwd)/$(basename "$python")" "$(realpath tests/python/fixtures/many_tools_server.py)" > "$work/servers.json"
MICROMCP_LOG=warn "$bin/micromcp" up --listen "127.0.0.1:$port" --root "$work/root" --state-dir "$work/state" \
  --config "$work/micromcp.toml" --mcp-servers "$work/servers.json" > "$work/up.log" 2>&1 &
up=$!
trap 'kill $up 2>/dev/null; wait $up 2>/dev/null; rm -rf "$work"' EXIT
url="http://127.0.0.1:$port/mcp"
run() { "$bin/micromcp-loadtest" --url "$url" --concurrency "$1" --duration "${seconds}s" --json "$work/report.json" "${@:2}" >/dev/null
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); l=r["latency"]
print("requests %d failures %d p50 %.2f ms p90 %.2f ms p99 %.2f ms p99.9 %.2f ms" % (r["requests"], r["failures"], l["p50_us"]/1e3, l["p90_us"]/1e3, l["p99_us"]/1e3, l["p99.9_us"]/1e3))' "$work/report.json"; }
# the bridged catalog is in once the one real tool among the 10 000 answers
for _ in $(seq 1 120); do
  if "$bin/micromcp-loadtest" --url "$url" --tool many.convert_celsius_to_fahrenheit --args '{"celsius":100}' \
       --requests 1 --warmup 0s --duration 2s --json "$work/ready.json" >/dev/null 2>&1 \
     && python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r.get("failures",1)==0 and r.get("requests",0)>0 else 1)' "$work/ready.json"; then
    break
  fi
  sleep 1
done
echo "catalog in after ${SECONDS}s; load before: $(cat /proc/loadavg)"
for clients in 1 4; do
  for round in 1 2; do
    echo "== fs.stat clients=$clients round=$round"; run "$clients" --tool fs.stat --args '{"path":"hello.txt"}'
    echo "== find_tools clients=$clients round=$round"; run "$clients" --tool find_tools --args '{"query":"archive an invoice in the workspace","limit":10}'
  done
done
echo "load after: $(cat /proc/loadavg)"
