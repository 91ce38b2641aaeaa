"""A service with several endpoints: calls spread over them (power of two
choices), an endpoint that dies, freezes or drains is ejected and its calls
go to the others without a failed call, it rejoins once it serves again, and
a `dns:///host:port` endpoint is every address the name resolves to. Real
testkit services on loopback, a real gateway, real HTTP clients."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx2

from conftest import BINARY, TOKEN, Running, free_port, wait_for_line, wait_for_port
from test_hostile import modern


def start_testkit(port: int) -> subprocess.Popen:
    process = subprocess.Popen([str(BINARY), "testkit", "--listen", f"127.0.0.1:{port}"], env=dict(os.environ, MICROMCP_LOG="warn"))
    wait_for_port(port)
    return process


def start_gateway(base: Path, endpoints: str, backends: str = "health_check_secs = 1\n") -> Running:
    port = free_port()
    admin_port = free_port()
    config = base / "micromcp.toml"
    config.write_text(
        "version = 1\n"
        "[gateway]\n"
        f'listen = "127.0.0.1:{port}"\n'
        f'session_key_file = "{base / "session.key"}"\n'
        "request_timeout_secs = 10\n"
        f'[admin]\nlisten = "127.0.0.1:{admin_port}"\n'
        f"[backends]\n{backends}"
        "[[services]]\n"
        'name = "testkit"\n'
        'namespace = ""\n'
        f"{endpoints}\n"
    )
    gateway = subprocess.Popen([str(BINARY), "gateway", "--config", str(config)],
                               env=dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="warn"), stdout=subprocess.PIPE, text=True)
    wait_for_line(gateway, "listening on")
    running = Running(url=f"http://127.0.0.1:{port}/mcp", token=TOKEN, root=base, state_dir=base, processes=[gateway], port=port)
    running.admin = f"http://127.0.0.1:{admin_port}"
    return running


def endpoint_gauges(running) -> dict[str, float]:
    """`micromcp_endpoints` by state, from the admin listener's /metrics."""
    text = httpx2.get(running.admin + "/metrics", timeout=5).text
    return {line.split('state="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line.startswith("micromcp_endpoints{")}


def whoami(running) -> int:
    body = modern(running, "tools/call", {"name": "whoami", "arguments": {}}).json()
    assert "result" in body, body
    return body["result"]["structuredContent"]["pid"]


def endpoints_of(running) -> dict[str, dict]:
    service = httpx2.get(running.url.replace("/mcp", "/readyz"), timeout=5).json()["services"][0]
    return {endpoint["address"]: endpoint for endpoint in service["endpoints"]}


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.kill()
        process.wait(timeout=10)


def test_calls_spread_over_endpoints_and_one_dying_fails_none(tmp_path):
    ports = [free_port(), free_port()]
    services = [start_testkit(port) for port in ports]
    running = start_gateway(tmp_path, f'endpoints = ["http://127.0.0.1:{ports[0]}", "http://127.0.0.1:{ports[1]}"]')
    try:
        answered = [whoami(running) for _ in range(40)]
        assert {services[0].pid, services[1].pid} == set(answered), "both endpoints take calls"
        services[0].kill()
        services[0].wait(timeout=5)
        time.sleep(0.3)
        survivors = [whoami(running) for _ in range(100)]
        assert set(survivors) == {services[1].pid}, "every call after the death answered, by the survivor"
        dead = endpoints_of(running)[f"127.0.0.1:{ports[0]}"]
        assert dead["ejected"] is True, dead
        assert endpoint_gauges(running) == {"serving": 1, "ejected": 1}
        services[0] = start_testkit(ports[0])
        wait_until(lambda: not endpoints_of(running)[f"127.0.0.1:{ports[0]}"]["ejected"], 5, "health check readmits the restarted endpoint")
        assert services[0].pid in {whoami(running) for _ in range(40)}, "the restarted endpoint takes calls again"
    finally:
        running.stop()
        stop(services)


def test_a_frozen_endpoint_is_ejected_by_its_health_check(tmp_path):
    """A stopped process still completes TCP handshakes but answers
    nothing: no call failure shows it, the health check does."""
    ports = [free_port(), free_port()]
    services = [start_testkit(port) for port in ports]
    running = start_gateway(tmp_path, f'endpoints = ["http://127.0.0.1:{ports[0]}", "http://127.0.0.1:{ports[1]}"]')
    try:
        assert {whoami(running) for _ in range(30)} == {services[0].pid, services[1].pid}
        services[0].send_signal(signal.SIGSTOP)
        frozen = f"127.0.0.1:{ports[0]}"
        wait_until(lambda: endpoints_of(running)[frozen]["ejected"], 5, "the frozen endpoint is ejected")
        started = time.monotonic()
        assert {whoami(running) for _ in range(50)} == {services[1].pid}
        assert time.monotonic() - started < 5, "no call waited on the frozen endpoint"
        services[0].send_signal(signal.SIGCONT)
        wait_until(lambda: not endpoints_of(running)[frozen]["ejected"], 5, "the thawed endpoint is readmitted")
    finally:
        running.stop()
        stop(services)


def test_a_draining_endpoint_gets_no_new_calls(tmp_path):
    """SIGTERM: the service says NOT_SERVING and stops accepting while a
    call in flight finishes; new calls go to the other endpoint."""
    ports = [free_port(), free_port()]
    services = [start_testkit(port) for port in ports]
    running = start_gateway(tmp_path, f'endpoints = ["http://127.0.0.1:{ports[0]}", "http://127.0.0.1:{ports[1]}"]')
    try:
        assert {whoami(running) for _ in range(30)} == {services[0].pid, services[1].pid}
        services[0].send_signal(signal.SIGTERM)
        answered = [whoami(running) for _ in range(60)]
        assert set(answered) <= {services[0].pid, services[1].pid}
        assert answered[-20:] == [services[1].pid] * 20, "the drained endpoint takes no more calls"
        services[0].wait(timeout=15)
    finally:
        running.stop()
        stop(services)


def test_a_dns_endpoint_is_every_address_of_the_name(tmp_path):
    """`localhost` resolves to 127.0.0.1 (and ::1 where the host has it);
    the service listens on 127.0.0.1 only, so an ::1 endpoint is refused,
    ejected, and costs no call."""
    port = free_port()
    services = [start_testkit(port)]
    running = start_gateway(tmp_path, f'endpoint = "dns:///localhost:{port}"')
    try:
        assert {whoami(running) for _ in range(30)} == {services[0].pid}
        endpoints = endpoints_of(running)
        assert f"127.0.0.1:{port}" in endpoints, endpoints
        assert endpoints[f"127.0.0.1:{port}"]["ejected"] is False
        if f"[::1]:{port}" in endpoints:
            wait_until(lambda: endpoints_of(running)[f"[::1]:{port}"]["ejected"], 5, "the refused ::1 endpoint is ejected")
    finally:
        running.stop()
        stop(services)


def test_endpoint_configuration_errors_name_their_keys(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text(
        "version = 1\n"
        "[[services]]\nname = \"a\"\nendpoint = \"http://127.0.0.1:1\"\nendpoints = [\"http://127.0.0.1:2\"]\n"
        "[[services]]\nname = \"b\"\nendpoints = [\"http://127.0.0.1:3\", \"ftp://x\", \"http://127.0.0.1:3\"]\n"
        "[[services]]\nname = \"c\"\nendpoint = \"dns://localhost:80\"\n"
        "[[services]]\nname = \"d\"\n"
    )
    refused = subprocess.run([str(BINARY), "gateway", "--config", str(config)], env=dict(os.environ, MICROMCP_TOKEN=TOKEN),
                             capture_output=True, text=True, timeout=20)
    assert refused.returncode != 0
    for key in ["services[0].endpoints:", "services[1].endpoints[1]:", "services[1].endpoints[2]:", "services[2].endpoint:", "services[3].endpoint:"]:
        assert key in refused.stderr, (key, refused.stderr)
