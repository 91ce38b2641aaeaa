"""Fixtures that start the real `micromcp` binary on loopback.

`gateway_up` runs `micromcp up` (gateway + supervised fs child) over a
temporary directory of files; `gateway_testkit` runs the testkit fixture
service over TCP and `micromcp gateway` in front of it.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("MICROMCP_BIN", REPO / "target" / "debug" / "micromcp"))
TOKEN = "test-token-0123456789"


@contextlib.contextmanager
def web_pages(pages: dict[str, tuple[str, bytes]]):
    """A loopback HTTP server answering each path of `pages` with its
    (content type, body) and 404 otherwise; yields its port."""

    class Pages(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            content_type, body = pages.get(self.path, ("text/plain", b"not here"))
            self.send_response(200 if self.path in pages else 404)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def child_pid(running, service: str) -> int:
    """The pid of `micromcp up`'s child running `service` (its first argument)."""
    up_pid = running.processes[0].pid
    children = []
    for task in os.listdir(f"/proc/{up_pid}/task"):
        children += open(f"/proc/{up_pid}/task/{task}/children").read().split()
    for pid in children:
        arguments = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        if len(arguments) > 1 and arguments[1] == service.encode():
            return int(pid)
    raise AssertionError(f"no {service} child")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_line(process: subprocess.Popen, needle: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    seen = []
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        if needle in line:
            return line
    raise RuntimeError(f"{needle!r} not seen; output so far: {''.join(seen)}")


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


@dataclass
class Running:
    url: str
    token: str | None
    root: Path
    state_dir: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    port: int = 0

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def make_root(base: Path) -> Path:
    root = base / "root"
    (root / "docs").mkdir(parents=True)
    (root / "hello.txt").write_text("hello from the fs service\n")
    (root / "docs" / "guide.md").write_text("# Guide\n\nRead me.\n")
    (root / "image.bin").write_bytes(bytes(range(256)))
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret")
    os.symlink(outside / "secret.txt", root / "escape-link")
    return root


def start_up(base: Path, root: Path, port: int | None = None, extra: list[str] | None = None, state_dir: Path | None = None,
             env_extra: dict[str, str] | None = None) -> Running:
    port = port or free_port()
    state_dir = state_dir or base / "state"
    env = dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="warn", **(env_extra or {}))
    process = subprocess.Popen(
        [str(BINARY), "up", "--listen", f"127.0.0.1:{port}", "--root", str(root), "--state-dir", str(state_dir), *(extra or [])],
        cwd=base,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    wait_for_line(process, "listening on")
    return Running(url=f"http://127.0.0.1:{port}/mcp", token=TOKEN, root=root, state_dir=state_dir, processes=[process], port=port)


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def gateway_up(tmp_path):
    root = make_root(tmp_path)
    running = start_up(tmp_path, root)
    yield running
    running.stop()


def start_testkit_gateway(base: Path, insecure: bool = False, gateway_settings: str = "", service_port: int | None = None,
                          service_settings: str = "", env_extra: dict[str, str] | None = None) -> Running:
    """A gateway in front of a testkit service: its own, or one already
    listening on `service_port` (then not stopped with the gateway);
    `service_settings` go after the service's `[[services]]` entry."""
    gateway_port = free_port()
    processes = []
    if service_port is None:
        service_port = free_port()
        processes.append(subprocess.Popen([str(BINARY), "testkit", "--listen", f"127.0.0.1:{service_port}"], env=dict(os.environ, MICROMCP_LOG="warn")))
        wait_for_port(service_port)
    config = base / "micromcp.toml"
    config.write_text(
        "version = 1\n"
        "[gateway]\n"
        f'listen = "127.0.0.1:{gateway_port}"\n'
        f'session_key_file = "{base / "session.key"}"\n'
        "keepalive_secs = 1\n"
        f"{gateway_settings}"
        "[[services]]\n"
        'name = "testkit"\n'
        'namespace = ""\n'
        f'endpoint = "http://127.0.0.1:{service_port}"\n'
        f"{service_settings}"
    )
    args = [str(BINARY), "gateway", "--config", str(config)]
    if insecure:
        args.append("--insecure-no-auth")
    env = dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="warn", **(env_extra or {}))
    gateway = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)
    wait_for_line(gateway, "listening on")
    return Running(
        url=f"http://127.0.0.1:{gateway_port}/mcp",
        token=None if insecure else TOKEN,
        root=base,
        state_dir=base,
        processes=[*processes, gateway],
        port=gateway_port,
    )


@pytest.fixture
def gateway_testkit(tmp_path):
    running = start_testkit_gateway(tmp_path)
    yield running
    running.stop()


def binary_exists() -> bool:
    return BINARY.exists() and shutil.which(str(BINARY)) is not None
