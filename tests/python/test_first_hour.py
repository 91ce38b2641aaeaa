"""A new user's first hour: start-up mistakes stop the start with one
error that names the flag or key (and line), the token is shown once, logs
carry colour only on a terminal, and docs/configuration.md's example configuration's
errors name the right entries. Real `micromcp` processes."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import time
from pathlib import Path

from conftest import BINARY, REPO, TOKEN, free_port, make_root, wait_for_line


def refused(args: list[str], cwd: Path, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MICROMCP_TOKEN": TOKEN, **(env_extra or {})}
    started = time.monotonic()
    result = subprocess.run([str(BINARY), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0, result
    assert "listening on" not in result.stdout, result.stdout
    assert time.monotonic() - started < 10, "refused at once"
    return result


def test_a_root_that_is_not_a_directory_stops_the_start(tmp_path):
    result = refused(["up", "--listen", "127.0.0.1:0", "--root", "/nonexistent", "--state-dir", str(tmp_path / "s")], tmp_path)
    assert result.stderr.count("--root /nonexistent: no such directory") == 1, result.stderr
    (tmp_path / "file").write_text("x")
    result = refused(["up", "--listen", "127.0.0.1:0", "--root", str(tmp_path / "file"), "--state-dir", str(tmp_path / "s")], tmp_path)
    assert "not a directory" in result.stderr


def test_a_url_as_an_allowed_fetch_domain_is_refused_with_the_host(tmp_path):
    result = refused(["up", "--listen", "127.0.0.1:0", "--root", str(tmp_path), "--state-dir", str(tmp_path / "s"),
                      "--fetch-allow", "https://docs.rs/"], tmp_path)
    assert '--fetch-allow: "https://docs.rs/": expected a host name or *.suffix, got a URL; did you mean docs.rs?' in result.stderr, result.stderr
    (tmp_path / "micromcp.toml").write_text('[fetch]\nallow_domains = ["docs.rs", "docs.rs/crates"]\n')
    result = refused(["up", "--listen", "127.0.0.1:0", "--root", str(tmp_path), "--state-dir", str(tmp_path / "s")], tmp_path)
    assert "fetch.allow_domains[1]" in result.stderr, result.stderr
    result = refused(["fetch", "--listen", "127.0.0.1:0", "--allow-domain", "http://example.com:8080/"], tmp_path)
    assert "did you mean example.com?" in result.stderr, result.stderr


def test_a_wrong_type_names_its_key_and_line(tmp_path):
    config = tmp_path / "micromcp.toml"
    config.write_text("version = 1\n[gateway]\nlisten = 8080\n")
    result = refused(["gateway", "--config", str(config)], tmp_path)
    assert "gateway.listen: invalid type: integer `8080`, expected a string (line 3)" in result.stderr, result.stderr


def readme_config() -> str:
    """The example configuration in docs/configuration.md (once the README's)."""
    text = (REPO / "docs" / "configuration.md").read_text()
    start = text.index("```toml\nversion = 1")
    return text[start + len("```toml\n"):text.index("```", start + 8)]


def test_the_readme_example_configs_errors_name_the_right_entries(tmp_path):
    """The example names files this machine does not have; each error must
    name the entry it is about (the QUIC service is the third)."""
    config = tmp_path / "micromcp.toml"
    config.write_text(readme_config())
    result = refused(["gateway", "--config", str(config)], tmp_path)
    keys = set(re.findall(r"^\s*- ([a-z_\[\]0-9.]+):", result.stderr, re.MULTILINE))
    assert "services[2].tls_ca" in keys and "services[2].tls_client_cert" in keys, result.stderr
    assert not any(key.startswith(("services[0]", "services[1]", "services[3]")) for key in keys), result.stderr


def test_the_token_is_shown_once_then_only_where_it_is(tmp_path):
    root = make_root(tmp_path)
    env = {key: value for key, value in os.environ.items() if key != "MICROMCP_TOKEN"}
    args = [str(BINARY), "up", "--listen", f"127.0.0.1:{free_port()}", "--root", str(root), "--state-dir", str(tmp_path / "state")]
    for run in ("first", "second"):
        process = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = wait_for_line(process, "bearer token")
            token = (tmp_path / "state" / "token").read_text().strip()
            if run == "first":
                assert token in line and "generated" in line, line
            else:
                assert token not in line and f"bearer token: in {tmp_path / 'state' / 'token'}" in line, line
            wait_for_line(process, "listening on")
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_a_short_token_is_warned_about(tmp_path):
    process = subprocess.Popen([str(BINARY), "up", "--listen", f"127.0.0.1:{free_port()}", "--root", str(make_root(tmp_path)),
                                "--state-dir", str(tmp_path / "state")],
                               cwd=tmp_path, env=dict(os.environ, MICROMCP_TOKEN="short", MICROMCP_LOG="warn"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(process, "listening on")
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert "MICROMCP_TOKEN is shorter than 32 characters" in stderr, stderr


def log_of_a_start(tmp_path: Path, terminal: bool, no_color: bool) -> bytes:
    """The first second and a half of a gateway's log (its one service is
    not there), with stderr on a pseudo-terminal or a pipe."""
    env = dict(os.environ, MICROMCP_LOG="info")
    env.pop("NO_COLOR", None)
    if no_color:
        env["NO_COLOR"] = "1"
    config = tmp_path / "bad.toml"
    config.write_text('version = 1\n[[services]]\nname = "a"\nendpoint = "http://127.0.0.1:1"\n[audit]\npath = "-"\n')
    args = [str(BINARY), "gateway", "--config", str(config), "--listen", f"127.0.0.1:{free_port()}"]
    if not terminal:
        process = subprocess.Popen(args, env=dict(env, MICROMCP_TOKEN=TOKEN), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.5)
        process.terminate()
        return process.communicate(timeout=10)[1]
    leader, follower = pty.openpty()
    process = subprocess.Popen(args, env=dict(env, MICROMCP_TOKEN=TOKEN), stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    time.sleep(1.5)
    process.terminate()
    process.wait(timeout=10)
    captured = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        captured += chunk
    os.close(leader)
    return captured


def test_logs_are_coloured_only_on_a_terminal_without_no_color(tmp_path):
    assert b"INFO" in log_of_a_start(tmp_path, terminal=False, no_color=False)
    assert b"\x1b[" not in log_of_a_start(tmp_path, terminal=False, no_color=False)
    assert b"\x1b[" in log_of_a_start(tmp_path, terminal=True, no_color=False)
    on_terminal = log_of_a_start(tmp_path, terminal=True, no_color=True)
    assert b"INFO" in on_terminal and b"\x1b[" not in on_terminal


def test_browser_clients_of_allowed_origins_get_cors_answers(gateway_up):
    import httpx2

    allowed = {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "authorization, content-type, mcp-session-id"}
    answer = httpx2.request("OPTIONS", gateway_up.url, headers=allowed, timeout=5)
    assert answer.status_code == 204, answer
    assert answer.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "POST" in answer.headers["access-control-allow-methods"]
    for name in ["authorization", "content-type", "mcp-session-id", "mcp-protocol-version"]:
        assert name in answer.headers["access-control-allow-headers"], answer.headers
    foreign = httpx2.request("OPTIONS", gateway_up.url, headers={**allowed, "Origin": "http://evil.example.com"}, timeout=5)
    assert foreign.status_code == 403 and "access-control-allow-origin" not in foreign.headers
    initialize = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "browser", "version": "1"}}}
    posted = httpx2.post(gateway_up.url, json=initialize, timeout=5, headers={
        "Origin": "http://localhost:3000", "Authorization": f"Bearer {TOKEN}", "Accept": "application/json, text/event-stream"})
    assert posted.status_code == 200, posted.text
    assert posted.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "mcp-session-id" in posted.headers["access-control-expose-headers"]
    plain = httpx2.post(gateway_up.url, json=initialize, timeout=5, headers={
        "Authorization": f"Bearer {TOKEN}", "Accept": "application/json, text/event-stream"})
    assert "access-control-allow-origin" not in plain.headers, "no Origin, no CORS headers"


def without(*names: str) -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in names}


