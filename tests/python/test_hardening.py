"""One client must never hurt another: each test below reproduces a defect
found by hostile testing against the real `micromcp up` (a crash, a wedge or
an internal error caused by one client's input) and checks that the input
now gets a clear, specific answer while the service stays up for everyone.
See docs/hostile-inputs.md for the table."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import BINARY, TOKEN, child_pid, free_port, make_root, start_testkit_gateway, start_up, wait_for_port, web_pages
from test_hostile import MODERN_META, initialize, legacy, modern, post

NESTED_DIVS = 10_000


def call(running, name: str, arguments: dict) -> dict:
    body = modern(running, "tools/call", {"name": name, "arguments": arguments}).json()
    assert "result" in body, body
    return body["result"]


def text_of(result: dict) -> str:
    return result["content"][0]["text"]


def test_deeply_nested_search_query_is_refused_and_search_survives(gateway_up):
    before = child_pid(gateway_up, "search")
    hostile = "(" * 3000 + "a" + ")" * 3000
    refused = call(gateway_up, "search.query", {"query": hostile})
    assert refused["isError"] and "at most 2048" in text_of(refused), refused
    deep = "(" * 40 + "hello" + ")" * 40
    refused = call(gateway_up, "search.query", {"query": deep})
    assert refused["isError"] and "40 deep" in text_of(refused), refused
    fine = call(gateway_up, "search.query", {"query": "(hello OR guide)"})
    assert not fine.get("isError"), fine
    assert child_pid(gateway_up, "search") == before, "the search service restarted"


def test_malformed_glob_is_a_clear_tool_error(gateway_up):
    before = child_pid(gateway_up, "fs")
    hostile = "{a," * 1000 + "}" * 1000
    refused = call(gateway_up, "fs.search_files", {"pattern": hostile})
    assert refused["isError"] and text_of(refused).startswith("invalid glob: "), refused
    for pattern in ["{a,{b,c}}", "{a,b", "a}"]:
        refused = call(gateway_up, "fs.search_files", {"pattern": pattern})
        assert refused["isError"] and text_of(refused).startswith("invalid glob: "), (pattern, refused)
    fine = call(gateway_up, "fs.search_files", {"pattern": "**/*.{md,txt}"})
    assert fine["structuredContent"]["matches"] == ["docs/guide.md", "hello.txt"], fine
    assert child_pid(gateway_up, "fs") == before


def test_a_fifo_in_a_root_never_wedges_fs(gateway_up):
    os.mkfifo(gateway_up.root / "pipe")
    started = time.monotonic()
    for _ in range(40):
        refused = call(gateway_up, "fs.read_file", {"path": "pipe"})
        assert refused["isError"] and "not a regular file: pipe is a FIFO" in text_of(refused), refused
    uri = f"file://{gateway_up.root / 'pipe'}"
    error = modern(gateway_up, "resources/read", {"uri": uri}).json()["error"]
    assert "not a regular file" in error["message"], error
    # Every call above came back (a blocking open would hold each one).
    assert time.monotonic() - started < 30
    stat = call(gateway_up, "fs.stat", {"path": "pipe"})
    assert stat["structuredContent"]["type"] == "other", stat
    listed = call(gateway_up, "fs.list_dir", {"path": "."})
    assert any(entry["name"] == "pipe" for entry in listed["structuredContent"]["entries"])
    assert text_of(call(gateway_up, "fs.read_file", {"path": "hello.txt"})) == "hello from the fs service\n"


@pytest.fixture
def nested_page():
    page = ("<div>" * NESTED_DIVS + "x<b>deepest</b>" + "</div>" * NESTED_DIVS).encode()
    with web_pages({"/deep": ("text/html; charset=utf-8", page)}) as port:
        yield port


def test_a_hostile_page_never_crashes_fetch(tmp_path, nested_page):
    (tmp_path / "micromcp.toml").write_text('[fetch]\nallow_domains = ["127.0.0.1"]\nallow_private_addresses = true\n')
    running = start_up(tmp_path, make_root(tmp_path))
    try:
        before = child_pid(running, "fetch")
        page = call(running, "fetch.get_markdown", {"url": f"http://127.0.0.1:{nested_page}/deep"})
        assert not page.get("isError"), page
        assert "xdeepest" in text_of(page), text_of(page)[-200:]
        assert child_pid(running, "fetch") == before, "the fetch service restarted"
    finally:
        running.stop()


def rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_session_ids_have_a_size_bound(gateway_up):
    padding = "x" * (280 * 1024)
    gateway_pid = gateway_up.processes[0].pid
    before = rss_kib(gateway_pid)
    for request_id in range(300):
        response = post(gateway_up, {"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {"roots": {"listChanged": True, "pad": padding}},
            "clientInfo": {"name": "t", "version": "1"}}})
        error = response.json()["error"]
        assert error["code"] == -32602 and "at most 1024" in error["message"], error
        assert "mcp-session-id" not in response.headers
    grown_mib = (rss_kib(gateway_pid) - before) / 1024
    assert grown_mib < 64, f"gateway grew by {grown_mib:.0f} MiB"
    # An oversized id is refused before any work; a normal session still works.
    refused = post(gateway_up, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"Mcp-Session-Id": "A" * 5000, "MCP-Protocol-Version": "2025-11-25"})
    assert refused.status_code == 404, refused.text
    session = initialize(gateway_up)
    assert len(session) < 1024
    assert legacy(gateway_up, session, "ping").json()["result"] == {}


def up_refused(base, root, port: int, state_dir) -> str:
    """Runs a `micromcp up` that must refuse to start; its error output."""
    ended = subprocess.run(
        [str(BINARY), "up", "--listen", f"127.0.0.1:{port}", "--root", str(root), "--state-dir", str(state_dir)],
        cwd=base, env=dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="warn"),
        capture_output=True, text=True, timeout=30,
    )
    assert ended.returncode != 0, ended.stdout
    assert "listening on" not in ended.stdout
    return ended.stderr


def test_a_second_gateway_never_shares_the_port_or_the_state_directory(tmp_path):
    root = make_root(tmp_path)
    first = start_up(tmp_path, root)
    try:
        shared_port = up_refused(tmp_path, root, first.port, tmp_path / "other-state")
        assert f"address in use: another process listens on 127.0.0.1:{first.port}" in shared_port, shared_port
        shared_state = up_refused(tmp_path, root, free_port(), first.state_dir)
        assert "state directory in use" in shared_state, shared_state
        for request_id in range(40):
            answered = modern(first, "server/discover", request_id=request_id)
            assert answered.status_code == 200 and "supportedVersions" in json.dumps(answered.json()["result"]), answered.text
    finally:
        first.stop()


def search_crawl_finished(running) -> bool:
    stats = call(running, "search.stats", {})["structuredContent"]
    return stats["crawl"]["finished"]


def test_the_state_directory_is_never_served(tmp_path):
    root = make_root(tmp_path)
    state_dir = root / "gateway-state"
    state_dir.mkdir(mode=0o700)
    (state_dir / "notes.txt").write_text("zanzibarsecret kept with the gateway's state\n")
    running = start_up(tmp_path, root, state_dir=state_dir)
    try:
        assert (state_dir / "session.key").exists() and (state_dir / "audit.jsonl").exists()
        for path in ["gateway-state/session.key", "gateway-state/notes.txt", str(state_dir / "audit.jsonl")]:
            refused = call(running, "fs.read_file", {"path": path})
            assert refused["isError"] and "outside the allowed roots" in text_of(refused), (path, refused)
        listed = call(running, "fs.list_dir", {"path": "."})["structuredContent"]["entries"]
        assert "gateway-state" not in {entry["name"] for entry in listed}
        found = call(running, "fs.search_files", {"pattern": "**/*"})["structuredContent"]["matches"]
        assert not any("gateway-state" in match for match in found), found
        error = modern(running, "resources/read", {"uri": f"file://{state_dir / 'session.key'}"}).json()["error"]
        assert "outside the allowed roots" in error["message"], error
        deadline = time.monotonic() + 30
        while not search_crawl_finished(running) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert search_crawl_finished(running)
        hits = call(running, "search.query", {"query": "hello"})["structuredContent"]["hits"]
        assert any(hit["url"].endswith("/hello.txt") for hit in hits), hits
        leaked = call(running, "search.query", {"query": "zanzibarsecret"})["structuredContent"]["hits"]
        assert leaked == [], leaked
    finally:
        running.stop()
    # A secret configured inside a served root stops the start, naming its key.
    (tmp_path / "micromcp.toml").write_text(f'version = 1\n[audit]\npath = "{root / "audit.jsonl"}"\n')
    refused = up_refused(tmp_path, root, free_port(), tmp_path / "state2")
    assert "audit.path" in refused and "inside the served root" in refused, refused


def test_every_tool_call_ends_at_its_deadline(tmp_path):
    running = start_testkit_gateway(tmp_path, gateway_settings="request_timeout_secs = 1\n")
    try:
        session = initialize(running)
        for meta in [{}, {"progressToken": "p"}]:
            started = time.monotonic()
            body = legacy(running, session, "tools/call", {"name": "slow", "arguments": {"millis": 4000}, "_meta": meta})
            error = next(message for message in messages_of(body) if message.get("id") == 5)["error"]
            assert error["code"] == -31004 and "did not finish within 1 s" in error["message"], error
            assert time.monotonic() - started < 3.5, "ended at the deadline, not when the tool finished"
        time.sleep(4.5)
        stats = legacy(running, session, "tools/call", {"name": "slow_stats", "arguments": {}}).json()
        assert stats["result"]["structuredContent"] == {"completed": 0}, "the service saw both cancellations"
        fast = legacy(running, session, "tools/call", {"name": "slow", "arguments": {"millis": 200}}).json()
        assert fast["result"]["content"][0]["text"] == "slept 200 ms"
    finally:
        running.stop()


def messages_of(response) -> list[dict]:
    """The JSON-RPC messages of a JSON or SSE answer."""
    if response.headers["content-type"].startswith("application/json"):
        return [response.json()]
    return [json.loads(line[len("data: "):]) for line in response.text.splitlines() if line.startswith("data: {")]


def test_a_service_drains_and_exits_on_sigterm_while_a_gateway_is_connected(gateway_testkit):
    """The gateway holds a catalog watch open on every service; SIGTERM must
    still end the service: in-flight calls finish, watches end, it exits."""
    session = initialize(gateway_testkit)
    service = gateway_testkit.processes[0]
    outcome = {}

    def slow_call():
        outcome["body"] = legacy(gateway_testkit, session, "tools/call", {"name": "slow", "arguments": {"millis": 1500}}).json()

    caller = threading.Thread(target=slow_call)
    caller.start()
    time.sleep(0.4)
    service.send_signal(signal.SIGTERM)
    caller.join(timeout=15)
    assert outcome["body"]["result"]["content"][0]["text"] == "slept 1500 ms", "the in-flight call was drained, not cut"
    assert service.wait(timeout=8) == 0, "the service exits once drained"


def test_a_drain_has_a_deadline(tmp_path):
    port = free_port()
    service = subprocess.Popen([str(BINARY), "testkit", "--listen", f"127.0.0.1:{port}", "--drain-timeout-secs", "1"], env=dict(os.environ, MICROMCP_LOG="error"))
    try:
        wait_for_port(port)
        running = start_testkit_gateway(tmp_path, service_port=port)
        try:
            session = initialize(running)
            outcome = {}

            def long_call():
                outcome["body"] = legacy(running, session, "tools/call", {"name": "slow", "arguments": {"millis": 20000}}).json()

            caller = threading.Thread(target=long_call)
            caller.start()
            time.sleep(0.4)
            service.send_signal(signal.SIGTERM)
            assert service.wait(timeout=6) == 0, "the service exits at its drain deadline"
            caller.join(timeout=10)
            assert outcome["body"]["error"]["code"] == -31004, outcome
        finally:
            running.stop()
    finally:
        if service.poll() is None:
            service.kill()


LIMITS = "[limits]\nmax_connections = 60\nmax_connections_per_source = 40\nheader_read_timeout_secs = 2\nbody_read_timeout_secs = 2\n"


def open_socket(running, source: str = "127.0.0.1") -> socket.socket:
    connection = socket.socket()
    connection.bind((source, 0))
    connection.settimeout(10)
    connection.connect(("127.0.0.1", running.port))
    return connection


def ping_from(running, source: str) -> bytes:
    """One raw HTTP/1.1 ping from `source`; the answer's bytes."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": MODERN_META}}).encode()
    connection = open_socket(running, source)
    request = (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{running.port}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
        f"MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: server/discover\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    connection.sendall(request)
    answer = b""
    while chunk := connection.recv(65536):
        answer += chunk
    connection.close()
    return answer


def closed_within(connection: socket.socket, seconds: float) -> bytes:
    """What the server sent before closing `connection` (fails if it stays open)."""
    connection.settimeout(seconds)
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def test_connection_caps_refuse_clearly_and_spare_other_clients(tmp_path):
    (tmp_path / "micromcp.toml").write_text(LIMITS)
    running = start_up(tmp_path, make_root(tmp_path))
    held = []
    try:
        held += [open_socket(running) for _ in range(40)]
        time.sleep(0.3)
        refused = closed_within(open_socket(running), 5)
        assert refused.startswith(b"HTTP/1.1 503") and b"max_connections_per_source = 40" in refused, refused
        assert b"retry-after: 1" in refused.lower()
        assert b"200 OK" in ping_from(running, "127.0.0.2"), "another source is still served"
        held += [open_socket(running, "127.0.0.3") for _ in range(20)]
        time.sleep(0.3)
        refused = closed_within(open_socket(running, "127.0.0.4"), 5)
        assert b"503" in refused and b"limits.max_connections = 60" in refused, refused
    finally:
        for connection in held:
            connection.close()
    time.sleep(0.3)
    assert b"200 OK" in ping_from(running, "127.0.0.1"), "places come back when connections close"
    running.stop()


def test_slow_and_idle_clients_are_cut_off(tmp_path):
    (tmp_path / "micromcp.toml").write_text(LIMITS)
    running = start_up(tmp_path, make_root(tmp_path))
    try:
        slowloris = [open_socket(running) for _ in range(30)]
        for connection in slowloris:
            connection.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        for connection in slowloris:
            closed_within(connection, 8)
            connection.close()
        assert time.monotonic() - started < 8, "headers that never end are cut at the header timeout"
        stalled = open_socket(running)
        stalled.sendall(
            f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{running.port}\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\"".encode()
        )
        answer = closed_within(stalled, 8)
        assert answer.startswith(b"HTTP/1.1 408") and b"body_read_timeout_secs" in answer, answer
        idle = open_socket(running)
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": MODERN_META}}).encode()
        idle.sendall(
            f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{running.port}\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nAccept: application/json\r\nMCP-Protocol-Version: 2026-07-28\r\n"
            f"Mcp-Method: server/discover\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        )
        first = idle.recv(65536)
        assert first.startswith(b"HTTP/1.1 200"), first
        closed_within(idle, 8)  # the idle keep-alive connection is closed
        silent = [open_socket(running) for _ in range(30)]
        started = time.monotonic()
        for connection in silent:
            assert closed_within(connection, 8) == b""
            connection.close()
        assert time.monotonic() - started < 8, "connections that never send a byte are cut at the header timeout"
        assert b"200 OK" in ping_from(running, "127.0.0.1")
    finally:
        running.stop()


def test_clients_that_never_read_a_large_resource_only_slow_themselves(tmp_path):
    (tmp_path / "micromcp.toml").write_text("[limits]\nstalled_reader_timeout_secs = 3\n")
    root = make_root(tmp_path)
    with open(root / "big.bin", "wb") as big:
        big.truncate(300 * 1024 * 1024)
    running = start_up(tmp_path, root)
    stalled = []
    try:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {
            "uri": f"file://{root / 'big.bin'}", "_meta": MODERN_META}}).encode()
        for _ in range(8):
            connection = socket.socket()
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            connection.connect(("127.0.0.1", running.port))
            connection.sendall(
                f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{running.port}\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Type: application/json\r\nAccept: application/json\r\nMCP-Protocol-Version: 2026-07-28\r\n"
                f"Mcp-Method: resources/read\r\nMcp-Name: file://{root / 'big.bin'}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
            )
            stalled.append(connection)
        time.sleep(1)
        for _ in range(40):
            stat = call(running, "fs.stat", {"path": "hello.txt"})
            assert stat["structuredContent"]["size"] == 26, stat
        time.sleep(4)
        for connection in stalled:
            received = closed_within(connection, 20)
            assert len(received) < 50 * 1024 * 1024, "the stalled answer was cut, not sent whole"
        assert text_of(call(running, "fs.read_file", {"path": "hello.txt"})) == "hello from the fs service\n"
    finally:
        for connection in stalled:
            connection.close()
        running.stop()


