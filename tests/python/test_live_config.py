"""Changing a running gateway: services registered and removed through the
admin API (kept across a `kill -9` right after the acknowledgement), and
reloads — on SIGHUP, on a change of the config file, through
`POST /api/reload` — that add and remove services, rotate tokens, refuse an
invalid file while the running config stays, and name the keys that wait for
a restart. Real `micromcp up` / `micromcp gateway`, real testkit services,
clients over HTTP; `list_changed` seen on a session's GET stream."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
import time

import httpx2

from conftest import BINARY, TOKEN, free_port, make_root, start_up, wait_for_line, wait_for_port
from test_failures import eventually
from test_hostile import initialize, legacy, post

ADMIN_TOKEN = "admin-token-0123456789abcdefghij"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SIMPLE_TEXT = "This is a simple text response for testing."


def start_testkit() -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen([str(BINARY), "testkit", "--listen", f"127.0.0.1:{port}"], env=dict(os.environ, MICROMCP_LOG="warn"))
    wait_for_port(port)
    return process, port


def call_text(running, session, name) -> str | dict:
    body = legacy(running, session, "tools/call", {"name": name, "arguments": {}}).json()
    if "result" in body:
        return body["result"]["content"][0]["text"]
    return body["error"]


def tool_names(running, session) -> set[str]:
    return {tool["name"] for tool in legacy(running, session, "tools/list").json()["result"]["tools"]}


def start_admin_up(base, state_dir, admin_port):
    return start_up(base, base / "root" if (base / "root").exists() else make_root(base),
                    extra=["--admin-listen", f"127.0.0.1:{admin_port}"], state_dir=state_dir,
                    env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})


class ListChanged:
    """Collects the notifications a session's GET stream carries."""

    def __init__(self, running, session):
        self.found: list[dict] = []
        self.thread = threading.Thread(target=self._read, args=(running, session), daemon=True)
        self.thread.start()
        time.sleep(0.5)

    def _read(self, running, session):
        headers = {"Accept": "text/event-stream", "Mcp-Session-Id": session, **running.headers}
        try:
            with httpx2.Client(timeout=httpx2.Timeout(10.0, read=30.0)) as client:
                with client.stream("GET", running.url, headers=headers) as response:
                    for line in response.iter_lines():
                        if line.startswith("data: ") and len(line) > 6:
                            self.found.append(json.loads(line[6:]))
        except httpx2.HTTPError:
            pass

    def saw_tools_changed(self) -> bool:
        return any(message.get("method") == "notifications/tools/list_changed" for message in self.found)


def test_a_registered_service_is_routed_listed_and_survives_kill_9(tmp_path):
    kit, kit_port = start_testkit()
    admin_port = free_port()
    state_dir = tmp_path / "state"
    running = start_admin_up(tmp_path, state_dir, admin_port)
    admin = f"http://127.0.0.1:{admin_port}"
    try:
        session = initialize(running)
        changes = ListChanged(running, session)
        assert "kit.test_simple_text" not in tool_names(running, session)
        registered = httpx2.post(f"{admin}/api/services", headers=ADMIN,
                                 json={"name": "kit", "endpoint": f"http://127.0.0.1:{kit_port}"}, timeout=15)
        assert registered.status_code == 201, registered.text
        answer = registered.json()
        assert answer["changes"]["services"] == {"added": ["kit"], "replaced": [], "removed": []}
        assert answer["service"]["available"] is True, "the answer waits for the service's first catalog"
        # Acknowledged, so kept: kill -9 at once.
        running.processes[0].send_signal(signal.SIGKILL)
        running.processes[0].wait(timeout=10)
        kept = json.loads((state_dir / "registrations.json").read_text())
        assert kept["services"] == [{"name": "kit", "endpoint": f"http://127.0.0.1:{kit_port}"}]

        running = start_admin_up(tmp_path, state_dir, admin_port)
        session = initialize(running)
        assert eventually(lambda: call_text(running, session, "kit.test_simple_text") == SIMPLE_TEXT)
        listed = httpx2.get(f"{admin}/api/services", headers=ADMIN, timeout=5).json()["services"]
        by_name = {service["name"]: service for service in listed}
        assert by_name["kit"]["registered"] is True and by_name["fs"]["registered"] is False
        assert by_name["kit"]["catalog"]["tools"] > 0

        changes = ListChanged(running, session)
        removed = httpx2.delete(f"{admin}/api/services/kit", headers=ADMIN, timeout=15)
        assert removed.status_code == 200, removed.text
        assert removed.json()["changes"]["services"]["removed"] == ["kit"]
        eventually(changes.saw_tools_changed, timeout=5)
        gone = call_text(running, session, "kit.test_simple_text")
        assert isinstance(gone, dict) and gone["code"] == -32602 and "unknown tool" in gone["message"], gone
        read = legacy(running, session, "tools/call", {"name": "fs.read_file", "arguments": {"path": "hello.txt"}}).json()
        assert "hello from the fs service" in json.dumps(read["result"]), "the others are untouched"
        assert json.loads((state_dir / "registrations.json").read_text())["services"] == []
    finally:
        running.stop()
        kit.kill()


