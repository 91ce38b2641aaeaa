"""`micromcp up` in a project directory served the project's credentials:
`fs.read_file .env` answered `API_KEY=…`, `.git/config` with the token in
its remote URL, and `search.query` found them in snippets. Files named as
credentials by convention are now never served, listed or indexed inside
a served root (`micromcp fs --serve-secret-files` serves them on purpose).
Real `micromcp up`, the official Python client."""

from __future__ import annotations

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import TOKEN, start_up

pytestmark = pytest.mark.anyio

SECRET = "sekrit-4f1c9a77"


def project(base):
    root = base / "project"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "config").write_text(f"[remote \"origin\"]\n\turl = https://user:{SECRET}@example.com/r.git\n")
    (root / ".env").write_text(f"API_KEY={SECRET}\n")
    (root / "deploy").mkdir()
    (root / "deploy" / ".env.production").write_text(f"DB_PASSWORD={SECRET}\n")
    (root / "deploy" / "tls.key").write_text(f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n")
    (root / ".env.example").write_text("API_KEY=\n")
    (root / "notes.md").write_text("ordinary notes about the deploy\n")
    return root


def connect(url: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(30.0))
    return Client(streamable_http_client(url, http_client=http), cache=None)


def structured(result) -> dict:
    import json

    return result.structured_content or json.loads(text_of(result))


def text_of(result) -> str:
    return "".join(getattr(part, "text", "") for part in result.content)


async def test_credentials_in_a_served_project_are_never_served_listed_or_indexed(tmp_path):
    running = start_up(tmp_path, project(tmp_path))
    try:
        async with connect(running.url) as client:
            for path in (".env", ".git/config", "deploy/.env.production", "deploy/tls.key"):
                refused = await client.call_tool("fs.read_file", {"path": path})
                assert refused.is_error and SECRET not in text_of(refused), (path, refused)
            assert "ordinary notes" in text_of(await client.call_tool("fs.read_file", {"path": "notes.md"}))
            assert "API_KEY=" in text_of(await client.call_tool("fs.read_file", {"path": ".env.example"}))
            listed = {entry["name"] for entry in structured(await client.call_tool("fs.list_dir", {"path": "."}))["entries"]}
            assert listed == {"notes.md", ".env.example", "deploy"}, listed
            found = set(structured(await client.call_tool("fs.search_files", {"pattern": "**/*"}))["matches"])
            assert found == {"notes.md", ".env.example", "deploy"}, found
            resources = {str(resource.uri) for resource in (await client.list_resources()).resources}
            assert not any(uri.endswith("/.env") for uri in resources), resources
            # The crawl has indexed notes.md once it answers for it.
            with anyio.fail_after(60):
                while "notes.md" not in text_of(await client.call_tool("search.query", {"query": "ordinary"})):
                    await anyio.sleep(0.5)
            hits = text_of(await client.call_tool("search.query", {"query": SECRET}))
            assert SECRET not in hits and ".env" not in hits, hits
    finally:
        running.stop()
