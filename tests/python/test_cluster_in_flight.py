"""Calls in flight per principal across replicas: two `micromcp gateway`
processes share a real `redis-server`, and `rate_limits.
max_concurrent_calls_per_principal` holds over both — a replica killed with
calls in flight gives their places back when its leases lapse —, so does
`limits.max_watches_per_principal`, and a
replica that never heard a heartbeat takes the share of
`cluster.replicas_when_unknown` replicas."""

from __future__ import annotations

import subprocess
import threading
import time

from conftest import free_port, start_testkit_gateway
from test_cluster import Redis, cluster, pytestmark, ready  # noqa: F401  (skipped without redis-server)
from test_failures import eventually
from test_hostile import initialize, legacy

IN_FLIGHT = "rate_limits.max_concurrent_calls_per_principal"


def held_places(redis: Redis, kind: str = "inflight") -> int:
    """Leases of `kind` held now in the test's Redis, over every principal."""
    def cli(*args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(redis.port), *args], capture_output=True, text=True,
                              check=True, timeout=10).stdout
    return sum(int(cli("ZCARD", key).strip()) for key in cli("--scan", "--pattern", f"test:{kind}:*").split())


def slow_calls(gateways_and_sessions, millis: int) -> tuple[list[threading.Thread], list[str]]:
    """One `slow` call per (gateway, session), all started at once in
    threads; each outcome ("ok", "in flight" or the error) is appended."""
    outcomes: list[str] = []

    def one(gateway, session) -> None:
        try:
            body = legacy(gateway, session, "tools/call", {"name": "slow", "arguments": {"millis": millis}}).json()
        except Exception as error:  # a replica killed under the call
            outcomes.append(f"connection: {error}")
            return
        if "result" in body:
            outcomes.append("ok")
        elif IN_FLIGHT in body.get("error", {}).get("message", ""):
            outcomes.append("in flight")
        else:
            outcomes.append(str(body))

    threads = [threading.Thread(target=one, args=pair) for pair in gateways_and_sessions]
    for thread in threads:
        thread.start()
    return threads, outcomes


def test_an_in_flight_cap_holds_across_two_replicas(tmp_path):
    with cluster(tmp_path, f"[rate_limits]\n{IN_FLIGHT.split('.')[1]} = 4\n") as (redis, a, b):
        session = initialize(a)
        # Four calls through each replica at once: each alone would run its four.
        threads, outcomes = slow_calls([(a, session)] * 4 + [(b, session)] * 4, millis=6000)
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(outcomes) == ["in flight"] * 4 + ["ok"] * 4, outcomes
        # Each call gave its place back when it ended (not when its lease lapsed).
        eventually(lambda: held_places(redis) == 0, timeout=3.0)
        threads, outcomes = slow_calls([(b, session)] * 4, millis=100)
        for thread in threads:
            thread.join(timeout=60)
        assert outcomes == ["ok"] * 4, outcomes


def test_a_replica_killed_with_calls_in_flight_gives_their_places_back_when_its_leases_lapse(tmp_path):
    with cluster(tmp_path, f"[rate_limits]\n{IN_FLIGHT.split('.')[1]} = 2\n") as (redis, a, b):
        session = initialize(a)
        threads, _ = slow_calls([(a, session)] * 2, millis=60000)
        eventually(lambda: held_places(redis) == 2)
        refused = legacy(b, session, "tools/call", {"name": "slow", "arguments": {"millis": 10}}).json()
        assert IN_FLIGHT in refused["error"]["message"], refused
        a.processes[-1].kill()
        a.processes[-1].wait(timeout=10)
        killed = time.monotonic()
        # Nobody renews A's leases now: they lapse (5 s) and B runs calls again.
        accepted = eventually(lambda: "result" in legacy(b, session, "tools/call", {"name": "slow", "arguments": {"millis": 10}}).json(),
                              timeout=15.0)
        assert accepted and time.monotonic() - killed < 12, "the places came back with the leases"
        for thread in threads:
            thread.join(timeout=30)


def test_a_replica_that_never_heard_a_heartbeat_takes_the_share_of_replicas_when_unknown(tmp_path):
    unreachable = free_port()  # nothing listens there: no heartbeat is ever heard
    settings = (f'[cluster]\nredis_url = "redis://127.0.0.1:{unreachable}"\nreplicas_when_unknown = 2\n'
                "[rate_limits]\nper_principal_per_sec = 2\nper_principal_burst = 10\n")
    running = start_testkit_gateway(tmp_path, gateway_settings=settings)
    try:
        session = initialize(running)
        started = time.monotonic()
        answers = [legacy(running, session, "tools/call", {"name": "echo", "arguments": {"n": n}}).json() for n in range(10)]
        elapsed = time.monotonic() - started
        accepted = sum("result" in answer for answer in answers)
        # Its share: burst 10 / 2 = 5, then 1 call a second.
        assert 5 <= accepted <= 5 + int(elapsed) + 1, (accepted, elapsed, answers)
        assert all("rate_limits.per_principal_per_sec" in answer["error"]["message"] for answer in answers if "error" in answer)
    finally:
        running.stop()


def test_a_watch_quota_holds_across_two_replicas(tmp_path):
    from test_watch_quota import subscribe

    settings = "[limits]\nmax_watches_per_principal = 2\nwatch_without_stream_secs = 60\n"
    with cluster(tmp_path, settings) as (redis, a, b):
        for _ in range(2):
            assert "result" in subscribe(a, initialize(a)), "within the quota"
        # Each replica alone would have let this one through.
        refused = subscribe(b, initialize(b))
        assert "error" in refused, refused
        assert "limits.max_watches_per_principal" in refused["error"]["message"], refused
        assert held_places(redis, "watches") == 2


def test_while_redis_is_away_each_replica_keeps_its_share_of_the_in_flight_cap(tmp_path):
    from test_cluster import wait_for_store

    with cluster(tmp_path, f"[rate_limits]\n{IN_FLIGHT.split('.')[1]} = 4\n") as (redis, a, b):
        eventually(lambda: ready(a)["cluster"]["live_replicas"] == 2)
        redis.kill()
        wait_for_store(a, False)
        session = initialize(a)
        threads, outcomes = slow_calls([(a, session)] * 4, millis=3000)
        for thread in threads:
            thread.join(timeout=60)
        # Two replicas were alive: this one's share is 4 ÷ 2.
        assert sorted(outcomes) == ["in flight"] * 2 + ["ok"] * 2, outcomes
        assert ready(a)["cluster"]["fallbacks_total"] > 0
