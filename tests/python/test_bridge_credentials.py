"""Per-user credentials for a bridged HTTP server (`principalTokens`): each
principal of the edge gateway reaches the upstream with its own token, in a
session of its own; the shared credentials keep only the catalog; a
principal without a token is refused and nothing is sent for it; the
client's token to the edge gateway never reaches the upstream. The upstream
here is a second gateway with named tokens, so its audit log says who each
request came as."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from conftest import BINARY, make_root, start_testkit_gateway, start_up

pytestmark = pytest.mark.anyio

SIMPLE_TEXT = "This is a simple text response for testing."
FRONT = {"alice": "alice-front-token-0123456789abcdef", "bob": "bob-front-token-0123456789abcdef",
         "carol": "carol-front-token-0123456789abcdef"}
UPSTREAM = {"alice-upstream": "alice-upstream-token-0123456789", "bob-upstream": "bob-upstream-token-0123456789",
            "shared-catalog": "shared-upstream-token-0123456789"}


def named_tokens(tokens: dict[str, str]) -> str:
    return "".join(f'[[auth.tokens]]\nname = "{name}"\nsha256 = "{hashlib.sha256(token.encode()).hexdigest()}"\nscopes = ["*"]\n'
                   for name, token in tokens.items())


def connect(running, token: str, mode: str = "legacy") -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30.0))
    return Client(streamable_http_client(running.url, http_client=http), mode=mode)


@pytest.fixture
def bridged_per_user(tmp_path):
    (tmp_path / "upstream").mkdir()
    audit = tmp_path / "upstream" / "audit.jsonl"
    upstream = start_testkit_gateway(tmp_path / "upstream", gateway_settings=f'[audit]\npath = "{audit}"\n' + named_tokens(UPSTREAM))
    tokens_file = tmp_path / "upstream-tokens.json"
    tokens_file.write_text(json.dumps({"alice": UPSTREAM["alice-upstream"], "bob": UPSTREAM["bob-upstream"]}))
    tokens_file.chmod(0o600)
    servers = {"mcpServers": {"kit": {"url": upstream.url,
                                      "headers": {"Authorization": f"Bearer {UPSTREAM['shared-catalog']}"},
                                      "principalTokens": {"file": str(tokens_file)}}}}
    (tmp_path / "servers.json").write_text(json.dumps(servers))
    config = tmp_path / "front.toml"
    config.write_text("version = 1\n" + named_tokens(FRONT))
    running = start_up(tmp_path, make_root(tmp_path), extra=["--config", str(config), "--mcp-servers", str(tmp_path / "servers.json")])
    running.upstream_audit = audit
    yield running
    running.stop()
    upstream.stop()


def upstream_records(running) -> list[dict]:
    return [json.loads(line) for line in running.upstream_audit.read_text().splitlines()]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_each_principal_reaches_the_upstream_with_its_own_token(bridged_per_user, mode):
    for principal in ("alice", "bob"):
        async with connect(bridged_per_user, FRONT[principal], mode) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert "kit.test_simple_text" in names
            for _ in range(2):
                called = await client.call_tool("kit.test_simple_text", {})
                assert called.content[0].text == SIMPLE_TEXT
            read = await client.read_resource("test://static-text")
            assert read.contents, read

    records = upstream_records(bridged_per_user)
    calls = [record for record in records if record.get("method") == "tools/call"]
    assert sorted(record["principal"] for record in calls) == ["alice-upstream"] * 2 + ["bob-upstream"] * 2, calls
    reads = [record for record in records if record.get("method") == "resources/read"]
    assert sorted(record["principal"] for record in reads) == ["alice-upstream", "bob-upstream"], reads
    lists = [record for record in records if record.get("method") == "tools/list"]
    assert lists and {record["principal"] for record in lists} == {"shared-catalog"}, lists
    # Nobody else ever reached the upstream: not the front clients' tokens,
    # not an unauthenticated request.
    assert {record.get("principal") for record in records} <= set(UPSTREAM) | {None}, records
    assert not [record for record in records if record.get("http_status") == 401], records


async def test_a_principal_without_a_token_is_refused_and_nothing_is_sent(bridged_per_user):
    async with connect(bridged_per_user, FRONT["carol"]) as client:
        assert "kit.test_simple_text" in {tool.name for tool in (await client.list_tools()).tools}
        with pytest.raises(MCPError) as refused:
            await client.call_tool("kit.test_simple_text", {})
        message = refused.value.error.message
        assert '"carol"' in message and "principalTokens" in message, message
        with pytest.raises(MCPError):
            await client.read_resource("test://static-text")
    calls = [record for record in upstream_records(bridged_per_user) if record.get("method") in ("tools/call", "resources/read")]
    assert calls == [], "carol's call went out under someone else's credentials"


@pytest.mark.parametrize(("entry", "env", "expected"), [
    ({"command": "true", "principalTokens": {"env": {"alice": "X"}}}, {}, "principalTokens needs a url"),
    ({"url": "http://127.0.0.1:1/mcp", "principalTokens": {"env": {"alice": "MISSING_UPSTREAM_TOKEN"}}}, {},
     "principalTokens.env.alice: environment variable MISSING_UPSTREAM_TOKEN is not set"),
    ({"url": "http://127.0.0.1:1/mcp", "principalTokens": {"file": "/nonexistent/tokens.json"}}, {},
     "principalTokens.file: /nonexistent/tokens.json"),
    ({"url": "http://127.0.0.1:1/mcp", "principalTokens": {}}, {}, "principalTokens: give either file or env"),
])
def test_principal_token_mistakes_stop_the_bridge_saying_why(tmp_path, entry, env, expected):
    done = subprocess.run([str(BINARY), "bridge", "--name", "kit", "--socket", str(tmp_path / "kit.sock")],
                          capture_output=True, text=True, timeout=30,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MICROMCP_BRIDGE_SPEC": json.dumps(entry), **env})
    assert done.returncode != 0 and expected in done.stderr, done.stderr


def test_tokens_from_the_environment_are_used(tmp_path):
    """The `env` form: each principal's token from a variable of the bridge's
    environment (here the edge `up` passes its own on to the bridge)."""
    (tmp_path / "upstream").mkdir()
    audit = tmp_path / "upstream" / "audit.jsonl"
    upstream = start_testkit_gateway(tmp_path / "upstream", gateway_settings=f'[audit]\npath = "{audit}"\n' + named_tokens(UPSTREAM))
    try:
        servers = {"mcpServers": {"kit": {"url": upstream.url, "headers": {"Authorization": f"Bearer {UPSTREAM['shared-catalog']}"},
                                          "principalTokens": {"env": {"alice": "ALICE_KIT_TOKEN"}}}}}
        (tmp_path / "servers.json").write_text(json.dumps(servers))
        (tmp_path / "front.toml").write_text("version = 1\n" + named_tokens(FRONT))
        running = start_up(tmp_path, make_root(tmp_path), extra=["--config", str(tmp_path / "front.toml"), "--mcp-servers",
                                                                str(tmp_path / "servers.json")],
                           env_extra={"ALICE_KIT_TOKEN": UPSTREAM["alice-upstream"]})
        try:
            import anyio

            async def call():
                async with connect(running, FRONT["alice"]) as client:
                    return await client.call_tool("kit.test_simple_text", {})

            assert anyio.run(call).content[0].text == SIMPLE_TEXT
        finally:
            running.stop()
        calls = [json.loads(line) for line in audit.read_text().splitlines()]
        assert [record["principal"] for record in calls if record.get("method") == "tools/call"] == ["alice-upstream"]
    finally:
        upstream.stop()


class TokenEndpoint:
    """A test authorization server's RFC 8693 token endpoint: checks the
    gateway's client credentials and the exchange form, and trades a
    subject token of a known user for that user's upstream token."""

    def __init__(self, issuer, upstream_tokens: dict[str, str]):
        import base64
        import http.server
        import threading
        import urllib.parse

        import jwt as pyjwt

        self.requests: list[dict] = []
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                endpoint.requests.append(form)
                basic = base64.b64decode(self.headers.get("Authorization", "Basic ").split(" ", 1)[1]).decode()
                subject = pyjwt.decode(form.get("subject_token", ""), options={"verify_signature": False}).get("sub")
                if basic != "micromcp-gateway:exchange-secret":
                    status, answer = 401, {"error": "invalid_client"}
                elif (form.get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange"
                      or form.get("subject_token_type") != "urn:ietf:params:oauth:token-type:access_token"
                      or form.get("audience") != "kit-upstream"):
                    status, answer = 400, {"error": "invalid_request"}
                elif subject not in upstream_tokens:
                    status, answer = 400, {"error": "invalid_grant", "error_description": f"no delegation for {subject}"}
                else:
                    status, answer = 200, {"access_token": upstream_tokens[subject], "token_type": "Bearer", "expires_in": 300,
                                           "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"}
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


