"""Many replicas, one gateway: two `micromcp gateway` processes in front of
one testkit service share a real `redis-server` (`[cluster] redis_url`) and
decide alike — a per-principal rate limit holds across both, a session
ended on one is refused by the other, an approval used on one is a replay
on the other — and with Redis killed under load, calls without limits keep
succeeding, then everything converges once it returns."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from conftest import TOKEN, free_port, start_testkit_gateway, wait_for_port
from test_failures import eventually
from test_hostile import MODERN_META, initialize, legacy, modern
from test_live_config import ListChanged, tool_names
from test_tool_pins import ADMIN_TOKEN, RUG, start_kit

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is installed by scripts/install-test-clients.sh")


class Redis:
    """A redis-server of the test's own on a free loopback port."""

    def __init__(self, directory: Path, persistent: bool = False):
        self.directory = directory
        self.persistent = persistent
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        directory.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.persistent else "no", "--appendfsync", "always", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"


@contextlib.contextmanager
def cluster(tmp_path: Path, settings: str = "", service_settings: str = "", gateways: int = 2, persistent: bool = False,
            redis: Redis | None = None, env_extra: dict[str, str] | None = None):
    """Redis (`redis`, or one of the test's own), one testkit service and
    `gateways` gateways sharing both (and one session key); yields (redis,
    a, b, …), each gateway with `.admin` (its admin URL)."""
    redis = redis or Redis(tmp_path / "redis", persistent)
    redis.start()
    service_port = free_port()
    kits = [start_kit(service_port)]
    running = []
    try:
        for name in "abcdefgh"[:gateways]:
            base = tmp_path / name
            base.mkdir()
            if running:
                shutil.copy(tmp_path / "a" / "session.key", base / "session.key")
            admin_port = free_port()
            gateway_settings = (f'[admin]\nlisten = "127.0.0.1:{admin_port}"\n'
                                f'[cluster]\nredis_url = "{redis.url}"\nkey_prefix = "test:"\n'
                                # A loaded test machine may answer slowly: no fallback for that.
                                f'command_timeout_ms = 2000\n{settings}')
            gateway = start_testkit_gateway(base, gateway_settings=gateway_settings, service_port=service_port,
                                            service_settings=service_settings,
                                            env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN, **(env_extra or {})})
            gateway.admin = f"http://127.0.0.1:{admin_port}"
            gateway.kits, gateway.service_port = kits, service_port
            running.append(gateway)
        yield (redis, *running)
    finally:
        for gateway in running:
            gateway.stop()
        for kit in kits:
            kit.terminate()
            kit.wait(timeout=10)
        redis.kill()


def ready(gateway) -> dict:
    return httpx2.get(gateway.admin + "/readyz", headers=ADMIN, timeout=5).json()


def wait_for_store(gateway, up: bool, timeout: float = 15.0) -> None:
    """Waits (bounded) until the gateway's heartbeats see the store as `up`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready(gateway)["cluster"]["up"] is up:
            return
        time.sleep(0.1)
    raise AssertionError(f"store never {'up' if up else 'down'}: {ready(gateway)}")


def connect(gateway) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(30.0))
    return Client(streamable_http_client(gateway.url, http_client=http), mode="legacy")


async def hammer(gateway, until: float, outcomes: dict) -> None:
    """Calls `echo` through the official client until `until` (monotonic),
    counting what was accepted, what was refused by a rate limit and what
    failed otherwise."""
    async with connect(gateway) as client:
        n = 0
        outcomes["started"] = time.monotonic()
        while time.monotonic() < until:
            n += 1
            try:
                result = await client.call_tool("echo", {"n": n})
                assert result.structured_content == {"n": n}, result
                outcomes["accepted"] += 1
            except MCPError as error:
                if "rate_limits.per_principal_per_sec" in str(error):
                    outcomes["limited"] += 1
                else:
                    outcomes["failed"].append(str(error))
        outcomes["ended"] = time.monotonic()


def limited_load(a, b, duration: float, per_replica: list[dict], clients: int = 3) -> float:
    """Both replicas called at once for `duration` by `clients` sessions
    each (so that a call is waiting whenever the limit frees one); the time
    from the first call made to the last answered (connecting is not
    counted). Each replica's counts are summed into `per_replica`."""
    each = [[{"accepted": 0, "limited": 0, "failed": []} for _ in range(clients)] for _ in range(2)]

    async def all_clients() -> None:
        until = time.monotonic() + duration
        await asyncio.gather(*(hammer(gateway, until, outcome) for gateway, outcomes in zip((a, b), each)
                               for outcome in outcomes))

    asyncio.run(all_clients())
    for total, outcomes in zip(per_replica, each):
        for key in ("accepted", "limited"):
            total[key] = sum(outcome[key] for outcome in outcomes)
        total["failed"] = [failure for outcome in outcomes for failure in outcome["failed"]]
    every = [outcome for outcomes in each for outcome in outcomes]
    return max(outcome["ended"] for outcome in every) - min(outcome["started"] for outcome in every)


