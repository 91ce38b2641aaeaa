"""HTTPS and client certificates (mTLS) on the client listener:
`[gateway.tls]` with `client_ca_file`, and `[[auth.client_certificates]]`
mapping a verified certificate's SAN (a SPIFFE URI, a DNS name) or subject
CN to a principal with its own scopes and roles. The official Python SDK
connects with a client certificate and no token and sees only what that
principal may use; a certificate of another CA, none at all (required), an
unmapped one without a token, plain HTTP, and handshakes that never finish
are refused while other clients go on; config mistakes name their key.
Certificates are made here with `cryptography` (one CA for the gateway and
its clients, another for a stranger)."""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import subprocess
import time
from pathlib import Path

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import BINARY, TOKEN, start_testkit_gateway

pytestmark = pytest.mark.anyio

SIMPLE_TEXT = "This is a simple text response for testing."
SPIFFE = "spiffe://corp.example/agent/build"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(directory: Path, stem: str, certificate: x509.Certificate, key) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _ca(directory: Path, stem: str):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(_name(stem)).issuer_name(_name(stem))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                                key_encipherment=False, data_encipherment=False, key_agreement=False,
                                                encipher_only=False, decipher_only=False), critical=True)
                   .sign(key, hashes.SHA256()))
    _write(directory, stem, certificate, key)
    return certificate, key


def _leaf(directory: Path, stem: str, ca, cn: str, sans: list[x509.GeneralName], usage) -> tuple[Path, Path]:
    ca_certificate, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_certificate.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return _write(directory, stem, builder.sign(ca_key, hashes.SHA256()), key)


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("client-tls")
    ca = _ca(directory, "ca")
    stranger_ca = _ca(directory, "stranger-ca")
    _leaf(directory, "server", ca, "localhost", [x509.DNSName("localhost")], ExtendedKeyUsageOID.SERVER_AUTH)
    client = ExtendedKeyUsageOID.CLIENT_AUTH
    _leaf(directory, "build", ca, "build agent", [x509.UniformResourceIdentifier(SPIFFE)], client)
    _leaf(directory, "reporter", ca, "reporter", [x509.DNSName("reporter.clients.example")], client)
    _leaf(directory, "cn-only", ca, "ops-console", [], client)
    _leaf(directory, "unmapped", ca, "nobody", [x509.DNSName("nobody.clients.example")], client)
    _leaf(directory, "impostor", stranger_ca, "build agent", [x509.UniformResourceIdentifier(SPIFFE)], client)
    return directory


def tls_settings(certs: Path, mode: str = "required", audit: Path | None = None) -> str:
    settings = (
        "[gateway.tls]\n"
        f'cert_file = "{certs / "server.pem"}"\n'
        f'key_file = "{certs / "server-key.pem"}"\n'
        f'client_ca_file = "{certs / "ca.pem"}"\n'
        f'client_certificates = "{mode}"\n'
        "[limits]\nheader_read_timeout_secs = 2\n"
        "[[auth.client_certificates]]\n"
        f'name = "build-agent"\nsan = "{SPIFFE}"\nscopes = ["testkit:test_simple_text"]\nroles = ["ci"]\n'
        "[[auth.client_certificates]]\n"
        'name = "reporter"\nsan = "reporter.clients.example"\nscopes = ["testkit:test_image_content"]\n'
        "[[auth.client_certificates]]\n"
        'name = "ops"\nsubject_cn = "ops-console"\nscopes = ["*"]\n'
    )
    if audit is not None:
        settings += f'[audit]\npath = "{audit}"\n'
    return settings


def https_url(running) -> str:
    return f"https://localhost:{running.port}/mcp"


