"""Ranked tool search over each caller's own catalog (`[catalog]`): the
official Python SDK against the real gateway in both eras. `find_tools`
finds the right tool, best first, among only the tools the caller may call
(scopes and Cedar, the view of its `tools/list`); the `search` disclosure
lists only `find_tools` and `call_tool`, and `call_tool` calls through the
one call path (refusals, rate limits, consent); a service registered at run
time is findable once its catalog is in; hostile queries are user errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from conftest import BINARY, TOKEN, free_port, make_root, start_testkit_gateway, start_up, wait_for_line, wait_for_port
from test_failures import eventually
from test_hostile import initialize, legacy, modern
from test_live_config import ADMIN, ADMIN_TOKEN, start_testkit
from test_policy_audit import ADMIN as OPS, READER, audit_records, write_config

pytestmark = pytest.mark.anyio

ERAS = ["auto", "legacy"]
SIMPLE_TEXT = "This is a simple text response for testing."


def connect(running, mode: str, token: str = TOKEN, **kwargs) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30.0, read=60.0))
    return Client(streamable_http_client(running.url, http_client=http), mode=mode, **kwargs)


async def find(client: Client, query: str, **arguments) -> list[dict]:
    result = await client.call_tool("find_tools", {"query": query, **arguments})
    assert not result.is_error, result
    return result.structured_content["tools"]


def catalog_config(base, settings: str, policy_config=None) -> str:
    config = policy_config or base / "micromcp.toml"
    text = config.read_text() if config.exists() else "version = 1\n"
    config.write_text(text + "[catalog]\n" + settings)
    return str(config)


def nested(depth: int):
    value = "deep"
    for _ in range(depth):
        value = [value]
    return value


@pytest.fixture
def finding(tmp_path):
    root = make_root(tmp_path)
    running = start_up(tmp_path, root, extra=["--config", catalog_config(tmp_path, "find_tools = true\n")])
    yield running
    running.stop()


@pytest.fixture
def searching(tmp_path):
    root = make_root(tmp_path)
    running = start_up(tmp_path, root, extra=["--config", catalog_config(tmp_path, 'disclosure = "search"\n')])
    yield running
    running.stop()


@pytest.fixture
def governed_search(tmp_path):
    root = make_root(tmp_path)
    config = write_config(tmp_path)
    running = start_up(tmp_path, root, extra=["--config", catalog_config(tmp_path, 'disclosure = "search"\n', config)])
    yield running
    running.stop()


@pytest.mark.parametrize("mode", ERAS)
async def test_find_tools_ranks_the_right_tool_first(finding, mode):
    async with connect(finding, mode) as client:
        if mode == "auto":
            assert client.session.discover_result is not None, "the SDK settled on 2026-07-28"
        listed = {tool.name for tool in (await client.list_tools()).tools}
        assert "find_tools" in listed and "fs.read_file" in listed and "call_tool" not in listed
        found = await find(client, "read the contents of a file")
        assert found[0]["name"] == "fs.read_file", found
        assert set(found[0]) >= {"name", "description", "inputSchema", "score"}
        assert found[0]["inputSchema"]["properties"]["path"]["type"] == "string"
        assert [tool["score"] for tool in found] == sorted((tool["score"] for tool in found), reverse=True)
        assert (await find(client, "list the entries of a directory"))[0]["name"] == "fs.list_dir"
        # limit and namespace
        assert len(await find(client, "file", limit=1)) == 1
        in_search = await find(client, "delete documents", namespace="search")
        assert in_search and all(tool["name"].startswith("search.") for tool in in_search)
        text = (await client.call_tool("find_tools", {"query": "read a file"})).content[0].text
        assert text.startswith("fs.read_file ("), text
        # a found tool is called as listed
        called = await client.call_tool(found[0]["name"], {"path": "hello.txt"})
        assert called.content[0].text == "hello from the fs service\n"


@pytest.mark.parametrize("mode", ERAS)
async def test_search_disclosure_lists_two_tools_and_calls_through_call_tool(searching, mode):
    async with connect(searching, mode) as client:
        listed = sorted(tool.name for tool in (await client.list_tools()).tools)
        assert listed == ["call_tool", "find_tools"]
        found = await find(client, "read a file")
        assert found[0]["name"] == "fs.read_file"
        called = await client.call_tool("call_tool", {"name": "fs.read_file", "arguments": {"path": "hello.txt"}})
        assert not called.is_error and called.content[0].text == "hello from the fs service\n"
        refused = await client.call_tool("call_tool", {"name": "fs.read_file", "arguments": {"path": "../outside/secret.txt"}})
        assert refused.is_error and "escapes the allowed roots" in refused.content[0].text
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("call_tool", {"name": "fs.no_such_tool", "arguments": {}})
        assert unknown.value.error.code == -32602 and "unknown tool: fs.no_such_tool" in unknown.value.error.message
        with pytest.raises(MCPError) as nested:
            await client.call_tool("call_tool", {"name": "call_tool", "arguments": {"name": "fs.stat"}})
        assert nested.value.error.code == -32602


@pytest.mark.parametrize("mode", ERAS)
async def test_a_principal_never_finds_nor_calls_what_it_may_not_call(governed_search, mode):
    async with connect(governed_search, mode, token=READER) as reader:
        # fs:read_* and search: not fs.stat (scopes), not search.delete (Cedar: destructive needs admin)
        for query in ["size and times of a path stat", "delete documents from the index", "file", "search"]:
            for tool in await find(reader, query, limit=50):
                assert tool["name"].startswith(("fs.read_", "search.")), tool["name"]
                assert tool["name"] not in {"search.delete", "fs.stat"}, (query, tool["name"])
        assert await find(reader, "stat") == [] or all(tool["name"] != "fs.stat" for tool in await find(reader, "stat"))
        # a tool it may not see (scopes, Cedar) answers exactly as a name nobody has
        refusals = {}
        for name in ["fs.stat", "search.delete", "fs.no_such_tool", "search.no_such_tool"]:
            with pytest.raises(MCPError) as refused:
                await reader.call_tool("call_tool", {"name": name, "arguments": {"path": "hello.txt", "ids": ["x"]}})
            refusals[name] = refused.value.error.model_dump(mode="json")
        for name, error in refusals.items():
            assert error["message"] == f"unknown tool: {name}", error
        shapes = {json.dumps({**error, "message": None}, sort_keys=True) for error in refusals.values()}
        assert len(shapes) == 1, refusals
        read = await reader.call_tool("call_tool", {"name": "fs.read_file", "arguments": {"path": "hello.txt"}})
        assert read.content[0].text == "hello from the fs service\n"
        with pytest.raises(MCPError):
            await reader.call_tool("call_tool", {"name": "fs.read_file", "arguments": {"path": "a", "password": "hunter2"}})
    # audited as the direct calls would be: the tool called, its arguments redacted, the decision
    records = [record for record in audit_records(governed_search) if record.get("method") == "tools/call"]
    stat = [record for record in records if record.get("target") == "fs.stat"]
    assert stat and all(record["decision"] == "deny" and "no scope for tool fs.stat" in record["reason"] for record in stat), stat
    deleted = [record for record in records if record.get("target") == "search.delete"]
    assert deleted and all(record["decision"] == "deny" for record in deleted), deleted
    read = [record for record in records if record.get("target") == "fs.read_file" and record["principal"] == "reader"]
    assert [record["arguments"] for record in read] == [{"path": "hello.txt"}, {"path": "a", "password": "[redacted]"}], read
    assert all(record["decision"] == "allow" for record in read), read
    assert "hunter2" not in (governed_search.state_dir / "audit.jsonl").read_text()
    async with connect(governed_search, mode, token=OPS) as ops:
        assert "search.delete" in {tool["name"] for tool in await find(ops, "delete documents from the index")}
        assert (await find(ops, "size and times of a path stat"))[0]["name"] == "fs.stat"


def test_a_registered_service_is_findable_once_its_catalog_is_in(tmp_path):
    kit, kit_port = start_testkit()
    admin_port = free_port()
    root = make_root(tmp_path)
    config = catalog_config(tmp_path, "find_tools = true\n")
    running = start_up(tmp_path, root, extra=["--config", config, "--admin-listen", f"127.0.0.1:{admin_port}"],
                       env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = f"http://127.0.0.1:{admin_port}"

    def found(session) -> list[str]:
        body = legacy(running, session, "tools/call", {"name": "find_tools", "arguments": {"query": "progress notifications"}}).json()
        return [tool["name"] for tool in body["result"]["structuredContent"]["tools"]]

    try:
        session = initialize(running)
        assert "kit.test_tool_with_progress" not in found(session)
        registered = httpx2.post(f"{admin}/api/services", headers=ADMIN,
                                 json={"name": "kit", "endpoint": f"http://127.0.0.1:{kit_port}"}, timeout=15)
        assert registered.status_code == 201, registered.text
        assert "kit.test_tool_with_progress" in found(session)
        removed = httpx2.delete(f"{admin}/api/services/kit", headers=ADMIN, timeout=15)
        assert removed.status_code == 200, removed.text
        assert eventually(lambda: "kit.test_tool_with_progress" not in found(session))
    finally:
        running.stop()
        kit.kill()


@pytest.mark.parametrize("mode", ERAS)
async def test_hostile_queries_are_user_errors(finding, mode):
    async with connect(finding, mode) as client:
        refusals = [
            ({"query": "x" * (1 << 20)}, "at most 1024"),
            ({"query": ""}, "no words"),
            ({"query": "+-()[]{}:*\"~^"}, "no words"),
            ({"query": "file", "limit": 0}, "between 1 and 50"),
            ({"query": "file", "limit": 51}, "between 1 and 50"),
            ({"query": ["file"]}, "find_tools: invalid type"),
            ({"query": "file", "extra": 1}, "unknown field"),
            ({"query": "file", "namespace": "n" * 200}, "namespace"),
            ({"query": nested(64)}, "invalid type"),
        ]
        for arguments, expected in refusals:
            with pytest.raises(MCPError) as refused:
                await client.call_tool("find_tools", arguments)
            assert refused.value.error.code == -32602 and expected in refused.value.error.message, (arguments, refused.value.error)
        # query syntax is plain words, odd unicode is words or separators
        assert (await find(client, 'name:read AND (file* OR "x")'))[0]["name"] == "fs.read_file"
        assert isinstance(await find(client, "\u202e\u0000ファイル 読む \U0001f600 read"), list)


def test_call_tool_keeps_rate_limits(tmp_path):
    running = start_testkit_gateway(tmp_path, gateway_settings="[rate_limits]\nper_principal_per_sec = 1\nper_principal_burst = 2\n"
                                    '[catalog]\ndisclosure = "search"\n')
    try:
        session = initialize(running)
        answers = [legacy(running, session, "tools/call", {"name": "call_tool", "arguments": {"name": "test_simple_text", "arguments": {}}}).json()
                   for _ in range(4)]
        limited = [answer["error"] for answer in answers if "error" in answer]
        assert limited and all("rate_limits.per_principal_per_sec" in error["message"] for error in limited), answers
        assert answers[0]["result"]["content"][0]["text"] == SIMPLE_TEXT
    finally:
        running.stop()


def test_find_tools_counts_against_the_rate_limits(tmp_path):
    """A search is a tool call: a principal held to 1 call a second (burst
    2) cannot run BM25 searches as fast as it likes."""
    running = start_testkit_gateway(tmp_path, gateway_settings="[rate_limits]\nper_principal_per_sec = 1\nper_principal_burst = 2\n"
                                    '[catalog]\ndisclosure = "search"\n')
    try:
        session = initialize(running)
        answers = [legacy(running, session, "tools/call", {"name": "find_tools", "arguments": {"query": "simple text"}}).json()
                   for _ in range(6)]
        limited = [answer["error"] for answer in answers if "error" in answer]
        assert limited and all("rate_limits.per_principal_per_sec" in error["message"] for error in limited), answers
        assert "result" in answers[0], answers[0]
    finally:
        running.stop()


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_call_tool_asks_for_consent(tmp_path, mode):
    running = start_testkit_gateway(tmp_path, gateway_settings='[consent]\ntimeout_secs = 2\n[catalog]\ndisclosure = "search"\n',
                                    service_settings='require_approval = ["test_simple_text"]\n')
    asked = []
    answers = ["accept", "decline"]

    async def on_elicit(context, params):
        asked.append(params)
        action = answers.pop(0)
        return types.ElicitResult(action=action, content={"approve": True} if action == "accept" else None)

    try:
        async with connect(running, mode, elicitation_callback=on_elicit) as client:
            approved = await client.call_tool("call_tool", {"name": "test_simple_text", "arguments": {}})
            assert approved.content[0].text == SIMPLE_TEXT
            assert "test_simple_text" in asked[0].message
            with pytest.raises(MCPError) as declined:
                await client.call_tool("call_tool", {"name": "test_simple_text", "arguments": {"again": 1}})
            assert declined.value.error.code == -31003, declined.value.error
            assert len(asked) == 2
    finally:
        running.stop()


def test_a_service_offering_a_reserved_name_is_refused_at_start(tmp_path):
    bridge_port = free_port()
    fixture = Path(__file__).parent / "fixtures" / "reserved_name_server.py"
    bridge = subprocess.Popen([str(BINARY), "bridge", "--name", "reserved", "--command", sys.executable, "--arg", str(fixture),
                               "--listen", f"127.0.0.1:{bridge_port}"], env=dict(os.environ, MICROMCP_LOG="warn"))

    def start(settings: str) -> subprocess.Popen:
        config = tmp_path / "micromcp.toml"
        config.write_text(
            "version = 1\n[gateway]\n"
            f'listen = "127.0.0.1:{free_port()}"\n'
            f'session_key_file = "{tmp_path / "session.key"}"\n'
            f"{settings}"
            f'[[services]]\nname = "reserved"\nnamespace = ""\nendpoint = "http://127.0.0.1:{bridge_port}"\n'
        )
        return subprocess.Popen([str(BINARY), "gateway", "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="warn"))

    try:
        wait_for_port(bridge_port)
        refused = start('[catalog]\nfind_tools = true\n')
        _, stderr = refused.communicate(timeout=30)
        assert refused.returncode != 0, stderr
        assert 'service "reserved" offers tool "find_tools"' in stderr and "find_tools and call_tool are reserved" in stderr, stderr
        # without tool search the name is the service's own
        plain = start("")
        try:
            wait_for_line(plain, "listening on")
        finally:
            plain.terminate()
            plain.wait(timeout=10)
        # `micromcp check` reports it as a collision (exit 2)
        env = {key: value for key, value in os.environ.items() if key != "MICROMCP_TOKEN"}
        config = tmp_path / "check.toml"
        config.write_text('version = 1\n[catalog]\nfind_tools = true\n'
                          f'[[services]]\nname = "reserved"\nnamespace = ""\nendpoint = "http://127.0.0.1:{bridge_port}"\n')
        checked = subprocess.run([str(BINARY), "check", "--config", str(config), "--wait-secs", "10"], env=env,
                                 capture_output=True, text=True, timeout=60)
        assert checked.returncode == 2, checked.stdout + checked.stderr
        assert 'collision: service "reserved" offers tool "find_tools"' in checked.stdout, checked.stdout
        # at run time a registered service offering it loses: not listed, the gateway's find_tools answers
        admin_port = free_port()
        running = start_up(tmp_path / "run", make_root(tmp_path / "run"),
                           extra=["--config", catalog_config(tmp_path / "run", "find_tools = true\n"),
                                  "--admin-listen", f"127.0.0.1:{admin_port}"],
                           env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})
        try:
            registered = httpx2.post(f"http://127.0.0.1:{admin_port}/api/services", headers=ADMIN, timeout=15,
                                     json={"name": "reserved", "namespace": "", "endpoint": f"http://127.0.0.1:{bridge_port}"})
            assert registered.status_code == 201, registered.text
            session = initialize(running)

            def listed_names() -> list[str]:
                return [tool["name"] for tool in legacy(running, session, "tools/list").json()["result"]["tools"]]

            assert eventually(lambda: "remember" in listed_names()), listed_names()
            listed = listed_names()
            assert listed.count("find_tools") == 1, listed
            answer = legacy(running, session, "tools/call", {"name": "find_tools", "arguments": {"query": "read a file"}}).json()
            assert answer["result"]["structuredContent"]["tools"][0]["name"] == "fs.read_file", answer
        finally:
            running.stop()
    finally:
        bridge.terminate()
        bridge.wait(timeout=10)


def test_catalog_keys_are_validated_naming_the_key(tmp_path):
    config = tmp_path / "micromcp.toml"
    config.write_text('version = 1\n[catalog]\ndisclosure = "some"\n')
    checked = subprocess.run([str(BINARY), "gateway", "--config", str(config)], capture_output=True, text=True, timeout=30,
                             env=dict(os.environ, MICROMCP_TOKEN=TOKEN))
    assert checked.returncode != 0 and "catalog.disclosure" in checked.stderr, checked.stderr
    config.write_text('version = 1\n[catalog]\nfind_tools = false\ndisclosure = "search"\n')
    checked = subprocess.run([str(BINARY), "gateway", "--config", str(config)], capture_output=True, text=True, timeout=30,
                             env=dict(os.environ, MICROMCP_TOKEN=TOKEN))
    assert checked.returncode != 0 and "catalog.find_tools" in checked.stderr, checked.stderr
    config.write_text('version = 1\n[catalog]\nfind_tools = true\nadd_found_tools = true\n')
    checked = subprocess.run([str(BINARY), "gateway", "--config", str(config)], capture_output=True, text=True, timeout=30,
                             env=dict(os.environ, MICROMCP_TOKEN=TOKEN))
    assert checked.returncode != 0 and "catalog.add_found_tools: true needs catalog.disclosure" in checked.stderr, checked.stderr


@pytest.mark.parametrize("mode", ERAS)
async def test_the_right_tool_among_thousands_is_found_and_called(tmp_path, mode):
    """The issue's end state: a search-only tools/list over 2 000 bridged tools plus the
    built-in services; the client finds the tool and calls it through call_tool."""
    fixture = Path(__file__).parent / "fixtures" / "many_tools_server.py"
    servers = {"mcpServers": {"many": {"command": sys.executable, "args": [str(fixture), "2000"]}}}
    (tmp_path / "servers.json").write_text(json.dumps(servers))
    running = start_up(tmp_path, make_root(tmp_path), extra=[
        "--config", catalog_config(tmp_path, 'disclosure = "search"\n'), "--mcp-servers", str(tmp_path / "servers.json")])
    try:
        async with connect(running, mode) as client:
            assert sorted(tool.name for tool in (await client.list_tools()).tools) == ["call_tool", "find_tools"]

            # `up` waits for the bridged server's catalog before it listens
            found = await find(client, "convert a temperature from celsius to fahrenheit", limit=5)
            assert found[0]["name"] == "many.convert_celsius_to_fahrenheit", found
            assert found[0]["inputSchema"]["properties"]["celsius"]["type"] == "number"
            called = await client.call_tool("call_tool", {"name": found[0]["name"], "arguments": {"celsius": 100}})
            assert not called.is_error and called.content[0].text == "212", called
            invoices = await find(client, "archive an invoice", limit=50)
            assert len(invoices) == 50 and all("invoice" in tool["name"] for tool in invoices[:5]), invoices[:5]
    finally:
        running.stop()


def test_catalog_keys_wait_for_a_restart(tmp_path):
    admin_port = free_port()
    config = catalog_config(tmp_path, "find_tools = true\n")
    running = start_up(tmp_path, make_root(tmp_path), extra=["--config", config, "--admin-listen", f"127.0.0.1:{admin_port}"],
                       env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})
    try:
        Path(config).write_text('version = 1\n[catalog]\ndisclosure = "search"\n')
        reloaded = httpx2.post(f"http://127.0.0.1:{admin_port}/api/reload", headers=ADMIN, timeout=15)
        assert reloaded.status_code == 200 and reloaded.json()["changes"]["restart_required"] == ["catalog"], reloaded.text
        session = initialize(running)
        listed = {tool["name"] for tool in legacy(running, session, "tools/list").json()["result"]["tools"]}
        assert {"find_tools", "fs.read_file"} <= listed and "call_tool" not in listed, "the running disclosure stays"
    finally:
        running.stop()


async def test_call_tool_reaches_a_tool_whose_arguments_are_mirrored_in_headers(tmp_path):
    """A 2026-07-28 call's Mcp-Param-* headers mirror the tool it names: through call_tool,
    call_tool's (none), so a tool declaring x-mcp-header is still callable."""
    running = start_testkit_gateway(tmp_path, gateway_settings='[catalog]\ndisclosure = "search"\n')
    try:
        async with connect(running, "auto") as client:
            assert client.session.discover_result is not None, "the SDK settled on 2026-07-28"
            called = await client.call_tool("call_tool", {"name": "test_x_mcp_header", "arguments": {"region": "eu-west"}})
            assert not called.is_error and called.content[0].text == "region: eu-west", called
        # Headers that are sent are checked as on a direct call: one that
        # disagrees with the named tool's arguments, or names the inner tool
        # in Mcp-Name, is refused before the service sees the call.
        def through(arguments, extra, name="call_tool"):
            params = {"name": name, "arguments": {"name": "test_x_mcp_header", "arguments": arguments}}
            return modern(running, "tools/call", params, extra)

        assert through({"region": "eu-west"}, {"Mcp-Param-Region": "eu-west"}).status_code == 200
        cases = [  # (arguments, headers through call_tool, headers of the direct call, reason)
            ({"region": "eu-west"}, {"Mcp-Param-Region": "us-east"}, {"Mcp-Param-Region": "us-east"}, "does not match"),
            ({"region": "eu-west"}, {"Mcp-Param-Region": "eu-west", "Mcp-Param-Verbose": "true"},
             {"Mcp-Param-Region": "eu-west", "Mcp-Param-Verbose": "true"}, "but no verbose"),
            ({"region": "eu-west"}, {"Mcp-Name": "test_x_mcp_header"},
             {"Mcp-Param-Region": "eu-west", "Mcp-Name": "call_tool"}, "Mcp-Name header"),
        ]
        for arguments, sent, sent_direct, reason in cases:
            direct = modern(running, "tools/call", {"name": "test_x_mcp_header", "arguments": arguments}, sent_direct)
            for response in (through(arguments, sent), direct):
                assert response.status_code == 400, (sent, response.text)
                error = response.json()["error"]
                assert error["code"] == -32020 and reason in error["message"], (reason, error)
    finally:
        running.stop()


