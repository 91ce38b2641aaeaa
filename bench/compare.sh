#!/usr/bin/env bash
# One command, from a clean clone: builds the release binaries, installs the
# peer gateways from PyPI into .cache/peers/ (idempotent; a peer that fails to
# install is reported, not fatal), then runs bench/compare.py, which starts
# everything on loopback with bounded lifetimes, measures each path with
# micromcp-loadtest in interleaved rounds and prints the ratio table, then
# bench/footprint.py (memory, large catalog, cold start).
# Extra arguments go to compare.py (e.g. --concurrency 1,32 --duration 5s
# --rounds 2 --results bench/RESULTS.md --no-contextforge).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet -p micromcp -p micromcp-loadtest -p micromcp-bench --bins

install_peer() { # name, pip requirement
  local venv=".cache/peers/$1"
  if [[ -f "$venv/.installed-$2" ]]; then return 0; fi
  rm -rf "$venv"
  mkdir -p .cache/peers
  if python3 -m venv "$venv" && "$venv/bin/pip" install --quiet "$2" > ".cache/peers/$1-install.log" 2>&1; then
    touch "$venv/.installed-$2"
  else
    echo "warning: could not install $2 (see .cache/peers/$1-install.log); it will be reported as not run" >&2
    rm -rf "$venv"
  fi
}
install_peer mcp-proxy "mcp-proxy==0.13.0"
if [[ " $* " != *" --no-contextforge "* && " $* " != *" --no-peers "* ]]; then
  install_peer contextforge "mcp-contextforge-gateway==1.0.7.post20260921"
fi

python3 bench/compare.py "$@"

# Footprint figures (sessions, 1 GiB resource, large catalog, cold start);
# --results is passed on so both tables land in the same file.
results=()
for ((i = 1; i <= $#; i++)); do
  if [[ "${!i}" == --results ]]; then
    next=$((i + 1))
    results=(--results "${!next}")
  fi
done
python3 bench/footprint.py "${results[@]}"
