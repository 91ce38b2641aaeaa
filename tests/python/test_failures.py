"""Backends failing under the gateway: a service dying mid-call gives a
clear transient error, other calls fail fast while it is down, and the
gateway reconnects when it is back (restarted by `micromcp up`'s supervisor,
or by hand). Also client-side cancellation of an in-flight call."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import httpx2
import pytest

from conftest import BINARY, child_pid, wait_for_port
from test_hostile import initialize, legacy, post

TRANSIENT = -31004


def call(running, session, name, arguments=None):
    return legacy(running, session, "tools/call", {"name": name, "arguments": arguments or {}})


def eventually(check, timeout=15.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"condition not met in {timeout}s; last: {last}")


def test_service_dying_mid_call_then_restarting(gateway_testkit):
    session = initialize(gateway_testkit)
    died = call(gateway_testkit, session, "exit_process").json()
    assert died["error"]["code"] == TRANSIENT
    assert died["error"]["data"] == {"category": "transient_error", "service": "testkit"}
    down = call(gateway_testkit, session, "test_simple_text").json()
    assert down["error"]["code"] == TRANSIENT and "unavailable" in down["error"]["message"]
    listed = legacy(gateway_testkit, session, "tools/list").json()
    assert any(tool["name"] == "test_simple_text" for tool in listed["result"]["tools"]), "catalog stays listed while down"

    service_port = int(gateway_testkit.root.joinpath("micromcp.toml").read_text().split("http://127.0.0.1:")[1].split('"')[0])
    restarted = subprocess.Popen([str(BINARY), "testkit", "--listen", f"127.0.0.1:{service_port}"], env=dict(os.environ, MICROMCP_LOG="warn"))
    gateway_testkit.processes.insert(0, restarted)
    wait_for_port(service_port)
    recovered = eventually(lambda: "result" in (body := call(gateway_testkit, session, "test_simple_text").json()) and body)
    assert recovered["result"]["content"][0]["text"] == "This is a simple text response for testing."


def test_every_method_fails_fast_while_its_service_is_down(gateway_testkit):
    """The route step fails every method kind at once for a service known to
    be down, even when its address now swallows connections and never
    answers: nothing waits out a deadline (300 s here) on a dead backend."""
    session = initialize(gateway_testkit)
    service_port = int(gateway_testkit.root.joinpath("micromcp.toml").read_text().split("http://127.0.0.1:")[1].split('"')[0])
    assert call(gateway_testkit, session, "exit_process").json()["error"]["code"] == TRANSIENT
    readyz = gateway_testkit.url.replace("/mcp", "/readyz")
    eventually(lambda: httpx2.get(readyz, timeout=5).status_code == 503)
    black_hole = socket.socket()
    black_hole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    black_hole.bind(("127.0.0.1", service_port))
    black_hole.listen(1024)
    try:
        for method, params in [
            ("tools/call", {"name": "test_simple_text", "arguments": {}}),
            ("prompts/get", {"name": "test_simple_prompt"}),
            ("resources/read", {"uri": "test://static-text"}),
            ("resources/subscribe", {"uri": "test://watched-resource"}),
            ("completion/complete", {"ref": {"type": "ref/prompt", "name": "test_prompt_with_arguments"}, "argument": {"name": "arg1", "value": "a"}}),
        ]:
            error = legacy(gateway_testkit, session, method, params).json()["error"]
            assert error["code"] == TRANSIENT and "unavailable" in error["message"], (method, error)
            assert error["data"] == {"category": "transient_error", "service": "testkit"}, (method, error)
    finally:
        black_hole.close()


def fs_child_pid(running) -> int:
    return child_pid(running, "fs")


def test_supervisor_restarts_a_killed_service(gateway_up):
    session = initialize(gateway_up)
    first = fs_child_pid(gateway_up)
    os.kill(first, signal.SIGKILL)
    failed = eventually(lambda: "error" in (body := call(gateway_up, session, "fs.stat", {"path": "."}).json()) and body, timeout=5)
    assert failed["error"]["code"] == TRANSIENT
    recovered = eventually(lambda: "result" in (body := call(gateway_up, session, "fs.stat", {"path": "."}).json()) and body)
    assert recovered["result"]["structuredContent"]["type"] == "directory"
    assert fs_child_pid(gateway_up) != first


def test_no_orphans_after_shutdown(tmp_path):
    from conftest import make_root, start_up

    running = start_up(tmp_path, make_root(tmp_path))
    child = fs_child_pid(running)
    running.stop()
    eventually(lambda: not os.path.exists(f"/proc/{child}") or open(f"/proc/{child}/stat").read().split()[2] == "Z", timeout=10)


def test_cancellation_stops_the_call(gateway_testkit):
    session = initialize(gateway_testkit)
    body = {"jsonrpc": "2.0", "id": 41, "method": "tools/call", "params": {"name": "slow", "arguments": {"millis": 5000}, "_meta": {"progressToken": "p1"}}}
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", "Mcp-Session-Id": session, **gateway_testkit.headers}
    started = time.monotonic()
    events = []
    with httpx2.Client(timeout=10) as client:
        with client.stream("POST", gateway_testkit.url, content=json.dumps(body), headers=headers) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: ":
                    continue
                message = json.loads(line[len("data: "):])
                events.append(message)
                if message.get("method") == "notifications/progress" and len(events) == 1:
                    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 41, "reason": "test"}}
                    assert post(gateway_testkit, cancel, {"Mcp-Session-Id": session}).status_code == 202
    assert time.monotonic() - started < 4, "the stream should end soon after cancellation"
    assert not any(message.get("id") == 41 for message in events), "a cancelled request gets no response"


def test_thousands_of_calls_keep_the_backend_channel_healthy(gateway_testkit):
    """HTTP/2 servers close connections that see too many stream resets; the
    gateway must finish every call stream cleanly so the shared channel lives."""
    session = initialize(gateway_testkit)
    with httpx2.Client(timeout=10, headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream", "Mcp-Session-Id": session, **gateway_testkit.headers}) as client:
        for request_id in range(1500):
            body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": "echo", "arguments": {"n": request_id}}}
            response = client.post(gateway_testkit.url, content=json.dumps(body)).json()
            assert response["result"]["structuredContent"] == {"n": request_id}, response
