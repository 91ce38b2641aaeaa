"""Existing gRPC services as MCP tools (`kind = "grpc"`): a Python service
on grpcio with grpcio-reflection (v1alpha) and a tonic service with
tonic-reflection (v1), each behind a real `micromcp grpc-service`, behind
a real `micromcp gateway` (and under `micromcp up`), called through the
official Python MCP client: tools with schemas from the request messages,
unary calls answering structuredContent, a server-streaming method
relayed as progress, gRPC errors as tool errors, the deny list, the
deadline, forwarded metadata, hostile descriptors, and a changed catalog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import BINARY, REPO, TOKEN, free_port, wait_for_line, wait_for_port

pytestmark = pytest.mark.anyio

FIXTURES = REPO / "tests" / "python" / "fixtures" / "grpc"
# The tonic example target, built beside the binary (or by this checkout).
TONIC_TARGET = next((path for path in (BINARY.parent / "grpc-target", REPO / "target" / "debug" / "grpc-target")
                     if path.exists()), BINARY.parent / "grpc-target")


def ensure_grpc_reflection() -> None:
    """grpcio-reflection, through the project's installer, when missing."""
    try:
        import grpc_reflection  # noqa: F401
    except ImportError:
        subprocess.run(["bash", str(REPO / "scripts" / "install-test-clients.sh")], cwd=REPO, check=True)


class Processes:
    def __init__(self):
        self.running: list[subprocess.Popen] = []

    def start(self, arguments, needle=None, timeout=60.0, env=None) -> tuple[subprocess.Popen, str]:
        process = subprocess.Popen([str(part) for part in arguments], stdout=subprocess.PIPE, text=True,
                                   env=dict(os.environ, **(env or {})))
        self.running.append(process)
        line = wait_for_line(process, needle, timeout=timeout) if needle else ""
        return process, line

    def python_target(self, script: str, stubs, *extra) -> int:
        _, line = self.start([sys.executable, FIXTURES / script, "--stubs", stubs, *extra], needle=" on 127.0.0.1:")
        return int(line.strip().rsplit(":", 1)[1])

    def translator(self, target_port: int, *extra) -> int:
        port = free_port()
        self.start([BINARY, "grpc-service", "--target", f"http://127.0.0.1:{target_port}",
                    "--listen", f"127.0.0.1:{port}", *extra], env={"MICROMCP_LOG": "warn"})
        wait_for_port(port)
        return port

    def gateway(self, tmp_path, services: dict[str, int]) -> str:
        port = free_port()
        entries = "".join(f'[[services]]\nname = "{name}"\nendpoint = "http://127.0.0.1:{service_port}"\n'
                          for name, service_port in services.items())
        config = tmp_path / "micromcp.toml"
        config.write_text(f'version = 1\n[gateway]\nlisten = "127.0.0.1:{port}"\n'
                          f'session_key_file = "{tmp_path / "session.key"}"\n[admin]\nlisten = "off"\n{entries}')
        self.start([BINARY, "gateway", "--config", config], needle="listening on",
                   env={"MICROMCP_TOKEN": TOKEN, "MICROMCP_LOG": "warn"})
        return f"http://127.0.0.1:{port}/mcp"

    def stop(self, process: subprocess.Popen) -> None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop_all(self) -> None:
        for process in reversed(self.running):
            if process.poll() is None:
                self.stop(process)


@pytest.fixture
def processes():
    ensure_grpc_reflection()
    running = Processes()
    try:
        yield running
    finally:
        running.stop_all()


@pytest.fixture
def targets(tmp_path, processes):
    """The Python bookshelf and the tonic inventory, each behind a translator."""
    books = processes.python_target("bookshelf_server.py", tmp_path / "stubs")
    inventory_process, line = processes.start([TONIC_TARGET], needle="grpc-target on")
    inventory = int(line.strip().rsplit(":", 1)[1])
    url = processes.gateway(tmp_path, {
        "books": processes.translator(books, "--deny", "*/DeleteAll", "--deadline-ms", "1000",
                                      "--forward-metadata", "x-request-id"),
        "inv": processes.translator(inventory),
    })
    return url


def connect(url: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(30.0))
    return Client(streamable_http_client(url, http_client=http), cache=None)


async def tools_once(client, wanted: set[str], timeout: float = 30.0) -> dict:
    """The tools, once every name in `wanted` is listed."""
    with anyio.fail_after(timeout):
        while True:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            if wanted <= tools.keys():
                return tools
            await anyio.sleep(0.2)