STATTER = "statter-token-0123456789"
FS_READER = "fs-reader-token-0123456789"


def call_as(running, token: str, name: str, arguments: dict) -> dict:
    params = {"name": name, "arguments": arguments, "_meta": MODERN_META}
    headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": name}
    return post(running, {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}, headers, token=token).json()


def test_scopes_do_not_leak_through_the_search_crawl(tmp_path):
    digest = lambda token: hashlib.sha256(token.encode()).hexdigest()  # noqa: E731
    (tmp_path / "micromcp.toml").write_text(
        "version = 1\n"
        f'[[auth.tokens]]\nname = "statter"\nsha256 = "{digest(STATTER)}"\nscopes = ["fs:stat", "search"]\n'
        f'[[auth.tokens]]\nname = "fs-reader"\nsha256 = "{digest(FS_READER)}"\nscopes = ["fs", "search"]\n'
    )
    root = make_root(tmp_path)
    running = start_up(tmp_path, root)
    try:
        deadline = time.monotonic() + 30
        while not search_crawl_finished(running) and time.monotonic() < deadline:
            time.sleep(0.2)
        hello = f"file://{root / 'hello.txt'}"
        refused = call_as(running, STATTER, "fs.read_file", {"path": "hello.txt"})
        assert refused["error"]["code"] == -31003, refused
        hits = call_as(running, STATTER, "search.query", {"query": "hello"})["result"]["structuredContent"]["hits"]
        assert hits == [], f"crawled fs content reached a principal without fs read: {hits}"
        read = post(running, {"jsonrpc": "2.0", "id": 2, "method": "resources/read", "params": {
            "uri": f"search://doc/{hello}", "_meta": MODERN_META}}, {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "resources/read", "Mcp-Name": f"search://doc/{hello}"}, token=STATTER).json()
        assert "error" in read and "not found" in read["error"]["message"], read
        overwrite = call_as(running, STATTER, "search.index", {"documents": [{"id": hello, "title": "x", "body": "planted"}]})["result"]
        assert overwrite["isError"] and "mirrors a file of fs" in text_of(overwrite), overwrite
        delete = call_as(running, STATTER, "search.delete", {"ids": [hello]})["result"]
        assert delete["isError"] and "mirrors a file of fs" in text_of(delete), delete
        # Look-alikes of the crawled file (a trailing space, the scheme's case, its url) are refused too.
        for planted in [{"id": hello + " ", "title": "hello.txt", "url": hello}, {"id": hello.replace("file:", "FILE:")},
                        {"id": "note-2", "url": hello}]:
            look_alike = call_as(running, STATTER, "search.index", {"documents": [{"body": "planted", **planted}]})["result"]
            assert look_alike["isError"] and "crawled files' own" in text_of(look_alike), look_alike
        planted_tag = call_as(running, STATTER, "search.index", {"documents": [{"id": "note", "body": "x", "tags": ["source:fs"]}]})["result"]
        assert planted_tag["isError"] and "reserved" in text_of(planted_tag), planted_tag
        own = call_as(running, STATTER, "search.index", {"documents": [{"id": "note-1", "title": "mine", "body": "hello from a note"}]})["result"]
        assert own["structuredContent"] == {"indexed": 1}, own
        mine = call_as(running, STATTER, "search.query", {"query": "hello"})["result"]["structuredContent"]["hits"]
        assert [hit["id"] for hit in mine] == ["note-1"], mine
        allowed = call_as(running, FS_READER, "search.query", {"query": "hello"})["result"]["structuredContent"]["hits"]
        assert hello in [hit["id"] for hit in allowed], allowed
        full = call_as(running, TOKEN, "search.query", {"query": "hello"})["result"]["structuredContent"]["hits"]
        assert hello in [hit["id"] for hit in full], full
    finally:
        running.stop()


