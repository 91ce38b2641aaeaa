"""Footprint figures of the gateway process (release build, loopback, every
process bounded in time), printed as a Markdown table:

- RSS with 10 000 idle 2025-11-25 sessions (initialize + initialized each);
- peak RSS while one client streams a 1 GiB resource through fs → gateway;
- `tools/list` latency with 100 services × 100 tools (first page of 1000, and
  all 10 000 tools in one page), measured with micromcp-loadtest;
- cold start: exec of `micromcp gateway` to the first answered initialize,
  with its service already running (median of 5).

Run through bench/compare.sh (which builds first) or directly after
`cargo build --release`."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from compare import RELEASE, TOKEN, Stack, free_port, gateway_config, heading, publish, start_gateway, wait_for_port

INITIALIZE = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "footprint", "version": "1"}}})
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
           "Authorization": f"Bearer {TOKEN}"}


def status_kib(pid: int, field: str) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def idle_sessions(stack: Stack, endpoint: str, count: int) -> dict:
    port, pid = start_gateway(stack, "sessions", [("echo", "", endpoint)])
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.request("POST", "/mcp", INITIALIZE, HEADERS)
    connection.getresponse().read()
    before = status_kib(pid, "VmRSS")
    sessions = []
    for _ in range(count):
        connection.request("POST", "/mcp", INITIALIZE, HEADERS)
        response = connection.getresponse()
        response.read()
        session = response.getheader("Mcp-Session-Id")
        connection.request("POST", "/mcp", json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                           {**HEADERS, "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"})
        connection.getresponse().read()
        sessions.append(session)
    # Each session is used once more, so any per-session state exists.
    for session in sessions:
        connection.request("POST", "/mcp", json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
                           {**HEADERS, "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"})
        connection.getresponse().read()
    time.sleep(0.5)
    after = status_kib(pid, "VmRSS")
    return {"sessions": len(set(sessions)), "rss_before_mib": before / 1024, "rss_after_mib": after / 1024}


def big_resource(stack: Stack, size: int) -> dict:
    root = stack.work / "root"
    root.mkdir(exist_ok=True)
    big = root / "big.bin"
    with open(big, "wb") as out:
        out.truncate(size)
    socket_path = stack.work / "fs.sock"
    stack.start("fs", [str(RELEASE / "micromcp"), "fs", "--root", str(root), "--socket", str(socket_path)], {"MICROMCP_LOG": "warn"})
    for _ in range(200):
        if socket_path.exists():
            break
        time.sleep(0.05)
    port, pid = start_gateway(stack, "resource", [("fs", "fs", f"unix://{socket_path}")])
    before = status_kib(pid, "VmHWM")
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.request("POST", "/mcp", INITIALIZE, HEADERS)
    response = connection.getresponse()
    response.read()
    session = response.getheader("Mcp-Session-Id")
    body = json.dumps({"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": {"uri": f"file://{big}"}})
    started = time.monotonic()
    connection.request("POST", "/mcp", body, {**HEADERS, "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"})
    response = connection.getresponse()
    received = 0
    while chunk := response.read(1 << 20):
        received += len(chunk)
    seconds = time.monotonic() - started
    peak = status_kib(pid, "VmHWM")
    return {"status": response.status, "received_mib": received / 2**20, "seconds": seconds,
            "rss_peak_before_mib": before / 1024, "rss_peak_after_mib": peak / 1024}


def loadtest_list(url: str, duration: str) -> dict:
    out = Path(url.replace("/", "_").replace(":", "_") + ".json")
    subprocess.run([str(RELEASE / "micromcp-loadtest"), "--url", url, "--token", TOKEN, "--era", "legacy",
                    "--method", "tools/list", "--concurrency", "1", "--duration", duration, "--warmup", "1s",
                    "--json", str(out)], check=True, stdout=subprocess.DEVNULL, timeout=300)
    report = json.loads(out.read_text())
    out.unlink()
    return report


def large_catalog(stack: Stack, services: int, tools: int, duration: str) -> dict:
    socket_path = stack.work / "generated.sock"
    stack.start("generated", [str(RELEASE / "micromcp"), "testkit", "--generated-tools", str(tools), "--socket", str(socket_path)],
                {"MICROMCP_LOG": "warn"})
    for _ in range(200):
        if socket_path.exists():
            break
        time.sleep(0.05)
    mounts = [(f"s{index}", f"s{index}", f"unix://{socket_path}") for index in range(services)]
    paged_port, _ = start_gateway(stack, "catalog-paged", mounts)
    whole_port, _ = start_gateway(stack, "catalog-whole", mounts, page_size=services * tools)
    paged = loadtest_list(f"http://127.0.0.1:{paged_port}/mcp", duration)
    whole = loadtest_list(f"http://127.0.0.1:{whole_port}/mcp", duration)
    return {"first_page": paged, "all_in_one_page": whole}


def cold_start(stack: Stack, endpoint: str, runs: int) -> list[float]:
    timings = []
    for run in range(runs):
        port = free_port()
        config = gateway_config(stack.work, f"cold{run}", port, [("echo", "", endpoint)])
        started = time.monotonic()
        process = subprocess.Popen([str(RELEASE / "micromcp"), "gateway", "--config", str(config)],
                                   env={**os.environ, "MICROMCP_TOKEN": TOKEN, "MICROMCP_LOG": "warn"},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                    connection.request("POST", "/mcp", INITIALIZE, HEADERS)
                    if connection.getresponse().status == 200:
                        break
                except OSError:
                    time.sleep(0.001)
                if time.monotonic() - started > 10:
                    raise RuntimeError("gateway not ready in 10 s")
            timings.append((time.monotonic() - started) * 1000)
        finally:
            process.terminate()
            process.wait(timeout=10)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--resource-mib", type=int, default=1024)
    parser.add_argument("--duration", default="5s")
    parser.add_argument("--results", type=Path, help="append the table to this Markdown file")
    options = parser.parse_args()
    if options.results:
        options.results = options.results.resolve()
    stack = Stack(Path(tempfile.mkdtemp(prefix="micromcp-footprint-")))
    os.chdir(stack.work)
    try:
        testkit_port = free_port()
        stack.start("testkit", [str(RELEASE / "micromcp"), "testkit", "--listen", f"127.0.0.1:{testkit_port}"], {"MICROMCP_LOG": "warn"})
        wait_for_port(testkit_port)
        endpoint = f"http://127.0.0.1:{testkit_port}"
        sessions = idle_sessions(stack, endpoint, options.sessions)
        print("sessions", sessions, flush=True)
        resource = big_resource(stack, options.resource_mib * 2**20)
        print("resource", resource, flush=True)
        catalog = large_catalog(stack, 100, 100, options.duration)
        print("catalog", {key: value["latency"] for key, value in catalog.items()}, flush=True)
        starts = cold_start(stack, endpoint, 5)
        print("cold start ms", starts, flush=True)
    finally:
        stack.stop()
    lines = [
        *heading(f"Footprint ({os.cpu_count()} cores)", "footprint.py"),
        "| measure | result | target |",
        "|---|---:|---:|",
        f"| gateway RSS with {sessions['sessions']} idle sessions (before → after) | "
        f"{sessions['rss_before_mib']:.1f} → {sessions['rss_after_mib']:.1f} MiB | < 200 MiB |",
        f"| gateway peak RSS streaming a {resource['received_mib'] / 1024:.2f} GiB answer for a {options.resource_mib} MiB resource "
        f"(base64; {resource['seconds']:.1f} s, HTTP {resource['status']}) | {resource['rss_peak_after_mib']:.1f} MiB "
        f"(peak before: {resource['rss_peak_before_mib']:.1f}) | < 64 MiB |",
        f"| `tools/list` p50 / p99, 100 services × 100 tools, first page of 1000 | "
        f"{catalog['first_page']['latency']['p50_us']} / {catalog['first_page']['latency']['p99_us']} µs | – |",
        f"| `tools/list` p50 / p99, all 10 000 tools in one page | "
        f"{catalog['all_in_one_page']['latency']['p50_us']} / {catalog['all_in_one_page']['latency']['p99_us']} µs | ≤ 1 ms p50 |",
        f"| cold start to first answered `initialize` (median of {len(starts)}; runs: {', '.join(f'{value:.0f}' for value in starts)} ms) | "
        f"{statistics.median(starts):.0f} ms | < 200 ms |",
    ]
    publish("\n".join(lines), options.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