def test_a_mistake_is_one_line_without_a_backtrace_whatever_rust_backtrace_says(tmp_path):
    for args in (["up", "--listen", "127.0.0.1:0", "--root", "/nonexistent", "--state-dir", str(tmp_path / "s")],
                 ["gateway", "--config", str(tmp_path / "missing.toml")]):
        result = refused(args, tmp_path, {"RUST_BACKTRACE": "1", "RUST_LIB_BACKTRACE": "1", "MICROMCP_TOKEN": "t" * 40})
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "backtrace" not in result.stderr.lower(), result.stderr


def test_a_taken_port_stops_up_before_it_writes_or_starts_anything(tmp_path):
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        state = tmp_path / "state"
        result = refused(["up", "--listen", f"127.0.0.1:{port}", "--root", str(make_root(tmp_path)), "--state-dir", str(state)],
                         tmp_path, {"MICROMCP_LOG": "info"})
    finally:
        holder.close()
    assert f"another process listens on 127.0.0.1:{port}; choose another address with --listen" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not state.exists(), "nothing is written before the listeners are known to be free"
    assert "bearer token" not in result.stdout and "service started" not in result.stderr, result.stdout + result.stderr


def up_for_admin(tmp_path: Path) -> tuple[subprocess.Popen, int, list[str]]:
    """`up` without MICROMCP_ADMIN_TOKEN, its admin listener on a free port;
    its stdout up to `listening on`."""
    admin_port = free_port()
    process = subprocess.Popen(
        [str(BINARY), "up", "--listen", f"127.0.0.1:{free_port()}", "--admin-listen", f"127.0.0.1:{admin_port}",
         "--root", str(make_root(tmp_path)), "--state-dir", ".micromcp"],
        cwd=tmp_path, env=dict(without("MICROMCP_ADMIN_TOKEN"), MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="warn"),
        stdout=subprocess.PIPE, text=True)
    lines = []
    while True:
        line = process.stdout.readline()
        assert line, "up ended: " + "".join(lines)
        lines.append(line)
        if "listening on" in line:
            return process, admin_port, lines


