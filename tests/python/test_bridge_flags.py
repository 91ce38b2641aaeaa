"""`micromcp bridge` run on its own, without a config entry: `--header
NAME=VALUE` reaches an HTTP server (its `Authorization` as the server's
token), `--env NAME[=VALUE]` reaches a stdio server (which otherwise starts
from an empty environment), and malformed or reserved ones stop the start
with one line naming the flag."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx2

from conftest import BINARY, TOKEN, free_port, start_testkit_gateway, wait_for_port
from test_hostile import MODERN_META
from test_principal_floods import call_headers

FIXTURES = Path(__file__).parent / "fixtures"
UPSTREAM_TOKEN = "upstream-token-0123456789abcdef"


def bridge(*flags: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen([str(BINARY), "bridge", "--name", "kit", "--listen", f"127.0.0.1:{port}", *flags],
                               env=dict(os.environ, MICROMCP_LOG="warn", **(env or {})),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, port


def call(front, name: str, arguments: dict) -> dict:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": name, "arguments": arguments, "_meta": MODERN_META}}
    answer = httpx2.post(front.url, json=body, headers=call_headers(TOKEN, name), timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def refused(*flags: str, env: dict[str, str] | None = None) -> str:
    process, _ = bridge(*flags, env=env)
    try:
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode != 0
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "backtrace" not in stderr.lower(), stderr
    return lines[0]


def test_a_header_flag_reaches_an_http_server(tmp_path):
    digest = __import__("hashlib").sha256(UPSTREAM_TOKEN.encode()).hexdigest()
    (tmp_path / "upstream").mkdir()
    upstream = start_testkit_gateway(tmp_path / "upstream", gateway_settings=(
        f'[[auth.tokens]]\nname = "bridge"\nsha256 = "{digest}"\nscopes = ["*"]\n'))
    process, port = bridge("--url", upstream.url, "--header", f"Authorization=Bearer {UPSTREAM_TOKEN}",
                           "--header", "X-Client=micromcp-test")
    try:
        wait_for_port(port)
        (tmp_path / "front").mkdir()
        front = start_testkit_gateway(tmp_path / "front", service_port=port)
        try:
            answer = call(front, "echo", {"n": 5})
            assert answer["result"]["structuredContent"] == {"n": 5}, answer
        finally:
            front.stop()
    finally:
        process.kill()
        upstream.stop()


def test_an_env_flag_reaches_a_stdio_server_and_nothing_else_does(tmp_path):
    server = ["--command", sys.executable, "--arg", str(FIXTURES / "env_server.py")]
    process, port = bridge(*server, "--env", "GREETING", "--env", "MODE=strict",
                           env={"GREETING": "hello", "UNRELATED_SECRET": "s3cret"})
    try:
        wait_for_port(port)
        front = start_testkit_gateway(tmp_path, service_port=port)
        try:
            texts = {name: call(front, "read_env", {"name": name})["result"]["content"][0]["text"]
                     for name in ("GREETING", "MODE", "UNRELATED_SECRET", "MICROMCP_TOKEN")}
        finally:
            front.stop()
    finally:
        process.kill()
    assert texts == {"GREETING": "hello", "MODE": "strict", "UNRELATED_SECRET": "<unset>", "MICROMCP_TOKEN": "<unset>"}, texts


def test_malformed_or_reserved_flags_stop_the_start_naming_the_flag():
    url = ["--url", "http://127.0.0.1:9/mcp"]
    assert "--header X-Evil: its value holds characters HTTP does not allow" in refused(*url, "--header", "X-Evil=a\r\nInjected: 1")
    assert "--header \"Bad Name\": not a valid HTTP header name" in refused(*url, "--header", "Bad Name=x")
    assert "give NAME=VALUE" in refused(*url, "--header", "Authorization")
    command = ["--command", sys.executable]
    assert "--env MICROMCP_TOKEN: MICROMCP_* are the gateway's own variables" in refused(
        *command, "--env", "MICROMCP_TOKEN", env={"MICROMCP_TOKEN": TOKEN})
    assert "--env NOT_SET_ANYWHERE: not set in this environment" in refused(*command, "--env", "NOT_SET_ANYWHERE")
    assert "a variable name is letters, digits and _" in refused(*command, "--env", "BAD-NAME=1")