def test_a_per_principal_limit_holds_across_two_replicas(tmp_path):
    # A rate low enough that the clients' own pace (a call every few tens of
    # ms on a loaded machine) does not decide how many get through.
    rate, burst, duration = 4, 10, 6.0
    with cluster(tmp_path, f"[rate_limits]\nper_principal_per_sec = {rate}\nper_principal_burst = {burst}\n") as (_, a, b):
        per_replica = [{"accepted": 0, "limited": 0, "failed": []} for _ in range(2)]

        elapsed = limited_load(a, b, duration, per_replica)
        accepted = sum(outcome["accepted"] for outcome in per_replica)
        expected = rate * elapsed + burst
        assert not any(outcome["failed"] for outcome in per_replica), per_replica
        assert all(outcome["accepted"] > 0 and outcome["limited"] > 0 for outcome in per_replica), per_replica
        # Each replica alone would have let through as many again.
        assert abs(accepted - expected) <= 0.1 * expected, (accepted, expected, per_replica, ready(a)["cluster"], ready(b)["cluster"])
        assert ready(a)["cluster"]["live_replicas"] == 2, ready(a)


def test_while_redis_is_away_each_replica_keeps_its_share_of_the_limit(tmp_path):
    rate, burst, duration = 4, 10, 6.0
    with cluster(tmp_path, f"[rate_limits]\nper_principal_per_sec = {rate}\nper_principal_burst = {burst}\n") as (redis, a, b):
        eventually(lambda: ready(a)["cluster"]["live_replicas"] == 2 and ready(b)["cluster"]["live_replicas"] == 2)
        redis.kill()
        for gateway in (a, b):
            wait_for_store(gateway, False)
        per_replica = [{"accepted": 0, "limited": 0, "failed": []} for _ in range(2)]

        elapsed = limited_load(a, b, duration, per_replica)
        accepted = sum(outcome["accepted"] for outcome in per_replica)
        # Each replica: half the rate and half the burst (2 replicas were alive).
        expected = rate * elapsed + burst
        assert not any(outcome["failed"] for outcome in per_replica), per_replica
        assert all(outcome["limited"] > 0 for outcome in per_replica), per_replica
        assert abs(accepted - expected) <= 0.1 * expected, (accepted, expected, per_replica)
        assert ready(a)["cluster"]["fallbacks_total"] > 0


def test_a_session_ended_on_one_replica_is_refused_by_the_other(tmp_path):
    with cluster(tmp_path) as (_, a, b):
        session = initialize(a)
        assert legacy(b, session, "tools/list").status_code == 200, "the sealed session works on either replica"
        ended = httpx2.delete(a.url, headers={"Authorization": f"Bearer {TOKEN}", "Mcp-Session-Id": session}, timeout=10)
        assert ended.status_code == 200, ended.text
        refused = legacy(b, session, "tools/call", {"name": "echo", "arguments": {"n": 1}})
        assert refused.status_code == 404, refused.text
        assert legacy(a, session, "tools/list").status_code == 404
        other = initialize(b)
        assert legacy(a, other, "tools/call", {"name": "echo", "arguments": {"n": 2}}).status_code == 200, "only that session ended"


