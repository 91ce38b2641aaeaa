"""The stateless era's edge rules on the gateway's own front (raw HTTP, the
real gateway): the methods 2026-07-28 removed are unknown methods there
(HTTP 404, -32601) while a session still answers them; a mirrored
`MCP-Protocol-Version` that does not match `_meta` is -32020 even when the
`_meta` version is itself unsupported, while a `_meta` without a version is
a malformed request (-32602, as the 2026-07-28 conformance suite checks); header values with the whitespace
HTTP allows around them are accepted; a resource that is not found names
its URI in `error.data.uri` (SEP-2164), in both eras."""

from __future__ import annotations

import json
import socket

from test_hostile import MODERN_META, initialize, legacy, modern, post


def test_removed_methods_are_unknown_under_the_modern_protocol(gateway_up):
    for method in ("ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"):
        params = {"level": "info"} if method == "logging/setLevel" else {"uri": "file:///x"} if "subscribe" in method else {}
        answer = modern(gateway_up, method, params)
        assert answer.status_code == 404, (method, answer.status_code, answer.text)
        assert answer.json()["error"]["code"] == -32601, answer.text
    initialize_modern = post(gateway_up, {"jsonrpc": "2.0", "id": 3, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
        {"MCP-Protocol-Version": "2026-07-28"})
    assert initialize_modern.status_code == 404 and initialize_modern.json()["error"]["code"] == -32601, initialize_modern.text
    session = initialize(gateway_up)
    assert legacy(gateway_up, session, "ping").json()["result"] == {}, "a 2025-11-25 session still has ping"


def test_a_header_mismatch_wins_over_an_unsupported_meta_version(gateway_up):
    meta = {**MODERN_META, "io.modelcontextprotocol/protocolVersion": "2099-01-01"}
    answer = modern(gateway_up, "tools/list", {"_meta": meta})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == -32020, answer.text
    no_meta_version = {key: value for key, value in MODERN_META.items() if key != "io.modelcontextprotocol/protocolVersion"}
    answer = modern(gateway_up, "tools/list", {"_meta": no_meta_version})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == -32602, answer.text
    assert "protocolVersion" in answer.json()["error"]["message"], answer.text
    same_unsupported = modern(gateway_up, "tools/list", {"_meta": meta}, {"MCP-Protocol-Version": "2099-01-01"})
    assert same_unsupported.status_code == 400 and same_unsupported.json()["error"]["code"] == -32022, same_unsupported.text


def test_header_values_with_surrounding_whitespace_are_accepted(gateway_up):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "fs.stat", "arguments": {"path": "hello.txt"}, "_meta": MODERN_META}}).encode()
    request = (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{gateway_up.port}\r\nAuthorization: Bearer {gateway_up.token}\r\n"
        "Content-Type: application/json\r\nAccept: application/json\r\n"
        "MCP-Protocol-Version: \t2026-07-28 \r\nMcp-Method:  tools/call\t\r\nMcp-Name: fs.stat  \r\n"
        f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", gateway_up.port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert b'"result"' in answer, answer[-300:]


def test_a_resource_not_found_names_its_uri(gateway_up):
    missing = f"file://{gateway_up.root}/no-such-file.txt"
    answer = modern(gateway_up, "resources/read", {"uri": missing})
    error = answer.json()["error"]
    assert error["code"] == -32602 and error["data"]["uri"] == missing, error
    session = initialize(gateway_up)
    error = legacy(gateway_up, session, "resources/read", {"uri": "nowhere://x"}).json()["error"]
    assert error["code"] == -32002 and error["data"]["uri"] == "nowhere://x", error


def test_mirrored_tool_arguments_must_match_their_headers(gateway_testkit):
    """`x-mcp-header` (SEP-2243): the testkit's `test_x_mcp_header` mirrors
    `region` in `Mcp-Param-Region`; the gateway checks the header against
    the body before anything reaches the service."""
    def call(arguments, extra):
        return modern(gateway_testkit, "tools/call", {"name": "test_x_mcp_header", "arguments": arguments}, extra)

    good = call({"region": "eu-west"}, {"Mcp-Param-Region": "eu-west"})
    assert good.status_code == 200 and "region: eu-west" in good.text, good.text
    encoded = call({"region": "Zürich"}, {"Mcp-Param-Region": "=?base64?WsO8cmljaA==?="})
    assert encoded.status_code == 200 and "Zürich" in encoded.json()["result"]["content"][0]["text"], encoded.text
    for arguments, extra, reason in [
        ({"region": "eu-west"}, {"Mcp-Param-Region": "us-east"}, "does not match"),
        ({"region": "eu-west"}, {}, "missing Mcp-Param-region"),
        ({"region": "Zürich"}, {"Mcp-Param-Region": "=?base64?WsO8cmljaA?="}, "invalid =?base64?"),
        ({"region": "eu-west", "verbose": True}, {"Mcp-Param-Region": "eu-west", "Mcp-Param-Verbose": "false"}, "does not match"),
        ({"region": "eu-west"}, {"Mcp-Param-Region": "eu-west", "Mcp-Param-Verbose": "true"}, "but no verbose"),
    ]:
        refused = call(arguments, extra)
        assert refused.status_code == 400, (arguments, extra, refused.text)
        error = refused.json()["error"]
        assert error["code"] == -32020 and reason in error["message"], (reason, error)
    # Headers a tool does not declare pass untouched.
    other = modern(gateway_testkit, "tools/call", {"name": "test_simple_text", "arguments": {}}, {"Mcp-Param-Anything": "x"})
    assert other.status_code == 200, other.text