def test_registrations_refused_with_the_reason(tmp_path):
    kit, kit_port = start_testkit()
    admin_port = free_port()
    running = start_admin_up(tmp_path, tmp_path / "state", admin_port)
    admin = f"http://127.0.0.1:{admin_port}"
    endpoint = f"http://127.0.0.1:{kit_port}"
    try:
        def register(entry, headers=ADMIN):
            return httpx2.post(f"{admin}/api/services", headers=headers, json=entry, timeout=15)

        assert register({"name": "kit", "endpoint": endpoint}, headers={}).status_code == 401
        typo = register({"name": "kit", "endpont": endpoint})
        assert typo.status_code == 422 and "endpont" in typo.text, typo.text
        bad = register({"name": "kit", "endpoint": "ftp://nowhere"})
        assert bad.status_code == 422, bad.text
        assert any(error.startswith("registrations[0] (kit).endpoint") for error in bad.json()["errors"]), bad.text
        clash = register({"name": "fs", "endpoint": endpoint})
        assert clash.status_code == 409 and "config file" in clash.json()["error"], clash.text
        not_json = httpx2.post(f"{admin}/api/services", headers={**ADMIN, "Content-Type": "text/plain"},
                               content=json.dumps({"name": "kit", "endpoint": endpoint}), timeout=5)
        assert not_json.status_code == 415, "a form a web page could send without a preflight is refused"
        assert register({"name": "kit", "endpoint": endpoint}).status_code == 201
        again = register({"name": "kit", "endpoint": endpoint})
        assert again.status_code == 409 and "PUT" in again.json()["error"]
        replaced = httpx2.put(f"{admin}/api/services/kit", headers=ADMIN,
                              json={"endpoint": endpoint, "namespace": "kit2"}, timeout=15)
        assert replaced.status_code == 200 and replaced.json()["changes"]["services"]["replaced"] == ["kit"], replaced.text
        session = initialize(running)
        assert eventually(lambda: call_text(running, session, "kit2.test_simple_text") == SIMPLE_TEXT)
        assert httpx2.delete(f"{admin}/api/services/fs", headers=ADMIN, timeout=5).status_code == 409
        assert httpx2.delete(f"{admin}/api/services/nobody", headers=ADMIN, timeout=5).status_code == 404
    finally:
        running.stop()
        kit.kill()


def test_changes_need_the_admin_token_even_on_loopback(tmp_path):
    """A gateway without an admin token (`micromcp gateway`; `up` makes one)."""
    from conftest import start_testkit_gateway

    admin_port = free_port()
    running = start_testkit_gateway(tmp_path, gateway_settings=f'[admin]\nlisten = "127.0.0.1:{admin_port}"\n')
    try:
        admin = f"http://127.0.0.1:{admin_port}"
        assert httpx2.get(f"{admin}/api/services", timeout=5).status_code == 200, "reads stay open on loopback"
        refused = httpx2.post(f"{admin}/api/services", json={"name": "x", "endpoint": "http://127.0.0.1:1"}, timeout=5)
        assert refused.status_code == 403 and "MICROMCP_ADMIN_TOKEN" in refused.json()["error"]
        assert httpx2.post(f"{admin}/api/reload", timeout=5).status_code == 403
    finally:
        running.stop()


