"""JWT access tokens (the MCP authorization spec, the gateway as an OAuth 2.1
resource server), against a real `micromcp up` and a test issuer of our own:
its JWK Set served on loopback, tokens minted with its RSA, P-256 and
Ed25519 keys (PyJWT + cryptography). Valid tokens of each algorithm pass
and their scopes bound what the principal sees; expired, not yet valid,
wrong-audience, unknown-issuer, unknown-key (until rotated in), `alg:
none`, HMAC-with-the-public-key, tampered, oversized tokens and tokens in
the query string are refused with a 401 that says why and points at the
Protected Resource Metadata (RFC 9728); a missing scope is a 403
`insufficient_scope`. Each token of one subject is decided by its own
scopes and roles, in either order. Keys the issuer could not serve at start
are fetched again within seconds. The official Python SDK connects with a
minted token."""

from __future__ import annotations

import base64
import http.server
import json
import pathlib
import threading
import time

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from conftest import free_port, make_root, start_up
from test_hostile import MODERN_META
from test_live_config import ADMIN, ADMIN_TOKEN
from test_policy_audit import POLICY as DESTRUCTIVE_NEEDS_ADMIN

AUDIENCE_PATH = "/mcp"

pytestmark = pytest.mark.anyio


def b64(number_or_bytes) -> str:
    data = number_or_bytes if isinstance(number_or_bytes, bytes) else \
        number_or_bytes.to_bytes((number_or_bytes.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """A test identity provider: keys, a JWK Set on loopback, tokens."""

    def __init__(self, port=0):
        self.keys = {
            "rsa-1": ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            "ec-1": ("ES256", ec.generate_private_key(ec.SECP256R1())),
            "ed-1": ("EdDSA", ed25519.Ed25519PrivateKey.generate()),
        }
        self.rotated = ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))
        self.published = ["rsa-1", "ec-1", "ed-1"]
        self.fetches = 0
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                issuer.fetches += 1
                body = json.dumps({"keys": [issuer.jwk(kid) for kid in issuer.published]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def private(self, kid):
        if kid == "rsa-2":
            return self.rotated
        return self.keys.get(kid, self.keys["rsa-1"])

    def jwk(self, kid) -> dict:
        _, key = self.private(kid)
        public = key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            numbers = public.public_numbers()
            return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(numbers.n), "e": b64(numbers.e)}
        if isinstance(public, ec.EllipticCurvePublicKey):
            numbers = public.public_numbers()
            return {"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(numbers.x.to_bytes(32, "big")), "y": b64(numbers.y.to_bytes(32, "big"))}
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(raw)}

    def token(self, audience, kid="rsa-1", scope="fs", **overrides) -> str:
        algorithm, key = self.private(kid)
        now = int(time.time())
        claims = {"iss": self.url, "sub": "alice", "aud": audience, "iat": now, "exp": now + 300, "scope": scope,
                  "roles": ["reader"], **overrides}
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})

    def close(self):
        self.server.shutdown()


@pytest.fixture
def issuer():
    made = Issuer()
    yield made
    made.close()


def start_jwt(tmp_path, issuer_url, extra_config="", extra=(), env_extra=None):
    """`micromcp up` accepting the tokens of the issuer at `issuer_url`."""
    port = free_port()
    resource = f"http://127.0.0.1:{port}{AUDIENCE_PATH}"
    config = tmp_path / "micromcp.toml"
    config.write_text(
        f'[auth]\nresource = "{resource}"\n'
        f'[[auth.issuers]]\nname = "corp"\nissuer = "{issuer_url}"\njwks_uri = "{issuer_url}/jwks.json"\nroles_claim = "roles"\n'
        + extra_config
    )
    running = start_up(tmp_path, make_root(tmp_path), port=port, extra=["--config", str(config), *extra], env_extra=env_extra)
    running.resource = resource
    return running


@pytest.fixture
def jwt_up(tmp_path, issuer):
    running = start_jwt(tmp_path, issuer.url)
    yield running
    running.stop()


def call(running, token, method="tools/list", params=None, url=None):
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**(params or {}), "_meta": MODERN_META}}
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method}
    if "name" in (params or {}) or "uri" in (params or {}):
        headers["Mcp-Name"] = params.get("name") or params["uri"]
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx2.post(url or running.url, content=json.dumps(body), headers=headers, timeout=15)


