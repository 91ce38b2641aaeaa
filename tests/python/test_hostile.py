"""Hostile and malformed input against the real gateway over raw HTTP: each
class gets a specific status, JSON-RPC code and message, and nothing leaks.
See docs/hostile-inputs.md for the table these tests pin down."""

from __future__ import annotations

import json

import httpx2
import pytest

from conftest import TOKEN, start_up

MODERN = "2026-07-28"
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}
ACCEPT = "application/json, text/event-stream"


def headers(extra: dict[str, str] | None = None, token: str | None = TOKEN) -> dict[str, str]:
    base = {"Content-Type": "application/json", "Accept": ACCEPT}
    if token:
        base["Authorization"] = f"Bearer {token}"
    base.update(extra or {})
    return base


def post(running, body, extra=None, token=TOKEN, raw: bytes | None = None) -> httpx2.Response:
    content = raw if raw is not None else json.dumps(body).encode()
    return httpx2.post(running.url, content=content, headers=headers(extra, token), timeout=10)


def modern(running, method: str, params: dict | None = None, extra: dict | None = None, request_id: int = 1) -> httpx2.Response:
    params = dict(params or {})
    params.setdefault("_meta", MODERN_META)
    mirrored = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if "name" in params:
        mirrored["Mcp-Name"] = params["name"]
    if "uri" in params:
        mirrored["Mcp-Name"] = params["uri"]
    mirrored.update(extra or {})
    return post(running, {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}, mirrored)


def initialize(running) -> str:
    response = post(running, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
    assert response.status_code == 200
    return response.headers["mcp-session-id"]


def legacy(running, session: str, method: str, params: dict | None = None) -> httpx2.Response:
    body = {"jsonrpc": "2.0", "id": 5, "method": method}
    if params is not None:
        body["params"] = params
    return post(running, body, {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"})


def error_of(response: httpx2.Response) -> dict:
    return response.json()["error"]


def test_malformed_json_and_envelopes(gateway_up):
    response = post(gateway_up, None, raw=b"{not json")
    assert response.status_code == 400 and error_of(response)["code"] == -32700
    response = post(gateway_up, None, raw=b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]')
    assert response.status_code == 400 and error_of(response)["code"] == -32600
    assert "batch" in error_of(response)["message"]
    response = post(gateway_up, {"jsonrpc": "2.0", "id": 1})
    assert response.status_code == 400 and error_of(response)["code"] == -32600
    response = post(gateway_up, {"jsonrpc": "1.0", "id": 1, "method": "ping"})
    assert error_of(response)["code"] == -32600
    response = post(gateway_up, {"jsonrpc": "2.0", "id": None, "method": "ping"})
    assert error_of(response)["code"] == -32600
    response = post(gateway_up, None, raw=b"")
    assert error_of(response)["code"] == -32700


def test_oversized_bodies_get_413(gateway_up):
    huge = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"' + b"x" * (5 * 1024 * 1024) + b'"}}'
    response = post(gateway_up, None, raw=huge)
    assert response.status_code == 413
    assert "too large" in error_of(response)["message"]


def test_authentication(gateway_up):
    response = post(gateway_up, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, token=None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    response = post(gateway_up, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, token="wrong")
    assert response.status_code == 401 and "invalid bearer token" in error_of(response)["message"]
    assert TOKEN not in response.text


def test_host_and_origin_checks(gateway_up):
    response = post(gateway_up, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"Host": "evil.example.com"})
    assert response.status_code == 403
    response = post(gateway_up, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"Origin": "http://evil.example.com"})
    assert response.status_code == 403
    response = post(gateway_up, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}, {"Origin": "http://localhost:5173"})
    assert response.status_code == 200