def gateway_config(port: int, services: dict[str, int], extra: str = "") -> str:
    text = f'version = 1\n[gateway]\nlisten = "127.0.0.1:{port}"\nkeepalive_secs = 1\n{extra}'
    for name, service_port in services.items():
        text += f'[[services]]\nname = "{name}"\nendpoint = "http://127.0.0.1:{service_port}"\n'
    return text


def test_reloads_follow_the_file_sighup_and_the_api(tmp_path):
    first, first_port = start_testkit()
    second, second_port = start_testkit()
    port, admin_port = free_port(), free_port()
    config = tmp_path / "micromcp.toml"
    config.write_text(gateway_config(port, {"a": first_port}, f'session_key_file = "{tmp_path / "session.key"}"\n'))
    session_key = f'session_key_file = "{tmp_path / "session.key"}"\n'
    env = dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="info", MICROMCP_ADMIN_TOKEN=ADMIN_TOKEN)
    log = tmp_path / "gateway.log"
    gateway = subprocess.Popen([str(BINARY), "gateway", "--config", str(config), "--admin-listen", f"127.0.0.1:{admin_port}"],
                               env=env, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    wait_for_line(gateway, "listening on")
    admin = f"http://127.0.0.1:{admin_port}"

    class Gw:
        url = f"http://127.0.0.1:{port}/mcp"
        headers = {"Authorization": f"Bearer {TOKEN}"}

    try:
        session = initialize(Gw)
        assert call_text(Gw, session, "a.test_simple_text") == SIMPLE_TEXT
        changes = ListChanged(Gw, session)

        # The file changes: b appears (no signal, no API call).
        config.write_text(gateway_config(port, {"a": first_port, "b": second_port}, session_key))
        assert eventually(lambda: call_text(Gw, session, "b.test_simple_text") == SIMPLE_TEXT)
        eventually(changes.saw_tools_changed, timeout=5)

        # An invalid file is refused; everything keeps working.
        config.write_text(gateway_config(port, {"a": first_port, "b": second_port}, session_key) + "[[services]]\nname = \"c\"\nendpoint = \"ftp://x\"\n")
        refused = httpx2.post(f"{admin}/api/reload", headers=ADMIN, timeout=15)
        assert refused.status_code == 422 and any(error.startswith("services[2].endpoint") for error in refused.json()["errors"]), refused.text
        time.sleep(2.5)
        assert call_text(Gw, session, "b.test_simple_text") == SIMPLE_TEXT

        # A new token, and b gone, on SIGHUP (the watcher may see it first;
        # either way the answer is the same).
        second_token = "second-token-0123456789abcdef"
        digest = hashlib.sha256(second_token.encode()).hexdigest()
        tokens = f'[[auth.tokens]]\nname = "ci"\nsha256 = "{digest}"\nscopes = ["a"]\n'
        config.write_text(gateway_config(port, {"a": first_port}, session_key) + tokens)
        gateway.send_signal(signal.SIGHUP)
        assert eventually(lambda: isinstance(call_text(Gw, session, "b.test_simple_text"), dict))
        assert "b.test_simple_text" not in tool_names(Gw, session)
        ci = post(Gw, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}, token=second_token)
        assert ci.status_code == 200, "the new token is accepted without a restart"

        # Keys read only at start are named, not silently ignored.
        config.write_text(gateway_config(free_port(), {"a": first_port}, session_key) + tokens)
        moved = httpx2.post(f"{admin}/api/reload", headers=ADMIN, timeout=15)
        assert moved.status_code == 200 and moved.json()["changes"]["restart_required"] == ["gateway.listen"], moved.text
        assert call_text(Gw, session, "a.test_simple_text") == SIMPLE_TEXT
    finally:
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(timeout=10)
        except subprocess.TimeoutExpired:
            gateway.kill()
        first.kill()
        second.kill()
    stderr = log.read_text()
    assert "config reload refused; the running config stays" in stderr
    assert "config reloaded" in stderr


