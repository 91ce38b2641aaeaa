"""The TLS wires: services served with `--quic` (gRPC over HTTP/3, TLS 1.3)
or `--tls-listen` (gRPC over HTTP/2 on TCP behind TLS 1.3) behind a gateway
that dials `quic://` or `https://` endpoints, driven by the official
Python SDK. Certificates come from `micromcp tls-cert`. Covers the call,
streaming (progress events, a multi-chunk resource), input relay over a
bidirectional stream (elicitation), mTLS, an untrusted certificate and the
start-up checks of the TLS settings."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from conftest import BINARY, TOKEN, Running, free_port, wait_for_line

pytestmark = pytest.mark.anyio

BIG = 300_000  # bytes: several 64 KiB chunks on the wire


def issue_certificates(directory: Path, *names: str) -> Path:
    args = [str(BINARY), "tls-cert", "--out", str(directory)]
    for name in names:
        args += ["--name", name]
    subprocess.run(args, check=True, capture_output=True, timeout=30)
    return directory


WIRES = {"quic": ("--quic", "quic://", "serving gRPC over QUIC"),
         "tls": ("--tls-listen", "https://", "serving gRPC over TLS on TCP")}


def start_quic_service(kind: list[str], port: int, certs: Path, client_ca: Path | None = None, wire: str = "quic") -> subprocess.Popen:
    flag, _, ready = WIRES[wire]
    args = [str(BINARY), *kind, flag, f"127.0.0.1:{port}",
            "--tls-cert", str(certs / "localhost.pem"), "--tls-key", str(certs / "localhost-key.pem")]
    if client_ca is not None:
        args += ["--tls-client-ca", str(client_ca)]
    process = subprocess.Popen(args, env=dict(os.environ, MICROMCP_LOG="info"), stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    deadline_line = ""
    for _ in range(50):
        deadline_line = process.stderr.readline()
        if ready in deadline_line or not deadline_line:
            break
    assert ready in deadline_line, deadline_line
    threading.Thread(target=process.stderr.read, daemon=True).start()  # keep the pipe drained
    return process


def service_entry(name: str, namespace: str, port: int, ca: Path, extra: str = "", wire: str = "quic") -> str:
    return (
        "[[services]]\n"
        f'name = "{name}"\nnamespace = "{namespace}"\n'
        f'endpoint = "{WIRES[wire][1]}127.0.0.1:{port}"\n'
        f'tls_ca = "{ca}"\ntls_server_name = "localhost"\n{extra}'
    )


def start_gateway(base: Path, name: str, services: str) -> subprocess.Popen:
    port = free_port()
    config = base / f"{name}.toml"
    config.write_text(
        "version = 1\n[gateway]\n"
        f'listen = "127.0.0.1:{port}"\n'
        f'session_key_file = "{base / (name + ".key")}"\n' + services
    )
    gateway = subprocess.Popen([str(BINARY), "gateway", "--config", str(config)],
                               env=dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="warn"),
                               stdout=subprocess.PIPE, text=True)
    wait_for_line(gateway, "listening on")
    gateway.url = f"http://127.0.0.1:{port}/mcp"  # type: ignore[attr-defined]
    return gateway


def connect(url: str, mode: str, **kwargs) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(30.0, read=60.0))
    return Client(streamable_http_client(url, http_client=http), mode=mode, **kwargs)


@pytest.fixture(params=["quic", "tls"])
def quic_stack(tmp_path, request):
    wire = request.param
    certs = issue_certificates(tmp_path / "certs", "localhost")
    root = tmp_path / "root"
    root.mkdir()
    (root / "hello.txt").write_text("hello over QUIC\n")
    (root / "big.txt").write_text("0123456789abcde\n" * (BIG // 16))
    fs_port, testkit_port = free_port(), free_port()
    processes = [
        start_quic_service(["fs", "--root", str(root)], fs_port, certs, wire=wire),
        start_quic_service(["testkit"], testkit_port, certs, wire=wire),
    ]
    gateway = start_gateway(tmp_path, "gateway",
                            service_entry("fs", "fs", fs_port, certs / "ca.pem", wire=wire)
                            + service_entry("testkit", "", testkit_port, certs / "ca.pem", wire=wire))
    processes.append(gateway)
    running = Running(url=gateway.url, token=TOKEN, root=root, state_dir=tmp_path, processes=processes)
    yield running
    running.stop()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_tools_resources_and_progress_over_quic(quic_stack, mode):
    updates = []

    async def on_progress(progress, total, message):
        updates.append(progress)

    async with connect(quic_stack.url, mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"fs.read_file", "test_simple_text", "test_tool_with_progress"} <= names
        result = await client.call_tool("fs.read_file", {"path": "hello.txt"})
        assert result.content[0].text == "hello over QUIC\n"
        big = next(resource for resource in (await client.list_resources()).resources if resource.name == "big.txt")
        contents = await client.read_resource(str(big.uri))
        assert contents.contents[0].text == "0123456789abcde\n" * (BIG // 16)
        progressed = await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
        assert not progressed.is_error
        refused = await client.call_tool("fs.read_file", {"path": "../outside.txt"})
        assert refused.is_error
    assert updates == [0, 50, 100]


async def test_elicitation_is_relayed_over_a_quic_stream(quic_stack):
    async def on_elicit(context, params):
        return types.ElicitResult(action="accept", content={"username": "ada", "email": "ada@example.com"})

    async with connect(quic_stack.url, "legacy", elicitation_callback=on_elicit) as client:
        elicited = await client.call_tool("test_elicitation", {"message": "who are you?"})
        assert "ada@example.com" in elicited.content[0].text


@pytest.mark.parametrize("wire", ["quic", "tls"])
async def test_mtls_admits_only_a_gateway_with_a_certificate_from_the_ca(tmp_path, wire):
    certs = issue_certificates(tmp_path / "certs", "localhost", "gateway")
    port = free_port()
    service = start_quic_service(["testkit"], port, certs, client_ca=certs / "ca.pem", wire=wire)
    identity = f'tls_client_cert = "{certs / "gateway.pem"}"\ntls_client_key = "{certs / "gateway-key.pem"}"\n'
    admitted = start_gateway(tmp_path, "admitted", service_entry("testkit", "", port, certs / "ca.pem", identity, wire=wire))
    refused = start_gateway(tmp_path, "refused", service_entry("testkit", "", port, certs / "ca.pem", wire=wire))
    try:
        async with connect(admitted.url, "legacy") as client:
            result = await client.call_tool("test_simple_text", {})
            assert result.content[0].text
        async with connect(refused.url, "legacy") as client:
            with pytest.raises(MCPError) as refusal:
                await client.call_tool("test_simple_text", {})
            assert refusal.value.error.code in (-32602, -31004), refusal.value.error
    finally:
        for process in (refused, admitted, service):
            process.terminate()
            process.wait(timeout=10)


@pytest.mark.parametrize("wire", ["quic", "tls"])
async def test_a_certificate_from_another_ca_is_not_trusted(tmp_path, wire):
    certs = issue_certificates(tmp_path / "certs", "localhost")
    other = issue_certificates(tmp_path / "other", "localhost")
    port = free_port()
    service = start_quic_service(["testkit"], port, certs, wire=wire)
    gateway = start_gateway(tmp_path, "gateway", service_entry("testkit", "", port, other / "ca.pem", wire=wire))
    try:
        async with connect(gateway.url, "legacy") as client:
            with pytest.raises(MCPError) as refusal:
                await client.call_tool("test_simple_text", {})
            assert refusal.value.error.code in (-32602, -31004), refusal.value.error
    finally:
        for process in (gateway, service):
            process.terminate()
            process.wait(timeout=10)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ('endpoint = "quic://127.0.0.1:9"\n', "services[0].tls_ca: required for a quic:// or https:// endpoint"),
        ('endpoint = "https://127.0.0.1:9"\n', "services[0].tls_ca: required for a quic:// or https:// endpoint"),
        ('endpoint = "https://127.0.0.1"\n', "services[0].endpoint"),
        ('endpoint = "quic://127.0.0.1:9"\ntls_ca = "/nonexistent/ca.pem"\n', "services[0].tls_ca: /nonexistent/ca.pem"),
        ('endpoint = "http://127.0.0.1:9"\ntls_ca = "/tmp/ca.pem"\n', "services[0].tls_ca: only for quic:// and https:// endpoints"),
        ('endpoint = "quic://127.0.0.1"\n', "services[0].endpoint"),
    ],
)
def test_quic_settings_are_checked_at_start(tmp_path, entry, expected):
    config = tmp_path / "micromcp.toml"
    config.write_text(
        "version = 1\n[gateway]\n"
        f'listen = "127.0.0.1:{free_port()}"\n'
        f'session_key_file = "{tmp_path / "k.key"}"\n'
        '[[services]]\nname = "x"\n' + entry
    )
    done = subprocess.run([str(BINARY), "gateway", "--config", str(config)], capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, MICROMCP_TOKEN=TOKEN))
    assert done.returncode != 0
    assert expected in done.stderr, done.stderr


@pytest.mark.parametrize("flag", ["--quic", "--tls-listen"])
def test_a_tls_listener_needs_a_certificate(flag):
    done = subprocess.run([str(BINARY), "testkit", flag, "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "--tls-cert" in done.stderr


def test_a_plain_connection_to_a_tls_listener_fails_clearly(tmp_path):
    """`http://` to a `--tls-listen` port: the handshake fails, the call is a
    transient error naming the service, nothing hangs."""
    import json

    certs = issue_certificates(tmp_path / "certs", "localhost")
    port = free_port()
    service = start_quic_service(["testkit"], port, certs, wire="tls")
    gateway = start_gateway(tmp_path, "plain", f'[[services]]\nname = "testkit"\nnamespace = ""\nendpoint = "http://127.0.0.1:{port}"\n')
    try:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "test_simple_text", "arguments": {}, "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}}
        answer = httpx2.post(gateway.url, content=json.dumps(body), timeout=30, headers={
            "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "test_simple_text"})
        error = answer.json()["error"]
        assert error["code"] in (-31004, -32602), error
    finally:
        for process in (gateway, service):
            process.terminate()
            process.wait(timeout=10)


def test_tls_cert_writes_private_keys_0600_and_never_overwrites(tmp_path):
    certs = issue_certificates(tmp_path / "certs", "localhost", "127.0.0.1")
    assert (certs / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert (certs / "localhost-key.pem").stat().st_mode & 0o777 == 0o600
    assert (certs / "127.0.0.1.pem").exists()
    again = subprocess.run([str(BINARY), "tls-cert", "--out", str(certs), "--name", "localhost"],
                           capture_output=True, text=True, timeout=30)
    assert again.returncode != 0
    assert "refusing to overwrite" in again.stderr
