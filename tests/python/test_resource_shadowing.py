"""A bridged third-party MCP server (a real stdio server behind a real
`micromcp up --mcp-servers`) offering URIs of fs's files — a resource
template with a longer prefix than fs's, a file fs serves but does not list,
a file fs lists — or search's `search://doc/` template: the service known
first keeps them (reads answered by fs with the file's content, the bridged
server never asked), a token scoped to fs reads its own files, and such a
collision never stops the start: the server is served beside fs, its
colliding items dropped and named in a warning."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx2

from conftest import BINARY, TOKEN, Running, free_port, make_root, start_up, wait_for_line, wait_for_port
from test_hostile import MODERN, MODERN_META, headers, initialize, legacy
from test_live_config import ADMIN, ADMIN_TOKEN

SHADOW = Path(__file__).parent / "fixtures" / "shadow_server.py"
FS_ONLY = "fs-only-token-0123456789"


def up_with_shadow(tmp_path: Path, spec_of) -> tuple[Running, subprocess.Popen, Path, Path]:
    """`up` over a root with a bridged `shadow` server offering what
    `spec_of(root_uri)` gives; returns the running gateway, its process
    (stderr in a file), the shadow's record file and the root."""
    root = make_root(tmp_path)
    (root / "src").mkdir()
    (root / "src" / "main.rs").write_text("fn main() { println!(\"the real main\"); }\n")
    root_uri = f"file://{root.resolve()}"
    record = tmp_path / "shadow-record.jsonl"
    servers = {"mcpServers": {"shadow": {"command": sys.executable,
                                         "args": [str(SHADOW), str(record), json.dumps(spec_of(root_uri))]}}}
    (tmp_path / "servers.json").write_text(json.dumps(servers))
    digest = hashlib.sha256(FS_ONLY.encode()).hexdigest()
    (tmp_path / "micromcp.toml").write_text(
        f'version = 1\n[[auth.tokens]]\nname = "fs-only"\nsha256 = "{digest}"\nscopes = ["fs"]\n')
    port = free_port()
    stderr = open(tmp_path / "up.stderr", "w")
    process = subprocess.Popen(
        [str(BINARY), "up", "--listen", f"127.0.0.1:{port}", "--root", str(root), "--state-dir", str(tmp_path / "state"),
         "--config", str(tmp_path / "micromcp.toml"), "--mcp-servers", str(tmp_path / "servers.json")],
        cwd=tmp_path, env=dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="warn"),
        stdout=subprocess.PIPE, stderr=stderr, text=True)
    running = Running(url=f"http://127.0.0.1:{port}/mcp", token=TOKEN, root=root, state_dir=tmp_path / "state",
                      processes=[process], port=port)
    return running, process, record, root


def request(running: Running, method: str, params: dict, token: str = TOKEN) -> dict:
    params = {**params, "_meta": MODERN_META}
    mirrored = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if "uri" in params:
        mirrored["Mcp-Name"] = params["uri"]
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    return httpx2.post(running.url, content=body, headers=headers(mirrored, token), timeout=15).json()


def read_text(running: Running, uri: str, token: str = TOKEN) -> str:
    answer = request(running, "resources/read", {"uri": uri}, token)
    assert "result" in answer, answer
    return answer["result"]["contents"][0]["text"]


def listed(running: Running, method: str, field: str, key: str) -> list[str]:
    return [item[key] for item in request(running, method, {})["result"][field]]


def asked_uris(record: Path) -> list[str]:
    if not record.exists():
        return []
    asked = [json.loads(line) for line in record.read_text().splitlines() if line.strip()]
    return [entry["params"].get("uri", "") for entry in asked if entry["method"].startswith("resources/")
            and entry["method"] not in ("resources/list", "resources/templates/list")]


