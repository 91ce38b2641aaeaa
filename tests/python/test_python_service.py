"""A service written in Python on grpcio (examples/python/notes_service.py,
its stubs generated from proto/micromcp/v1/service.proto by grpcio-tools)
behind a real `micromcp gateway`, called through the official Python MCP
client: a tool with streamed progress, a resource read in chunks, and a
catalog change the gateway follows."""

from __future__ import annotations

import os
import subprocess
import sys

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import BINARY, REPO, TOKEN, free_port, wait_for_line

pytestmark = pytest.mark.anyio

SERVICE = REPO / "examples" / "python" / "notes_service.py"


@pytest.fixture
def notes_gateway(tmp_path):
    service = subprocess.Popen([sys.executable, str(SERVICE), "--listen", "127.0.0.1:0", "--stubs", str(tmp_path / "stubs")],
                               stdout=subprocess.PIPE, text=True)
    gateway = None
    try:
        service_port = int(wait_for_line(service, "notes service on", timeout=60).strip().rsplit(":", 1)[1])
        assert (tmp_path / "stubs" / "micromcp" / "v1" / "service_pb2.py").exists(), "stubs generated from the contract"
        port = free_port()
        config = tmp_path / "micromcp.toml"
        config.write_text(f'version = 1\n[gateway]\nlisten = "127.0.0.1:{port}"\nsession_key_file = "{tmp_path / "session.key"}"\n'
                          f'[admin]\nlisten = "off"\n[[services]]\nname = "notes"\nendpoint = "http://127.0.0.1:{service_port}"\n')
        gateway = subprocess.Popen([str(BINARY), "gateway", "--config", str(config)], stdout=subprocess.PIPE, text=True,
                                   env=dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="warn"))
        wait_for_line(gateway, "listening on")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        for process in (gateway, service):
            if process is not None:
                process.terminate()
                process.wait(timeout=10)


def connect(url: str) -> Client:
    """The official client, without its response cache (lists are asked
    again, not answered from the client's copy)."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(30.0))
    return Client(streamable_http_client(url, http_client=http), cache=None)


async def test_a_tool_streams_its_progress(notes_gateway):
    updates = []

    async def on_progress(progress, total, message):
        updates.append((progress, total, message))

    async with connect(notes_gateway) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"notes.count", "notes.add_note"} <= names, names
        result = await client.call_tool("notes.count", {"to": 5}, progress_callback=on_progress)
    assert not result.is_error and result.content[0].text == "counted to 5", result
    assert [progress for progress, _, _ in updates] == [1, 2, 3, 4, 5], updates
    assert all(total == 5 for _, total, _ in updates) and updates[-1][2] == "step 5", updates


async def test_a_resource_is_read_whole_from_its_chunks(notes_gateway):
    async with connect(notes_gateway) as client:
        read = await client.read_resource("note://big")
    text = read.contents[0].text
    assert len(text.encode()) == 200_000, len(text)
    assert text.startswith("line 000000 of the big note\n") and "line 003000 of the big note\n" in text


async def test_a_catalog_change_reaches_the_gateway(notes_gateway):
    async with connect(notes_gateway) as client:
        uris = {str(resource.uri) for resource in (await client.list_resources()).resources}
        assert "note://big" in uris and "note://hello" not in uris, uris
        added = await client.call_tool("notes.add_note", {"name": "hello", "text": "hello from Python"})
        assert added.content[0].text == "added note://hello", added
        with anyio.fail_after(10):
            while "note://hello" not in {str(resource.uri) for resource in (await client.list_resources()).resources}:
                await anyio.sleep(0.1)
        read = await client.read_resource("note://hello")
    assert read.contents[0].text == "hello from Python"


def test_a_copy_outside_the_checkout_runs_with_its_proto_and_writes_nothing_beside_itself(tmp_path):
    """The example only ran inside a checkout, wrote `generated/` into the
    source tree, and a second copy on a taken port started silently."""
    import shutil
    import socket

    copy_dir = tmp_path / "mine"
    copy_dir.mkdir()
    copy = copy_dir / "notes_service.py"
    shutil.copy(SERVICE, copy)
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    without_proto = subprocess.run([sys.executable, str(copy), "--listen", "127.0.0.1:0"], env=env,
                                   capture_output=True, text=True, timeout=60)
    assert without_proto.returncode != 0 and "--proto" in without_proto.stderr, without_proto.stderr
    service = subprocess.Popen([sys.executable, str(copy), "--listen", "127.0.0.1:0", "--proto", str(REPO / "proto")],
                               env=env, stdout=subprocess.PIPE, text=True)
    try:
        port = int(wait_for_line(service, "notes service on", timeout=60).strip().rsplit(":", 1)[1])
        assert sorted(path.name for path in copy_dir.iterdir()) == ["notes_service.py"], "nothing beside the source"
        assert list((tmp_path / "cache" / "micromcp" / "python-stubs").glob("*/micromcp/v1/service_pb2.py"))
        second = subprocess.run([sys.executable, str(copy), "--listen", f"127.0.0.1:{port}", "--proto", str(REPO / "proto")],
                                env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode != 0 and "is the port taken" in second.stderr, second.stdout + second.stderr
    finally:
        service.terminate()
        service.wait(timeout=10)
    assert not (SERVICE.parent / "generated").exists(), "the checkout's example wrote nothing into the tree"
