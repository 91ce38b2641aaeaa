"""A client that never reads its answers, measured: `micromcp gateway` in
front of the testkit service, two principals. The quiet one calls `echo`
closed loop; its p50/p99 are measured first alone, then while the other
principal floods the gateway from many keep-alive connections with
`echo` calls carrying a large argument and never reads a byte of the
answers (refused or cut connections are opened again). The gateway's RSS
is sampled throughout; each figure is a ratio against the baseline of the
same run and binary.

Everything started here has a bounded lifetime and talks only to
127.0.0.1. Run: `python3 loadtest/unread_answers.py [--binary target/debug/micromcp]
[--connections 250] [--pad 1500000] [--seconds 15]`; run it once with the
binary before the change and once after (e.g. `--binary /path/to/old/micromcp`)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOKEN = "flooder-token-0123456789abcdef"
QUIET = "quiet-token-0123456789abcdef"
META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_port(port: int) -> None:
    for _ in range(400):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def call_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
            "Mcp-Method": "tools/call", "Mcp-Name": "echo"}


def echo_body(pad: int) -> bytes:
    arguments = {"pad": "x" * pad} if pad else {"n": 1}
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "echo", "arguments": arguments, "_meta": META}}).encode()


def quiet_latencies(url: str, seconds: float) -> list[float]:
    latencies = []
    deadline = time.monotonic() + seconds
    request_body = echo_body(0)
    while time.monotonic() < deadline:
        started = time.monotonic()
        request = urllib.request.Request(url, data=request_body, headers=call_headers(QUIET))
        try:
            urllib.request.urlopen(request, timeout=60).read()
        except OSError:
            pass
        latencies.append(time.monotonic() - started)
    return latencies


def flood(port: int, connections: int, pad: int, stop: threading.Event) -> None:
    body = echo_body(pad)
    head = "".join(f"{name}: {value}\r\n" for name, value in call_headers(TOKEN).items())
    request = f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body

    def open_one():
        connection = socket.socket()
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        connection.setblocking(False)
        connection.connect_ex(("127.0.0.1", port))
        return [connection, 0]

    sockets = [open_one() for _ in range(connections)]
    view = memoryview(request)
    while not stop.is_set():
        for entry in sockets:
            try:
                entry[1] = (entry[1] + entry[0].send(view[entry[1]:])) % len(request)
            except BlockingIOError:
                continue
            except OSError:
                entry[0].close()
                entry[:] = open_one()
        time.sleep(0.005)
    for connection, _ in sockets:
        connection.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(binary: str, connections: int, pad: int, seconds: float) -> dict:
    base = Path(tempfile.mkdtemp(prefix="unread-"))
    service_port, port = free_port(), free_port()
    env = dict(os.environ, MICROMCP_LOG="error", MICROMCP_TOKEN=TOKEN)
    service = subprocess.Popen([binary, "testkit", "--listen", f"127.0.0.1:{service_port}"], env=env)
    wait_port(service_port)
    digest = hashlib.sha256(QUIET.encode()).hexdigest()
    (base / "micromcp.toml").write_text(
        f'version = 1\n[gateway]\nlisten = "127.0.0.1:{port}"\nsession_key_file = "{base / "session.key"}"\n'
        f'[[auth.tokens]]\nname = "quiet"\nsha256 = "{digest}"\nscopes = ["*"]\n'
        f'[[services]]\nname = "testkit"\nnamespace = ""\nendpoint = "http://127.0.0.1:{service_port}"\n')
    gateway = subprocess.Popen([binary, "gateway", "--config", str(base / "micromcp.toml")], env=env,
                               stdout=subprocess.DEVNULL)
    try:
        wait_port(port)
        url = f"http://127.0.0.1:{port}/mcp"
        quiet_latencies(url, 1)
        idle_rss = rss_mib(gateway.pid)
        alone = quiet_latencies(url, seconds / 3)
        stop = threading.Event()
        peak = [idle_rss]

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_mib(gateway.pid))
                time.sleep(0.1)

        threads = [threading.Thread(target=flood, args=(port, connections, pad, stop)),
                   threading.Thread(target=sample)]
        for thread in threads:
            thread.start()
        flooded = quiet_latencies(url, seconds)
        stop.set()
        for thread in threads:
            thread.join()
        return {"idle_rss": idle_rss, "peak_rss": peak[0], "alone": alone, "flooded": flooded}
    finally:
        for process in (gateway, service):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(REPO / "target" / "debug" / "micromcp"))
    parser.add_argument("--connections", type=int, default=250)
    parser.add_argument("--pad", type=int, default=1_500_000)
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    figures = run(args.binary, args.connections, args.pad, args.seconds)
    alone_p50, alone_p99 = percentile(figures["alone"], 0.5), percentile(figures["alone"], 0.99)
    flood_p50, flood_p99 = percentile(figures["flooded"], 0.5), percentile(figures["flooded"], 0.99)
    print(f"binary {args.binary}: RSS idle {figures['idle_rss']:.0f} MiB, peak under flood {figures['peak_rss']:.0f} MiB "
          f"(x{figures['peak_rss'] / figures['idle_rss']:.1f}); quiet principal alone p50 {alone_p50 * 1000:.1f} ms "
          f"p99 {alone_p99 * 1000:.1f} ms ({len(figures['alone'])} calls); under flood p50 {flood_p50 * 1000:.1f} ms "
          f"p99 {flood_p99 * 1000:.1f} ms ({len(figures['flooded'])} calls); p99 ratio x{flood_p99 / alone_p99:.1f}, "
          f"mean {statistics.mean(figures['flooded']) * 1000:.1f} ms")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
