"""Prometheus metrics on the admin listener, scraped from a real gateway
under real traffic and checked by `promtool check metrics` (Debian's
`prometheus` package, unpacked by scripts/install-test-clients.sh); the
counts match the traffic sent; a tool name a client makes up never becomes a
label; the admin listener's access rules (token, loopback Host, refusal
beyond loopback without a token) hold."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess

import httpx2
import pytest

from conftest import BINARY, REPO, TOKEN, free_port, make_root, start_testkit_gateway, start_up, wait_for_port
from test_hostile import initialize, legacy, post

PROMTOOL = REPO / ".cache" / "prometheus" / "usr" / "bin" / "promtool"
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
DASHBOARD = REPO / "deploy" / "grafana" / "micromcp.json"


def samples(text: str) -> dict[str, float]:
    """`name{labels}` → value of every sample line."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            found[series] = float(value)
    return found


@pytest.fixture
def observed(tmp_path):
    admin_port = free_port()
    running = start_up(tmp_path, make_root(tmp_path), extra=["--admin-listen", f"127.0.0.1:{admin_port}"])
    running.admin = f"http://127.0.0.1:{admin_port}"
    # `up` makes the admin token on its first start.
    running.admin_headers = {"Authorization": f"Bearer {(running.state_dir / 'admin-token').read_text().strip()}"}
    yield running
    running.stop()