def refusal(response) -> str:
    assert response.status_code == 401, (response.status_code, response.text)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge, challenge
    return response.json()["error"]["message"]


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1", "ed-1"])
def test_tokens_of_each_algorithm_pass_and_their_scopes_bound_the_catalog(jwt_up, issuer, kid):
    token = issuer.token(jwt_up.resource, kid=kid, scope="openid fs profile")
    listed = call(jwt_up, token)
    assert listed.status_code == 200, listed.text
    names = {tool["name"] for tool in listed.json()["result"]["tools"]}
    assert "fs.read_file" in names and not any(name.startswith(("fetch.", "search.")) for name in names), names
    read = call(jwt_up, token, "tools/call", {"name": "fs.read_file", "arguments": {"path": "hello.txt"}})
    assert "hello from the fs service" in read.text
    audit = (jwt_up.state_dir / "audit.jsonl").read_text()
    assert '"principal":"corp:alice"' in audit and token not in audit


def test_a_missing_scope_is_403_insufficient_scope(jwt_up, issuer):
    token = issuer.token(jwt_up.resource, scope="fs:stat")
    refused = call(jwt_up, token, "tools/call", {"name": "fs.read_file", "arguments": {"path": "hello.txt"}})
    assert refused.status_code == 403, refused.text
    challenge = refused.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="fs:read_file"' in challenge, challenge
    assert f'resource_metadata="http://127.0.0.1:{jwt_up.port}/.well-known/oauth-protected-resource/mcp"' in challenge


def test_bad_tokens_are_refused_saying_why(jwt_up, issuer):
    now = int(time.time())
    cases = {
        "expired": (issuer.token(jwt_up.resource, exp=now - 120, iat=now - 600), "expired"),
        "not yet valid": (issuer.token(jwt_up.resource, nbf=now + 600), "not valid yet"),
        "wrong audience": (issuer.token("https://other.example.com/mcp"), "another audience"),
        "no audience": (issuer.token(jwt_up.resource, aud=None), "aud"),
        "unknown issuer": (issuer.token(jwt_up.resource, iss="https://evil.example.com"), "unknown issuer"),
        "no subject": (issuer.token(jwt_up.resource, sub=None), "no sub claim"),
        # Would read "corp:eveadmin" in the audit log and on the admin page.
        "a subject that reorders its text": (issuer.token(jwt_up.resource, sub="eve\u202enimda\u202c"), "not a usable name"),
        "a subject with an invisible character": (issuer.token(jwt_up.resource, sub="ad\u2060min"), "not a usable name"),
    }
    for _ in range(2):  # the second time from the refusals remembered: the same answer
        for name, (token, expected) in cases.items():
            assert expected in refusal(call(jwt_up, token)), name
    header, payload, signature = issuer.token(jwt_up.resource).split(".")
    tampered_payload = base64.urlsafe_b64encode(json.dumps({**json.loads(base64.urlsafe_b64decode(payload + "==")), "scope": "*"}).encode()).rstrip(b"=").decode()
    assert "signature does not verify" in refusal(call(jwt_up, f"{header}.{tampered_payload}.{signature}"))
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for _ in range(2):
        assert "signature does not verify" in refusal(call(jwt_up, f"{header}.{payload}.{flipped}"))
    unsigned = jwt.encode({"iss": issuer.url, "sub": "alice", "aud": jwt_up.resource, "exp": now + 300, "scope": "*"}, None, algorithm="none")
    assert "malformed" in refusal(call(jwt_up, unsigned)) or "not accepted" in refusal(call(jwt_up, unsigned))
    public_pem = issuer.keys["rsa-1"][1].public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    hmac = jwt.api_jws.PyJWS()
    hmac._algorithms["HS256"].prepare_key = lambda key: key  # sign with the public key's bytes, as an attacker would
    confused = hmac.encode(json.dumps({"iss": issuer.url, "sub": "alice", "aud": jwt_up.resource, "exp": now + 300, "scope": "*"}).encode(),
                           public_pem, algorithm="HS256", headers={"kid": "rsa-1"})
    assert "not accepted" in refusal(call(jwt_up, confused))
    oversized = issuer.token(jwt_up.resource, padding="x" * 9000)
    assert "over 8192 bytes" in refusal(call(jwt_up, oversized))
    valid = issuer.token(jwt_up.resource)
    in_query = call(jwt_up, None, url=f"{jwt_up.url}?access_token={valid}")
    assert "missing bearer token" in refusal(in_query), "tokens are read only from the Authorization header"


