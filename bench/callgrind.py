"""Instructions per `tools/call` in the gateway, counted by valgrind's
callgrind: repeatable where timings on a shared machine are not.

The release gateway runs under `valgrind --tool=callgrind` in front of the
testkit `echo` service (Unix socket). In one run, for each era, two gateways
each answer a fixed number of calls (`--base` and `--base + --calls`, one
client, one session); instructions per call = (Ir(big) − Ir(base)) / calls,
so start-up, the handshake and shutdown cancel out. Prints the table (and
appends it to `--results`) plus the functions with the most own
instructions in the larger run. Needs valgrind (`apt install valgrind`) and
release binaries (`cargo build --release --workspace --bins`).
With `--cluster`, each run has a per-principal rate limit (never reached),
decided by the gateway alone and through `[cluster]` (a redis-server of its
own): the instructions one shared decision costs the gateway.
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
from compare import RELEASE, TOKEN, Stack, free_port, gateway_config, heading, publish, wait_for_port  # noqa: E402


def counted_run(stack: Stack, name: str, socket_path: Path, era: str, calls: int, metrics: bool, tail: str = "") -> Path:
    """Runs a gateway under callgrind for `calls` echo calls, recording
    Prometheus metrics (its admin listener on) or not, `tail` appended to
    its config; returns its profile."""
    port = free_port()
    admin = f'"127.0.0.1:{free_port()}"' if metrics else '"off"'
    config = gateway_config(stack.work, name, port, [("echo", "", f"unix://{socket_path}")],
                            tail=f"[admin]\nlisten = {admin}\n{tail}")
    profile = stack.work / f"{name}.callgrind"
    process = stack.start(name, ["valgrind", "--tool=callgrind", f"--callgrind-out-file={profile}",
                                 str(RELEASE / "micromcp"), "gateway", "--config", str(config)],
                          {"MICROMCP_TOKEN": TOKEN, "MICROMCP_LOG": "warn"})
    wait_for_port(port, timeout=180, process=process)
    time.sleep(1.0)  # let the catalog arrive
    subprocess.run([str(RELEASE / "micromcp-loadtest"), "--url", f"http://127.0.0.1:{port}/mcp", "--token", TOKEN,
                    "--era", era, "--tool", "echo", "--args", '{"text":"hello"}', "--concurrency", "1",
                    "--requests", str(calls), "--warmup", "0s", "--duration", "1200s"],
                   check=True, stdout=subprocess.DEVNULL, timeout=1800)
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=120)
    return profile


def total_instructions(profile: Path) -> int:
    text = profile.read_text(errors="replace")
    found = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no instruction total in {profile}")
    return int(found.group(1))


def top_functions(profile: Path, count: int) -> list[str]:
    annotated = subprocess.run(["callgrind_annotate", "--inclusive=no", str(profile)],
                               capture_output=True, text=True, check=True).stdout
    rows = [line.strip() for line in annotated.splitlines() if re.match(r"^\s*[\d,]+ \(\s*[\d.]+%\)", line)]
    return rows[1:count + 1]  # the first row is the program total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=int, default=200, help="calls in the baseline run")
    parser.add_argument("--calls", type=int, default=2000, help="extra calls in the counted run")
    parser.add_argument("--eras", default="legacy,modern")
    parser.add_argument("--metrics", default="off,on", help="runs without and with Prometheus metrics recorded")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--results", type=Path, help="append the table to this Markdown file")
    parser.add_argument("--cluster", action="store_true",
                        help="runs with a per-principal rate limit, decided alone and through [cluster] Redis")
    options = parser.parse_args()
    stack = Stack(Path(tempfile.mkdtemp(prefix="micromcp-callgrind-")))
    rows, tops = [], {}
    try:
        socket_path = stack.work / "testkit.sock"
        stack.start("testkit", [str(RELEASE / "micromcp"), "testkit", "--socket", str(socket_path)], {"MICROMCP_LOG": "warn"})
        for _ in range(200):
            if socket_path.exists():
                break
            time.sleep(0.05)
        setups = [("", "")]
        if options.cluster:
            redis_port = free_port()
            stack.start("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no"])
            wait_for_port(redis_port)
            limits = "[rate_limits]\nper_principal_per_sec = 1000000\nper_principal_burst = 1000000\n"
            setups = [(", rate limit", limits),
                      (", rate limit + [cluster]", limits + f'[cluster]\nredis_url = "redis://127.0.0.1:{redis_port}"\n')]
        for era in options.eras.split(","):
            for metrics in options.metrics.split(","):
                for label, tail in setups:
                    name = f"{era}-metrics-{metrics}{label}".replace(" ", "-").replace(",", "").replace("+", "and")
                    name = name.replace("[", "").replace("]", "")
                    recording = metrics == "on"
                    base = total_instructions(counted_run(stack, f"{name}-base", socket_path, era, options.base, recording, tail))
                    big_profile = counted_run(stack, f"{name}-big", socket_path, era, options.base + options.calls, recording, tail)
                    big = total_instructions(big_profile)
                    per_call = (big - base) / options.calls
                    row = f"{era}, metrics {metrics}{label}"
                    rows.append((row, base, big, per_call))
                    tops[row] = top_functions(big_profile, options.top)
                    print(f"{row}: {per_call:,.0f} instructions per call", flush=True)
    finally:
        stack.stop()
    lines = [
        *heading("Instructions per call (callgrind)", "callgrind.py"),
        "| era, metrics | Ir, {0} calls | Ir, {1} calls | instructions per `tools/call` (gateway) |".format(options.base, options.base + options.calls),
        "|---|---:|---:|---:|",
        *(f"| {era} | {base:,} | {big:,} | {per_call:,.0f} |" for era, base, big, per_call in rows),
    ]
    for era, top in tops.items():
        lines += ["", f"Most own instructions, {era} run with {options.base + options.calls} calls (`callgrind_annotate --inclusive=no`):", "", "```"]
        lines += top
        lines += ["```"]
    publish("\n".join(lines), options.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