def test_a_scrape_under_traffic_passes_promtool_and_counts_what_was_sent(observed):
    session = initialize(observed)
    for _ in range(5):
        answer = legacy(observed, session, "tools/call", {"name": "fs.read_file", "arguments": {"path": "hello.txt"}}).json()
        assert "result" in answer, answer
    made_up = "made-up-tool-7f3a9c"
    for _ in range(3):
        assert "error" in legacy(observed, session, "tools/call", {"name": made_up, "arguments": {}}).json()
    assert post(observed, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"Authorization": "Bearer wrong"}).status_code == 401

    scrape = httpx2.get(f"{observed.admin}/metrics", headers=observed.admin_headers, timeout=10)
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain; version=0.0.4")
    checked = subprocess.run([str(PROMTOOL), "check", "metrics"], input=scrape.text, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    values = samples(scrape.text)
    ok = 'micromcp_requests_total{method="tools/call",era="legacy",outcome="ok",category="none"}'
    unknown = 'micromcp_requests_total{method="tools/call",era="legacy",outcome="error",category="user_error"}'
    assert values.get(ok) == 5, {key: value for key, value in values.items() if "requests_total" in key}
    assert values.get(unknown) == 3
    assert any(key.startswith("micromcp_requests_total{") and 'outcome="denied"' in key and 'category="unauthorized"' in key
               for key in values), "the refused token is counted"
    assert values.get('micromcp_backend_calls_total{service="fs",tool="read_file",outcome="ok"}') == 5
    assert values.get('micromcp_request_duration_seconds_count{method="tools/call"}') == 8
    assert 'micromcp_request_duration_seconds_bucket{method="tools/call",le="0.00005"}' in values
    assert values.get('micromcp_service_available{service="fs"}') == 1
    assert values.get('micromcp_breaker_state{service="fs"}') == 0
    assert values.get('micromcp_catalog_items{service="fs",kind="tools"}', 0) >= 4
    assert values.get("micromcp_audit_records_total", 0) >= 9
    assert made_up not in scrape.text, "a name the client made up must never become a label"
    used = set(re.findall(r"\b(micromcp_[a-z_]+)", (PROMETHEUS_DIR / "alerts.yml").read_text() + DASHBOARD.read_text()))
    exposed = {re.sub(r"_(bucket|sum|count)$", "", series.split("{")[0]) for series in values}
    # micromcp_endpoints exists only for services with several endpoints (test_endpoints.py has them).
    missing = {re.sub(r"_bucket$", "", name) for name in used} - exposed - {"micromcp_endpoints"}
    assert not missing, f"the alert rules and the dashboard use metrics no gateway exposes: {missing}"


def test_the_admin_token_guards_every_route(tmp_path):
    admin_port = free_port()
    running = start_up(tmp_path, make_root(tmp_path), extra=["--admin-listen", f"127.0.0.1:{admin_port}"],
                       env_extra={"MICROMCP_ADMIN_TOKEN": "admin-token-0123456789abcdefghij"})
    try:
        admin = f"http://127.0.0.1:{admin_port}"
        for path in ("/metrics", "/readyz", "/healthz"):
            assert httpx2.get(admin + path, timeout=5).status_code == 401, path
            assert httpx2.get(admin + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).status_code == 401, \
                "the clients' token is not the admin token"
        allowed = httpx2.get(admin + "/metrics", headers={"Authorization": "Bearer admin-token-0123456789abcdefghij"}, timeout=5)
        assert allowed.status_code == 200 and "micromcp_service_available" in allowed.text
    finally:
        running.stop()


def test_without_a_token_the_admin_listener_serves_only_loopback_names(tmp_path):
    """`micromcp gateway` makes no admin token: its loopback admin listener
    then answers loopback names only."""
    admin_port = free_port()
    running = start_testkit_gateway(tmp_path, gateway_settings=f'[admin]\nlisten = "127.0.0.1:{admin_port}"\n')
    try:
        admin = f"http://127.0.0.1:{admin_port}"
        assert httpx2.get(f"{admin}/healthz", timeout=5).status_code == 200
        rebound = httpx2.get(f"{admin}/metrics", headers={"Host": "attacker.example"}, timeout=5)
        assert rebound.status_code == 403 and "loopback" in rebound.text
    finally:
        running.stop()


def refused_start(tmp_path, extra: list[str]) -> str:
    result = subprocess.run(
        [str(BINARY), "up", "--listen", f"127.0.0.1:{free_port()}", "--root", str(make_root(tmp_path)),
         "--state-dir", str(tmp_path / "state"), *extra],
        cwd=tmp_path, env=dict(os.environ, MICROMCP_TOKEN=TOKEN), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0, result.stdout
    return result.stderr


def test_the_admin_listener_beyond_loopback_needs_a_token(tmp_path):
    """`micromcp gateway` without an admin token refuses it (`up` makes one)."""
    config = tmp_path / "gateway.toml"
    config.write_text(f'version = 1\n[gateway]\nlisten = "127.0.0.1:{free_port()}"\nsession_key_file = "{tmp_path / "key"}"\n'
                      f'[admin]\nlisten = "0.0.0.0:{free_port()}"\n')
    env = {key: value for key, value in os.environ.items() if key != "MICROMCP_ADMIN_TOKEN"}
    result = subprocess.run([str(BINARY), "gateway", "--config", str(config)], env=dict(env, MICROMCP_TOKEN=TOKEN),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "admin.listen:" in result.stderr and "MICROMCP_ADMIN_TOKEN" in result.stderr, result.stderr


def test_a_configured_admin_address_in_use_stops_the_start(tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        stderr = refused_start(tmp_path, ["--admin-listen", f"127.0.0.1:{holder.getsockname()[1]}"])
        assert re.search(r"admin\.listen: cannot listen on 127\.0\.0\.1:\d+", stderr), stderr
    finally:
        holder.close()


def test_the_alert_rules_pass_promtool_and_fire_in_their_unit_tests():
    checked = subprocess.run([str(PROMTOOL), "check", "rules", "alerts.yml"], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([str(PROMTOOL), "test", "rules", "alerts.test.yml"], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_scrape_config_passes_promtool(tmp_path):
    """As shipped, but with the admin token file it names made here (promtool
    checks that it exists)."""
    token = tmp_path / "admin-token"
    token.write_text("admin-token\n")
    config = (PROMETHEUS_DIR / "prometheus.yml").read_text()
    assert "/etc/prometheus/secrets/micromcp/admin-token" in config
    assert "credentials_file: ../../.micromcp/admin-token" in config, "the local job scrapes up with the admin token it makes"
    config = config.replace("../../.micromcp/admin-token", str(token))
    (tmp_path / "prometheus.yml").write_text(config.replace("/etc/prometheus/secrets/micromcp/admin-token", str(token)))
    (tmp_path / "alerts.yml").write_text((PROMETHEUS_DIR / "alerts.yml").read_text())
    checked = subprocess.run([str(PROMTOOL), "check", "config", "prometheus.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_dashboard_query_is_valid_promql(tmp_path):
    """Each panel's query, with Grafana's variables given values, as a
    recording rule that promtool parses."""
    dashboard = json.loads(DASHBOARD.read_text())
    rules = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", "5m").replace("$job", ".*")
            rules.append({"record": f"dashboard:panel{panel['id']}:{target['refId']}", "expr": expr})
    assert len(rules) >= 10
    (tmp_path / "dashboard-rules.yml").write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = subprocess.run([str(PROMTOOL), "check", "rules", "dashboard-rules.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_service_serves_its_own_metrics(tmp_path):
    """`micromcp fs --metrics-listen`: calls by method and outcome, the
    blocking pool's gauges; promtool accepts the scrape."""
    from conftest import start_testkit_gateway, wait_for_port

    root = make_root(tmp_path)
    service_port, metrics_port = free_port(), free_port()
    service = subprocess.Popen([str(BINARY), "fs", "--root", str(root), "--listen", f"127.0.0.1:{service_port}",
                                "--metrics-listen", f"127.0.0.1:{metrics_port}"], env=dict(os.environ, MICROMCP_LOG="warn"))
    wait_for_port(service_port)
    running = start_testkit_gateway(tmp_path, service_port=service_port)
    try:
        session = initialize(running)
        for _ in range(3):
            assert "result" in legacy(running, session, "tools/call", {"name": "read_file", "arguments": {"path": "hello.txt"}}).json()
        missing = legacy(running, session, "tools/call", {"name": "read_file", "arguments": {"path": "missing.txt"}}).json()
        assert missing.get("result", {}).get("isError") or "error" in missing, missing
        scrape = httpx2.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        assert scrape.status_code == 200
        checked = subprocess.run([str(PROMTOOL), "check", "metrics"], input=scrape.text, capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        values = samples(scrape.text)
        assert values.get('micromcp_service_calls_total{method="tools/call",outcome="ok"}', 0) + \
            values.get('micromcp_service_calls_total{method="tools/call",outcome="not_found"}', 0) == 4, scrape.text
        assert values.get('micromcp_service_call_duration_seconds_count{method="tools/call"}') == 4
        assert any(key.startswith("micromcp_service_blocking_running{") for key in values), "the fs pool reports"
        rebound = httpx2.get(f"http://127.0.0.1:{metrics_port}/metrics", headers={"Host": "attacker.example"}, timeout=5)
        assert rebound.status_code == 403
    finally:
        running.stop()
        service.kill()
        service.wait()


def test_service_metrics_beyond_loopback_need_a_token(tmp_path):
    result = subprocess.run([str(BINARY), "fs", "--root", str(make_root(tmp_path)), "--listen", f"127.0.0.1:{free_port()}",
                             "--metrics-listen", f"0.0.0.0:{free_port()}"],
                            env={key: value for key, value in os.environ.items() if key != "MICROMCP_METRICS_TOKEN"},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "MICROMCP_METRICS_TOKEN" in result.stderr, result.stderr


def test_the_admin_listener_cuts_slow_clients_and_caps_connections(tmp_path):
    """Its connections are handled as the front's: headers that never end
    are cut at limits.header_read_timeout_secs; past the per-source cap a
    clear 503."""
    import time

    from test_hardening import closed_within

    admin_port = free_port()
    (tmp_path / "micromcp.toml").write_text(
        "[limits]\nmax_connections_per_source = 5\nheader_read_timeout_secs = 1\n"
        f'[admin]\nlisten = "127.0.0.1:{admin_port}"\n')
    running = start_up(tmp_path, make_root(tmp_path))
    held = []
    try:
        def connect():
            connection = socket.create_connection(("127.0.0.1", admin_port), timeout=10)
            held.append(connection)
            return connection

        slow = connect()
        slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n")
        started = time.monotonic()
        closed_within(slow, 5)
        assert time.monotonic() - started < 5, "a header that never ends is cut"
        for _ in range(5):
            connect()
        time.sleep(0.3)
        refused = closed_within(connect(), 5)
        assert refused.startswith(b"HTTP/1.1 503") and b"max_connections_per_source" in refused, refused
    finally:
        for connection in held:
            connection.close()
        running.stop()


def test_the_admin_api_lists_services_and_recent_audit_records(observed):
    session = initialize(observed)
    for _ in range(3):
        assert "result" in legacy(observed, session, "tools/call", {"name": "fs.stat", "arguments": {"path": "hello.txt"}}).json()
    services = {service["name"]: service for service in httpx2.get(f"{observed.admin}/api/services", headers=observed.admin_headers, timeout=10).json()["services"]}
    assert set(services) == {"fs", "fetch", "search"}, services
    fs = services["fs"]
    assert fs["namespace"] == "fs" and fs["available"] is True and fs["breaker"] == "closed", fs
    assert fs["endpoints"] and "(gRPC over HTTP/2)" in fs["endpoints"][0], fs
    assert fs["catalog"]["tools"] >= 4 and services["search"]["content_from"] == ["fs"], services
    audit = httpx2.get(f"{observed.admin}/api/audit?limit=2", headers=observed.admin_headers, timeout=10).json()["records"]
    assert len(audit) == 2 and all(record["method"] == "tools/call" and record["target"] == "fs.stat" for record in audit), audit
    assert "test-token" not in json.dumps(audit), "tokens are never recorded"
    everything = httpx2.get(f"{observed.admin}/api/audit", headers=observed.admin_headers, timeout=10).json()["records"]
    assert [record["method"] for record in everything][:1] == ["initialize"], everything
    assert httpx2.get(f"{observed.admin}/api/services", timeout=5).status_code == 401, "up's admin token guards the API"


def test_a_services_metrics_listener_caps_connections_and_cuts_silent_ones(tmp_path):
    """`--metrics-listen` is a port nobody watches: past 64 connections more
    are closed at once, and one that never sends its headers is closed after
    10 s — while a scrape still gets through once places free up."""
    import time

    from test_hardening import closed_within

    service_port, metrics_port = free_port(), free_port()
    service = subprocess.Popen([str(BINARY), "fs", "--root", str(make_root(tmp_path)), "--listen", f"127.0.0.1:{service_port}",
                                "--metrics-listen", f"127.0.0.1:{metrics_port}"], env=dict(os.environ, MICROMCP_LOG="warn"))
    held = []
    try:
        wait_for_port(metrics_port)
        started = time.monotonic()
        for _ in range(64):
            held.append(socket.create_connection(("127.0.0.1", metrics_port), timeout=20))
        # A busy machine may not have accepted all 64 yet: a connection that
        # is not closed took a place still free, and the next one is tried.
        give_up = time.monotonic() + 8
        while True:
            past_cap = socket.create_connection(("127.0.0.1", metrics_port), timeout=5)
            try:
                assert closed_within(past_cap, 1) == b"", "a connection past the cap is closed at once"
                break
            except TimeoutError:
                held.append(past_cap)
                assert time.monotonic() < give_up, "no connection past the cap was closed"
        assert closed_within(held[0], 15) == b"", "a silent connection is closed"
        assert time.monotonic() - started < 14
        for connection in held:
            connection.close()
        assert httpx2.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).status_code == 200
    finally:
        for connection in held:
            connection.close()
        service.kill()
        service.wait()


def test_the_admin_api_shows_the_audit_records_of_runs_before_a_restart(tmp_path):
    """`/api/audit` showed only what the current process had written: after
    a restart the admin page's audit view was empty though the file held
    the earlier runs' records."""
    root = make_root(tmp_path)
    admin_port = free_port()
    extra = ["--admin-listen", f"127.0.0.1:{admin_port}"]
    first = start_up(tmp_path, root, extra=extra)
    session = initialize(first)
    assert "result" in legacy(first, session, "tools/call", {"name": "fs.stat", "arguments": {"path": "hello.txt"}}).json()
    first.stop()
    with open(first.state_dir / "audit.jsonl", "a") as audit_file:
        audit_file.write('not a record\n{"x": 1}\n{"torn": \n')
    second = start_up(tmp_path, root, extra=extra, state_dir=first.state_dir)
    try:
        headers = {"Authorization": f"Bearer {(second.state_dir / 'admin-token').read_text().strip()}"}
        records = httpx2.get(f"http://127.0.0.1:{admin_port}/api/audit", headers=headers, timeout=10).json()["records"]
        assert any(record.get("target") == "fs.stat" for record in records), records
        assert all("time" in record for record in records), "only the gateway's own records are shown"
    finally:
        second.stop()
