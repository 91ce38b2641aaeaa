"""Multi-round requests (2026-07-28, SEP-2322) through the real gateway in
front of the testkit service and a bridged 2025-11-25 server, with the
official Python SDK in both eras and raw HTTP for what a hostile client
sends:
- a 2026-07-28 client gets `input_required` and its retry completes the
  call — for tools asking natively (several inputs at once, several rounds,
  a prompt) and for tools asking while they run (replayed with the answers);
- a 2025-11-25 session is asked by the gateway itself (server-to-client
  requests) when the service answers `input_required`, and the call is sent
  again with the answers;
- the `requestState` is sealed: altered, issued to another principal, or
  brought back for another tool, it is refused (-32602) and the service
  never sees it;
- a service asking for input the request did not declare is refused with
  -32021 and HTTP 400 naming the capability."""

from __future__ import annotations

import hashlib
import json

import mcp_types as types
import pytest

from conftest import start_testkit_gateway
from test_hostile import MODERN_META, modern
from test_sdk_eras import connect

pytestmark = pytest.mark.anyio

ALL_INPUT = {"elicitation": {}, "sampling": {}, "roots": {}}
OTHER = "second-principal-token"


async def on_elicit(context, params):
    properties = params.requested_schema["properties"]
    answers = {"name": "Ada", "color": "teal", "context": "release notes", "username": "ada", "email": "ada@example.com"}
    return types.ElicitResult(action="accept", content={key: answers.get(key, "x") for key in properties})


async def on_sample(context, params):
    return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="Bonjour"), model="test")


async def on_roots(context):
    return types.ListRootsResult(roots=[types.Root(uri="file:///work/project", name="project")])


CALLBACKS = {"elicitation_callback": on_elicit, "sampling_callback": on_sample, "list_roots_callback": on_roots}


def text_of(result) -> str:
    return result.content[0].text


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_rounds_complete_in_both_eras(gateway_testkit, mode):
    async with connect(gateway_testkit, mode, **CALLBACKS) as client:
        if mode == "auto":
            assert client.session.discover_result is not None, "the SDK settled on 2026-07-28"
        two_rounds = await client.call_tool("test_input_required_result_multi_round", {})
        assert text_of(two_rounds) == "Favorite color: teal", two_rounds
        everything = await client.call_tool("test_input_required_result_multiple_inputs", {})
        assert text_of(everything) == "Bonjour Ada (1 roots)", everything
        stated = await client.call_tool("test_input_required_result_request_state", {})
        assert text_of(stated).startswith("state-ok"), stated
        prompt = await client.get_prompt("test_input_required_result_prompt", {})
        assert prompt.messages[0].content.text == "Use this context: release notes"
        # Asking while it runs: a session answers on the stream; a
        # 2026-07-28 client in a round, after which the tool runs again.
        elicited = await client.call_tool("test_elicitation", {"message": "who are you?"})
        assert "ada@example.com" in text_of(elicited), elicited
        sampled = await client.call_tool("test_sampling", {"prompt": "greet me"})
        assert text_of(sampled) == "LLM response: Bonjour"


def first_round(running, name="test_input_required_result_tampered_state", token=None):
    extra = {"Authorization": f"Bearer {token}"} if token else None
    answer = modern(running, "tools/call", {"name": name, "arguments": {},
                                            "_meta": {**MODERN_META, "io.modelcontextprotocol/clientCapabilities": ALL_INPUT}}, extra)
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert result["resultType"] == "input_required", result
    return result


def retry(running, name, state, token=None):
    extra = {"Authorization": f"Bearer {token}"} if token else None
    return modern(running, "tools/call", {
        "name": name, "arguments": {},
        "inputResponses": {"confirm": {"action": "accept", "content": {"ok": "yes"}}},
        "requestState": state,
        "_meta": {**MODERN_META, "io.modelcontextprotocol/clientCapabilities": ALL_INPUT}}, extra, request_id=2)


