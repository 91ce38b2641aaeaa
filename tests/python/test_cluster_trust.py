"""What replicas share through a real `redis-server`, seen from Redis's side:
a rate-limited call in a session costs one round trip (Redis's own
`MONITOR` counts them), values written into Redis by anything but a replica
decide nothing (ended sessions, remembered approvals, approved tool
definitions, rate limits), a wrong password is a loud configuration error,
and a registrations version that is not a number is named — and the
replicas recover once it is fixed."""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx2
import pytest

from conftest import TOKEN, free_port, start_testkit_gateway, wait_for_port
from test_cluster import ADMIN, ADMIN_TOKEN, Redis, cluster, ready, redis_command
from test_failures import eventually
from test_hostile import MODERN_META, initialize, legacy, modern
from test_live_config import tool_names
from test_tool_pins import RUG, start_kit

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is installed by scripts/install-test-clients.sh")

LIMITS = "[rate_limits]\nper_principal_per_sec = 1000\nper_principal_burst = 1000\n"


class Monitor:
    """Redis's MONITOR on a connection of its own: every command any client
    sends, as Redis saw it."""

    def __init__(self, redis: Redis):
        self.connection = socket.create_connection(("127.0.0.1", redis.port), timeout=10)
        self.connection.sendall(b"*1\r\n$7\r\nMONITOR\r\n")
        self.lines: list[str] = []
        self.buffer = b""
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self) -> None:
        while not self.stopped.is_set():
            try:
                chunk = self.connection.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            self.buffer += chunk
            *complete, self.buffer = self.buffer.split(b"\r\n")
            self.lines.extend(line.decode(errors="replace") for line in complete)

    def mark(self) -> int:
        time.sleep(0.3)
        return len(self.lines)

    def sent(self, mark: int) -> list[str]:
        """Commands sent by clients since `mark` (not those a script ran)."""
        time.sleep(0.3)
        return [line for line in self.lines[mark:] if " [0 127.0.0.1:" in line]

    def since(self, mark: int, needle: str) -> list[str]:
        return [line for line in self.sent(mark) if needle in line]

    def close(self) -> None:
        self.stopped.set()
        self.connection.close()


def echo(n: int) -> dict:
    return {"name": "echo", "arguments": {"n": n}}


def test_a_rate_limited_call_in_a_session_is_one_round_trip_and_an_unlimited_stateless_call_none(tmp_path):
    with cluster(tmp_path, LIMITS, gateways=1) as (redis, a):
        session = initialize(a)
        # The script is known to Redis after a first call (EVALSHA from then on).
        assert legacy(a, session, "tools/call", echo(0)).status_code == 200
        monitor = Monitor(redis)
        try:
            calls = 20
            mark = monitor.mark()
            for n in range(calls):
                assert legacy(a, session, "tools/call", echo(n)).json()["result"]["structuredContent"] == {"n": n}
            sent = monitor.sent(mark)
            rate = [line for line in sent if '"test:rate:' in line]
            revoked = [line for line in sent if '"test:revoked:' in line]
            assert len(rate) == calls, rate
            assert all('"test:revoked:' in line for line in rate), "the revocation check rides in the same command"
            assert len(revoked) == calls, revoked
        finally:
            monitor.close()
    (tmp_path / "unlimited").mkdir()
    with cluster(tmp_path / "unlimited", gateways=1) as (redis, a):
        session = initialize(a)
        monitor = Monitor(redis)
        try:
            mark = monitor.mark()
            for n in range(10):
                assert modern(a, "tools/call", echo(n), request_id=n + 1).status_code == 200
            assert monitor.since(mark, '"test:rate:') == [] and monitor.since(mark, '"test:revoked:') == []
            assert legacy(a, session, "tools/call", echo(0)).status_code == 200, "the script is known from here on"
            mark = monitor.mark()
            for n in range(10):
                assert legacy(a, session, "tools/call", echo(n)).status_code == 200
            checks = [line for line in monitor.sent(mark) if '"test:' in line and "replicas:live" not in line
                      and "registrations:" not in line and "pins:" not in line]
            assert len(checks) == 10 and all('"test:revoked:' in line for line in checks), checks
        finally:
            monitor.close()


def session_key(session: str) -> str:
    """The revocation key of a session: a digest of its nonce (the id's
    first 32 characters, base64url of 24 bytes)."""
    return "test:revoked:" + hashlib.sha256(session[:32].encode()).hexdigest()[:32]