def readyz_of(running) -> dict:
    import httpx2

    return httpx2.get(running.url.replace("/mcp", "/readyz"), timeout=5).json()["services"][0]


def test_a_flooded_service_sheds_at_once_past_its_places_and_queue(tmp_path):
    running = start_testkit_gateway(tmp_path, gateway_settings="[backends]\nmax_concurrent_calls = 2\nmax_queued_calls = 2\n")
    try:
        session = initialize(running)
        outcomes = []

        def slow_call():
            started = time.monotonic()
            body = legacy(running, session, "tools/call", {"name": "slow", "arguments": {"millis": 1500}}).json()
            outcomes.append((body, time.monotonic() - started))

        callers = [threading.Thread(target=slow_call) for _ in range(10)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(timeout=20)
        done = [body for body, _ in outcomes if "result" in body]
        shed = [(body, took) for body, took in outcomes if "error" in body]
        assert len(done) == 4 and len(shed) == 6, outcomes
        for body, took in shed:
            assert body["error"]["code"] == -31004 and "at capacity" in body["error"]["message"], body
            assert "backends.max_concurrent_calls" in body["error"]["message"]
            assert took < 1.0, f"shed after {took:.2f} s, not at once"
        assert readyz_of(running)["calls_shed_total"] == 6
    finally:
        running.stop()


def test_a_service_table_overrides_the_shared_backends_keys(tmp_path):
    """`[backends]` allows plenty; the service's own `[services.backends]`
    allows one call and no queue, so the second concurrent call is shed."""
    running = start_testkit_gateway(
        tmp_path,
        gateway_settings="[backends]\nmax_concurrent_calls = 100\nmax_queued_calls = 100\n",
        service_settings="[services.backends]\nmax_concurrent_calls = 1\nmax_queued_calls = 0\n",
    )
    try:
        session = initialize(running)
        outcomes = []

        def slow_call():
            outcomes.append(legacy(running, session, "tools/call", {"name": "slow", "arguments": {"millis": 800}}).json())

        callers = [threading.Thread(target=slow_call) for _ in range(3)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(timeout=20)
        shed = [body for body in outcomes if "error" in body]
        assert len(shed) == 2 and len(outcomes) == 3, outcomes
        assert "1 calls running and 0 waiting" in shed[0]["error"]["message"], shed
    finally:
        running.stop()


def test_a_failing_service_trips_its_breaker_and_recovers(tmp_path):
    running = start_testkit_gateway(
        tmp_path,
        gateway_settings="request_timeout_secs = 1\n[backends]\nbreaker_consecutive_failures = 3\nbreaker_open_secs = 1\n",
    )
    try:
        session = initialize(running)
        for _ in range(3):
            failed = legacy(running, session, "tools/call", {"name": "slow", "arguments": {"millis": 3000}}).json()
            assert failed["error"]["code"] == -31004, failed
        assert readyz_of(running)["breaker"] == "open"
        started = time.monotonic()
        refused = legacy(running, session, "tools/call", {"name": "echo", "arguments": {"n": 1}}).json()
        assert time.monotonic() - started < 0.5
        assert refused["error"]["code"] == -31004 and "circuit breaker is open" in refused["error"]["message"], refused
        time.sleep(1.2)
        probe = legacy(running, session, "tools/call", {"name": "echo", "arguments": {"n": 2}}).json()
        assert probe["result"]["structuredContent"] == {"n": 2}, probe
        state = readyz_of(running)
        assert state["breaker"] == "closed" and state["breaker_opened_total"] == 1, state
    finally:
        running.stop()


def test_rate_limits_answer_429_naming_the_limit(tmp_path):
    running = start_testkit_gateway(tmp_path, gateway_settings="[rate_limits]\nper_principal_per_sec = 2\nper_principal_burst = 3\n")
    try:
        session = initialize(running)
        answers = [legacy(running, session, "tools/call", {"name": "echo", "arguments": {"n": n}}) for n in range(6)]
        assert [answer.status_code for answer in answers[:3]] == [200, 200, 200]
        limited = answers[3]
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1, limited.headers
        error = limited.json()["error"]
        assert error["code"] == -31004 and "rate_limits.per_principal_per_sec" in error["message"], error
        assert error["data"]["retryAfterMs"] > 0
        assert legacy(running, session, "tools/list").status_code == 200, "lists are not rate limited"
        time.sleep(1.1)
        again = legacy(running, session, "tools/call", {"name": "echo", "arguments": {"n": 9}}).json()
        assert again["result"]["structuredContent"] == {"n": 9}
    finally:
        running.stop()


def test_a_service_of_its_own_rate_is_limited_by_it(tmp_path):
    """`[services.rate_limits]`: the service's own rate replaces the shared
    per-service one (here far higher) and the refusal names its key."""
    running = start_testkit_gateway(tmp_path, gateway_settings="[rate_limits]\nper_service_per_sec = 1000\n",
                                    service_settings="[services.rate_limits]\nper_sec = 1\nburst = 2\n")
    try:
        session = initialize(running)
        answers = [legacy(running, session, "tools/call", {"name": "echo", "arguments": {"n": n}}) for n in range(4)]
        assert [answer.status_code for answer in answers[:2]] == [200, 200]
        limited = answers[2]
        assert limited.status_code == 429, limited.text
        assert "services[0].rate_limits.per_sec" in limited.json()["error"]["message"], limited.json()
    finally:
        running.stop()


def test_safe_reads_are_retried_within_a_budget(tmp_path):
    """A read that fails as unavailable is tried again once (the testkit
    fails each `unavailable-…` template id's first read); with retries off
    the same failure reaches the client."""
    running = start_testkit_gateway(tmp_path)
    try:
        session = initialize(running)
        read = legacy(running, session, "resources/read", {"uri": "test://template/unavailable-1/data"}).json()
        assert json.loads(read["result"]["contents"][0]["text"])["id"] == "unavailable-1", read
    finally:
        running.stop()
    (tmp_path / "off").mkdir()
    no_retries = start_testkit_gateway(tmp_path / "off", gateway_settings="[backends]\nmax_retries = 0\n")
    try:
        session = initialize(no_retries)
        failed = legacy(no_retries, session, "resources/read", {"uri": "test://template/unavailable-2/data"}).json()
        assert failed["error"]["code"] == -31004, failed
        again = legacy(no_retries, session, "resources/read", {"uri": "test://template/unavailable-2/data"}).json()
        assert "result" in again, again
    finally:
        no_retries.stop()


def test_only_idempotent_tools_are_retried(tmp_path):
    """`flaky_idempotent` (idempotentHint) fails as unavailable once per
    key and is answered by the gateway's retry; `flaky` (no hints: maybe a
    side effect) fails the same way and the failure reaches the client."""
    running = start_testkit_gateway(tmp_path)
    try:
        session = initialize(running)
        retried = legacy(running, session, "tools/call", {"name": "flaky_idempotent", "arguments": {"key": "a"}}).json()
        assert text_of(retried["result"]) == "flaky_idempotent:a: answered", retried
        not_retried = legacy(running, session, "tools/call", {"name": "flaky", "arguments": {"key": "a"}}).json()
        assert not_retried["error"]["code"] == -31004, not_retried
        again = legacy(running, session, "tools/call", {"name": "flaky", "arguments": {"key": "a"}}).json()
        assert text_of(again["result"]) == "flaky:a: answered", again
    finally:
        running.stop()