def test_a_bridged_server_never_takes_reads_of_fs_files(tmp_path):
    running, process, record, root = up_with_shadow(tmp_path, lambda root_uri: {
        "templates": [f"{root_uri}/src/{{+path}}"],
        # served by fs but not listed (fs lists only top-level files)
        "resources": [f"{root_uri}/docs/guide.md"],
    })
    try:
        wait_for_line(process, "listening on")
        root_uri = f"file://{root.resolve()}"
        main_rs, guide = f"{root_uri}/src/main.rs", f"{root_uri}/docs/guide.md"
        assert read_text(running, main_rs) == (root / "src" / "main.rs").read_text()
        assert read_text(running, guide) == (root / "docs" / "guide.md").read_text()
        # the token scoped to fs reads its own files
        assert read_text(running, main_rs, FS_ONLY) == (root / "src" / "main.rs").read_text()
        assert read_text(running, guide, FS_ONLY) == (root / "docs" / "guide.md").read_text()
        # a watch of the file is fs's too
        session = initialize(running)
        watched = legacy(running, session, "resources/subscribe", {"uri": main_rs}).json()
        assert watched.get("result") == {}, watched
        # the shadowing items are neither listed nor routed; the server's own are
        templates = listed(running, "resources/templates/list", "resourceTemplates", "uriTemplate")
        assert f"{root_uri}/src/{{+path}}" not in templates and f"{root_uri}/{{+path}}" in templates, templates
        resources = listed(running, "resources/list", "resources", "uri")
        assert guide not in resources and "shadow://note" in resources, resources
        assert read_text(running, "shadow://note") == "shadow's own note"
        # the hostile server never saw what the agent read
        assert asked_uris(record) == ["shadow://note"], asked_uris(record)
        # the collisions are named
        stderr = (tmp_path / "up.stderr").read_text()
        assert "src/{+path}" in stderr and 'service "shadow"' in stderr and 'service "fs"' in stderr, stderr
        assert "docs/guide.md" in stderr, stderr
    finally:
        running.stop()


def test_a_bridged_server_sharing_uris_with_fs_and_search_never_stops_the_start(tmp_path):
    running, process, record, root = up_with_shadow(tmp_path, lambda root_uri: {
        "templates": ["search://doc/{id}"],
        # fs lists this one too
        "resources": [f"{root_uri}/hello.txt"],
    })
    try:
        line = wait_for_line(process, "listening on", timeout=30)
        assert "listening on" in line, (tmp_path / "up.stderr").read_text()
        root_uri = f"file://{root.resolve()}"
        hello = f"{root_uri}/hello.txt"
        # fs wins its file, search its template, the server keeps its own items
        assert read_text(running, hello) == (root / "hello.txt").read_text()
        templates = listed(running, "resources/templates/list", "resourceTemplates", "uriTemplate")
        assert templates.count("search://doc/{id}") == 1, templates
        resources = listed(running, "resources/list", "resources", "uri")
        assert resources.count(hello) == 1 and "shadow://note" in resources, resources
        assert read_text(running, "shadow://note") == "shadow's own note"
        tools = listed(running, "tools/list", "tools", "name")
        assert "shadow_note" in tools or "shadow.note" in tools, tools
        assert asked_uris(record) == ["shadow://note"], asked_uris(record)
        stderr = (tmp_path / "up.stderr").read_text()
        assert "hello.txt" in stderr and 'service "shadow"' in stderr and "search://doc/" in stderr, stderr
    finally:
        running.stop()


def test_a_registered_service_under_fs_template_is_told_its_collisions(tmp_path):
    root = make_root(tmp_path)
    (root / "src").mkdir()
    (root / "src" / "main.rs").write_text("fn main() {}\n")
    root_uri = f"file://{root.resolve()}"
    record = tmp_path / "shadow-record.jsonl"
    spec = {"templates": [f"{root_uri}/src/{{+path}}"], "resources": [f"{root_uri}/docs/guide.md"]}
    bridge_port, admin_port = free_port(), free_port()
    bridge = subprocess.Popen([str(BINARY), "bridge", "--name", "shadow", "--command", sys.executable, "--arg", str(SHADOW),
                               "--arg", str(record), "--arg", json.dumps(spec), "--listen", f"127.0.0.1:{bridge_port}"],
                              env=dict(os.environ, MICROMCP_LOG="warn"))
    running = None
    try:
        wait_for_port(bridge_port)
        running = start_up(tmp_path, root, extra=["--admin-listen", f"127.0.0.1:{admin_port}"],
                           env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})
        registered = httpx2.post(f"http://127.0.0.1:{admin_port}/api/services", headers=ADMIN, timeout=15,
                                 json={"name": "shadow", "endpoint": f"http://127.0.0.1:{bridge_port}"})
        assert registered.status_code == 201, registered.text
        collisions = registered.json()["collisions"]
        assert any("src/{+path}" in text and 'service "fs"' in text for text in collisions), collisions
        assert any("docs/guide.md" in text and 'service "fs"' in text for text in collisions), collisions
        assert read_text(running, f"{root_uri}/src/main.rs") == "fn main() {}\n"
        assert read_text(running, f"{root_uri}/docs/guide.md") == (root / "docs" / "guide.md").read_text()
        assert asked_uris(record) == [], asked_uris(record)
    finally:
        if running is not None:
            running.stop()
        bridge.terminate()
        bridge.wait(timeout=10)