async def test_searches_are_counted_in_the_metrics(tmp_path):
    """`find_tools` searches, the tools they returned and their time are in
    the Prometheus scrape, which promtool accepts."""
    from test_metrics import PROMTOOL, samples

    admin_port = free_port()
    config = catalog_config(tmp_path, "find_tools = true\n")
    running = start_up(tmp_path, make_root(tmp_path), extra=["--config", config, "--admin-listen", f"127.0.0.1:{admin_port}"])
    try:
        returned = 0
        async with connect(running, "legacy") as client:
            for query, limit in [("read a file", 2), ("delete documents", 3), ("zzqx qqvv", 5)]:
                returned += len(await find(client, query, limit=limit))
        assert returned == 5, "the last query matches no tool"
        admin = {"Authorization": f"Bearer {(running.state_dir / 'admin-token').read_text().strip()}"}
        scrape = httpx2.get(f"http://127.0.0.1:{admin_port}/metrics", headers=admin, timeout=10)
        checked = subprocess.run([str(PROMTOOL), "check", "metrics"], input=scrape.text, capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        values = samples(scrape.text)
        assert values.get('micromcp_find_tools_searches_total{found="some"}') == 2, values
        assert values.get('micromcp_find_tools_searches_total{found="none"}') == 1
        assert values.get("micromcp_find_tools_hits_total") == 5
        assert values.get("micromcp_find_tools_duration_seconds_count") == 3
        assert "# TYPE micromcp_find_tools_duration_seconds histogram" in scrape.text
    finally:
        running.stop()


def adding_config(base, policy_config=None) -> str:
    return catalog_config(base, 'disclosure = "search"\nadd_found_tools = true\n', policy_config)


async def found_until_told(client: Client, told: list, query: str, **arguments) -> list[dict]:
    """Searches until the session's list_changed arrives: the SDK client opens its
    GET stream only after the handshake, and a search made before adds nothing."""
    with anyio.fail_after(20):
        while not told:
            found = await find(client, query, **arguments)
            await anyio.sleep(0.2)
    return found


def listed_changes():
    told = []

    async def on_message(message):
        if isinstance(message, types.ToolListChangedNotification):
            told.append(message)

    return told, on_message


async def test_found_tools_join_the_sessions_list_after_list_changed(tmp_path):
    """`add_found_tools`: a 2025-11-25 session listening on its GET stream is told its
    list changed, lists what it found beside find_tools and call_tool, and calls it by
    name; searching the same again sends no second notification; a 2026-07-28 client's
    list stays the two tools."""
    running = start_up(tmp_path, make_root(tmp_path), extra=["--config", adding_config(tmp_path)])
    try:
        told, on_message = listed_changes()
        async with connect(running, "legacy", message_handler=on_message) as client:
            assert sorted(tool.name for tool in (await client.list_tools()).tools) == ["call_tool", "find_tools"]
            found = await found_until_told(client, told, "read the contents of a file", limit=3)
            names = [tool["name"] for tool in found]
            assert names[0] == "fs.read_file", names
            listed = [tool.name for tool in (await client.list_tools()).tools]
            assert listed[:2] == ["call_tool", "find_tools"] and sorted(listed[2:]) == sorted(names), listed
            schema = next(tool for tool in (await client.list_tools()).tools if tool.name == "fs.read_file").input_schema
            assert schema["properties"]["path"]["type"] == "string"
            called = await client.call_tool("fs.read_file", {"path": "hello.txt"})
            assert not called.is_error and called.content[0].text == "hello from the fs service\n"
            before = len(told)
            await find(client, "read the contents of a file", limit=3)
            await anyio.sleep(1.0)
            assert len(told) == before, "a search finding known tools changes nothing"
        async with connect(running, "auto") as modern:
            assert modern.session.discover_result is not None
            await find(modern, "read the contents of a file")
            assert sorted(tool.name for tool in (await modern.list_tools()).tools) == ["call_tool", "find_tools"]
    finally:
        running.stop()


async def test_a_session_finding_thousands_lists_at_most_fifty(tmp_path):
    """Among 2 000 bridged tools, searches answering 50 each keep the session's list
    bounded: 50 found tools (the most recent search's) plus find_tools and call_tool."""
    fixture = Path(__file__).parent / "fixtures" / "many_tools_server.py"
    servers = {"mcpServers": {"many": {"command": sys.executable, "args": [str(fixture), "2000"]}}}
    (tmp_path / "servers.json").write_text(json.dumps(servers))
    running = start_up(tmp_path, make_root(tmp_path), extra=[
        "--config", adding_config(tmp_path), "--mcp-servers", str(tmp_path / "servers.json")])
    try:
        told, on_message = listed_changes()
        async with connect(running, "legacy", message_handler=on_message) as client:
            await found_until_told(client, told, "archive an invoice", limit=50)
            for query in ["share a spreadsheet", "delete a webhook", "export a dashboard"]:
                last = await find(client, query, limit=50)
            listed = [tool.name for tool in (await client.list_tools()).tools]
            assert len(listed) == 52 and set(listed[2:]) == {tool["name"] for tool in last}, listed
    finally:
        running.stop()


async def test_found_tools_listed_stay_within_the_callers_view(tmp_path):
    """A principal never gets a tool listed that it may not call (scopes: not fs.stat;
    Cedar: not search.delete), however it searches; and a found tool that becomes
    forbidden later (its scope taken away by a reload) leaves the list."""
    root = make_root(tmp_path)
    config = write_config(tmp_path)
    running = start_up(tmp_path, root, extra=["--config", adding_config(tmp_path, config)])
    try:
        told, on_message = listed_changes()
        async with connect(running, "legacy", token=READER, message_handler=on_message) as reader:
            await found_until_told(reader, told, "read a file", limit=50)
            for query in ["size and times of a path stat", "delete documents from the index", "file", "search", "stat"]:
                await find(reader, query, limit=50)
            listed = {tool.name for tool in (await reader.list_tools()).tools}
            assert "fs.read_file" in listed and "search.query" in listed, listed
            assert not listed & {"fs.stat", "search.delete"}, listed
            assert all(name in {"call_tool", "find_tools"} or name.startswith(("fs.read_", "search.")) for name in listed)
            # the reader's scope for fs.read_* taken away: its found fs tools leave the list
            config.write_text(config.read_text().replace('["fs:read_*", "search"]', '["search"]'))
            with anyio.fail_after(20):
                while True:
                    listed = {tool.name for tool in (await reader.list_tools()).tools}
                    if not any(name.startswith("fs.") for name in listed):
                        break
                    await anyio.sleep(0.3)
            assert "search.query" in listed, listed
    finally:
        running.stop()