def test_content_type_accept_and_methods(gateway_up):
    response = httpx2.post(gateway_up.url, content=b"{}", headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain", "Accept": ACCEPT})
    assert response.status_code == 415
    response = httpx2.post(gateway_up.url, content=b"{}", headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", "Accept": "text/html"})
    assert response.status_code == 406
    response = httpx2.get(gateway_up.url, headers={"Authorization": f"Bearer {TOKEN}", "Accept": "text/event-stream"})
    assert response.status_code == 405
    response = httpx2.delete(gateway_up.url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 405


def test_requests_without_era_are_refused(gateway_up):
    response = post(gateway_up, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert response.status_code == 400
    assert "Mcp-Session-Id" in error_of(response)["message"]


def test_modern_header_and_meta_validation(gateway_up):
    ok = modern(gateway_up, "tools/list")
    assert ok.status_code == 200 and ok.json()["result"]["resultType"] == "complete"
    assert ok.json()["result"]["cacheScope"] == "private" and ok.json()["result"]["ttlMs"] >= 0
    mismatch = modern(gateway_up, "tools/list", extra={"Mcp-Method": "prompts/list"})
    assert mismatch.status_code == 400 and error_of(mismatch)["code"] == -32020
    wrong_name = modern(gateway_up, "tools/call", {"name": "fs.stat", "arguments": {"path": "."}}, extra={"Mcp-Name": "fs.read_file"})
    assert wrong_name.status_code == 400 and error_of(wrong_name)["code"] == -32020
    encoded = modern(gateway_up, "tools/call", {"name": "fs.stat", "arguments": {"path": "."}}, extra={"Mcp-Name": "=?base64?ZnMuc3RhdA==?="})
    assert encoded.status_code == 200 and not encoded.json()["result"].get("isError")
    version = modern(gateway_up, "tools/list", {"_meta": {**MODERN_META, "io.modelcontextprotocol/protocolVersion": "2099-01-01"}}, extra={"MCP-Protocol-Version": "2099-01-01"})
    assert version.status_code == 400 and error_of(version)["code"] == -32022
    assert MODERN in error_of(version)["data"]["supported"]
    no_caps = modern(gateway_up, "tools/list", {"_meta": {"io.modelcontextprotocol/protocolVersion": MODERN}})
    assert no_caps.status_code == 400 and error_of(no_caps)["code"] == -32602
    unknown = modern(gateway_up, "tools/frobnicate")
    assert unknown.status_code == 404 and error_of(unknown)["code"] == -32601


def test_unknown_tools_methods_and_bad_params(gateway_up):
    session = initialize(gateway_up)
    unknown_method = legacy(gateway_up, session, "tools/frobnicate")
    assert unknown_method.status_code == 200 and error_of(unknown_method)["code"] == -32601
    unknown_tool = legacy(gateway_up, session, "tools/call", {"name": "fs.nope", "arguments": {}})
    assert error_of(unknown_tool)["code"] == -32602 and "unknown tool" in error_of(unknown_tool)["message"]
    bad_arguments = legacy(gateway_up, session, "tools/call", {"name": "fs.stat", "arguments": {"paht": "x"}})
    assert error_of(bad_arguments)["code"] == -32602 and "paht" in error_of(bad_arguments)["message"]
    bad_cursor = legacy(gateway_up, session, "tools/list", {"cursor": "!!!"})
    assert error_of(bad_cursor)["code"] == -32602
    bad_level = legacy(gateway_up, session, "logging/setLevel", {"level": "loud"})
    assert error_of(bad_level)["code"] == -32602


def test_path_traversal_and_symlink_escapes(gateway_up):
    session = initialize(gateway_up)
    for path, expected in [
        ("../outside/secret.txt", "escapes the allowed roots"),
        ("/etc/passwd", "outside the allowed roots"),
        ("escape-link", "symlink points outside"),
        ("docs/../../outside/secret.txt", "escapes the allowed roots"),
        ("missing.txt", "no such file"),
    ]:
        response = legacy(gateway_up, session, "tools/call", {"name": "fs.read_file", "arguments": {"path": path}})
        result = response.json()["result"]
        assert result["isError"] is True, path
        assert expected in result["content"][0]["text"], (path, result)
        assert "top secret" not in response.text
        assert str(gateway_up.root.parent / "outside") not in response.text


def test_resource_errors(gateway_up):
    session = initialize(gateway_up)
    root_uri = "file://" + str(gateway_up.root.resolve())
    missing = legacy(gateway_up, session, "resources/read", {"uri": root_uri + "/missing.txt"})
    assert error_of(missing)["code"] == -32002
    escape = legacy(gateway_up, session, "resources/read", {"uri": root_uri + "/escape-link"})
    assert error_of(escape)["code"] == -32602 and "symlink" in error_of(escape)["message"]
    unrouted = legacy(gateway_up, session, "resources/read", {"uri": "file:///etc/passwd"})
    assert error_of(unrouted)["code"] == -32002
    modern_missing = modern(gateway_up, "resources/read", {"uri": root_uri + "/missing.txt"})
    assert error_of(modern_missing)["code"] == -32602


def test_sessions_forged_deleted_and_foreign(gateway_up):
    session = initialize(gateway_up)
    assert legacy(gateway_up, session, "ping").json()["result"] == {}
    forged = session[:-4] + ("AAAA" if not session.endswith("AAAA") else "BBBB")
    response = legacy(gateway_up, forged, "ping")
    assert response.status_code == 404
    bad_version = post(gateway_up, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"Mcp-Session-Id": session, "MCP-Protocol-Version": "1999-01-01"})
    assert bad_version.status_code == 400
    deleted = httpx2.delete(gateway_up.url, headers=headers({"Mcp-Session-Id": session}))
    assert deleted.status_code == 200
    assert legacy(gateway_up, session, "ping").status_code == 404


def test_notifications_and_responses_get_202(gateway_up):
    session = initialize(gateway_up)
    notification = post(gateway_up, {"jsonrpc": "2.0", "method": "notifications/initialized"}, {"Mcp-Session-Id": session})
    assert notification.status_code == 202 and notification.content == b""
    stray = post(gateway_up, {"jsonrpc": "2.0", "id": "mm-999", "result": {}}, {"Mcp-Session-Id": session})
    assert stray.status_code == 202


def test_sessions_survive_a_gateway_restart(tmp_path):
    from conftest import make_root

    root = make_root(tmp_path)
    first = start_up(tmp_path, root)
    session = initialize(first)
    port = first.port
    first.stop()
    second = start_up(tmp_path, root, port=port)
    try:
        response = legacy(second, session, "tools/call", {"name": "fs.read_file", "arguments": {"path": "hello.txt"}})
        assert response.json()["result"]["content"][0]["text"] == "hello from the fs service\n"
    finally:
        second.stop()