def test_a_rotated_key_is_fetched_when_first_seen(jwt_up, issuer):
    token = issuer.token(jwt_up.resource, kid="rsa-2")
    started = time.monotonic()
    first = call(jwt_up, token)
    if first.status_code == 401:
        assert "no signing key \"rsa-2\"" in refusal(first)
    issuer.published.append("rsa-2")
    # Unknown kids fetch the keys at most every 10 s: a flood of made-up kids is not a flood of fetches.
    fetches_before = issuer.fetches
    for index in range(20):
        assert call(jwt_up, issuer.token(jwt_up.resource, kid=f"made-up-{index}")).status_code == 401
    assert issuer.fetches - fetches_before <= 1, issuer.fetches - fetches_before
    deadline = started + 25
    while time.monotonic() < deadline:
        answer = call(jwt_up, token)
        if answer.status_code == 200:
            break
        time.sleep(1)
    assert answer.status_code == 200, answer.text


def test_a_token_whose_key_left_the_key_set_is_refused_once_the_set_is_fetched(jwt_up, issuer):
    # A key taken out of the issuer's set (compromised): a token it signed
    # that was verified (and remembered) before is refused once the set is
    # fetched again (before: it passed until it expired).
    old = issuer.token(jwt_up.resource, kid="ec-1")
    assert call(jwt_up, old).status_code == 200
    issuer.published = ["rsa-1", "ed-1", "rsa-2"]
    new = issuer.token(jwt_up.resource, kid="rsa-2")
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline:  # the unknown kid fetches the set (at most every 10 s)
        answer = call(jwt_up, new)
        if answer.status_code == 200:
            break
        time.sleep(1)
    assert answer.status_code == 200, answer.text
    assert 'no signing key "ec-1"' in refusal(call(jwt_up, old))


