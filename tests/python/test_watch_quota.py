"""Resource watches are a per-principal quota shared by both eras
(`limits.max_watches_per_principal`: 2025-11-25 `resources/subscribe` and
2026-07-28 `subscriptions/listen` URIs), refused past it with an error that
names the limit; and a 2025-11-25 session's subscriptions end once its GET
stream has been gone `limits.watch_without_stream_secs` (they used to live
until DELETE or the session's 24 h expiry, ~10 KB each on both sides).
With the official Python SDK in legacy mode and raw HTTP, against the
testkit service (its `test://watched-resource` can be watched)."""

from __future__ import annotations

import json
import time

import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from conftest import start_testkit_gateway
from test_hostile import MODERN, MODERN_META, headers, initialize, legacy
from test_sdk_eras import connect

WATCHED = "test://watched-resource"
SETTINGS = "[limits]\nmax_watches_per_principal = 2\nwatch_without_stream_secs = 2\n"


@pytest.fixture
def quota_gateway(tmp_path):
    running = start_testkit_gateway(tmp_path, gateway_settings=SETTINGS)
    yield running
    running.stop()


def subscribe(running, session: str) -> dict:
    return legacy(running, session, "resources/subscribe", {"uri": WATCHED}).json()


def listen_once(running, uris: list[str]) -> httpx2.Response:
    """A listen's first answer: its acknowledgement or its refusal."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "subscriptions/listen",
            "params": {"notifications": {"resourceSubscriptions": uris}, "_meta": MODERN_META}}
    with httpx2.stream("POST", running.url, content=json.dumps(body), timeout=10,
                       headers=headers({"MCP-Protocol-Version": MODERN, "Mcp-Method": "subscriptions/listen"})) as response:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            for line in response.iter_lines():
                if line.startswith("data:") and line[5:].strip():
                    response._first = json.loads(line[5:])  # type: ignore[attr-defined]
                    break
        else:
            response.read()
        return response


@pytest.mark.anyio
async def test_one_quota_spans_both_eras_and_names_its_limit(quota_gateway):
    async with connect(quota_gateway, "legacy") as first, connect(quota_gateway, "legacy") as second:
        await first.subscribe_resource(WATCHED)
        await second.subscribe_resource(WATCHED)
        async with connect(quota_gateway, "legacy") as third:
            with pytest.raises(MCPError) as refused:
                await third.subscribe_resource(WATCHED)
            assert "limits.max_watches_per_principal" in str(refused.value), refused.value
        # The same quota: a 2026-07-28 listen on a watched URI is refused too.
        listen = listen_once(quota_gateway, [WATCHED])
        assert listen.status_code == 400 and "limits.max_watches_per_principal" in listen.text, listen.text
        await first.unsubscribe_resource(WATCHED)
        listen = listen_once(quota_gateway, [WATCHED])
        assert listen.status_code == 200, listen.text
        assert listen._first["params"]["notifications"]["resourceSubscriptions"] == [WATCHED]  # type: ignore[attr-defined]


def test_a_sessions_watches_end_once_its_get_stream_is_gone(quota_gateway):
    sessions = [initialize(quota_gateway) for _ in range(3)]
    stream_headers = {"Accept": "text/event-stream", "Mcp-Session-Id": sessions[0], **quota_gateway.headers}
    with httpx2.Client(timeout=httpx2.Timeout(10.0, read=5.0)) as client:
        with client.stream("GET", quota_gateway.url, headers=stream_headers) as stream:
            assert stream.status_code == 200
            assert subscribe(quota_gateway, sessions[0]) == {"jsonrpc": "2.0", "id": 5, "result": {}}
            assert "result" in subscribe(quota_gateway, sessions[1])  # no stream ever: ends after 2 s
            refused = subscribe(quota_gateway, sessions[2])
            assert "limits.max_watches_per_principal" in refused["error"]["message"], refused
            time.sleep(4)
            # Session 1 never had a stream: its watch ended; session 0's
            # stream is open: its watch stays.
            assert "result" in subscribe(quota_gateway, sessions[2])
            refused = subscribe(quota_gateway, sessions[1])
            assert "limits.max_watches_per_principal" in refused["error"]["message"], refused
    # Session 0's stream is gone (noticed at the next keep-alive, 1 s);
    # 2 s later its watch ended too (session 2's, made without a stream,
    # as well): both places are free again.
    time.sleep(6)
    assert "result" in subscribe(quota_gateway, sessions[1])
    assert "result" in subscribe(quota_gateway, sessions[2])


def test_by_default_one_principal_watches_at_most_256_resources(gateway_testkit):
    """The flood that found this: one principal held 30 000 watches."""
    for held in range(256):
        assert "result" in subscribe(gateway_testkit, initialize(gateway_testkit)), held
    refused = subscribe(gateway_testkit, initialize(gateway_testkit))
    assert refused["error"]["code"] == -32600, refused
    assert "already watches 256 resources (limits.max_watches_per_principal)" in refused["error"]["message"], refused