def test_request_state_is_sealed_and_bound(tmp_path):
    sha = hashlib.sha256(OTHER.encode()).hexdigest()
    running = start_testkit_gateway(
        tmp_path, gateway_settings=f'[[auth.tokens]]\nname = "other"\nsha256 = "{sha}"\nscopes = ["*"]\n')
    try:
        name = "test_input_required_result_tampered_state"
        result = first_round(running, name)
        state = result["requestState"]
        assert set(result["inputRequests"]) == {"confirm"}
        assert "testkit-tamper" not in state, "the service's state is sealed, not readable"
        done = retry(running, name, state)
        assert done.json()["result"]["content"][0]["text"] == "state accepted", done.text
        # One character changed.
        altered = state[:-4] + ("A" if state[-4] != "A" else "B") + state[-3:]
        refused = retry(running, name, altered)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == -32602, refused.text
        assert "altered" in refused.json()["error"]["message"]
        # Another principal, the same state.
        stolen = retry(running, name, state, token=OTHER)
        assert stolen.json()["error"]["code"] == -32602 and "another principal" in stolen.json()["error"]["message"], stolen.text
        # Another tool, the same state.
        moved = retry(running, "test_input_required_result_request_state", state)
        assert moved.json()["error"]["code"] == -32602 and "not this request" in moved.json()["error"]["message"], moved.text
        # Not even base64.
        junk = retry(running, name, "%%%")
        assert junk.json()["error"]["code"] == -32602, junk.text
    finally:
        running.stop()


def test_input_the_request_did_not_declare_is_refused(gateway_testkit):
    answer = modern(gateway_testkit, "tools/call", {"name": "test_missing_capability", "arguments": {}})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == -32021 and error["data"]["requiredCapabilities"] == {"sampling": {}}, error
    # Declared: the round is offered.
    declared = modern(gateway_testkit, "tools/call", {"name": "test_missing_capability", "arguments": {},
                                                      "_meta": {**MODERN_META, "io.modelcontextprotocol/clientCapabilities": {"sampling": {}}}})
    assert declared.json()["result"]["inputRequests"]["needs_sampling"]["method"] == "sampling/createMessage", declared.text
    # Answers for keys nobody asked and malformed answers are asked again, not trusted.
    wrong = modern(gateway_testkit, "tools/call", {"name": "test_input_required_result_elicitation", "arguments": {},
                                                   "inputResponses": {"user_name": 12345, "other": {"action": "accept"}},
                                                   "_meta": {**MODERN_META, "io.modelcontextprotocol/clientCapabilities": ALL_INPUT}})
    assert wrong.json()["result"]["resultType"] == "input_required", wrong.text
    not_an_object = modern(gateway_testkit, "tools/call", {"name": "test_input_required_result_elicitation", "arguments": {},
                                                           "inputResponses": [1, 2],
                                                           "_meta": {**MODERN_META, "io.modelcontextprotocol/clientCapabilities": ALL_INPUT}})
    assert not_an_object.status_code == 400 and "inputResponses" in json.dumps(not_an_object.json()), not_an_object.text


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_bridged_2026_upstreams_rounds_pass_through(tmp_path, mode):
    """A 2026-07-28 upstream (here: a second gateway in front of the testkit,
    which speaks the stateless era) answers `input_required` through the
    bridge: its keys and state reach the client (sealed once more by the
    edge gateway), and the retry goes back to the upstream with them; a
    2025-11-25 session in front is asked by the gateway as usual."""
    from conftest import make_root, start_up

    (tmp_path / "upstream").mkdir()
    audit = tmp_path / "upstream" / "audit.jsonl"
    upstream = start_testkit_gateway(tmp_path / "upstream", insecure=True, gateway_settings=f'[audit]\npath = "{audit}"\n')
    try:
        (tmp_path / "servers.json").write_text(json.dumps({"mcpServers": {"kit": {"url": upstream.url}}}))
        running = start_up(tmp_path, make_root(tmp_path), extra=["--mcp-servers", str(tmp_path / "servers.json")])
        try:
            async with connect(running, mode, **CALLBACKS) as client:
                names = {tool.name for tool in (await client.list_tools()).tools}
                assert "kit.test_input_required_result_multi_round" in names, names
                two_rounds = await client.call_tool("kit.test_input_required_result_multi_round", {})
                assert text_of(two_rounds) == "Favorite color: teal", two_rounds
                everything = await client.call_tool("kit.test_input_required_result_multiple_inputs", {})
                assert text_of(everything) == "Bonjour Ada (1 roots)", everything
                prompt = await client.get_prompt("kit.test_input_required_result_prompt", {})
                assert prompt.messages[0].content.text == "Use this context: release notes"
            calls = [json.loads(line) for line in audit.read_text().splitlines()]
            rounds = [record for record in calls if record.get("target") == "test_input_required_result_multi_round"]
            assert len(rounds) == 3, rounds
            assert {record["era"] for record in rounds} == {"modern"}, "the bridge spoke 2026-07-28 to the upstream"
        finally:
            running.stop()
    finally:
        upstream.stop()
