"""`micromcp check --config FILE`: an operator validates a config before
deploying it and sees what it resolves to and what each service offers —
against a real testkit service, one that is down, and broken configs."""

from __future__ import annotations

import os
import subprocess

from conftest import BINARY, free_port, wait_for_port


def check(config, *flags: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "MICROMCP_TOKEN"}
    return subprocess.run([str(BINARY), "check", "--config", str(config), *flags], env=env,
                          capture_output=True, text=True, timeout=60)


def write_config(tmp_path, service_port: int, extra: str = ""):
    config = tmp_path / "micromcp.toml"
    config.write_text(
        "version = 1\n[gateway]\n"
        f'listen = "127.0.0.1:{free_port()}"\n'
        f'[audit]\npath = "{tmp_path / "audit.jsonl"}"\n'
        f"{extra}"
        '[[services]]\nname = "kit"\nnamespace = "kit"\n'
        f'endpoint = "http://127.0.0.1:{service_port}"\n'
    )
    return config


def test_a_valid_config_prints_what_it_resolves_to_and_each_catalog(tmp_path):
    port = free_port()
    service = subprocess.Popen([str(BINARY), "testkit", "--listen", f"127.0.0.1:{port}"], env=dict(os.environ, MICROMCP_LOG="warn"))
    wait_for_port(port)
    try:
        result = check(write_config(tmp_path, port))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "valid" in result.stdout.splitlines()[0]
        assert f"http://127.0.0.1:{port} (gRPC over HTTP/2)" in result.stdout
        assert "a bearer token is needed at start" in result.stdout
        assert "admin: http://127.0.0.1:9464/" in result.stdout
        catalog_line = next(line for line in result.stdout.splitlines() if line.strip().startswith("kit:"))
        assert "tools" in catalog_line and not catalog_line.strip().startswith("kit: 0 tools"), catalog_line
        assert "kit.test_simple_text" in result.stdout
        assert not (tmp_path / "audit.jsonl").exists(), "a check writes nothing"
    finally:
        service.kill()
        service.wait()


def test_every_address_is_printed_with_its_scheme_once(tmp_path):
    """`check` printed `http://http://host:port` for every http:// service."""
    certs = tmp_path / "certs"
    subprocess.run([str(BINARY), "tls-cert", "--out", str(certs), "--name", "localhost"], check=True,
                   capture_output=True, timeout=60)
    config = tmp_path / "micromcp.toml"
    config.write_text(
        "version = 1\n[gateway]\nlisten = \"127.0.0.1:8443\"\n"
        f'[gateway.tls]\ncert_file = "{certs / "localhost.pem"}"\nkey_file = "{certs / "localhost-key.pem"}"\n'
        '[[services]]\nname = "plain"\nendpoints = ["http://127.0.0.1:7001", "unix:/run/fs.sock"]\n'
        '[[services]]\nname = "sealed"\nendpoint = "https://localhost:7002"\n'
        f'tls_ca = "{certs / "ca.pem"}"\n'
    )
    result = check(config, "--offline")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "listen: https://127.0.0.1:8443/mcp" in lines, lines
    assert "http://127.0.0.1:7001 (gRPC over HTTP/2)" in lines, lines
    assert "unix:/run/fs.sock (gRPC over HTTP/2)" in lines, lines
    assert "https://localhost:7002 (gRPC over HTTP/2, TLS)" in lines, lines
    assert "://http" not in result.stdout, result.stdout


def test_a_service_that_does_not_answer_is_named_and_fails_the_check(tmp_path):
    result = check(write_config(tmp_path, free_port()), "--wait-secs", "1")
    assert result.returncode == 2, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if "kit: not reachable: " in line)
    assert line.endswith("Connection refused (os error 111)"), line  # why, once, without the status wrapper


def test_offline_validates_only(tmp_path):
    result = check(write_config(tmp_path, free_port()), "--offline")
    assert result.returncode == 0 and "catalogs:" not in result.stdout, result.stdout