def test_an_approval_used_on_one_replica_is_a_replay_on_the_other(tmp_path):
    with cluster(tmp_path, "[consent]\ntimeout_secs = 30\nremember_secs = 0\n",
                 'require_approval = ["test_tool_with_logging"]\n') as (_, a, b):
        meta = {**MODERN_META, "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}
        call = {"name": "test_tool_with_logging", "arguments": {"n": 1}, "_meta": meta}
        asked = modern(a, "tools/call", call).json()["result"]
        assert asked["resultType"] == "input_required", asked
        yes = {"micromcp.approval": {"action": "accept", "content": {"approve": True}}}
        answered = {**call, "inputResponses": yes, "requestState": asked["requestState"]}
        assert "Logging test completed" in modern(a, "tools/call", answered, request_id=2).text
        replay = modern(b, "tools/call", answered, request_id=3)
        assert replay.status_code == 403 and "used already (a replay)" in replay.json()["error"]["message"], replay.text
        # A fresh approval asked on B and answered on A is a first use.
        again = modern(b, "tools/call", call, request_id=4).json()["result"]
        fresh = modern(a, "tools/call", {**call, "inputResponses": yes, "requestState": again["requestState"]}, request_id=5)
        assert "Logging test completed" in fresh.text, fresh.text


def test_an_approval_remembered_on_one_replica_holds_on_the_other(tmp_path):
    with cluster(tmp_path, "[consent]\ntimeout_secs = 30\nremember_secs = 60\n",
                 'require_approval = ["test_tool_with_logging"]\n') as (_, a, b):
        meta = {**MODERN_META, "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}
        call = {"name": "test_tool_with_logging", "arguments": {"n": 1}, "_meta": meta}
        asked = modern(b, "tools/call", call).json()["result"]
        assert asked["resultType"] == "input_required", "B asks before any approval"
        first = modern(a, "tools/call", call).json()["result"]
        yes = {"micromcp.approval": {"action": "accept", "content": {"approve": True}}}
        approved = modern(a, "tools/call", {**call, "inputResponses": yes, "requestState": first["requestState"]}, request_id=2)
        assert "Logging test completed" in approved.text, approved.text
        remembered = modern(b, "tools/call", call, request_id=3)
        assert "Logging test completed" in remembered.text, remembered.text
        other = modern(b, "tools/call", {**call, "arguments": {"n": 2}}, request_id=4).json()["result"]
        assert other["resultType"] == "input_required", "remembered for those arguments only"


def test_a_tool_approved_through_one_replica_is_listed_and_called_through_the_other(tmp_path):
    with cluster(tmp_path) as (_, a, b):
        sessions = {gateway.port: initialize(gateway) for gateway in (a, b)}

        def names(gateway):
            listed = legacy(gateway, sessions[gateway.port], "tools/list").json()["result"]["tools"]
            return {tool["name"] for tool in listed}

        assert all("test_simple_text" in names(gateway) for gateway in (a, b)), "pinned as first seen"
        a.kits[0].terminate()
        a.kits[0].wait(timeout=10)
        a.kits.append(start_kit(a.service_port, RUG))

        def held(gateway):
            listed = httpx2.get(f"{gateway.admin}/api/tools/held", headers=ADMIN, timeout=5).json()["held"]
            return next((tool for tool in listed if tool["name"] == "test_simple_text"), None)

        entry = eventually(lambda: held(a) and held(b) and held(a))
        assert "test_simple_text" not in names(b), "held on both"
        approved = httpx2.post(f"{a.admin}/api/tools/test_simple_text/approve", headers=ADMIN,
                               json={"sha256": entry["offered_sha256"]}, timeout=5)
        assert approved.status_code == 200, approved.text
        eventually(lambda: "test_simple_text" in names(b), timeout=5.0)
        called = legacy(b, sessions[b.port], "tools/call", {"name": "test_simple_text", "arguments": {}}).json()
        assert "result" in called and not called["result"].get("isError"), called
        assert held(b) is None and held(a) is None
        assert "test_image_content" not in names(b), "only the tool approved"


def test_a_registration_through_one_replica_is_listed_by_the_other(tmp_path):
    with cluster(tmp_path) as (redis, a, b):
        second_port = free_port()
        a.kits.append(start_kit(second_port))
        session = initialize(b)
        changes = ListChanged(b, session)
        assert "kit2.test_simple_text" not in tool_names(b, session)
        registered = httpx2.post(f"{a.admin}/api/services", headers=ADMIN,
                                 json={"name": "kit2", "endpoint": f"http://127.0.0.1:{second_port}"}, timeout=15)
        assert registered.status_code == 201, registered.text
        eventually(lambda: "kit2.test_simple_text" in tool_names(b, session), timeout=5.0)
        eventually(changes.saw_tools_changed, timeout=5.0)
        called = legacy(b, session, "tools/call", {"name": "kit2.test_simple_text", "arguments": {}}).json()
        assert "result" in called and not called["result"].get("isError"), called
        listed = httpx2.get(f"{b.admin}/api/services", headers=ADMIN, timeout=5).json()["services"]
        assert any(service["name"] == "kit2" for service in listed), listed
        removed = httpx2.delete(f"{b.admin}/api/services/kit2", headers=ADMIN, timeout=15)
        assert removed.status_code == 200, removed.text
        other = initialize(a)
        eventually(lambda: "kit2.test_simple_text" not in tool_names(a, other), timeout=5.0)
        redis.kill()
        refused = httpx2.post(f"{a.admin}/api/services", headers=ADMIN,
                              json={"name": "kit3", "endpoint": f"http://127.0.0.1:{second_port}"}, timeout=15)
        assert refused.status_code == 503 and "redis" in refused.text, refused.text
        assert "kit3.test_simple_text" not in tool_names(a, other), "nothing registered on one replica only"


def test_a_registration_survives_a_restart_of_redis_with_persistence_on(tmp_path):
    with cluster(tmp_path, persistent=True) as (redis, a, b):
        second_port = free_port()
        a.kits.append(start_kit(second_port))
        registered = httpx2.post(f"{a.admin}/api/services", headers=ADMIN,
                                 json={"name": "kit2", "endpoint": f"http://127.0.0.1:{second_port}"}, timeout=15)
        assert registered.status_code == 201, registered.text
        redis.kill()
        redis.start()
        for gateway in (a, b):
            wait_for_store(gateway, True)
        # A replica started now learns the list from Redis alone.
        late = tmp_path / "late"
        late.mkdir()
        shutil.copy(tmp_path / "a" / "session.key", late / "session.key")
        admin_port = free_port()
        c = start_testkit_gateway(late, service_port=a.service_port, env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN},
                                  gateway_settings=f'[admin]\nlisten = "127.0.0.1:{admin_port}"\n'
                                                   f'[cluster]\nredis_url = "{redis.url}"\nkey_prefix = "test:"\n')
        try:
            session = initialize(c)
            eventually(lambda: "kit2.test_simple_text" in tool_names(c, session), timeout=5.0)
        finally:
            c.stop()


def test_calls_go_on_while_redis_is_killed_and_everything_converges_when_it_returns(tmp_path):
    with cluster(tmp_path) as (redis, a, b):
        wait_for_store(a, True)
        outcomes = [{"accepted": 0, "limited": 0, "failed": []} for _ in range(2)]

        async def load_while_redis_dies() -> None:
            until = time.monotonic() + 4.0
            load = asyncio.gather(hammer(a, until, outcomes[0]), hammer(b, until, outcomes[1]))

            async def kill_and_restart() -> None:
                await asyncio.sleep(1.0)
                redis.kill()
                await asyncio.sleep(1.5)
                redis.start()

            await asyncio.gather(load, kill_and_restart())

        asyncio.run(load_while_redis_dies())
        assert not any(outcome["failed"] for outcome in outcomes), outcomes
        assert all(outcome["accepted"] > 0 for outcome in outcomes), outcomes
        assert ready(a)["cluster"]["fallbacks_total"] + ready(b)["cluster"]["fallbacks_total"] > 0, "the fallback was taken"
        for gateway in (a, b):
            wait_for_store(gateway, True)
        # Shared decisions again: a session ended on B is refused by A.
        session = initialize(a)
        ended = httpx2.delete(b.url, headers={"Authorization": f"Bearer {TOKEN}", "Mcp-Session-Id": session}, timeout=10)
        assert ended.status_code == 200, ended.text
        assert legacy(a, session, "tools/list").status_code == 404
        metrics = httpx2.get(a.admin + "/metrics", headers=ADMIN, timeout=5).text
        assert "micromcp_cluster_store_up 1" in metrics, metrics
        assert 'micromcp_cluster_fallbacks_total{decision="revocations"}' in metrics + httpx2.get(b.admin + "/metrics", headers=ADMIN, timeout=5).text


def test_a_revocation_check_fails_closed_when_so_configured(tmp_path):
    with cluster(tmp_path, 'revocations_when_down = "closed"\n') as (redis, a, b):
        session = initialize(a)
        assert legacy(b, session, "tools/list").status_code == 200
        redis.kill()
        refused = legacy(b, session, "tools/call", {"name": "echo", "arguments": {"n": 1}}).json()["error"]
        assert refused["data"] == {"category": "transient_error", "service": "redis"}, refused
        assert "the cluster store (redis at redis://127.0.0.1:" in refused["message"], refused
        stateless = modern(a, "tools/call", {"name": "echo", "arguments": {"n": 2}})
        assert stateless.status_code == 200, "calls without a session need no revocation check"
        ended = httpx2.delete(a.url, headers={"Authorization": f"Bearer {TOKEN}", "Mcp-Session-Id": session}, timeout=10)
        assert ended.status_code == 503 and "redis" in ended.text, ended.text


def redis_command(redis: Redis, *args: str) -> bytes:
    """One command in RESP, as anyone with access to the Redis could send."""
    import socket

    frame = f"*{len(args)}\r\n".encode() + b"".join(f"${len(arg.encode())}\r\n{arg}\r\n".encode() for arg in args)
    with socket.create_connection(("127.0.0.1", redis.port), timeout=10) as connection:
        connection.sendall(frame)
        return connection.recv(4096)


def test_a_registrations_list_written_into_redis_by_anything_but_a_replica_is_never_applied(tmp_path):
    """The shared registrations name what replicas run and where they route:
    a list written straight into Redis (not sealed under the session key the
    replicas share) is refused and logged by every replica, which keeps the
    services it had; lists sealed by a replica still apply."""
    with cluster(tmp_path) as (redis, a, b):
        second_port = free_port()
        a.kits.append(start_kit(second_port))
        session = initialize(b)
        registered = httpx2.post(f"{a.admin}/api/services", headers=ADMIN,
                                 json={"name": "kit2", "endpoint": f"http://127.0.0.1:{second_port}"}, timeout=15)
        assert registered.status_code == 201, registered.text
        eventually(lambda: "kit2.test_simple_text" in tool_names(b, session), timeout=5.0)
        forged = ('{"version":1,"services":[{"name":"evil","endpoint":"http://127.0.0.1:%d"}]}' % second_port)
        assert redis_command(redis, "SET", "test:registrations:document", forged).startswith(b"+OK")
        assert redis_command(redis, "INCR", "test:registrations:version").startswith(b":")
        time.sleep(3.0)  # every replica reads the shared list each second
        for gateway in (a, b):
            names = tool_names(gateway, initialize(gateway))
            assert not any(name.startswith("evil.") for name in names), names
            assert "kit2.test_simple_text" in names, "the services in force stay"