async def test_token_exchange_gives_each_signed_in_user_their_own_upstream_token(tmp_path):
    """`tokenExchange` (RFC 8693): the edge gateway trades each signed-in
    user's JWT at the authorization server for that user's token for the
    upstream — once per token (cached) — and the bridge opens that user's
    session with it. The user's JWT itself reaches only the token endpoint;
    a user the endpoint will not delegate, and a client signed in with a
    static token (nothing to exchange), are refused and nothing is sent."""
    from test_jwt import Issuer

    issuer = Issuer()
    endpoint = TokenEndpoint(issuer, {"alice": UPSTREAM["alice-upstream"], "bob": UPSTREAM["bob-upstream"]})
    (tmp_path / "upstream").mkdir()
    audit = tmp_path / "upstream" / "audit.jsonl"
    upstream = start_testkit_gateway(tmp_path / "upstream", gateway_settings=f'[audit]\npath = "{audit}"\n' + named_tokens(UPSTREAM))
    running = None
    try:
        secret = tmp_path / "exchange-secret"
        secret.write_text("exchange-secret\n")
        secret.chmod(0o600)
        servers = {"mcpServers": {"kit": {
            "url": upstream.url, "headers": {"Authorization": f"Bearer {UPSTREAM['shared-catalog']}"},
            "tokenExchange": {"tokenEndpoint": endpoint.url, "clientId": "micromcp-gateway",
                              "clientSecretFile": str(secret), "audience": "kit-upstream"}}}}
        (tmp_path / "servers.json").write_text(json.dumps(servers))
        port = __import__("conftest").free_port()
        resource = f"http://127.0.0.1:{port}/mcp"
        (tmp_path / "front.toml").write_text(
            "version = 1\n[auth]\n" f'resource = "{resource}"\n'
            "[[auth.issuers]]\n" f'name = "corp"\nissuer = "{issuer.url}"\njwks_uri = "{issuer.url}/jwks.json"\n')
        running = start_up(tmp_path, make_root(tmp_path), port=port,
                           extra=["--config", str(tmp_path / "front.toml"), "--mcp-servers", str(tmp_path / "servers.json")])
        alice = issuer.token(resource, scope="*", sub="alice")
        bob = issuer.token(resource, scope="*", sub="bob")
        mallory = issuer.token(resource, scope="*", sub="mallory")
        for token in (alice, alice, bob):
            async with connect(running, token) as client:
                called = await client.call_tool("kit.test_simple_text", {})
                assert called.content[0].text == SIMPLE_TEXT
        async with connect(running, alice) as client:
            assert (await client.read_resource("test://static-text")).contents

        exchanged_for = [pyjwt_sub(form["subject_token"]) for form in endpoint.requests]
        assert sorted(exchanged_for) == ["alice", "bob"], f"one exchange per token (cached): {exchanged_for}"

        async with connect(running, mallory) as client:
            with pytest.raises(MCPError) as refused:
                await client.call_tool("kit.test_simple_text", {})
            assert "invalid_grant" in refused.value.error.message and "no delegation for mallory" in refused.value.error.message
        async with connect(running, running.token) as client:
            with pytest.raises(MCPError) as static:
                await client.call_tool("kit.test_simple_text", {})
            assert "did not sign in with an identity provider's token" in static.value.error.message

        records = [json.loads(line) for line in audit.read_text().splitlines()]
        calls = [record for record in records if record.get("method") in ("tools/call", "resources/read")]
        assert sorted(record["principal"] for record in calls) == ["alice-upstream"] * 3 + ["bob-upstream"], calls
        assert {record.get("principal") for record in records} <= set(UPSTREAM) | {None}, "a user's JWT reached the upstream"
        assert not [record for record in records if record.get("http_status") == 401], records
    finally:
        if running is not None:
            running.stop()
        upstream.stop()
        endpoint.close()
        issuer.close()


def pyjwt_sub(token: str) -> str:
    import jwt as pyjwt

    return pyjwt.decode(token, options={"verify_signature": False})["sub"]
