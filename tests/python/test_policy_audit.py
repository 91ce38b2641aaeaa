"""Authorization and audit against the real `micromcp up`: named tokens with
scopes and roles, a Cedar policy (destructive tools need the `admin` role),
lists filtered to what the caller may use in both eras, refusals as HTTP 403
with `insufficient_scope`, and one audit line per request in
`<state dir>/audit.jsonl` — denials with their reason, arguments redacted,
nothing lost when the gateway is stopped."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import BINARY, TOKEN, free_port, make_root, start_up
from test_hostile import MODERN_META, initialize, legacy, post

pytestmark = pytest.mark.anyio

READER = "reader-token-0123456789"
ADMIN = "admin-token-0123456789"

POLICY = """
permit(principal, action, resource);
@id("destructive-needs-admin")
forbid(principal, action == Micromcp::Action::"tools/call", resource is Micromcp::Tool)
  when { resource.destructive } unless { principal.roles.contains("admin") };
"""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write_config(base: Path, policy: str = POLICY, reader_scopes: str = '["fs:read_*", "search"]') -> Path:
    (base / "policy.cedar").write_text(policy)
    config = base / "micromcp.toml"
    config.write_text(
        "version = 1\n"
        "[[auth.tokens]]\n"
        'name = "reader"\n'
        f'sha256 = "{sha256(READER)}"\n'
        f"scopes = {reader_scopes}\n"
        "[[auth.tokens]]\n"
        'name = "ops"\n'
        f'sha256 = "{sha256(ADMIN)}"\n'
        'scopes = ["*"]\n'
        'roles = ["admin"]\n'
        "[policy]\n"
        f'cedar_file = "{base / "policy.cedar"}"\n'
        "[audit]\n"
        "include_arguments = true\n"
    )
    return config


@pytest.fixture
def governed(tmp_path):
    root = make_root(tmp_path)
    config = write_config(tmp_path)
    running = start_up(tmp_path, root, extra=["--config", str(config)])
    yield running
    running.stop()


def modern(running, token: str, method: str, params: dict, request_id: int = 1) -> httpx2.Response:
    """A 2026-07-28 request with `token`."""
    params = {**params, "_meta": MODERN_META}
    mirrored = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method}
    if "name" in params:
        mirrored["Mcp-Name"] = params["name"]
    return post(running, {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}, mirrored, token=token)


def audit_records(running) -> list[dict]:
    path = running.state_dir / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def connect(running, token: str, mode: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30.0))
    return Client(streamable_http_client(running.url, http_client=http), mode=mode)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_lists_show_only_what_each_principal_may_use(governed, mode):
    async with connect(governed, READER, mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "fs.read_file" in names and "search.query" in names
        assert "fs.stat" not in names, "fs:read_* does not grant fs.stat"
        assert "search.delete" not in names, "destructive tools need the admin role"
        assert (await client.list_prompts()).prompts == [], "fs:read_* is not fs:summarize_file"
        resources = (await client.list_resources()).resources
        assert all(not str(resource.uri).startswith("file:") for resource in resources), "fs resources need the fs scope"
        result = await client.call_tool("fs.read_file", {"path": "hello.txt"})
        assert result.content[0].text == "hello from the fs service\n"
    async with connect(governed, ADMIN, mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"fs.stat", "search.delete", "fs.read_file"} <= names
    # The default token (MICROMCP_TOKEN) holds every scope but no role.
    async with connect(governed, TOKEN, mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "fs.stat" in names and "search.delete" not in names


def test_refusals_are_403_with_the_scope_or_policy_that_refused(governed):
    response = modern(governed, READER, "tools/call", {"name": "fs.stat", "arguments": {"path": "hello.txt"}})
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="fs:stat"' in challenge
    error = response.json()["error"]
    assert error["code"] == -31003 and error["data"]["category"] == "forbidden"
    assert "principal reader has no scope for tool fs.stat" in error["message"]

    init = post(governed, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}, token=READER)
    session_id = init.headers["mcp-session-id"]
    denied = post(governed, {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                             "params": {"name": "search.delete", "arguments": {"ids": ["x"]}}},
                  {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}, token=READER)
    assert denied.status_code == 403
    assert "forbidden by policy destructive-needs-admin" in denied.json()["error"]["message"]
    read = post(governed, {"jsonrpc": "2.0", "id": 5, "method": "resources/read",
                           "params": {"uri": f"file://{governed.root}/hello.txt"}},
                {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}, token=READER)
    assert read.status_code == 403 and 'scope="fs"' in read.headers["www-authenticate"]


def test_every_request_leaves_one_audit_record(governed):
    ok = modern(governed, READER, "tools/call", {"name": "fs.read_file", "arguments": {"path": "hello.txt"}})
    assert ok.status_code == 200
    # An argument the tool's schema refuses: a user error, still recorded, redacted.
    rejected = modern(governed, READER, "tools/call", {"name": "fs.read_file", "arguments": {"path": "a", "password": "hunter2"}}, request_id=2)
    assert rejected.status_code == 400
    denied = modern(governed, READER, "tools/call", {"name": "fs.stat", "arguments": {"path": "hello.txt"}})
    assert denied.status_code == 403
    assert post(governed, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, token="wrong-token").status_code == 401
    assert post(governed, {}, {"Content-Type": "text/plain"}, token=READER).status_code == 415
    session = initialize(governed)
    assert legacy(governed, session, "tools/list").status_code == 200

    records = audit_records(governed)
    text = (governed.state_dir / "audit.jsonl").read_text()
    assert "hunter2" not in text and READER not in text and TOKEN not in text and session not in text
    read, refused = [r for r in records if r.get("target") == "fs.read_file"]
    assert read["principal"] == "reader" and read["era"] == "modern" and read["transport"] == "http"
    assert read["decision"] == "allow" and read["outcome"] == "ok" and read["http_status"] == 200
    assert read["arguments"] == {"path": "hello.txt"}
    assert refused["arguments"] == {"path": "a", "password": "[redacted]"}
    assert refused["decision"] == "allow" and refused["outcome"] == "error" and refused["error_category"] == "user_error"
    assert read["bytes_in"] > 0 and read["bytes_out"] > 0 and read["latency_us"] > 0
    assert read["request_id"].startswith("r")
    stat = next(r for r in records if r.get("target") == "fs.stat")
    assert stat["decision"] == "deny" and stat["outcome"] == "error" and stat["error_category"] == "forbidden"
    assert stat["http_status"] == 403
    assert "no scope for tool fs.stat" in stat["reason"]
    unauthenticated = [r for r in records if r.get("error_category") == "unauthorized"]
    assert len(unauthenticated) == 1 and "principal" not in unauthenticated[0]
    assert unauthenticated[0]["reason"] == "invalid bearer token"
    unsupported = [r for r in records if r.get("http_status") == 415]
    assert len(unsupported) == 1 and unsupported[0]["outcome"] == "error" and unsupported[0]["principal"] == "reader"
    listing = [r for r in records if r.get("method") == "tools/list"]
    assert len(listing) == 1 and listing[0]["era"] == "legacy" and listing[0]["principal"].startswith("token:")
    assert [r["method"] for r in records if r.get("method") == "initialize"] == ["initialize"]


def test_no_record_is_lost_when_the_gateway_stops(governed):
    calls = 40
    for index in range(calls):
        response = modern(governed, ADMIN, "tools/call", {"name": "fs.read_file", "arguments": {"path": "hello.txt"}}, request_id=index)
        assert response.status_code == 200
    governed.processes[0].send_signal(signal.SIGTERM)
    assert governed.processes[0].wait(timeout=20) == 0
    records = [r for r in audit_records(governed) if r.get("target") == "fs.read_file"]
    assert len(records) == calls and all(r["principal"] == "ops" for r in records)


@pytest.mark.parametrize(
    ("policy", "scopes", "expected"),
    [
        ("forbid(principal, action, resource is Micromcp::Tool) when { resource.destrutive };", '["fs"]', "policy.cedar_file:"),
        ("permit(principal, action", '["fs"]', "does not parse"),
        (POLICY, '["files"]', 'auth.tokens[0].scopes: "files": no service named "files"'),
    ],
)
def test_bad_policy_or_scopes_stop_the_start_naming_the_key(tmp_path, policy, scopes, expected):
    root = make_root(tmp_path)
    config = write_config(tmp_path, policy=policy, reader_scopes=scopes)
    env = dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="warn")
    result = subprocess.run(
        [str(BINARY), "up", "--listen", f"127.0.0.1:{free_port()}", "--root", str(root),
         "--state-dir", str(tmp_path / "state"), "--config", str(config)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr


def test_no_configured_token_may_be_named_operator(tmp_path):
    # `operator` is the admin page's principal: a token named so would share its sessions and records.
    root = make_root(tmp_path)
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace('name = "ops"', 'name = "operator"'))
    env = dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="warn")
    try:
        result = subprocess.run(
            [str(BINARY), "up", "--listen", f"127.0.0.1:{free_port()}", "--root", str(root),
             "--state-dir", str(tmp_path / "state"), "--config", str(config)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=15,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the gateway started with a token named operator")
    assert result.returncode != 0
    assert 'auth.tokens[1].name: "operator" is reserved' in result.stderr, result.stderr