def test_an_invalid_config_names_every_key(tmp_path):
    config = write_config(tmp_path, free_port(), '[admin]\nlisten = "nowhere"\n[backends]\nmax_retries = 99\n')
    result = check(config)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "admin.listen:" in result.stderr and "backends.max_retries" in result.stderr, result.stderr


def test_a_dns_name_that_does_not_resolve_is_warned_about_once(tmp_path):
    """Calls and the upkeep retry the resolution many times a second; the
    log says it once (until the name resolves again)."""
    config = tmp_path / "micromcp.toml"
    config.write_text('version = 1\n[[services]]\nname = "gone"\nendpoint = "dns:///no-such-service.invalid:7001"\n'
                      "[backends]\ndns_refresh_secs = 1\n")
    env = {key: value for key, value in os.environ.items() if key != "MICROMCP_TOKEN"}
    env["MICROMCP_LOG"] = "warn"
    result = subprocess.run([str(BINARY), "check", "--config", str(config), "--wait-secs", "3"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("cannot resolve the service's DNS name") == 1, result.stderr


def check_here(cwd, *flags: str) -> subprocess.CompletedProcess:
    """`micromcp check` run in `cwd` without --config, as `up` would be."""
    env = {key: value for key, value in os.environ.items() if key != "MICROMCP_TOKEN"}
    return subprocess.run([str(BINARY), "check", *flags], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_a_jwt_only_config_is_not_told_it_needs_a_token(tmp_path):
    config = tmp_path / "micromcp.toml"
    config.write_text(
        'version = 1\n[auth]\nresource = "https://mcp.example.com/mcp"\n'
        '[[auth.issuers]]\nname = "corp"\nissuer = "https://login.example.com/"\n'
        'jwks_uri = "https://login.example.com/.well-known/jwks.json"\n'
    )
    result = check(config, "--offline")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bearer token" not in result.stdout, result.stdout


def test_check_reads_the_micromcp_toml_up_reads_and_counts_ups_services(tmp_path):
    """Without --config, `check` takes ./micromcp.toml as `up` does, and an
    `up`-style config (no [[services]]) is told the services `up` runs."""
    (tmp_path / "micromcp.toml").write_text(
        '[fetch]\nallow_domains = ["docs.rs"]\n'
        '[[services]]\nname = "docs"\nendpoint = "http://127.0.0.1:7001"\n'
        '[mcp_servers.time]\ncommand = "uvx"\nargs = ["mcp-server-time"]\n'
    )
    result = check_here(tmp_path, "--offline")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("micromcp.toml: valid"), result.stdout
    assert "services: 1 configured" in result.stdout, result.stdout
    assert "under `micromcp up`: 5 services (1 configured, and 4 it runs itself: fs, fetch, search, time (bridge))" \
        in result.stdout, result.stdout


def test_check_without_any_config_checks_the_defaults_up_starts_with(tmp_path):
    result = check_here(tmp_path, "--offline")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the defaults: valid" in result.stdout.splitlines()[0], result.stdout
    assert "3 it runs itself: fs, fetch, search" in result.stdout, result.stdout


def test_scopes_naming_the_services_up_runs_itself_are_valid(tmp_path):
    """A token scoped to fs and search (which `up` runs itself) and to a
    bridged server: what `up` starts with, `check` calls valid (before: `no service
    named "fs"`); a scope naming no service at all is still refused."""
    digest = "a" * 64
    servers = '[mcp_servers.time]\ncommand = "uvx"\nargs = ["mcp-server-time"]\n'
    config = tmp_path / "micromcp.toml"
    config.write_text(
        f'[[auth.tokens]]\nname = "reader"\nsha256 = "{digest}"\nscopes = ["fs", "search:query", "time"]\n'
        + servers
    )
    result = check(config, "--offline")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "services: 0 configured" in result.stdout, result.stdout
    assert "fs, fetch, search, time (bridge)" in result.stdout, result.stdout
    config.write_text(f'[[auth.tokens]]\nname = "reader"\nsha256 = "{digest}"\nscopes = ["nosuch"]\n')
    result = check(config, "--offline")
    assert result.returncode == 1 and "nosuch" in result.stderr, result.stdout + result.stderr