async def test_reflected_services_are_tools_with_schemas(targets):
    async with connect(targets) as client:
        tools = await tools_once(client, {"books.Bookshelf.GetBook", "inv.Inventory.GetItem"})
    names = set(tools)
    assert {"books.Bookshelf.ListBooks", "books.Bookshelf.AddBook", "books.Bookshelf.Sleep",
            "inv.Inventory.WatchItem"} <= names, names
    assert "books.Bookshelf.DeleteAll" not in names, "the deny list is honoured"
    assert "books.Bookshelf.Chat" not in names, "bidirectional methods are not tools"
    assert not any("ServerReflection" in name for name in names), names
    add = tools["books.Bookshelf.AddBook"].input_schema
    book = add["properties"]["book"]["properties"]
    assert book["id"]["type"] == ["string", "integer"] and book["genre"]["enum"] == ["GENRE_UNSPECIFIED", "NOVEL", "POETRY"]
    assert book["published"]["format"] == "date-time" and book["labels"]["additionalProperties"]["type"] == "string"
    assert book["authors"]["items"]["type"] == "string"
    assert add["properties"]["notes"]["type"] == "object" and add["properties"]["loan"]["type"] == "string"
    assert add["allOf"][0]["oneOf"][:2] == [{"required": ["shelf"]}, {"required": ["onDesk"]}], add
    item = tools["inv.Inventory.GetItem"]
    assert item.description.startswith("Looks an item up by its SKU."), item.description
    assert item.input_schema["properties"]["sku"]["description"].startswith("The stock-keeping unit"), item.input_schema
    assert "server-streaming" in tools["inv.Inventory.WatchItem"].description


async def test_unary_calls_answer_structured_content(targets):
    async with connect(targets) as client:
        await tools_once(client, {"books.Bookshelf.GetBook", "inv.Inventory.GetItem"})
        book = await client.call_tool("books.Bookshelf.GetBook", {"id": "7"})
        added = await client.call_tool("books.Bookshelf.AddBook", {
            "book": {"id": 9, "title": "Nine", "genre": "POETRY", "published": "2024-01-02T03:04:05Z"},
            "onDesk": True, "notes": {"mood": ["calm", 1]}, "loan": "1.5s"})
        item = await client.call_tool("inv.Inventory.GetItem", {"sku": "A-1"})
    assert not book.is_error, book
    assert book.structured_content["id"] == "7" and book.structured_content["title"] == "Book 7", book
    assert book.structured_content["genre"] == "NOVEL" and book.structured_content["published"] == "2023-11-14T22:13:27Z"
    assert book.structured_content["labels"] == {"shelf": "top"} and book.structured_content["authors"] == ["Ann", "Bo"]
    assert json.loads(book.content[0].text) == book.structured_content
    assert not added.is_error, added
    assert added.structured_content["placed"] == "on_desk" and added.structured_content["loan"] == "1s"
    assert added.structured_content["notes"] == {"mood": ["calm", 1.0]}
    assert added.structured_content["book"]["published"] == "2024-01-02T03:04:05Z"
    assert not item.is_error and item.structured_content["quantity"] == "42", item


async def test_server_streaming_is_relayed_as_progress(targets):
    updates = []

    async def on_progress(progress, total, message):
        updates.append((progress, message))

    async with connect(targets) as client:
        await tools_once(client, {"books.Bookshelf.ListBooks", "inv.Inventory.WatchItem"})
        listed = await client.call_tool("books.Bookshelf.ListBooks", {"count": 3}, progress_callback=on_progress)
        book_updates = list(updates)
        updates.clear()
        watched = await client.call_tool("inv.Inventory.WatchItem", {"updates": 4}, progress_callback=on_progress)
    assert not listed.is_error and listed.structured_content["title"] == "Book 3", listed
    assert [progress for progress, _ in book_updates] == [1, 2, 3], book_updates
    assert json.loads(book_updates[0][1])["title"] == "Book 1", book_updates
    assert not watched.is_error and watched.structured_content["quantity"] == "4", watched
    assert [progress for progress, _ in updates] == [1, 2, 3, 4], updates