def test_up_makes_an_admin_token_and_tools_find_its_gateway(tmp_path):
    """`micromcp tools` run where `up` runs asks that gateway (its admin
    listener is not on the default port here) with the token `up` made."""
    process, admin_port, lines = up_for_admin(tmp_path)
    try:
        token_file = tmp_path / ".micromcp" / "admin-token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        assert any("admin token" in line and ".micromcp/admin-token" in line for line in lines), lines
        assert not any(token_file.read_text().strip() in line for line in lines), "the admin token is never printed"
        env = without("MICROMCP_ADMIN_TOKEN")
        held = subprocess.run([str(BINARY), "tools", "held"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
        assert held.returncode == 0 and "no tool is held" in held.stdout, held.stdout + held.stderr
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_up_stopped_leaves_no_address_for_tools_and_a_stale_one_is_named(tmp_path):
    """Once `up` has stopped, its recorded admin address is gone; an address
    left behind (a `kill -9`) that nothing answers at is named as such, with
    the question whether `up` runs there, not a bare connection error."""
    process, _, _ = up_for_admin(tmp_path)
    address_file = tmp_path / ".micromcp" / "admin-address"
    assert address_file.exists()
    process.terminate()
    process.wait(timeout=10)
    assert not address_file.exists(), "a stopped up leaves no admin address behind"
    address_file.write_text(f"http://127.0.0.1:{free_port()}\n")
    address_file.chmod(0o600)
    held = subprocess.run([str(BINARY), "tools", "held"], cwd=tmp_path, env=without("MICROMCP_ADMIN_TOKEN"),
                          capture_output=True, text=True, timeout=30)
    assert held.returncode != 0
    assert "no gateway answers at" in held.stderr and ".micromcp/admin-address" in held.stderr, held.stderr
    assert "micromcp up" in held.stderr and len(held.stderr.strip().splitlines()) == 1, held.stderr


def test_an_admin_address_planted_in_a_project_never_gets_the_admin_token(tmp_path):
    """A `.micromcp/admin-address` that came with a project (a clone leaves
    it 0644) or names another host is ignored with a warning: the admin
    token goes only to a loopback address `up` itself recorded (0600)."""
    import http.server
    import threading
    seen: list[str] = []

    class Listener(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization", ""))
            body = b'{"held": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state = tmp_path / ".micromcp"
    state.mkdir()
    address_file = state / "admin-address"
    env = dict(without("MICROMCP_ADMIN_TOKEN"), MICROMCP_ADMIN_TOKEN="the-operators-admin-token-0123456789")
    try:
        for text, mode in [(f"http://127.0.0.1:{server.server_port}\n", 0o644), ("http://192.0.2.1:9464\n", 0o600),
                           ("https://evil.example:8443\n", 0o600)]:
            address_file.write_text(text)
            address_file.chmod(mode)
            held = subprocess.run([str(BINARY), "tools", "held"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
            assert "admin-address ignored" in held.stderr, held.stderr
            assert not seen, f"the admin token went to {text!r}"
        # What `up` records (0600, loopback) is used.
        address_file.write_text(f"http://127.0.0.1:{server.server_port}\n")
        address_file.chmod(0o600)
        held = subprocess.run([str(BINARY), "tools", "held"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
        assert held.returncode == 0, held.stderr
        assert seen == ["Bearer the-operators-admin-token-0123456789"], seen
    finally:
        server.shutdown()


def test_a_401_from_the_admin_api_says_which_variable_to_set(tmp_path):
    process, admin_port, _ = up_for_admin(tmp_path)
    try:
        admin = f"http://127.0.0.1:{admin_port}"
        for args in (["tools", "held", "--admin", admin], ["registry", "add", "io.example/thing", "--admin", admin]):
            result = subprocess.run([str(BINARY), *args], cwd=tmp_path.parent, capture_output=True, text=True, timeout=30,
                                    env=dict(os.environ, MICROMCP_ADMIN_TOKEN="not-the-admin-token-0123456789"))
            assert result.returncode != 0, result.stdout
            assert "MICROMCP_ADMIN_TOKEN" in result.stderr and "null" not in result.stderr, result.stderr
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_help_names_the_environment_and_what_up_runs():
    for command in ([], ["up"], ["gateway"], ["tools"]):
        shown = subprocess.run([str(BINARY), *command, "--help"], capture_output=True, text=True, timeout=30).stdout
        for name in ("MICROMCP_TOKEN", "MICROMCP_ADMIN_TOKEN", "MICROMCP_LOG"):
            assert name in shown, (command, name, shown)
    shown = subprocess.run([str(BINARY), "up", "--help"], capture_output=True, text=True, timeout=30).stdout
    for part in ("fs", "fetch", "search", "bridge"):
        assert part in shown.split("Usage:")[0], shown


def test_the_readmes_binary_size_is_the_release_binarys():
    """Checked against a release build when there is one (scripts/test.sh's
    release step, or `cargo build --release`)."""
    import pytest

    figure = re.search(r"`target/release/micromcp`, about (\d+) MiB", (REPO / "README.md").read_text())
    assert figure, "the README states the release binary's size in MiB"
    release = Path(os.environ.get("MICROMCP_RELEASE_BIN", REPO / "target" / "release" / "micromcp"))
    if not release.exists():
        pytest.skip("no release build to compare with")
    actual = release.stat().st_size / (1024 * 1024)
    assert abs(actual - int(figure.group(1))) <= 0.1 * actual, (actual, figure.group(1))


def test_up_beside_another_gateway_on_the_default_admin_port_is_the_one_tools_ask(tmp_path):
    """Another process holds 127.0.0.1:9464 (held here, unless one already
    does): `up` takes a free admin port and `micromcp tools` asks it, not
    whatever answers on 9464."""
    import socket

    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 9464))
        holder.listen(1)
    except OSError:
        pass  # already held by another process: the same situation
    process = subprocess.Popen(
        [str(BINARY), "up", "--listen", f"127.0.0.1:{free_port()}", "--root", str(make_root(tmp_path))],
        cwd=tmp_path, env=dict(without("MICROMCP_ADMIN_TOKEN"), MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="error"),
        stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or "listening on" not in lines[-1]:
            line = process.stdout.readline()
            assert line, "up ended: " + "".join(lines)
            lines.append(line)
        admin_lines = [line for line in lines if line.startswith("admin on http://")]
        assert admin_lines and ":9464/" not in admin_lines[0], lines
        held = subprocess.run([str(BINARY), "tools", "held"], cwd=tmp_path, env=without("MICROMCP_ADMIN_TOKEN"),
                              capture_output=True, text=True, timeout=30)
        assert held.returncode == 0 and "no tool is held" in held.stdout, held.stdout + held.stderr
    finally:
        process.terminate()
        process.wait(timeout=10)
        holder.close()


def test_a_missing_root_stops_up_before_it_writes_anything(tmp_path):
    """`up --root /nonexistent` made tokens and the state directory before
    it looked at the root."""
    state = tmp_path / "state"
    result = refused(["up", "--listen", "127.0.0.1:0", "--root", "/nonexistent", "--state-dir", str(state)], tmp_path,
                     {"MICROMCP_TOKEN": ""})
    assert "--root /nonexistent: no such directory" in result.stderr, result.stderr
    assert not state.exists(), "nothing is written before the roots are known to exist"
    assert "bearer token" not in result.stdout, result.stdout


def test_a_taken_port_stops_the_gateway_command_before_it_writes_its_session_key(tmp_path):
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    key = tmp_path / "keys" / "session.key"
    config = tmp_path / "gateway.toml"
    config.write_text(f'version = 1\n[gateway]\nlisten = "127.0.0.1:{port}"\nsession_key_file = "{key}"\n[admin]\nlisten = "off"\n')
    key.parent.mkdir(mode=0o700)
    try:
        result = refused(["gateway", "--config", str(config)], tmp_path)
    finally:
        holder.close()
    assert f"another process listens on 127.0.0.1:{port}" in result.stderr, result.stderr
    assert not key.exists(), "no session key is made for a start that cannot listen"


def test_tools_list_prints_the_catalog_of_the_gateway_up_runs_here(tmp_path):
    process, _, _ = up_for_admin(tmp_path)
    try:
        env = without("MICROMCP_ADMIN_TOKEN")
        listed = subprocess.run([str(BINARY), "tools", "list"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
        assert listed.returncode == 0, listed.stderr
        names = [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]
        assert "fs.read_file" in names and "fetch.get" in names, listed.stdout
        assert re.search(r"^\d+ tools$", listed.stderr.strip(), re.M), listed.stderr
        only_fs = subprocess.run([str(BINARY), "tools", "list", "--prefix", "fs."], cwd=tmp_path, env=env,
                                 capture_output=True, text=True, timeout=30)
        assert only_fs.stdout.strip() and all(line.startswith("fs.") for line in only_fs.stdout.splitlines()), only_fs.stdout
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_check_where_up_runs_tells_the_truth_about_its_token_and_admin_address(tmp_path):
    """`check` said a token was needed though `.micromcp/token` was there,
    showed the configured admin port when `up` had taken another, and
    printed an empty `catalogs:` heading."""
    process, admin_port, _ = up_for_admin(tmp_path)
    kept = tmp_path / ".micromcp" / "token"  # as `up` keeps it when MICROMCP_TOKEN is not set
    kept.write_text(TOKEN + "\n")
    kept.chmod(0o600)
    try:
        checked = subprocess.run([str(BINARY), "check"], cwd=tmp_path, env=without("MICROMCP_TOKEN"),
                                 capture_output=True, text=True, timeout=60)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "uses the one in .micromcp/token" in checked.stdout, checked.stdout
    assert f"admin now: http://127.0.0.1:{admin_port}" in checked.stdout, checked.stdout
    assert "catalogs: no service configured to ask" in checked.stdout, checked.stdout


def test_check_does_not_sit_out_its_wait_for_a_refused_port(tmp_path):
    config = tmp_path / "micromcp.toml"
    config.write_text(f'version = 1\n[[services]]\nname = "gone"\nendpoint = "http://127.0.0.1:{free_port()}"\n')
    started = time.monotonic()
    checked = subprocess.run([str(BINARY), "check", "--config", str(config), "--wait-secs", "120"], cwd=tmp_path,
                             env=dict(os.environ, MICROMCP_TOKEN=TOKEN), capture_output=True, text=True, timeout=150)
    assert checked.returncode == 2, checked.stdout + checked.stderr
    assert "gone: not reachable" in checked.stdout, checked.stdout
    assert time.monotonic() - started < 60, "a refused port is known at once, not after the whole wait"


def test_up_without_a_config_loads_the_micromcp_toml_written_later(tmp_path):
    """`up` started without `./micromcp.toml` never looked again: a file
    written afterwards was ignored until a restart."""
    kit_port = free_port()
    kit = subprocess.Popen([str(BINARY), "testkit", "--listen", f"127.0.0.1:{kit_port}"], env=dict(os.environ, MICROMCP_LOG="warn"))
    process, _, _ = up_for_admin(tmp_path)
    try:
        (tmp_path / "micromcp.toml").write_text(
            f'version = 1\n[[services]]\nname = "kit"\nnamespace = "kit"\nendpoint = "http://127.0.0.1:{kit_port}"\n')
        env = without("MICROMCP_ADMIN_TOKEN")
        deadline = time.monotonic() + 30
        listed = ""
        while time.monotonic() < deadline:
            listed = subprocess.run([str(BINARY), "tools", "list", "--prefix", "kit."], cwd=tmp_path, env=env,
                                    capture_output=True, text=True, timeout=30).stdout
            if "kit.test_simple_text" in listed:
                break
            time.sleep(0.5)
        assert "kit.test_simple_text" in listed, "the config written after the start is loaded"
    finally:
        process.terminate()
        process.wait(timeout=10)
        kit.kill()
        kit.wait()


def test_tools_list_shows_the_whole_catalog_under_search_disclosure(tmp_path):
    """With `disclosure = "search"` agents are shown only find_tools and
    call_tool; `micromcp tools list` (the operator) printed just those two."""
    (tmp_path / "micromcp.toml").write_text('version = 1\n[catalog]\ndisclosure = "search"\n')
    process, _, _ = up_for_admin(tmp_path)
    try:
        listed = subprocess.run([str(BINARY), "tools", "list"], cwd=tmp_path, env=without("MICROMCP_ADMIN_TOKEN"),
                                capture_output=True, text=True, timeout=30)
        names = [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]
        assert "fs.read_file" in names and "find_tools" in names and "call_tool" in names, listed.stdout + listed.stderr
    finally:
        process.terminate()
        process.wait(timeout=10)
