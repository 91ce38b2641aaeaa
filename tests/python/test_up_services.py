"""`micromcp up` with the operator's own `[[services]]` beside the services
it runs itself (fs, fetch, search): one and two configured services, with
a namespace, without one and mounted without a prefix, and the
`[[services]]` example of docs/configuration.md. Each configured service is a real testkit
service on loopback; every tool is called through the official Python MCP
client."""

from __future__ import annotations

import os
import re
import subprocess

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import BINARY, REPO, TOKEN, child_pid, free_port, make_root, start_up, wait_for_port

pytestmark = pytest.mark.anyio

SIMPLE_TEXT = "This is a simple text response for testing."


@pytest.fixture
def services():
    """Starts testkit services on loopback on demand; yields the starter."""
    started = []

    def start(*extra: str) -> int:
        port = free_port()
        started.append(subprocess.Popen([str(BINARY), "testkit", "--listen", f"127.0.0.1:{port}", *extra],
                                        env=dict(os.environ, MICROMCP_LOG="warn")))
        wait_for_port(port)
        return port

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def service_entry(name: str, port: int, namespace: str | None) -> str:
    entry = f'[[services]]\nname = "{name}"\nendpoint = "http://127.0.0.1:{port}"\n'
    if namespace is not None:
        entry += f'namespace = "{namespace}"\n'
    return entry


async def tools_and_calls(url: str, calls: list[str]) -> set[str]:
    """Names of the gateway's tools, after calling each of `calls` (a
    testkit tool's name under its namespace: `test_simple_text`, or a
    generated `tool_N`, which answers its arguments) and fs's `read_file`."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(30.0))
    async with Client(streamable_http_client(url, http_client=http)) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        for name in calls:
            if name.endswith("test_simple_text"):
                called = await client.call_tool(name, {})
                assert not called.is_error and called.content[0].text == SIMPLE_TEXT, (name, called)
            else:
                called = await client.call_tool(name, {"asked": name})
                assert not called.is_error and called.structured_content == {"asked": name}, (name, called)
        read = await client.call_tool("fs.read_file", {"path": "hello.txt"})
        assert "hello from the fs service" in read.content[0].text, read
    return names


def up_with(tmp_path, config: str):
    """`up` started in `tmp_path` with `config` as its ./micromcp.toml."""
    (tmp_path / "micromcp.toml").write_text(config)
    return start_up(tmp_path, make_root(tmp_path))


def assert_children_serve(names: set[str]) -> None:
    for prefix in ("fs.", "fetch.", "search."):
        assert any(name.startswith(prefix) for name in names), (prefix, sorted(names))


@pytest.mark.parametrize("namespace", ["docs", None, ""])
async def test_up_serves_one_configured_service_beside_its_own(tmp_path, services, namespace):
    running = up_with(tmp_path, "version = 1\n" + service_entry("docs", services(), namespace))
    try:
        tool = "test_simple_text" if namespace == "" else "docs.test_simple_text"
        names = await tools_and_calls(running.url, [tool])
    finally:
        running.stop()
    assert tool in names
    assert_children_serve(names)


async def test_up_serves_two_configured_services_beside_its_own(tmp_path, services):
    """The second (a testkit offering only generated tools, so that the two
    offer no resource in common) has no namespace key: its name is its prefix."""
    config = "version = 1\n" + service_entry("docs", services(), "docs") + service_entry("wiki", services("--generated-tools", "3"), None)
    running = up_with(tmp_path, config + 'content_from = ["fs"]\n')
    try:
        names = await tools_and_calls(running.url, ["docs.test_simple_text", "wiki.tool_2"])
    finally:
        running.stop()
    assert_children_serve(names)


def readme_services_example() -> str:
    """docs/configuration.md's first `[[services]]` entry with its tables, up to the next entry."""
    text = (REPO / "docs" / "configuration.md").read_text()
    start = text.index('[[services]]\nname = "docs"')
    return text[start:text.index("[[services]]", start + 1)]


async def test_up_starts_with_the_readmes_services_example(tmp_path, services):
    example = readme_services_example()
    assert re.search(r'^endpoint = "http://127\.0\.0\.1:7001"', example, re.MULTILINE), example
    port = services()
    example = example.replace("http://127.0.0.1:7001", f"http://127.0.0.1:{port}")
    example = example.replace('# content_from = ["fs"]', 'content_from = ["fs"]')
    running = up_with(tmp_path, "version = 1\n" + example)
    try:
        names = await tools_and_calls(running.url, ["docs.test_simple_text"])
    finally:
        running.stop()
    assert_children_serve(names)


async def test_a_configured_service_named_like_a_child_replaces_that_child(tmp_path, services):
    """A `[[services]]` entry named `fetch` is the operator's: `up` starts no
    fetch child, and the gateway routes `fetch.*` to the configured one."""
    running = up_with(tmp_path, "version = 1\n" + service_entry("fetch", services(), None))
    try:
        names = await tools_and_calls(running.url, ["fetch.test_simple_text"])
        assert child_pid(running, "fs")
        with pytest.raises(AssertionError, match="no fetch child"):
            child_pid(running, "fetch")
    finally:
        running.stop()
    assert "fetch.fetch" not in names
