"""Resource subscriptions (2025-11-25): `resources/subscribe` to a file
served by fs, change the file, and the update arrives on the session's GET
stream; after `resources/unsubscribe` no more updates arrive. Also the GET
stream's `list_changed` plumbing and keep-alives."""

from __future__ import annotations

import json
import threading
import time

import httpx2

from test_hostile import initialize, legacy


def read_events(running, session, seconds, found, stop):
    headers = {"Accept": "text/event-stream", "Mcp-Session-Id": session, **running.headers}
    deadline = time.monotonic() + seconds
    with httpx2.Client(timeout=httpx2.Timeout(10.0, read=2.0)) as client:
        with client.stream("GET", running.url, headers=headers) as response:
            assert response.status_code == 200
            try:
                for line in response.iter_lines():
                    if line.startswith("data: ") and len(line) > 6:
                        found.append(json.loads(line[6:]))
                    if stop.is_set() or time.monotonic() > deadline:
                        return
            except httpx2.ReadTimeout:
                return


def test_file_changes_reach_subscribers(gateway_up):
    session = initialize(gateway_up)
    capabilities = None
    uri = "file://" + str((gateway_up.root / "hello.txt").resolve())
    subscribed = legacy(gateway_up, session, "resources/subscribe", {"uri": uri})
    assert subscribed.json()["result"] == {}, subscribed.text
    found: list[dict] = []
    stop = threading.Event()
    reader = threading.Thread(target=read_events, args=(gateway_up, session, 8, found, stop))
    reader.start()
    time.sleep(0.7)
    (gateway_up.root / "hello.txt").write_text("changed!\n")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not found:
        time.sleep(0.1)
    assert found and found[0] == {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": uri}}
    assert legacy(gateway_up, session, "resources/unsubscribe", {"uri": uri}).json()["result"] == {}
    count = len(found)
    (gateway_up.root / "hello.txt").write_text("changed again, nobody listens\n")
    time.sleep(1.5)
    stop.set()
    reader.join()
    assert len(found) == count
    del capabilities


def test_subscribe_errors(gateway_up):
    session = initialize(gateway_up)
    unknown = legacy(gateway_up, session, "resources/subscribe", {"uri": "nothing://here"})
    assert unknown.json()["error"]["code"] == -32002
    escape = legacy(gateway_up, session, "resources/subscribe", {"uri": "file://" + str((gateway_up.root / "escape-link").resolve(strict=False))})
    assert "error" in escape.json()


def test_initialize_advertises_subscribe(gateway_up):
    response = httpx2.post(gateway_up.url, headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **gateway_up.headers},
                           content=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
    assert response.json()["result"]["capabilities"]["resources"]["subscribe"] is True


def test_get_stream_keepalive_and_single_stream(gateway_testkit):
    session = initialize(gateway_testkit)
    headers = {"Accept": "text/event-stream", "Mcp-Session-Id": session, **gateway_testkit.headers}
    with httpx2.Client(timeout=httpx2.Timeout(10.0, read=5.0)) as client:
        with client.stream("GET", gateway_testkit.url, headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/event-stream"
            second = client.get(gateway_testkit.url, headers=headers)
            assert second.status_code == 409
            lines = []
            for line in response.iter_lines():
                lines.append(line)
                if line.startswith(": keep-alive"):
                    break
            assert lines[0].startswith("id: 0-"), lines
