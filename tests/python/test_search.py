"""The search service under `micromcp up`, through the gateway: the start-up
crawl makes the root's files searchable, documents indexed through the
gateway are committed before the answer, and survive `kill -9` of the service
(the supervisor restarts it; nothing acknowledged is lost)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from conftest import make_root, start_up
from test_failures import eventually
from test_hostile import initialize, legacy
from test_sdk_eras import connect

pytestmark = pytest.mark.anyio


def child_pid(running, name: str) -> int:
    up_pid = running.processes[0].pid
    for task in os.listdir(f"/proc/{up_pid}/task"):
        for pid in open(f"/proc/{up_pid}/task/{task}/children").read().split():
            if open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[1:2] == [name.encode()]:
                return int(pid)
    raise AssertionError(f"no {name} child")


async def test_crawl_then_search(tmp_path):
    root = make_root(tmp_path)
    running = start_up(tmp_path, root)
    try:
        async with connect(running, "auto") as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert {"search.query", "search.index", "search.similar", "search.hybrid", "search.stats", "search.delete"} <= names
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                stats = await client.call_tool("search.stats", {})
                if stats.structured_content["crawl"]["finished"]:
                    break
                time.sleep(0.1)
            assert stats.structured_content["crawl"]["files_indexed"] >= 2
            found = await client.call_tool("search.query", {"query": "guide"})
            assert found.structured_content["hits"][0]["title"] == "guide.md"
            assert "<b>Guide</b>" in found.structured_content["hits"][0]["snippet"]
    finally:
        running.stop()


def test_acknowledged_documents_survive_kill_9(gateway_up):
    session = initialize(gateway_up)
    documents = [{"id": f"doc-{n}", "title": f"note {n}", "body": f"durable payload number {n}", "vector": [float(n), 1.0]} for n in range(50)]
    indexed = legacy(gateway_up, session, "tools/call", {"name": "search.index", "arguments": {"documents": documents}}).json()
    assert indexed["result"]["structuredContent"] == {"indexed": 50}
    victim = child_pid(gateway_up, "search")
    os.kill(victim, signal.SIGKILL)

    def query():
        body = legacy(gateway_up, session, "tools/call", {"name": "search.query", "arguments": {"query": "durable", "limit": 100}}).json()
        return body.get("result") and body

    recovered = eventually(query, timeout=20)
    assert recovered["result"]["structuredContent"]["total"] == 50
    assert child_pid(gateway_up, "search") != victim
    similar = legacy(gateway_up, session, "tools/call", {"name": "search.similar", "arguments": {"vector": [49.0, 1.0], "k": 1}}).json()
    assert similar["result"]["structuredContent"]["hits"][0]["id"] == "doc-49"
    resource = legacy(gateway_up, session, "resources/read", {"uri": "search://doc/doc-7"}).json()
    assert "durable payload number 7" in resource["result"]["contents"][0]["text"]
