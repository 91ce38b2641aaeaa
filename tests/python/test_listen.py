"""`subscriptions/listen` (2026-07-28, SEP-2575) through the real gateway in
front of the testkit service, with the official Python SDK's `listen()` and
raw HTTP: the acknowledgement honours only what the gateway can deliver
(list changes of its merged catalog; resource URIs the principal may read
and whose service watches them), every frame carries the subscription id,
nothing un-requested arrives, a resource update reaches the stream, a
2025-11-25 session is told to use its GET stream, and one principal cannot
hold more than 16 streams open."""

from __future__ import annotations

import json

import anyio
import httpx2
import pytest
from mcp.shared.subscriptions import PromptsListChanged, ResourceUpdated, ToolsListChanged

from test_hostile import MODERN, MODERN_META, headers, initialize, legacy
from test_sdk_eras import connect

pytestmark = pytest.mark.anyio


async def test_the_sdk_listens_for_list_changes_and_resource_updates(gateway_testkit):
    async with connect(gateway_testkit, "auto") as client, connect(gateway_testkit, "auto") as other:
        discovered = client.session.discover_result
        assert discovered.capabilities.tools.list_changed and discovered.capabilities.resources.subscribe
        async with client.listen(tools_list_changed=True,
                                 resource_subscriptions=["test://watched-resource", "test://static-text", "test://nowhere"]) as sub:
            assert sub.honored.tools_list_changed and not sub.honored.prompts_list_changed
            # Only the URI whose service can watch it is honoured.
            assert sub.honored.resource_subscriptions == ["test://watched-resource"]
            await other.call_tool("test_trigger_prompt_change", {})  # not requested: never delivered
            await other.call_tool("test_trigger_tool_change", {})
            await other.call_tool("update_watched_resource", {})
            events = []
            with anyio.fail_after(10):
                async for event in sub:
                    events.append(event)
                    if any(isinstance(e, ToolsListChanged) for e in events) and any(isinstance(e, ResourceUpdated) for e in events):
                        break
            assert not any(isinstance(event, PromptsListChanged) for event in events), events
            updated = next(event for event in events if isinstance(event, ResourceUpdated))
            assert updated.uri == "test://watched-resource"
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "extra_tool" in names


def listen_frames(running, request_id, notifications, count, then=None) -> list[dict]:
    body = {"jsonrpc": "2.0", "id": request_id, "method": "subscriptions/listen",
            "params": {"notifications": notifications, "_meta": MODERN_META}}
    frames = []
    with httpx2.stream("POST", running.url, content=json.dumps(body),
                       headers=headers({"MCP-Protocol-Version": MODERN, "Mcp-Method": "subscriptions/listen"}),
                       timeout=httpx2.Timeout(10.0)) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data:") and line[5:].strip():
                frames.append(json.loads(line[5:]))
                if len(frames) == 1 and then:
                    then()
                if len(frames) >= count:
                    break
    return frames


def test_every_frame_carries_the_subscription_id(gateway_testkit):
    def trigger():
        answer = httpx2.post(gateway_testkit.url, headers=headers({"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": "test_trigger_prompt_change"}),
                             content=json.dumps({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                                                 "params": {"name": "test_trigger_prompt_change", "arguments": {}, "_meta": MODERN_META}}), timeout=10)
        assert answer.status_code == 200

    frames = listen_frames(gateway_testkit, "listen-7", {"promptsListChanged": True}, 2, trigger)
    ack, changed = frames
    assert ack["method"] == "notifications/subscriptions/acknowledged"
    assert ack["params"]["notifications"] == {"promptsListChanged": True}
    assert changed["method"] == "notifications/prompts/list_changed"
    for frame in frames:
        assert frame["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "listen-7"


def test_listen_limits_and_eras(gateway_testkit):
    session = initialize(gateway_testkit)
    answer = legacy(gateway_testkit, session, "subscriptions/listen", {"notifications": {}})
    assert answer.json()["error"]["code"] == -32601 and "GET stream" in answer.json()["error"]["message"], answer.text
    too_many = {"resourceSubscriptions": [f"test://r/{n}" for n in range(65)]}
    body = {"jsonrpc": "2.0", "id": 1, "method": "subscriptions/listen", "params": {"notifications": too_many, "_meta": MODERN_META}}
    refused = httpx2.post(gateway_testkit.url, content=json.dumps(body), timeout=10,
                          headers=headers({"MCP-Protocol-Version": MODERN, "Mcp-Method": "subscriptions/listen"}))
    assert refused.status_code == 400 and "at most 64" in refused.text, refused.text
    # Sixteen open streams per principal; the seventeenth is refused, the others keep going.
    streams = []
    try:
        for n in range(16):
            body = {"jsonrpc": "2.0", "id": n, "method": "subscriptions/listen",
                    "params": {"notifications": {"toolsListChanged": True}, "_meta": MODERN_META}}
            request = httpx2.Client(timeout=10)
            response = request.send(request.build_request("POST", gateway_testkit.url, content=json.dumps(body),
                                                           headers=headers({"MCP-Protocol-Version": MODERN, "Mcp-Method": "subscriptions/listen"})), stream=True)
            assert response.status_code == 200
            streams.append((request, response))
        body = {"jsonrpc": "2.0", "id": 99, "method": "subscriptions/listen",
                "params": {"notifications": {"toolsListChanged": True}, "_meta": MODERN_META}}
        extra = httpx2.post(gateway_testkit.url, content=json.dumps(body), timeout=10,
                            headers=headers({"MCP-Protocol-Version": MODERN, "Mcp-Method": "subscriptions/listen"}))
        assert "already holds 16" in extra.text, extra.text
    finally:
        for request, response in streams:
            response.close()
            request.close()
