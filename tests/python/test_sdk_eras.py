"""The official Python SDK (`mcp`) against the real gateway, in both eras:
its default dual-era mode (which probes `server/discover` and so runs the
2026-07-28 stateless protocol) and a pinned 2025-11-25 session."""

from __future__ import annotations

import json

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

pytestmark = pytest.mark.anyio

ERAS = ["auto", "legacy"]


def connect(running, mode: str, **kwargs) -> Client:
    http = httpx2.AsyncClient(headers=running.headers, timeout=httpx2.Timeout(30.0, read=60.0))
    return Client(streamable_http_client(running.url, http_client=http), mode=mode, **kwargs)


@pytest.mark.parametrize("mode", ERAS)
async def test_fs_tools_resources_and_prompts(gateway_up, mode):
    async with connect(gateway_up, mode) as client:
        if mode == "auto":
            assert client.session.discover_result is not None, "dual-era client should settle on 2026-07-28"
        else:
            assert client.session.initialize_result is not None
        tools = await client.list_tools()
        names = {tool.name for tool in tools.tools}
        assert {"fs.read_file", "fs.list_dir", "fs.stat", "fs.search_files"} <= names
        read_file = next(tool for tool in tools.tools if tool.name == "fs.read_file")
        assert read_file.annotations is not None and read_file.annotations.read_only_hint is True

        result = await client.call_tool("fs.read_file", {"path": "hello.txt"})
        assert not result.is_error
        assert result.content[0].text == "hello from the fs service\n"

        listing = await client.call_tool("fs.list_dir", {"path": "docs"})
        assert listing.structured_content["entries"][0]["name"] == "guide.md"

        found = await client.call_tool("fs.search_files", {"pattern": "**/*.md"})
        assert found.structured_content["matches"] == ["docs/guide.md"]

        resources = await client.list_resources()
        hello = next(resource for resource in resources.resources if resource.name == "hello.txt")
        contents = await client.read_resource(str(hello.uri))
        assert contents.contents[0].text == "hello from the fs service\n"

        templates = await client.list_resource_templates()
        template = templates.resource_templates[0].uri_template
        binary_uri = template.replace("{+path}", "image.bin")
        binary = await client.read_resource(binary_uri)
        import base64

        assert base64.b64decode(binary.contents[0].blob) == bytes(range(256))

        prompts = await client.list_prompts()
        assert [prompt.name for prompt in prompts.prompts] == ["fs.summarize_file"]
        prompt = await client.get_prompt("fs.summarize_file", {"path": "hello.txt"})
        assert "hello from the fs service" in prompt.messages[1].content.resource.text


@pytest.mark.parametrize("mode", ERAS)
async def test_refusals_are_tool_errors_without_leaks(gateway_up, mode):
    async with connect(gateway_up, mode) as client:
        traversal = await client.call_tool("fs.read_file", {"path": "../outside/secret.txt"})
        assert traversal.is_error and "escapes the allowed roots" in traversal.content[0].text
        symlink = await client.call_tool("fs.read_file", {"path": "escape-link"})
        assert symlink.is_error and "symlink points outside" in symlink.content[0].text
        assert "top secret" not in json.dumps(symlink.model_dump(mode="json"))
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("fs.no_such_tool", {})
        assert unknown.value.error.code == -32602


@pytest.mark.parametrize("mode", ERAS)
async def test_progress_is_forwarded(gateway_testkit, mode):
    updates = []

    async def on_progress(progress, total, message):
        updates.append((progress, total))

    async with connect(gateway_testkit, mode) as client:
        result = await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
        assert result.content[0].text == "Progress test completed"
    assert [progress for progress, _ in updates] == [0, 50, 100]
    assert all(total == 100 for _, total in updates)


async def test_logging_follows_the_session_level(gateway_testkit):
    messages = []

    async def on_log(params):
        messages.append(params.data)

    async with connect(gateway_testkit, "legacy", logging_callback=on_log) as client:
        await client.set_logging_level("info")
        await client.call_tool("test_tool_with_logging", {})
    assert messages == ["Tool execution started", "Tool processing data", "Tool execution completed"]


async def test_elicitation_and_sampling_reach_the_client(gateway_testkit):
    import mcp_types as types

    async def on_elicit(context, params):
        return types.ElicitResult(action="accept", content={"username": "ada", "email": "ada@example.com"})

    async def on_sample(context, params):
        return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="forty-two"), model="test")

    async with connect(gateway_testkit, "legacy", elicitation_callback=on_elicit, sampling_callback=on_sample) as client:
        elicited = await client.call_tool("test_elicitation", {"message": "who are you?"})
        assert "ada@example.com" in elicited.content[0].text
        sampled = await client.call_tool("test_sampling", {"prompt": "meaning of life?"})
        assert sampled.content[0].text == "LLM response: forty-two"


@pytest.mark.parametrize("mode", ERAS)
async def test_completion(gateway_testkit, mode):
    import mcp_types as types

    async with connect(gateway_testkit, mode) as client:
        completion = await client.complete(types.PromptReference(type="ref/prompt", name="test_prompt_with_arguments"), {"name": "arg1", "value": "par"})
        assert completion.completion.values == ["paris", "park", "party"]
