"""Instructions per bridged `tools/call` in the bridge process, counted by
valgrind's callgrind: repeatable where timings on a shared machine are not.

`micromcp bridge` runs under `valgrind --tool=callgrind` in front of the
`micromcp-echo` MCP server — over stdio (`--command`) or Streamable HTTP
(`--url`) — and a release gateway (not counted) fronts the bridge. For each
upstream, two bridges each answer a fixed number of calls (`--base` and
`--base + --calls`, one client, one 2025-11-25 session); instructions per
call = (Ir(big) − Ir(base)) / calls, so start-up, the upstream handshake
and shutdown cancel out. Prints the table (and appends it to `--results`)
plus the functions with the most own instructions in the larger run, and,
with `--inclusive`, the heaviest inclusive ones. `--binary` measures
another build of `micromcp` (e.g. one copied aside before a change).
Needs valgrind and release binaries. Profiles go to a temporary directory
removed at exit.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from callgrind import top_functions, total_instructions  # noqa: E402
from compare import RELEASE, TOKEN, Stack, free_port, heading, publish, start_gateway, wait_for_port  # noqa: E402


def counted_run(stack: Stack, binary: Path, name: str, upstream: list[str], calls: int, era: str) -> Path:
    """Runs a bridge under callgrind for `calls` echo calls through a
    gateway; returns its profile."""
    socket_path = stack.work / f"{name}.sock"
    profile = stack.work / f"{name}.callgrind"
    process = stack.start(name, ["valgrind", "--tool=callgrind", f"--callgrind-out-file={profile}",
                                 str(binary), "bridge", "--name", "echo", *upstream, "--socket", str(socket_path)],
                          {"MICROMCP_LOG": "warn"})
    deadline = time.monotonic() + 180
    while not socket_path.exists():
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"the bridge under valgrind did not start (log: {stack.work / (name + '.log')})")
        time.sleep(0.1)
    port, _ = start_gateway(stack, f"{name}-gateway", [("echo", "", f"unix://{socket_path}")],
                            tail='[admin]\nlisten = "off"\n')
    time.sleep(2.0)  # let the catalog arrive through the slow bridge
    subprocess.run([str(RELEASE / "micromcp-loadtest"), "--url", f"http://127.0.0.1:{port}/mcp", "--token", TOKEN,
                    "--era", era, "--tool", "echo", "--args", '{"text":"hello"}', "--concurrency", "1",
                    "--requests", str(calls), "--warmup", "0s", "--duration", "1200s"],
                   check=True, stdout=subprocess.DEVNULL, timeout=1800)
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=120)
    return profile


def top_inclusive(profile: Path, count: int, pattern: str) -> list[str]:
    """The heaviest inclusive rows whose function matches `pattern`."""
    annotated = subprocess.run(["callgrind_annotate", "--inclusive=yes", str(profile)],
                               capture_output=True, text=True, check=True).stdout
    rows = [line.strip() for line in annotated.splitlines()
            if re.match(r"^\s*[\d,]+ \(\s*[\d.]+%\)", line) and re.search(pattern, line)]
    return rows[1:count + 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--binary", type=Path, default=RELEASE / "micromcp")
    parser.add_argument("--label", default="this build")
    parser.add_argument("--base", type=int, default=200, help="calls in the baseline run")
    parser.add_argument("--calls", type=int, default=2000, help="extra calls in the counted run")
    parser.add_argument("--upstreams", default="stdio,http")
    parser.add_argument("--era", default="legacy", help="the clients' era (legacy or modern)")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--inclusive", default="", help="regex: also list inclusive rows matching it")
    parser.add_argument("--keep", type=Path, help="move the larger runs' profiles here instead of removing them")
    parser.add_argument("--results", type=Path, help="append the table to this Markdown file")
    options = parser.parse_args()
    stack = Stack(Path(tempfile.mkdtemp(prefix="micromcp-bridge-callgrind-")))
    rows, tops = [], {}
    try:
        echo_port = free_port()
        stack.start("echo-http", [str(RELEASE / "micromcp-echo"), "--listen", f"127.0.0.1:{echo_port}"])
        wait_for_port(echo_port)
        upstreams = {
            "stdio": ["--command", str(RELEASE / "micromcp-echo"), "--arg", "--stdio"],
            "http": ["--url", f"http://127.0.0.1:{echo_port}/mcp"],
        }
        for kind in options.upstreams.split(","):
            base_profile = counted_run(stack, options.binary, f"{kind}-base", upstreams[kind], options.base, options.era)
            base = total_instructions(base_profile)
            big_profile = counted_run(stack, options.binary, f"{kind}-big", upstreams[kind],
                                      options.base + options.calls, options.era)
            big = total_instructions(big_profile)
            per_call = (big - base) / options.calls
            rows.append((kind, base, big, per_call))
            tops[kind] = top_functions(big_profile, options.top)
            if options.inclusive:
                tops[kind + " (inclusive)"] = top_inclusive(big_profile, options.top, options.inclusive)
            print(f"{kind}: {per_call:,.0f} instructions per call in the bridge", flush=True)
            base_profile.unlink(missing_ok=True)
            if options.keep:
                options.keep.mkdir(parents=True, exist_ok=True)
                big_profile.rename(options.keep / big_profile.name)
            else:
                big_profile.unlink(missing_ok=True)
    finally:
        stack.stop()
        subprocess.run(["rm", "-rf", str(stack.work)], check=False)
    lines = [
        *heading(f"Bridge instructions per call (callgrind), {options.label}", "bridge_callgrind.py"),
        f"| upstream | Ir, {options.base} calls | Ir, {options.base + options.calls} calls | instructions per `tools/call` (bridge) |",
        "|---|---:|---:|---:|",
        *(f"| {kind} | {base:,} | {big:,} | {per_call:,.0f} |" for kind, base, big, per_call in rows),
    ]
    for kind, top in tops.items():
        lines += ["", f"Most instructions, {kind}, run with {options.base + options.calls} calls (`callgrind_annotate`):", "", "```"]
        lines += top
        lines += ["```"]
    publish("\n".join(lines), options.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
