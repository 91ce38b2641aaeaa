"""A bridged stdio server slower to start than the bridge's wait for its
answer to `server/discover` (10 s, after which the bridge falls back to
`initialize`): the server then reads both requests and answers both, and the
late answer to the abandoned `server/discover` must not be taken for the
answer to `initialize` ("conflict initialized response id: expected 1, got
0"). The official Python SDK server (`fixtures/slow_start_server.py`) behind
the real `micromcp up`; the official Python SDK client calls its tool."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest

from conftest import make_root, start_up
from test_find_tools import connect

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", ["legacy"])
async def test_a_server_slower_than_the_discover_wait_is_bridged(tmp_path, mode):
    fixture = Path(__file__).parent / "fixtures" / "slow_start_server.py"
    servers = {"mcpServers": {"slow": {"command": sys.executable, "args": [str(fixture), "12"]}}}
    (tmp_path / "servers.json").write_text(json.dumps(servers))
    running = start_up(tmp_path, make_root(tmp_path), extra=["--mcp-servers", str(tmp_path / "servers.json")])
    try:
        async with connect(running, mode) as client:
            # `up` listens once its services answer or their wait ends; the
            # bridged server's tools come when its handshake is through
            with anyio.fail_after(40):
                while "slow.convert_celsius_to_fahrenheit" not in {tool.name for tool in (await client.list_tools()).tools}:
                    await anyio.sleep(0.5)
            called = await client.call_tool("slow.convert_celsius_to_fahrenheit", {"celsius": 100})
            assert not called.is_error and called.content[0].text == "212", called
    finally:
        running.stop()