def context(certs: Path, client: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    if client is not None:
        ctx.load_cert_chain(str(certs / f"{client}.pem"), str(certs / f"{client}-key.pem"))
    return ctx


def http_client(certs: Path, client: str | None, token: str | None = None) -> httpx2.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.AsyncClient(verify=context(certs, client), headers=headers, timeout=httpx2.Timeout(20.0))


def connect(running, certs: Path, client: str | None, token: str | None = None, mode: str = "legacy") -> Client:
    return Client(streamable_http_client(https_url(running), http_client=http_client(certs, client, token)), mode=mode)


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                         "clientInfo": {"name": "tls-test", "version": "1"}}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture
def mtls(tmp_path, certs):
    audit = tmp_path / "audit.jsonl"
    running = start_testkit_gateway(tmp_path, gateway_settings=tls_settings(certs, audit=audit))
    running.audit = audit
    yield running
    running.stop()


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_client_certificate_is_a_principal_with_its_scopes(mtls, certs, mode):
    async with connect(mtls, certs, "build", mode=mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == {"test_simple_text"}, names
        called = await client.call_tool("test_simple_text", {})
        assert called.content[0].text == SIMPLE_TEXT
    async with connect(mtls, certs, "reporter", mode=mode) as client:
        assert {tool.name for tool in (await client.list_tools()).tools} == {"test_image_content"}
    async with connect(mtls, certs, "cn-only", mode=mode) as client:
        assert len((await client.list_tools()).tools) > 5, "ops (subject CN) holds every scope"
    principals = {json.loads(line).get("principal") for line in mtls.audit.read_text().splitlines()}
    assert {"build-agent", "reporter", "ops"} <= principals, principals


async def test_unmapped_certificates_need_a_token_and_a_token_decides(mtls, certs):
    async with http_client(certs, "unmapped") as http:
        refused = await http.post(https_url(mtls), json=INITIALIZE, headers=MCP_HEADERS)
        assert refused.status_code == 401, refused.text
        message = refused.json()["error"]["message"]
        assert "nobody.clients.example" in message and "auth.client_certificates" in message, message
    # A bearer token, when sent, is what authenticates (the configured
    # token holds every scope), on a mapped certificate too.
    async with connect(mtls, certs, "build", token=TOKEN) as client:
        assert len((await client.list_tools()).tools) > 5
    async with http_client(certs, "build", token="wrong") as http:
        wrong = await http.post(https_url(mtls), json=INITIALIZE, headers=MCP_HEADERS)
        assert wrong.status_code == 401, "a bad token is not rescued by the certificate"


def handshake_fails(running, certs: Path, client: str | None) -> str:
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as raw:
        try:
            with context(certs, client).wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                answer = tls.recv(1024)
                return "" if answer else "closed"
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as error:
            return type(error).__name__


async def test_no_certificate_or_another_cas_is_refused_in_the_handshake(mtls, certs):
    assert handshake_fails(mtls, certs, None), "a required certificate was not asked for"
    assert handshake_fails(mtls, certs, "impostor"), "a certificate of another CA passed"
    assert handshake_fails(mtls, certs, "build") == "", "a good certificate is served"
    # Plain HTTP to the TLS port gets no HTTP answer.
    with socket.create_connection(("127.0.0.1", mtls.port), timeout=10) as raw:
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        raw.settimeout(5)
        try:
            answer = raw.recv(1024)
        except (ConnectionResetError, TimeoutError):
            answer = b""
        assert not answer.startswith(b"HTTP/"), answer


async def test_stalled_handshakes_are_cut_and_others_are_served(mtls, certs):
    stalled = []
    for _ in range(40):
        sock = socket.create_connection(("127.0.0.1", mtls.port), timeout=10)
        sock.sendall(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
        stalled.append(sock)
    try:
        async with connect(mtls, certs, "build") as client:
            assert (await client.call_tool("test_simple_text", {})).content[0].text == SIMPLE_TEXT
        # Each is cut once the handshake bound (header_read_timeout_secs = 2) passes.
        deadline = time.monotonic() + 10
        closed = 0
        for sock in stalled:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                closed += sock.recv(64) == b""
            except ConnectionResetError:
                closed += 1
            except TimeoutError:
                pass
        assert closed == len(stalled), f"only {closed} of {len(stalled)} stalled handshakes were cut"
    finally:
        for sock in stalled:
            sock.close()


async def test_optional_certificates_let_token_clients_in(tmp_path, certs):
    running = start_testkit_gateway(tmp_path, gateway_settings=tls_settings(certs, mode="optional"))
    try:
        async with connect(running, certs, None, token=TOKEN) as client:
            assert len((await client.list_tools()).tools) > 5
        async with connect(running, certs, "build") as client:
            assert {tool.name for tool in (await client.list_tools()).tools} == {"test_simple_text"}
        async with http_client(certs, None) as http:
            missing = await http.post(https_url(running), json=INITIALIZE, headers=MCP_HEADERS)
            assert missing.status_code == 401 and "missing bearer token" in missing.text
        assert handshake_fails(running, certs, "impostor"), "a presented certificate is still verified"
    finally:
        running.stop()


def test_a_connection_over_the_cap_is_refused_inside_tls(tmp_path, certs):
    """Past the connection cap the TLS port answered with a plaintext
    `HTTP/1.1 503`, which a TLS client reads as a broken handshake."""
    settings = ("[gateway.tls]\n"
                f'cert_file = "{certs / "server.pem"}"\nkey_file = "{certs / "server-key.pem"}"\n'
                "[limits]\nmax_connections_per_source = 1\nheader_read_timeout_secs = 10\n")
    running = start_testkit_gateway(tmp_path, gateway_settings=settings)
    try:
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as first_raw, \
                context(certs, None).wrap_socket(first_raw, server_hostname="localhost") as held:
            held.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert held.recv(1024).startswith(b"HTTP/1.1 200"), "the first connection is served"
            with socket.create_connection(("127.0.0.1", running.port), timeout=10) as raw, \
                    context(certs, None).wrap_socket(raw, server_hostname="localhost") as refused:
                answer = b""
                while chunk := refused.recv(4096):
                    answer += chunk
        assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
        assert b"limits.max_connections_per_source = 1" in answer and b"retry-after: 1" in answer.lower(), answer
    finally:
        running.stop()


@pytest.mark.parametrize(("settings", "expected"), [
    ('[[auth.client_certificates]]\nname = "a"\nsan = "x"\nscopes = ["*"]\n',
     "auth.client_certificates: needs gateway.tls.client_ca_file"),
    ('[gateway.tls]\ncert_file = "/nonexistent.pem"\nkey_file = "/nonexistent-key.pem"\n',
     "gateway.tls.cert_file: /nonexistent.pem"),
    ('[gateway.tls]\ncert_file = "{certs}/server.pem"\nkey_file = "{certs}/build-key.pem"\n',
     "gateway.tls.key_file: does not match cert_file"),
    ('[gateway.tls]\ncert_file = "{certs}/server.pem"\nkey_file = "{certs}/server-key.pem"\nclient_ca_file = "{certs}/ca.pem"\n'
     '[[auth.client_certificates]]\nname = "a"\nsan = "x"\nsubject_cn = "y"\nscopes = ["*"]\n',
     "auth.client_certificates[0]: set exactly one of san and subject_cn"),
])
def test_config_mistakes_name_their_key(tmp_path, certs, settings, expected):
    config = tmp_path / "micromcp.toml"
    config.write_text("version = 1\n[gateway]\nlisten = \"127.0.0.1:0\"\n" + settings.replace("{certs}", str(certs))
                      + '[[services]]\nname = "t"\nendpoint = "http://127.0.0.1:1"\n')
    done = subprocess.run([str(BINARY), "check", "--config", str(config), "--offline"], capture_output=True, text=True,
                          timeout=30, env={"MICROMCP_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"})
    assert done.returncode != 0 and expected in done.stderr + done.stdout, done.stderr + done.stdout
