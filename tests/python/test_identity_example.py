"""The documented identity example (`examples/identity/`: JWT sign-in,
Cedar, consent) run as written — only the test issuer's addresses, free
ports and a temporary directory put in — in front of real fs and search
services: the official SDK connects with a token minted by the test issuer
and sees only what its principal may use (no `search.delete` without the
admin role); an admin's `search.delete` waits for the user's answer —
declined, nothing is deleted; approved, the document is gone."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess

import httpx2
import pytest
from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from conftest import BINARY, REPO, free_port, wait_for_line, wait_for_port
from test_jwt import Issuer

pytestmark = pytest.mark.anyio

EXAMPLE = REPO / "examples" / "identity"


@pytest.fixture
def example(tmp_path):
    issuer = Issuer()
    fs_port, search_port, port = free_port(), free_port(), free_port()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "hello.txt").write_text("hello from the example\n")
    services = [
        subprocess.Popen([str(BINARY), "fs", "--listen", f"127.0.0.1:{fs_port}", "--root", str(docs)], env=dict(os.environ, MICROMCP_LOG="warn")),
        subprocess.Popen([str(BINARY), "search", "--listen", f"127.0.0.1:{search_port}", "--index-dir", str(tmp_path / "index")],
                         env=dict(os.environ, MICROMCP_LOG="warn")),
    ]
    for service_port in (fs_port, search_port):
        wait_for_port(service_port)
    (tmp_path / "examples" / "identity").mkdir(parents=True)
    shutil.copy(EXAMPLE / "policy.cedar", tmp_path / "examples" / "identity" / "policy.cedar")
    text = (EXAMPLE / "micromcp.toml").read_text()
    for written, actual in [("127.0.0.1:8080", f"127.0.0.1:{port}"), ("127.0.0.1:7001", f"127.0.0.1:{fs_port}"),
                            ("127.0.0.1:7002", f"127.0.0.1:{search_port}"),
                            ("https://login.example.com/.well-known/jwks.json", f"{issuer.url}/jwks.json"),
                            ("https://login.example.com/", issuer.url)]:
        assert written in text, written
        text = text.replace(written, actual)
    config = tmp_path / "micromcp.toml"
    config.write_text(text)
    env = dict(os.environ, MICROMCP_LOG="warn", MICROMCP_ADMIN_TOKEN="admin-token-0123456789abcdefghij")
    env.pop("MICROMCP_TOKEN", None)
    gateway = subprocess.Popen([str(BINARY), "gateway", "--config", str(config), "--admin-listen", "off"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, text=True)
    wait_for_line(gateway, "listening on")
    resource = f"http://127.0.0.1:{port}/mcp"
    yield issuer, resource
    gateway.send_signal(signal.SIGTERM)
    gateway.wait(timeout=10)
    for service in services:
        service.kill()
    issuer.close()


def connect(resource, token, **kwargs) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30.0, read=60.0))
    return Client(streamable_http_client(resource, http_client=http), mode="legacy", **kwargs)


async def test_the_example_signs_in_governs_and_asks(example):
    issuer, resource = example
    reader = issuer.token(resource, scope="fs search", roles=["reader"], sub="rita")
    async with connect(resource, reader) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"fs.read_file", "search.query", "search.index"} <= names and "search.delete" not in names, names
        hello = await client.call_tool("fs.read_file", {"path": "hello.txt"})
        assert "hello from the example" in hello.content[0].text
        await client.call_tool("search.index", {"documents": [{"id": "doc-1", "title": "t", "body": "keep me"}]})
        with pytest.raises(MCPError) as forbidden:
            await client.call_tool("search.delete", {"ids": ["doc-1"]})
        assert "destructive-needs-admin" in forbidden.value.error.message

    answers = ["decline", "accept"]
    asked = []

    async def on_elicit(context, params):
        asked.append(params.message)
        action = answers.pop(0)
        return types.ElicitResult(action=action, content={"approve": True} if action == "accept" else None)

    admin = issuer.token(resource, scope="fs search", roles=["admin"], sub="ada")
    async with connect(resource, admin, elicitation_callback=on_elicit) as client:
        assert "search.delete" in {tool.name for tool in (await client.list_tools()).tools}
        with pytest.raises(MCPError) as declined:
            await client.call_tool("search.delete", {"ids": ["doc-1"]})
        assert "the user declined" in declined.value.error.message
        assert 'policy "destructive-needs-a-person"' in declined.value.error.message, "the refusal names the policy"
        still = await client.call_tool("search.query", {"query": "keep"})
        assert "doc-1" in str(still.model_dump(mode="json")), "nothing was deleted"
        deleted = await client.call_tool("search.delete", {"ids": ["doc-1"]})
        assert not deleted.is_error
        gone = await client.call_tool("search.query", {"query": "keep"})
        assert "doc-1" not in str(gone.model_dump(mode="json"))
    assert len(asked) == 2 and all("corp:ada asks to call search.delete" in message for message in asked), asked
