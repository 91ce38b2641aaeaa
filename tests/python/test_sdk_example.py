"""The Rust SDK's example service (services/sdk/examples/notes.rs, built by
`cargo build --workspace --all-targets`) as services/sdk/README.md runs it:
behind `micromcp gateway` and behind `micromcp up`, each with the
`[[services]]` entry the READMEs tell a newcomer to write (taken out of
services/sdk/README.md and README.md at test time), called through the official Python MCP client in both
protocol eras — its tool in `tools/list` and called with progress and logs,
both kinds of error, a resource read in chunks, a prompt, elicitation before
a deletion, and a call cancelled by the client reaching the service."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import threading
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from conftest import BINARY, REPO, TOKEN, free_port, make_root, start_up, wait_for_line

pytestmark = pytest.mark.anyio

EXAMPLE = Path(os.environ.get("MICROMCP_SDK_EXAMPLE", REPO / "target" / "debug" / "examples" / "notes"))
ERAS = ["auto", "legacy"]


SDK_README = REPO / "services" / "sdk" / "README.md"
README = REPO / "README.md"


def toml_block_after(document: Path, needle: str) -> str:
    """The first ```toml block of `document` that contains `needle`."""
    blocks = re.findall(r"```toml\n(.*?)```", document.read_text(), re.DOTALL)
    found = [block for block in blocks if needle in block]
    assert found, f"no toml block with {needle!r} in {document}"
    return found[0]


def test_the_readme_runs_the_example_this_test_runs():
    """services/sdk/README.md's command is `cargo run` of this example with
    the `--listen` this test gives it."""
    assert "cargo run -p micromcp-sdk --example notes -- --listen 127.0.0.1:7001" in SDK_README.read_text()
    assert EXAMPLE.name == "notes"


class NotesService:
    """The example binary on a free loopback port; its output (stdout and
    stderr) read line by line in the background."""

    def __init__(self) -> None:
        assert EXAMPLE.exists(), f"{EXAMPLE} is not built: cargo build --workspace --all-targets"
        self.process = subprocess.Popen([str(EXAMPLE), "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.port = int(wait_for_line(self.process, "notes service on").strip().rsplit(":", 1)[1])
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def line_with(self, needle: str, timeout: float = 10.0) -> str:
        while True:
            line = self.lines.get(timeout=timeout)
            if needle in line:
                return line

    def entry(self, document: Path) -> str:
        """The `[[services]]` entry `document` tells a newcomer to write,
        pointed at this service's port instead of 7001."""
        block = toml_block_after(document, "[[services]]")
        assert 'endpoint = "http://127.0.0.1:7001"' in block, block
        return block.replace("version = 1\n", "").replace("127.0.0.1:7001", f"127.0.0.1:{self.port}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def notes():
    service = NotesService()
    yield service
    service.stop()


@pytest.fixture
def notes_gateway(tmp_path, notes):
    """`micromcp gateway --config micromcp.toml` with the example's entry as
    services/sdk/README.md writes it."""
    port = free_port()
    config = tmp_path / "micromcp.toml"
    config.write_text(f'version = 1\n[gateway]\nlisten = "127.0.0.1:{port}"\nsession_key_file = "{tmp_path / "session.key"}"\n'
                      f'[admin]\nlisten = "off"\n' + notes.entry(SDK_README))
    gateway = subprocess.Popen([str(BINARY), "gateway", "--config", str(config)], stdout=subprocess.PIPE, text=True,
                               env=dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="warn"))
    try:
        wait_for_line(gateway, "listening on")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        gateway.terminate()
        gateway.wait(timeout=10)


def connect(url: str, mode: str = "auto", **callbacks) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(30.0))
    return Client(streamable_http_client(url, http_client=http), mode=mode, cache=None, **callbacks)


@pytest.mark.parametrize("mode", ERAS)
async def test_its_tool_is_listed_and_reports_progress(notes_gateway, mode):
    updates = []

    async def on_progress(progress, total, message):
        updates.append((progress, total, message))

    async with connect(notes_gateway, mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"notes.count", "notes.add_note", "notes.read_note", "notes.forget"} <= names, names
        result = await client.call_tool("notes.count", {"to": 4}, progress_callback=on_progress)
    assert not result.is_error and result.content[0].text == "counted to 4", result
    assert [progress for progress, _, _ in updates] == [1, 2, 3, 4], updates
    assert all(total == 4 for _, total, _ in updates) and updates[-1][2] == "step 4", updates


async def test_its_logs_follow_the_session_level(notes_gateway):
    logs = []

    async def on_log(params):
        logs.append((params.level, params.logger, params.data))

    async with connect(notes_gateway, "legacy", logging_callback=on_log) as client:
        await client.call_tool("notes.count", {"to": 2})
        assert logs == [], "no level set: no logs"
        await client.set_logging_level("info")
        await client.call_tool("notes.count", {"to": 2})
    assert logs == [("info", "notes.count", {"step": 1}), ("info", "notes.count", {"step": 2})], logs


@pytest.mark.parametrize("mode", ERAS)
async def test_both_kinds_of_error(notes_gateway, mode):
    async with connect(notes_gateway, mode) as client:
        missing = await client.call_tool("notes.read_note", {"name": "nope"})
        assert missing.is_error and missing.content[0].text == 'no note named "nope"; the notes are: welcome', missing
        with pytest.raises(MCPError) as refused:
            await client.call_tool("notes.read_note", {"name": 5})
        assert refused.value.error.code == -32602 and "invalid arguments" in refused.value.error.message, refused.value.error
        found = await client.call_tool("notes.read_note", {"name": "welcome"})
    assert not found.is_error and found.content[0].text == "Hello from Rust.", found


@pytest.mark.parametrize("mode", ERAS)
async def test_a_resource_is_read_whole_from_its_chunks(notes_gateway, mode):
    async with connect(notes_gateway, mode) as client:
        read = await client.read_resource("note://big")
    text = read.contents[0].text
    assert len(text.encode()) == 200_000, len(text)
    lines = text.splitlines(keepends=True)
    assert lines[0] == "line 000000 of the big note\n" and lines[7141] == "line 007141 of the big note\n" and lines[-1] == "line 007142 of the big n", lines[:2]


@pytest.mark.parametrize("mode", ERAS)
async def test_a_prompt_and_a_catalog_change(notes_gateway, mode):
    async with connect(notes_gateway, mode) as client:
        added = await client.call_tool("notes.add_note", {"name": "groceries", "text": "eggs, milk"})
        assert added.content[0].text == "added note://groceries", added
        with anyio.fail_after(10):
            while "note://groceries" not in {str(resource.uri) for resource in (await client.list_resources()).resources}:
                await anyio.sleep(0.1)
        prompt = await client.get_prompt("notes.summarize_note", {"name": "groceries"})
    assert prompt.messages[0].content.text == "Summarize this note in one sentence:\n\neggs, milk", prompt


@pytest.mark.parametrize("mode", ERAS)
async def test_forget_asks_the_user_first(notes_gateway, mode):
    import mcp_types as types

    asked = []

    async def on_elicit(context, params):
        asked.append(params.message)
        confirm = len(asked) > 1  # no the first time, yes the second
        return types.ElicitResult(action="accept", content={"confirm": confirm})

    async with connect(notes_gateway, mode, elicitation_callback=on_elicit) as client:
        kept = await client.call_tool("notes.forget", {"name": "welcome"})
        assert kept.content[0].text == "kept welcome", kept
        forgot = await client.call_tool("notes.forget", {"name": "welcome"})
        assert forgot.content[0].text == "forgot welcome", forgot
        gone = await client.call_tool("notes.read_note", {"name": "welcome"})
    assert asked == ['Forget the note "welcome"?'] * 2, asked
    assert gone.is_error, gone


async def test_a_client_without_elicitation_gets_a_clear_result(notes_gateway):
    async with connect(notes_gateway, "legacy") as client:
        refused = await client.call_tool("notes.forget", {"name": "welcome"})
        still = await client.call_tool("notes.read_note", {"name": "welcome"})
    assert refused.is_error and "cannot ask its user" in refused.content[0].text, refused
    assert not still.is_error, still


@pytest.mark.parametrize("mode", ERAS)
async def test_a_cancelled_call_stops_in_the_service(notes_gateway, notes, mode):
    async with connect(notes_gateway, mode) as client:
        with anyio.move_on_after(1.0) as scope:
            await client.call_tool("notes.count", {"to": 1000, "step_ms": 50})
        assert scope.cancelled_caught, "the call ran to its end"
        # Waited for on a thread: the client sends its cancellation from
        # this event loop.
        line = await anyio.to_thread.run_sync(notes.line_with, "cancelled after step")
        # Still serving after a cancellation.
        done = await client.call_tool("notes.count", {"to": 1})
    step = int(line.rsplit(" ", 1)[1])
    assert 5 <= step < 1000, line
    assert done.content[0].text == "counted to 1"


async def test_behind_up_beside_its_own_services(tmp_path, notes):
    """`micromcp up` with the README's `[[services]]` entry for it in ./micromcp.toml."""
    (tmp_path / "micromcp.toml").write_text("version = 1\n" + notes.entry(README))
    running = start_up(tmp_path, make_root(tmp_path))
    try:
        async with connect(running.url) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            counted = await client.call_tool("notes.count", {"to": 3})
            read = await client.call_tool("fs.read_file", {"path": "hello.txt"})
    finally:
        running.stop()
    assert {"notes.count", "notes.forget", "fs.read_file", "search.query"} <= names, sorted(names)
    assert counted.content[0].text == "counted to 3", counted
    assert "hello from the fs service" in read.content[0].text, read
