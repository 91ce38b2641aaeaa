"""The fetch service under `micromcp up`, through the gateway with the
official SDK: an allowed page on a loopback server (allowed explicitly in the
config), Markdown conversion, and refusals for hosts off the allowlist and
cloud-metadata addresses."""

from __future__ import annotations

import pytest

from conftest import make_root, start_up, web_pages
from test_sdk_eras import connect

pytestmark = pytest.mark.anyio


@pytest.fixture
def web_server():
    page = b"<html><body><h1>Hello</h1><p>from a <i>local</i> page</p></body></html>"
    with web_pages({"/page": ("text/html; charset=utf-8", page)}) as port:
        yield port


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_fetch_through_the_gateway(tmp_path, web_server, mode):
    (tmp_path / "micromcp.toml").write_text('[fetch]\nallow_domains = ["127.0.0.1", "169.254.169.254"]\nallow_private_addresses = false\n')
    root = make_root(tmp_path)
    strict = start_up(tmp_path, root)
    try:
        async with connect(strict, mode) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert {"fetch.get", "fetch.get_markdown"} <= names
            refused = await client.call_tool("fetch.get", {"url": f"http://127.0.0.1:{web_server}/page"})
            assert refused.is_error and "loopback" in refused.content[0].text
            metadata = await client.call_tool("fetch.get", {"url": "http://169.254.169.254/latest/meta-data/"})
            assert metadata.is_error and "link-local" in metadata.content[0].text
            elsewhere = await client.call_tool("fetch.get", {"url": "https://example.org/"})
            assert elsewhere.is_error and "not on the fetch allowlist" in elsewhere.content[0].text
    finally:
        strict.stop()

    (tmp_path / "micromcp.toml").write_text('[fetch]\nallow_domains = ["127.0.0.1"]\nallow_private_addresses = true\n')
    permissive = start_up(tmp_path, root)
    try:
        async with connect(permissive, mode) as client:
            page = await client.call_tool("fetch.get_markdown", {"url": f"http://127.0.0.1:{web_server}/page"})
            assert not page.is_error
            assert "# Hello" in page.content[0].text and "*local*" in page.content[0].text
            assert page.structured_content["status"] == 200
            missing = await client.call_tool("fetch.get", {"url": f"http://127.0.0.1:{web_server}/nope"})
            assert missing.is_error and missing.structured_content["status"] == 404
    finally:
        permissive.stop()