def test_the_protected_resource_metadata_points_at_the_issuer(jwt_up, issuer):
    refused = call(jwt_up, None)
    challenge = refused.headers["www-authenticate"]
    metadata_url = f"http://127.0.0.1:{jwt_up.port}/.well-known/oauth-protected-resource/mcp"
    assert f'resource_metadata="{metadata_url}"' in challenge, challenge
    document = httpx2.get(metadata_url, timeout=5).json()
    assert document["resource"] == jwt_up.resource
    assert document["authorization_servers"] == [issuer.url]
    assert document["bearer_methods_supported"] == ["header"] and "fs" in document["scopes_supported"]
    assert httpx2.get(f"http://127.0.0.1:{jwt_up.port}/.well-known/oauth-protected-resource", timeout=5).status_code == 200
    # The static token configured beside the issuers still works.
    assert call(jwt_up, jwt_up.token).status_code == 200


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_official_sdk_connects_with_a_minted_token(jwt_up, issuer, mode):
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    token = issuer.token(jwt_up.resource, kid="ec-1", scope="fs:read_* fs:list_*")
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30.0))
    async with Client(streamable_http_client(jwt_up.url, http_client=http), mode=mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == {"fs.read_file", "fs.list_dir"}, names
        read_back = await client.call_tool("fs.read_file", {"path": "hello.txt"})
        assert "hello from the fs service" in read_back.content[0].text


def test_tokens_of_one_subject_are_each_decided_by_their_own_scopes(jwt_up, issuer):
    # One person (sub alice), two tokens: the catalog view is not the subject's.
    wide = issuer.token(jwt_up.resource, scope="fs search")
    narrow = issuer.token(jwt_up.resource, scope="search:query")
    read = {"name": "fs.read_file", "arguments": {"path": "hello.txt"}}
    for _ in range(2):
        assert "hello from the fs service" in call(jwt_up, wide, "tools/call", read).text
        refused = call(jwt_up, narrow, "tools/call", read)
        assert refused.status_code == 403 and 'scope="fs:read_file"' in refused.headers["www-authenticate"], refused.text
        names = {tool["name"] for tool in call(jwt_up, narrow).json()["result"]["tools"]}
        assert names == {"search.query"}, names
        resource = call(jwt_up, narrow, "resources/read", {"uri": f"file://{jwt_up.root}/hello.txt"})
        assert resource.status_code == 403, resource.text


def test_tokens_of_one_subject_are_each_decided_by_their_own_roles(tmp_path, issuer):
    (tmp_path / "policy.cedar").write_text(DESTRUCTIVE_NEEDS_ADMIN)
    running = start_jwt(tmp_path, issuer.url, f'[policy]\ncedar_file = "{tmp_path / "policy.cedar"}"\n')
    try:
        reader = issuer.token(running.resource, scope="search", roles=["reader"])
        admin = issuer.token(running.resource, scope="search", roles=["admin"])
        delete = {"name": "search.delete", "arguments": {"ids": ["x"]}}
        for _ in range(2):
            # Whichever token comes first, each is decided by its own roles.
            names = {tool["name"] for tool in call(running, reader).json()["result"]["tools"]}
            assert "search.delete" not in names and "search.query" in names, names
            names = {tool["name"] for tool in call(running, admin).json()["result"]["tools"]}
            assert "search.delete" in names, names
            allowed = call(running, admin, "tools/call", delete)
            assert allowed.status_code == 200 and "error" not in allowed.json(), allowed.text
            refused = call(running, reader, "tools/call", delete)
            assert refused.status_code == 403 and "destructive-needs-admin" in refused.text, refused.text
    finally:
        running.stop()


def test_a_reload_of_an_emptied_config_keeps_the_policy_and_the_issuers(tmp_path, issuer):
    # The file is emptied (or half-written) while `up` runs with an identity
    # provider and a Cedar policy: the reload is refused naming both, and
    # both stay in force (before: 200, every token's roles ignored).
    (tmp_path / "policy.cedar").write_text(DESTRUCTIVE_NEEDS_ADMIN)
    admin_port = free_port()
    running = start_jwt(tmp_path, issuer.url, f'[policy]\ncedar_file = "{tmp_path / "policy.cedar"}"\n',
                        extra=["--admin-listen", f"127.0.0.1:{admin_port}"], env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})
    try:
        reader = issuer.token(running.resource, scope="search", roles=["reader"])
        delete = {"name": "search.delete", "arguments": {"ids": ["x"]}}
        assert call(running, reader, "tools/call", delete).status_code == 403
        config = tmp_path / "micromcp.toml"
        for text in ["", "[gateway]\n"]:
            config.write_text(text)
            refused = httpx2.post(f"http://127.0.0.1:{admin_port}/api/reload", headers=ADMIN, timeout=15)
            assert refused.status_code == 422, refused.text
            errors = " ".join(refused.json()["errors"])
            assert "policy:" in errors and "auth.issuers:" in errors, errors
            time.sleep(1.5)  # the file watcher's own reload of the change, refused the same way
            refused = call(running, reader, "tools/call", delete)
            assert refused.status_code == 403 and "destructive-needs-admin" in refused.text, refused.text
            assert call(running, reader).status_code == 200
        # Only the policy gone: refused naming only the policy.
        config.write_text(
            f'[auth]\nresource = "{running.resource}"\n'
            f'[[auth.issuers]]\nname = "corp"\nissuer = "{issuer.url}"\njwks_uri = "{issuer.url}/jwks.json"\nroles_claim = "roles"\n'
        )
        refused = httpx2.post(f"http://127.0.0.1:{admin_port}/api/reload", headers=ADMIN, timeout=15)
        errors = " ".join(refused.json()["errors"])
        assert refused.status_code == 422 and "policy:" in errors and "auth.issuers:" not in errors, refused.text
    finally:
        running.stop()


def test_a_role_a_policy_forbids_is_never_dropped_however_many_come_before_it(tmp_path, issuer):
    # Before: roles past the 64th were cut, so a forbidden role placed 65th
    # passed the `forbid`. Now: every role up to 256 counts, more is refused.
    (tmp_path / "policy.cedar").write_text(
        'permit(principal, action, resource);\n'
        '@id("blocked")\nforbid(principal, action, resource) when { principal.roles.contains("blocked") };\n')
    running = start_jwt(tmp_path, issuer.url, f'[policy]\ncedar_file = "{tmp_path / "policy.cedar"}"\n')
    read = {"name": "fs.read_file", "arguments": {"path": "hello.txt"}}
    try:
        assert "hello from the fs service" in call(running, issuer.token(running.resource, roles=["reader"]), "tools/call", read).text
        assert call(running, issuer.token(running.resource, roles=["blocked"]), "tools/call", read).status_code == 403
        many = [f"group-{index}" for index in range(64)] + ["blocked"]
        refused = call(running, issuer.token(running.resource, roles=many), "tools/call", read)
        assert refused.status_code == 403 and "hello from the fs service" not in refused.text, refused.text
        too_many = [f"group-{index}" for index in range(256)] + ["blocked"]
        message = refusal(call(running, issuer.token(running.resource, roles=too_many), "tools/call", read))
        assert "257 roles" in message and "at most 256" in message, message
    finally:
        running.stop()


