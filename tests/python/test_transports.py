"""The stdio front with the official SDK (both eras), `list_changed`
notifications when a service's catalog changes, 2026-07-28 cancellation by
closing the response stream, and `micromcp up`'s generated token file."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
import time
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from conftest import BINARY, make_root, wait_for_line
from test_hostile import MODERN_META, initialize, legacy

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stdio_front(tmp_path, mode):
    root = make_root(tmp_path)
    params = StdioServerParameters(
        command=str(BINARY),
        args=["stdio", "--root", str(root)],
        env={**os.environ, "MICROMCP_LOG": "warn"},
        cwd="/",
    )
    async with Client(params, mode=mode) as client:
        tools = await client.list_tools()
        assert "fs.read_file" in {tool.name for tool in tools.tools}
        result = await client.call_tool("fs.read_file", {"path": "hello.txt"})
        assert result.content[0].text == "hello from the fs service\n"
        refused = await client.call_tool("fs.read_file", {"path": "../outside/secret.txt"})
        assert refused.is_error


def test_stdio_without_a_root_serves_nothing_and_names_the_flag(tmp_path):
    """Desktop clients often start servers in `/` or the home directory:
    `micromcp stdio` without `--root` used to serve that directory (it
    listed `/` and read `etc/hostname`). It now refuses to start, naming the
    flag, before anything is served."""
    for cwd in ["/", str(tmp_path)]:
        started = time.monotonic()
        refused = subprocess.run([str(BINARY), "stdio"], cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                 env={**os.environ, "MICROMCP_LOG": "warn"}, timeout=30)
        assert refused.returncode != 0, refused
        assert "micromcp stdio needs --root DIR" in refused.stderr, refused.stderr
        assert refused.stdout == "" and time.monotonic() - started < 10


def test_stdio_refuses_a_relative_root_and_names_the_flag(tmp_path):
    """`micromcp stdio --root .` (or any relative path, or `/proc/self/cwd`)
    resolved against the working directory a desktop client chose, often
    `/`: serving it again. Only absolute roots are taken, the flag named."""
    for root in [".", "docs", "./", "/proc/self/cwd", "/dev/fd/../../"]:
        for cwd in ["/", str(tmp_path)]:
            refused = subprocess.run([str(BINARY), "stdio", "--root", root], cwd=cwd, stdin=subprocess.DEVNULL,
                                     capture_output=True, text=True, env={**os.environ, "MICROMCP_LOG": "warn"}, timeout=30)
            assert refused.returncode != 0, (root, cwd, refused)
            assert f"--root {root}: micromcp stdio needs an absolute path" in refused.stderr, refused.stderr
            assert refused.stdout == ""


async def test_stdio_runs_the_configured_bridges_and_search_as_up_does(tmp_path):
    """`micromcp stdio --config` aggregates `[mcp_servers]` and, with an
    index directory, `[search]`, as `up` does; `[search]` keys without
    `index_dir` are refused with the key named."""
    root = make_root(tmp_path)
    time_server = Path(__file__).resolve().parents[2] / ".cache/venv/bin/mcp-server-time"
    config = tmp_path / "desktop.toml"
    config.write_text(
        f'[search]\nindex_dir = "{tmp_path / "index"}"\n'
        f'[mcp_servers.time]\ncommand = "{time_server}"\nargs = ["--local-timezone", "UTC"]\n'
    )
    params = StdioServerParameters(command=str(BINARY), args=["stdio", "--root", str(root), "--config", str(config)],
                                   env={**os.environ, "MICROMCP_LOG": "warn"}, cwd="/")
    async with Client(params, mode="legacy") as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"fs.read_file", "search.query", "time.get_current_time"} <= names, names
        now = await client.call_tool("time.get_current_time", {"timezone": "UTC"})
        assert not now.is_error
    config.write_text("[search]\ncrawl = false\n")
    refused = subprocess.run([str(BINARY), "stdio", "--root", str(root), "--config", str(config)],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "search.index_dir: required by `micromcp stdio`" in refused.stderr, refused.stderr


def test_list_changed_reaches_the_get_stream(gateway_testkit):
    session = initialize(gateway_testkit)
    found: list[dict] = []

    def read():
        headers = {"Accept": "text/event-stream", "Mcp-Session-Id": session, **gateway_testkit.headers}
        with httpx2.Client(timeout=httpx2.Timeout(10.0, read=5.0)) as client:
            with client.stream("GET", gateway_testkit.url, headers=headers) as response:
                for line in response.iter_lines():
                    if line.startswith("data: ") and len(line) > 6:
                        found.append(json.loads(line[6:]))
                        return

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.5)
    toggled = legacy(gateway_testkit, session, "tools/call", {"name": "toggle_extra_tool", "arguments": {}})
    assert toggled.json()["result"]["content"][0]["text"] == "extra_tool added"
    reader.join(timeout=10)
    assert found == [{"jsonrpc": "2.0", "method": "notifications/tools/list_changed", "params": {}}]
    tools = legacy(gateway_testkit, session, "tools/list").json()["result"]["tools"]
    assert "extra_tool" in {tool["name"] for tool in tools}


def test_modern_stream_close_cancels_the_backend_call(gateway_testkit):
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "slow", "arguments": {"millis": 1500}, "_meta": {**MODERN_META, "progressToken": 1}}}
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
               "Mcp-Method": "tools/call", "Mcp-Name": "slow", **gateway_testkit.headers}
    with httpx2.Client(timeout=10) as client:
        with client.stream("POST", gateway_testkit.url, content=json.dumps(body), headers=headers) as response:
            assert response.headers["content-type"] == "text/event-stream"
            for line in response.iter_lines():
                if line.startswith("data: ") and "notifications/progress" in line:
                    break
    time.sleep(2.0)
    stats = {"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "slow_stats", "arguments": {}, "_meta": MODERN_META}}
    headers.update({"Mcp-Name": "slow_stats"})
    answer = httpx2.post(gateway_testkit.url, content=json.dumps(stats), headers=headers).json()
    assert answer["result"]["structuredContent"] == {"completed": 0}, "closing the stream must cancel the call"


def test_up_generates_a_private_token(tmp_path):
    root = make_root(tmp_path)
    env = {key: value for key, value in os.environ.items() if key != "MICROMCP_TOKEN"}
    env["MICROMCP_LOG"] = "warn"
    process = subprocess.Popen([str(BINARY), "up", "--listen", "127.0.0.1:0", "--root", str(root), "--state-dir", str(tmp_path / "state")],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    try:
        token_line = wait_for_line(process, "bearer token")
        listening = wait_for_line(process, "listening on")
        token_file = tmp_path / "state" / "token"
        token = token_file.read_text().strip()
        assert token in token_line and "generated" in token_line
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        url = listening.split("listening on ")[1].strip()
        ping = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": MODERN_META}}
        headers = {"Content-Type": "application/json", "Accept": "application/json", "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"}
        assert httpx2.post(url, content=json.dumps(ping), headers=headers).status_code == 401
        ok = httpx2.post(url, content=json.dumps(ping), headers={**headers, "Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json()["result"]["tools"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_insecure_mode_is_refused_beyond_loopback(tmp_path):
    result = subprocess.run([str(BINARY), "up", "--listen", "0.0.0.0:0", "--insecure-no-auth", "--root", str(tmp_path), "--state-dir", str(tmp_path / "s")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "auth.insecure_no_auth" in result.stderr and "not a loopback address" in result.stderr
