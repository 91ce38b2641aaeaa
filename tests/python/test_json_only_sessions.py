"""A 2025-11-25 session whose POSTs accept only `application/json` has no
stream on a call's answer: the gateway's own requests of that call
(`elicitation/create` from a tool) go on the session's GET stream, where
the official Python client answers them; with no GET stream open the call
ends at once with a clear error instead of waiting for an answer that
cannot come."""

from __future__ import annotations

import json
import time

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from test_hostile import post

pytestmark = pytest.mark.anyio


async def json_only_posts(request):
    if request.method == "POST":
        request.headers["Accept"] = "application/json"


async def on_elicit(context, params):
    return types.ElicitResult(action="accept", content={"username": "ada", "email": "ada@example.com"})


async def test_an_elicitation_reaches_a_json_only_session_on_its_get_stream(gateway_testkit):
    http = httpx2.AsyncClient(headers=gateway_testkit.headers, timeout=httpx2.Timeout(30.0, read=60.0),
                              event_hooks={"request": [json_only_posts]})
    async with Client(streamable_http_client(gateway_testkit.url, http_client=http), mode="legacy",
                      elicitation_callback=on_elicit) as client:
        assert (await client.call_tool("echo", {"n": 1})).structured_content == {"n": 1}
        with anyio.fail_after(20):
            elicited = await client.call_tool("test_elicitation", {"message": "who are you?"})
        assert "ada@example.com" in elicited.content[0].text, elicited


def test_without_a_get_stream_the_call_fails_at_once_naming_the_way_out(gateway_testkit):
    json_only = {"Accept": "application/json"}
    initialized = post(gateway_testkit, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {"elicitation": {}}, "clientInfo": {"name": "t", "version": "1"}}},
        json_only)
    session = {**json_only, "Mcp-Session-Id": initialized.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-11-25"}
    post(gateway_testkit, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    started = time.monotonic()
    try:
        answer = post(gateway_testkit, {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "test_elicitation", "arguments": {"message": "who are you?"}}}, session)
    except httpx2.TimeoutException:
        pytest.fail("the call waited for an answer the client could never send")
    assert time.monotonic() - started < 5
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json"), answer.text
    body = answer.json()
    text = json.dumps(body)
    assert "elicitation/create cannot reach this client" in text and "GET stream" in text, body


def test_a_get_stream_that_closes_unanswered_ends_the_call_soon_with_a_clear_error(gateway_testkit):
    """The elicitation went out on the GET stream, then the client dropped
    that stream without answering and never opened another: the call ends
    a few seconds later with an error saying so, instead of waiting for
    an answer that cannot come (before: the POST waited until its client
    gave up)."""
    from concurrent.futures import ThreadPoolExecutor

    json_only = {"Accept": "application/json"}
    initialized = post(gateway_testkit, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {"elicitation": {}}, "clientInfo": {"name": "t", "version": "1"}}},
        json_only)
    session = {**json_only, "Mcp-Session-Id": initialized.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-11-25"}
    post(gateway_testkit, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    get_headers = {**gateway_testkit.headers, **session, "Accept": "text/event-stream"}
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "test_elicitation", "arguments": {"message": "who are you?"}}}
    with ThreadPoolExecutor(1) as pool:
        with httpx2.stream("GET", gateway_testkit.url, headers=get_headers, timeout=20) as stream:
            assert stream.status_code == 200, stream.read()
            answer_future = pool.submit(lambda: httpx2.post(
                gateway_testkit.url, json=call, headers={**gateway_testkit.headers, **session}, timeout=40))
            for line in stream.iter_lines():
                if "elicitation/create" in line:
                    break
            closed_at = time.monotonic()
        answer = answer_future.result(timeout=45)
    waited = time.monotonic() - closed_at
    assert answer.status_code == 200, answer.text
    text = json.dumps(answer.json())
    assert "GET stream closed before it answered" in text, text
    assert 3 < waited < 20, f"the call ended {waited:.1f} s after its GET stream closed"
