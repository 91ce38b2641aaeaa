"""The HTTP front's threads: `gateway.threads` single-threaded runtimes
sharing one port (SO_REUSEPORT). Many client connections are spread over
them and every call is answered; SIGTERM drains every thread and the process
exits cleanly; a port another socket holds is refused at start with an error
that names it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2

from conftest import BINARY, TOKEN, free_port, wait_for_line, wait_for_port
from test_hostile import ACCEPT, MODERN, MODERN_META

THREADS = 3
CONNECTIONS = 24
CALLS_PER_CONNECTION = 40


def start(base: Path, threads: int, port: int) -> tuple[subprocess.Popen, subprocess.Popen]:
    service_port = free_port()
    service = subprocess.Popen([str(BINARY), "testkit", "--listen", f"127.0.0.1:{service_port}"],
                               env=dict(os.environ, MICROMCP_LOG="warn"))
    wait_for_port(service_port)
    config = base / "micromcp.toml"
    config.write_text(
        "version = 1\n[gateway]\n"
        f'listen = "127.0.0.1:{port}"\nthreads = {threads}\n'
        f'session_key_file = "{base / "session.key"}"\n'
        '[[services]]\nname = "testkit"\nnamespace = ""\n'
        f'endpoint = "http://127.0.0.1:{service_port}"\n'
    )
    gateway = subprocess.Popen([str(BINARY), "gateway", "--config", str(config)],
                               env=dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="warn"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return service, gateway


def front_threads(pid: int) -> dict[int, int]:
    """CPU ticks (user + system) of each HTTP front thread, by thread id."""
    ticks = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        if (task / "comm").read_text().strip().startswith("micromcp-http-"):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            ticks[int(task.name)] = int(fields[11]) + int(fields[12])
    return ticks


def echo_calls(url: str, worker: int) -> list[str]:
    """One client connection making calls one after another; the texts it got back."""
    texts = []
    headers = {"Content-Type": "application/json", "Accept": ACCEPT, "Authorization": f"Bearer {TOKEN}",
               "MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": "echo"}
    with httpx2.Client(timeout=20) as client:
        for call in range(CALLS_PER_CONNECTION):
            text = f"{worker}-{call}"
            body = {"jsonrpc": "2.0", "id": call, "method": "tools/call",
                    "params": {"name": "echo", "arguments": {"text": text}, "_meta": MODERN_META}}
            answer = client.post(url, content=json.dumps(body), headers=headers)
            assert answer.status_code == 200, answer.text
            texts.append(answer.json()["result"]["content"][0]["text"])
    return texts


def test_connections_spread_over_the_front_threads_and_sigterm_drains_them(tmp_path):
    port = free_port()
    service, gateway = start(tmp_path, THREADS, port)
    try:
        wait_for_line(gateway, "listening on")
        before = front_threads(gateway.pid)
        assert len(before) == THREADS, f"expected {THREADS} front threads, found {len(before)}"
        url = f"http://127.0.0.1:{port}/mcp"
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            results = list(pool.map(lambda worker: echo_calls(url, worker), range(CONNECTIONS)))
        for worker, texts in enumerate(results):
            assert all(f"{worker}-{call}" in text for call, text in enumerate(texts)), texts[:3]
        after = front_threads(gateway.pid)
        busy = [tid for tid, ticks in after.items() if ticks > before.get(tid, 0)]
        assert len(busy) >= 2, f"all {CONNECTIONS} connections landed on one thread: {after}"
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(timeout=10) == 0, gateway.stderr.read() if gateway.stderr else ""
    finally:
        for process in (gateway, service):
            if process.poll() is None:
                process.kill()
                process.wait()


def test_a_port_held_by_another_socket_is_refused_at_start(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        service, gateway = start(tmp_path, THREADS, port)
        try:
            code = gateway.wait(timeout=20)
            error = gateway.stderr.read() if gateway.stderr else ""
            assert code != 0
            assert f"cannot listen on 127.0.0.1:{port}" in error, error
        finally:
            for process in (gateway, service):
                if process.poll() is None:
                    process.kill()
                    process.wait()