async def test_grpc_errors_and_bad_arguments_are_tool_errors(targets):
    async with connect(targets) as client:
        await tools_once(client, {"books.Bookshelf.GetBook", "inv.Inventory.GetItem"})
        missing = await client.call_tool("books.Bookshelf.GetBook", {"id": 500})
        absent = await client.call_tool("inv.Inventory.GetItem", {"sku": "B-1"})
        unknown_field = await client.call_tool("books.Bookshelf.GetBook", {"identifier": 5})
        wrong_type = await client.call_tool("books.Bookshelf.GetBook", {"id": "five"})
    assert missing.is_error and missing.content[0].text == "gRPC status NOT_FOUND (5): no book 500", missing
    assert absent.is_error and absent.content[0].text == "gRPC status NOT_FOUND (5): no item B-1", absent
    for bad in (unknown_field, wrong_type):
        assert bad.is_error and "not a valid bookshelf.v1.GetBookRequest" in bad.content[0].text, bad


async def test_the_deadline_and_the_metadata_allowlist_hold(targets):
    async with connect(targets) as client:
        await tools_once(client, {"books.Bookshelf.Sleep"})
        started = time.monotonic()
        slow = await client.call_tool("books.Bookshelf.Sleep", {"millis": 5000})
        elapsed = time.monotonic() - started
        quick = await client.call_tool("books.Bookshelf.Sleep", {"millis": 1})
    assert slow.is_error and "DEADLINE_EXCEEDED (4)" in slow.content[0].text, slow
    assert elapsed < 4, f"the 1000 ms deadline cut the call ({elapsed:.1f} s)"
    assert not quick.is_error, quick
    seen = json.loads(quick.structured_content["metadata"])
    assert set(seen) == {"x-request-id"} and seen["x-request-id"], seen


async def test_hostile_descriptors_hurt_neither_the_gateway_nor_other_services(tmp_path, processes):
    hostile = processes.python_target("hostile_server.py", tmp_path / "hostile-stubs")
    books = processes.python_target("bookshelf_server.py", tmp_path / "stubs")
    url = processes.gateway(tmp_path, {"hostile": processes.translator(hostile), "books": processes.translator(books)})
    async with connect(url) as client:
        tools = await tools_once(client, {"hostile.Hostile.Recurse", "hostile.Hostile.Widen",
                                          "hostile.Hostile.Enumerate", "hostile.Hostile.Chain",
                                          "books.Bookshelf.GetBook"}, timeout=60)
        nested = {"label": "0"}
        for depth in range(1, 20):
            nested = {"label": str(depth), "next": nested}
        echoed = await client.call_tool("hostile.Hostile.Recurse", nested)
        named = await client.call_tool("hostile.Hostile.Enumerate", {"value": "NAME_49999"})
        chained = await client.call_tool("hostile.Hostile.Chain", {"next": {"next": {"label": "two"}}})
        wide = await client.call_tool("hostile.Hostile.Widen", {"field10000": True})
        book = await client.call_tool("books.Bookshelf.GetBook", {"id": 1})
    for name in ("hostile.Hostile.Recurse", "hostile.Hostile.Widen", "hostile.Hostile.Enumerate", "hostile.Hostile.Chain"):
        assert len(json.dumps(tools[name].input_schema)) < 512 * 1024, name
    assert tools["hostile.Hostile.Widen"].input_schema == {"type": "object"}
    assert tools["hostile.Hostile.Enumerate"].input_schema["properties"]["value"]["type"] == ["string", "integer"]
    assert not echoed.is_error and echoed.structured_content["label"] == "19", echoed
    assert not named.is_error and named.structured_content["value"] == "NAME_49999", named
    assert not chained.is_error and chained.structured_content["next"]["next"]["label"] == "two", chained
    assert not wide.is_error and wide.structured_content["field10000"] is True, wide
    assert not book.is_error and book.structured_content["title"] == "Book 1", book


async def test_a_changed_service_changes_the_tools(tmp_path, processes):
    target = free_port()
    first = processes.start([sys.executable, FIXTURES / "bookshelf_server.py", "--stubs", tmp_path / "stubs",
                             "--listen", f"127.0.0.1:{target}"], needle=" on 127.0.0.1:")[0]
    url = processes.gateway(tmp_path, {"books": processes.translator(target, "--refresh-secs", "1")})
    async with connect(url) as client:
        before = await tools_once(client, {"books.Bookshelf.GetBook"})
        assert "books.Library.Count" not in before
        processes.stop(first)
        processes.start([sys.executable, FIXTURES / "bookshelf_server.py", "--stubs", tmp_path / "stubs",
                         "--listen", f"127.0.0.1:{target}", "--library"], needle=" on 127.0.0.1:")
        await tools_once(client, {"books.Library.Count", "books.Bookshelf.GetBook"})
        counted = await client.call_tool("books.Library.Count", {})
    assert not counted.is_error and counted.structured_content["id"] == "100", counted