def test_every_change_through_the_admin_api_is_audited(tmp_path):
    """Registrations, replacements, removals and reloads each leave one
    audit record (transport admin, who, what, the status); a change refused
    for a wrong token too. Before: none did."""
    kit, kit_port = start_testkit()
    admin_port = free_port()
    audit = tmp_path / "audit.jsonl"
    config = tmp_path / "micromcp.toml"
    config.write_text(f'[audit]\npath = "{audit}"\n')
    running = start_up(tmp_path, make_root(tmp_path), extra=["--admin-listen", f"127.0.0.1:{admin_port}", "--config", str(config)],
                       env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = f"http://127.0.0.1:{admin_port}"
    endpoint = f"http://127.0.0.1:{kit_port}"
    try:
        wrong = httpx2.post(f"{admin}/api/services", headers={"Authorization": "Bearer not-the-admin-token"},
                            json={"name": "kit", "endpoint": endpoint}, timeout=15)
        assert wrong.status_code == 401, wrong.text
        assert httpx2.post(f"{admin}/api/services", headers=ADMIN, json={"name": "kit", "endpoint": endpoint}, timeout=15).status_code == 201
        assert httpx2.put(f"{admin}/api/services/kit", headers=ADMIN, json={"endpoint": endpoint, "namespace": "kit2"},
                          timeout=15).status_code == 200
        assert httpx2.delete(f"{admin}/api/services/kit", headers=ADMIN, timeout=15).status_code == 200
        assert httpx2.post(f"{admin}/api/reload", headers=ADMIN, timeout=15).status_code == 200

        def admin_records():
            lines = audit.read_text().splitlines() if audit.exists() else []
            return [record for record in map(json.loads, lines) if record.get("transport") == "admin"]
        assert eventually(lambda: len(admin_records()) >= 5), admin_records()
        seen = [(record["method"], record.get("target"), record.get("principal"), record["decision"], record["http_status"])
                for record in admin_records()]
        assert seen == [
            ("admin/register", None, None, "deny", 401),  # named from the path: no body is read before the token
            ("admin/register", "kit", "operator", "allow", 201),
            ("admin/replace", "kit", "operator", "allow", 200),
            ("admin/deregister", "kit", "operator", "allow", 200),
            ("admin/reload", None, "operator", "allow", 200),
        ], seen
        recent = httpx2.get(f"{admin}/api/audit", headers=ADMIN, timeout=10).json()["records"]
        assert [record["method"] for record in recent if record.get("transport") == "admin"][-1] == "admin/reload"
    finally:
        running.stop()
        kit.kill()


def test_a_registered_server_whose_command_cannot_start_is_refused_naming_it(tmp_path):
    """Before: 201, and a bridge that never came up with a misleading
    reason. Now a command that is no executable file, or found on no PATH
    directory, is a 422 naming `mcp_server.command`; nothing is kept."""
    admin_port = free_port()
    running = start_admin_up(tmp_path, tmp_path / "state", admin_port)
    admin = f"http://127.0.0.1:{admin_port}"
    not_executable = tmp_path / "server.txt"
    not_executable.write_text("not a program\n")
    try:
        for command, said in [("/nonexistent/mcp-server", "not an executable file"), (str(not_executable), "not an executable file"),
                              ("no-such-mcp-runner-0123", "PATH")]:
            refused = httpx2.post(f"{admin}/api/services", headers=ADMIN, timeout=15,
                                  json={"name": "broken", "mcp_server": {"command": command}})
            assert refused.status_code == 422, refused.text
            errors = " ".join(refused.json()["errors"])
            assert "mcp_server.command" in errors and said in errors, errors
        listed = httpx2.get(f"{admin}/api/services", headers=ADMIN, timeout=10).json()["services"]
        assert "broken" not in [service["name"] for service in listed]
        kept = tmp_path / "state" / "registrations.json"
        assert not kept.exists() or not json.loads(kept.read_text()).get("services")
    finally:
        running.stop()