def test_keys_the_issuer_could_not_serve_at_start_are_fetched_again_within_seconds(tmp_path):
    # The issuer is down when the gateway starts: its first JWK Set fetch fails.
    port = free_port()
    running = start_jwt(tmp_path, f"http://127.0.0.1:{port}")
    issuer = None
    try:
        time.sleep(0.5)
        issuer = Issuer(port=port)
        token = issuer.token(running.resource)
        started = time.monotonic()
        # Fetched again in the background (no request needed) ...
        while issuer.fetches == 0 and time.monotonic() - started < 5:
            time.sleep(0.1)
        assert issuer.fetches >= 1, "no fetch in the 5 s after the issuer came up"
        # ... and by requests: a valid token is accepted within seconds.
        answer = call(running, token)
        while answer.status_code != 200 and time.monotonic() - started < 5:
            assert "no signing key" in refusal(answer)
            time.sleep(0.25)
            answer = call(running, token)
        assert answer.status_code == 200, f"still refused {time.monotonic() - started:.1f} s after the issuer came up: {answer.text}"
        # Retries back off and stop once the keys came: not a fetch per request.
        fetches = issuer.fetches
        for _ in range(5):
            assert call(running, issuer.token(running.resource, kid="made-up")).status_code == 401
        time.sleep(2)
        assert issuer.fetches - fetches <= 1, issuer.fetches - fetches
    finally:
        running.stop()
        if issuer is not None:
            issuer.close()


def test_a_token_with_too_many_scopes_is_refused_naming_the_limit(jwt_up, issuer):
    # Each scope may be a compiled name pattern: an issuer's claims do not
    # make a principal (and the views kept for it) as large as they like.
    many = " ".join(f"fs:read_{index}*" for index in range(300))
    assert "at most 256" in refusal(call(jwt_up, issuer.token(jwt_up.resource, scope=many)))
    enough = " ".join(["fs"] + [f"fs:read_{index}*" for index in range(255)])
    names = {tool["name"] for tool in call(jwt_up, issuer.token(jwt_up.resource, scope=enough)).json()["result"]["tools"]}
    assert "fs.read_file" in names, names


def test_an_empty_key_set_keeps_the_keys_known(jwt_up, issuer):
    token = issuer.token(jwt_up.resource)
    assert call(jwt_up, token).status_code == 200
    issuer.published = []
    fetches = issuer.fetches
    # An unknown kid fetches the keys again once the interval (10 s) has passed.
    deadline = time.monotonic() + 25
    while issuer.fetches == fetches and time.monotonic() < deadline:
        call(jwt_up, issuer.token(jwt_up.resource, kid="made-up"))
        time.sleep(0.5)
    assert issuer.fetches > fetches, "the keys were fetched again"
    for index in range(6):
        time.sleep(0.5)
        # A token not seen before (verified tokens are kept): its key is looked up.
        answer = call(jwt_up, issuer.token(jwt_up.resource, jti=f"fresh-{index}"))
        assert answer.status_code == 200, answer.text


def test_tokens_with_the_same_glob_scopes_share_their_compiled_patterns(jwt_up, issuer):
    # A compiled glob is ~10 KB: kept per verified token, 40 tokens of 250
    # patterns held ~110 MB; shared by pattern, they hold a few MB.
    def rss_kib():
        status = pathlib.Path(f"/proc/{jwt_up.processes[0].pid}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])

    scope = " ".join(f"fs:read_{index}_*" for index in range(250))
    assert call(jwt_up, issuer.token(jwt_up.resource, sub="warm", scope=scope)).status_code == 200
    before = rss_kib()
    for index in range(40):
        assert call(jwt_up, issuer.token(jwt_up.resource, scope=scope, sub=f"user-{index}")).status_code == 200
    grown_mib = (rss_kib() - before) / 1024
    assert grown_mib < 40, f"{grown_mib:.1f} MiB for 40 tokens"