def test_values_written_into_redis_by_anything_but_a_replica_decide_nothing(tmp_path):
    """A writer of Redis forges an ended session, a rate limit run out for
    hours and a remembered approval: none is honoured, each is counted."""
    settings = LIMITS + "[consent]\ntimeout_secs = 30\nremember_secs = 60\n"
    with cluster(tmp_path, settings, 'require_approval = ["test_tool_with_logging"]\n') as (redis, a, b):
        session = initialize(a)
        assert redis_command(redis, "SET", session_key(session), "1").startswith(b"+OK")
        assert legacy(b, session, "tools/call", echo(1)).status_code == 200, "not ended by a forged value"
        assert legacy(b, session, "tools/list").status_code == 200
        # A replica's own value, moved to another session's key, ends nothing either.
        ended = initialize(a)
        assert httpx2.delete(a.url, headers={"Authorization": f"Bearer {TOKEN}", "Mcp-Session-Id": ended}, timeout=10).status_code == 200
        sealed = redis_command(redis, "GET", session_key(ended)).split(b"\r\n")[1].decode()
        assert redis_command(redis, "SET", session_key(session), sealed).startswith(b"+OK")
        assert legacy(b, session, "tools/call", echo(2)).status_code == 200, "a value is bound to its key"
        assert legacy(b, ended, "tools/call", echo(3)).status_code == 404, "a replica's own revocation holds"

        monitor = Monitor(redis)
        try:
            mark = monitor.mark()
            assert legacy(a, session, "tools/call", echo(3)).status_code == 200
            rate_key = re.search(r'"(test:rate:[^"]+)"', " ".join(monitor.since(mark, '"test:rate:'))).group(1)
        finally:
            monitor.close()
        far = str((int(time.time()) + 86400) * 1_000_000)
        assert redis_command(redis, "SET", rate_key, far).startswith(b"+OK")
        # Taken as the furthest a replica writes (one burst, a second here), not a day.
        eventually(lambda: legacy(a, session, "tools/call", echo(4)).status_code == 200, timeout=5.0)
        assert redis_command(redis, "SET", rate_key, "not a number").startswith(b"+OK")
        eventually(lambda: legacy(b, session, "tools/call", echo(5)).status_code == 200, timeout=5.0)
        assert ready(b)["cluster"]["up"] is True, "a value is not an outage"

        meta = {**MODERN_META, "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}
        call = {"name": "test_tool_with_logging", "arguments": {"n": 1}, "_meta": meta}
        first = modern(a, "tools/call", call).json()["result"]
        yes = {"micromcp.approval": {"action": "accept", "content": {"approve": True}}}
        approved = modern(a, "tools/call", {**call, "inputResponses": yes, "requestState": first["requestState"]}, request_id=2)
        assert "Logging test completed" in approved.text, approved.text
        remembered = re.search(r"test:approved:[0-9a-f]+", redis_command(redis, "KEYS", "test:approved:*").decode()).group(0)
        assert redis_command(redis, "SET", remembered, "1", "PX", "60000").startswith(b"+OK")
        asked = modern(b, "tools/call", call, request_id=3).json()["result"]
        assert asked["resultType"] == "input_required", "a forged remembered approval approves nothing"

        metrics = httpx2.get(a.admin + "/metrics", headers=ADMIN, timeout=5).text + httpx2.get(b.admin + "/metrics", headers=ADMIN, timeout=5).text
        for kind in ("revocation", "rate", "remembered_approval"):
            assert f'micromcp_cluster_ignored_values_total{{kind="{kind}"}}' in metrics, (kind, metrics)


def test_a_tool_approval_written_into_redis_by_anything_but_a_replica_approves_nothing(tmp_path):
    with cluster(tmp_path) as (redis, a, b):
        session = initialize(b)
        a.kits[0].terminate()
        a.kits[0].wait(timeout=10)
        a.kits.append(start_kit(a.service_port, RUG))
        entry = eventually(lambda: next((held for held in ready(b)["held_tools"] if held["tool"] == "test_simple_text"), None))
        listed = httpx2.get(f"{b.admin}/api/tools/held", headers=ADMIN, timeout=5).json()["held"]
        offered = next(tool for tool in listed if tool["name"] == "test_simple_text")["offered_sha256"]
        field = f"{entry['service']}\n{entry['tool']}"
        assert redis_command(redis, "HSET", "test:pins:approved", field, offered).startswith(b":")
        time.sleep(3.0)  # every replica reads the shared approvals each second
        assert "test_simple_text" not in tool_names(b, session), "held still"
        assert any(held["tool"] == "test_simple_text" for held in ready(b)["held_tools"])
        metrics = httpx2.get(b.admin + "/metrics", headers=ADMIN, timeout=5).text
        assert 'micromcp_cluster_ignored_values_total{kind="tool_approval"}' in metrics, metrics


def test_a_wrong_redis_password_is_a_loud_configuration_error(tmp_path, capfd):
    password = "right-" + "p" * 20
    redis = Redis(tmp_path / "redis")
    redis.process = subprocess.Popen(
        ["redis-server", "--port", str(redis.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--requirepass", password, "--dir", str(redis.directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(redis.port)
    admin_port = free_port()
    settings = (f'[admin]\nlisten = "127.0.0.1:{admin_port}"\n'
                f'[cluster]\nredis_url = "redis://:wrong-password@127.0.0.1:{redis.port}"\nkey_prefix = "test:"\n'
                'revocations_when_down = "closed"\n')
    (tmp_path / "g").mkdir()
    gateway = start_testkit_gateway(tmp_path / "g", gateway_settings=settings, env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = f"http://127.0.0.1:{admin_port}"
    try:
        state = eventually(lambda: (lambda body: body if "cluster" in body["degraded"] else None)(
            httpx2.get(admin + "/readyz", headers=ADMIN, timeout=5).json()), timeout=10.0)
        assert state["cluster"]["up"] is False and "cluster.redis_url" in state["cluster"]["down_reason"], state
        assert "wrong-password" not in str(state)
        eventually(lambda: "micromcp_cluster_store_auth_refused 1" in httpx2.get(admin + "/metrics", headers=ADMIN, timeout=5).text)
        session = initialize(gateway)
        refused = legacy(gateway, session, "tools/call", echo(1)).json()["error"]
        assert "credentials" in refused["message"] and "cluster.redis_url" in refused["message"], refused
        assert "wrong-password" not in refused["message"]
    finally:
        gateway.stop()
        redis.kill()
    output = capfd.readouterr().err
    errors = [line for line in output.splitlines() if "ERROR" in line and "credentials" in line]
    assert errors and "cluster.redis_url" in errors[0], output
    assert "wrong-password" not in output


def test_a_registrations_version_that_is_not_a_number_is_named_and_the_replicas_recover(tmp_path):
    with cluster(tmp_path) as (redis, a, b):
        ports = [free_port(), free_port()]
        a.kits.extend(start_kit(port) for port in ports)
        session = initialize(b)

        def register(gateway, name, port):
            return httpx2.post(f"{gateway.admin}/api/services", headers=ADMIN,
                               json={"name": name, "endpoint": f"http://127.0.0.1:{port}"}, timeout=15)

        assert register(a, "kit2", ports[0]).status_code == 201
        eventually(lambda: "kit2.test_simple_text" in tool_names(b, session), timeout=5.0)
        with_kit2 = redis_command(redis, "GET", "test:registrations:document").split(b"\r\n")[1].decode()
        assert httpx2.delete(f"{a.admin}/api/services/kit2", headers=ADMIN, timeout=15).status_code in (200, 204)
        eventually(lambda: "kit2.test_simple_text" not in tool_names(b, session), timeout=5.0)

        assert redis_command(redis, "SET", "test:registrations:version", "abc").startswith(b"+OK")
        refused = register(a, "kit3", ports[1])
        assert refused.status_code == 409, refused.text
        assert "test:registrations:version is not a whole number" in refused.text, refused.text

        # A list that did not open is read again every second, not only
        # when the version changes: the replicas' own list, put back under
        # a number, applies on both.
        assert redis_command(redis, "SET", "test:registrations:document", "forged").startswith(b"+OK")
        assert redis_command(redis, "SET", "test:registrations:version", "7").startswith(b"+OK")
        time.sleep(2.5)
        assert redis_command(redis, "SET", "test:registrations:document", with_kit2).startswith(b"+OK")
        for gateway in (a, b):
            eventually(lambda: "kit2.test_simple_text" in tool_names(gateway, initialize(gateway)), timeout=5.0)
        assert register(b, "kit3", ports[1]).status_code == 201
        eventually(lambda: "kit3.test_simple_text" in tool_names(a, initialize(a)), timeout=5.0)
