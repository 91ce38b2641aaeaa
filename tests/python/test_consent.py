"""Consent: a tool its service lists under `require_approval` runs only
after a person says yes. The official Python SDK in both eras (a 2025-11-25
session that declares elicitation is asked on the call's stream; a 2026-07-28
client in an `input_required` round) is asked through `elicitation/create`, showing the tool,
who asks and the arguments with secrets redacted; accept + approve runs the
call, decline and no answer refuse it (-31003) and run nothing; a client
that cannot be asked is refused naming why; every decision is audited; an
approval is remembered for `consent.remember_secs` per tool and arguments.
Otherwise a 2026-07-28 approval carries one call: sent again (or a round of
the approved call sent again) it is a replay, refused and audited as one."""

from __future__ import annotations

import json

import anyio
import httpx2
import pytest
from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from conftest import TOKEN, start_testkit_gateway

pytestmark = pytest.mark.anyio

SIMPLE_TEXT = "This is a simple text response for testing."


@pytest.fixture
def guarded(tmp_path):
    audit = tmp_path / "audit.jsonl"
    running = start_testkit_gateway(
        tmp_path,
        gateway_settings=f'[audit]\npath = "{audit}"\n[consent]\ntimeout_secs = 2\nremember_secs = 60\n',
        service_settings='require_approval = ["test_simple_text", "test_tool_with_*"]\n',
    )
    running.audit = audit
    yield running
    running.stop()


def connect(running, mode="legacy", **kwargs) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(30.0, read=60.0))
    return Client(streamable_http_client(running.url, http_client=http), mode=mode, **kwargs)


def records(running, method):
    return [record for record in map(json.loads, running.audit.read_text().splitlines()) if record.get("method") == method]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_an_approved_call_runs_and_a_declined_one_does_not(guarded, mode):
    asked: list[types.ElicitRequestParams] = []
    answers = ["accept", "decline"]

    async def on_elicit(context, params):
        asked.append(params)
        action = answers.pop(0)
        return types.ElicitResult(action=action, content={"approve": True} if action == "accept" else None)

    async with connect(guarded, mode=mode, elicitation_callback=on_elicit) as client:
        if mode == "auto":
            assert client.session.discover_result is not None, "the SDK settled on 2026-07-28"
        approved = await client.call_tool("test_simple_text", {})
        assert approved.content[0].text == SIMPLE_TEXT
        assert "test_simple_text" in asked[0].message and "asks to call" in asked[0].message
        assert asked[0].requested_schema["properties"]["approve"]["type"] == "boolean"

        with pytest.raises(MCPError) as declined:
            await client.call_tool("test_tool_with_progress", {"steps": 1})
        assert declined.value.error.code == -31003
        assert "was not approved" in declined.value.error.message and "the user declined" in declined.value.error.message

        # Remembered for consent.remember_secs: the same call is not asked again.
        again = await client.call_tool("test_simple_text", {})
        assert again.content[0].text == SIMPLE_TEXT and len(asked) == 2
        # Tools outside the rule are never asked about.
        assert (await client.call_tool("test_image_content", {})).content
        assert len(asked) == 2

    decisions = records(guarded, "consent/elicit")
    assert [record["decision"] for record in decisions] == ["allow", "deny"], decisions
    assert decisions[1]["target"] == "test_tool_with_progress" and "declined" in decisions[1]["reason"]


async def test_no_answer_in_time_refuses_the_call(guarded):
    async def never(context, params):
        await anyio.sleep(30)
        return types.ElicitResult(action="cancel")

    async with connect(guarded, elicitation_callback=never) as client:
        with anyio.fail_after(15):
            with pytest.raises(MCPError) as late:
                await client.call_tool("test_tool_with_logging", {})
    assert "no answer within 2 s (consent.timeout_secs)" in late.value.error.message


async def test_a_client_that_cannot_be_asked_is_refused_naming_why(guarded):
    async with connect(guarded) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("test_simple_text", {})
    assert refused.value.error.code == -31003
    assert "did not declare the elicitation capability" in refused.value.error.message

    async with connect(guarded, mode="auto") as client:
        with pytest.raises(MCPError) as modern:
            await client.call_tool("test_simple_text", {})
    assert modern.value.error.code == -31003
    assert "did not declare the elicitation capability" in modern.value.error.message


def test_an_approval_round_is_bound_to_its_arguments(guarded):
    """A 2026-07-28 approval answers one call: its sealed state brought
    back with other arguments, or with an altered state, runs nothing."""
    from test_hostile import MODERN_META, modern

    meta = {**MODERN_META, "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}
    asked = modern(guarded, "tools/call", {"name": "test_tool_with_logging", "arguments": {"n": 1}, "_meta": meta})
    result = asked.json()["result"]
    assert result["resultType"] == "input_required", result
    question = result["inputRequests"]["micromcp.approval"]
    assert question["method"] == "elicitation/create" and "test_tool_with_logging" in question["params"]["message"]
    yes = {"micromcp.approval": {"action": "accept", "content": {"approve": True}}}
    moved = modern(guarded, "tools/call", {"name": "test_tool_with_logging", "arguments": {"n": 2}, "_meta": meta,
                                           "inputResponses": yes, "requestState": result["requestState"]}, request_id=2)
    assert moved.status_code == 400 and moved.json()["error"]["code"] == -32602, moved.text
    assert "not this request" in moved.json()["error"]["message"]
    no_answer = modern(guarded, "tools/call", {"name": "test_tool_with_logging", "arguments": {"n": 1}, "_meta": meta,
                                               "requestState": result["requestState"]}, request_id=3)
    assert no_answer.json()["error"]["code"] == -31003, no_answer.text
    approved = modern(guarded, "tools/call", {"name": "test_tool_with_logging", "arguments": {"n": 1}, "_meta": meta,
                                              "inputResponses": yes, "requestState": result["requestState"]}, request_id=4)
    assert "Logging test completed" in approved.text, approved.text


async def test_arguments_shown_for_approval_are_redacted(guarded):
    shown: list[str] = []

    async def on_elicit(context, params):
        shown.append(params.message)
        return types.ElicitResult(action="decline")

    async with connect(guarded, elicitation_callback=on_elicit) as client:
        with pytest.raises(MCPError):
            await client.call_tool("test_tool_with_progress", {"steps": 1, "api_key": "sk-live-123"})
    assert "sk-live-123" not in shown[0] and "[redacted]" in shown[0], shown


@pytest.fixture
def ask_every_time(tmp_path):
    audit = tmp_path / "audit.jsonl"
    running = start_testkit_gateway(
        tmp_path,
        gateway_settings=f'[audit]\npath = "{audit}"\n[consent]\ntimeout_secs = 30\nremember_secs = 0\n',
        service_settings='require_approval = ["test_tool_with_logging", "test_input_required_result_request_state"]\n',
    )
    running.audit = audit
    yield running
    running.stop()


def test_an_approval_runs_one_call_and_a_replay_is_refused_and_audited(ask_every_time):
    from test_hostile import MODERN_META, modern

    meta = {**MODERN_META, "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}
    call = {"name": "test_tool_with_logging", "arguments": {"n": 1}, "_meta": meta}
    asked = modern(ask_every_time, "tools/call", call).json()["result"]
    assert asked["resultType"] == "input_required", asked
    yes = {"micromcp.approval": {"action": "accept", "content": {"approve": True}}}
    answered = {**call, "inputResponses": yes, "requestState": asked["requestState"]}
    outcomes = [modern(ask_every_time, "tools/call", answered, request_id=index) for index in range(5)]
    assert "Logging test completed" in outcomes[0].text, outcomes[0].text
    for replay in outcomes[1:]:
        error = replay.json()["error"]
        assert replay.status_code == 403 and error["code"] == -31003, replay.text
        assert "used already (a replay)" in error["message"], replay.text
    approvals = [record for record in records(ask_every_time, "consent/elicit") if record["decision"] == "allow"]
    assert len(approvals) == 1, approvals
    replays = records(ask_every_time, "consent/replay")
    assert len(replays) == 4 and all(record["decision"] == "deny" and "replay" in record["reason"] for record in replays), replays
    # A fresh question is a fresh approval.
    again = modern(ask_every_time, "tools/call", call, request_id=9).json()["result"]
    approved = modern(ask_every_time, "tools/call", {**call, "inputResponses": yes, "requestState": again["requestState"]}, request_id=10)
    assert "Logging test completed" in approved.text, approved.text


def test_a_round_of_an_approved_call_is_not_a_second_approval(ask_every_time):
    from test_hostile import MODERN_META, modern

    meta = {**MODERN_META, "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}
    call = {"name": "test_input_required_result_request_state", "arguments": {}, "_meta": meta}
    asked = modern(ask_every_time, "tools/call", call).json()["result"]
    yes = {"micromcp.approval": {"action": "accept", "content": {"approve": True}}}
    service_round = modern(ask_every_time, "tools/call", {**call, "inputResponses": yes, "requestState": asked["requestState"]},
                           request_id=2).json()["result"]
    assert service_round["resultType"] == "input_required" and "micromcp.approval" not in service_round["inputRequests"], service_round
    finished = {**call, "inputResponses": {"confirm": {"action": "accept", "content": {"ok": "yes"}}},
                "requestState": service_round["requestState"]}
    done = modern(ask_every_time, "tools/call", finished, request_id=3)
    assert "result" in done.json() and done.json()["result"].get("resultType") != "input_required", done.text
    replayed = modern(ask_every_time, "tools/call", finished, request_id=4)
    assert replayed.json()["error"]["code"] == -31003 and "a replay" in replayed.json()["error"]["message"], replayed.text
    assert len(records(ask_every_time, "consent/replay")) == 1


def test_an_approval_used_before_a_restart_stays_used(tmp_path):
    from test_hostile import MODERN_META, modern

    audit = tmp_path / "audit.jsonl"
    settings = dict(gateway_settings=f'[audit]\npath = "{audit}"\n[consent]\ntimeout_secs = 30\nremember_secs = 0\n',
                    service_settings='require_approval = ["test_tool_with_logging"]\n')
    meta = {**MODERN_META, "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}
    call = {"name": "test_tool_with_logging", "arguments": {"n": 1}, "_meta": meta}
    yes = {"micromcp.approval": {"action": "accept", "content": {"approve": True}}}
    running = start_testkit_gateway(tmp_path, **settings)
    try:
        asked = modern(running, "tools/call", call).json()["result"]
        answered = {**call, "inputResponses": yes, "requestState": asked["requestState"]}
        assert "Logging test completed" in modern(running, "tools/call", answered, request_id=2).text
    finally:
        running.stop()
    # The same session key after a restart opens the same round: it stays used.
    running = start_testkit_gateway(tmp_path, **settings)
    running.audit = audit
    try:
        replay = modern(running, "tools/call", answered, request_id=3)
        assert replay.status_code == 403 and "used already (a replay)" in replay.json()["error"]["message"], replay.text
        replays = records(running, "consent/replay")
        assert len(replays) == 1 and replays[0]["decision"] == "deny", replays
        assert (tmp_path / "session.key.used-approvals").stat().st_mode & 0o777 == 0o600
    finally:
        running.stop()


def test_a_declined_approval_round_is_used(ask_every_time):
    from test_hostile import MODERN_META, modern

    meta = {**MODERN_META, "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}
    call = {"name": "test_tool_with_logging", "arguments": {"n": 1}, "_meta": meta}
    state = modern(ask_every_time, "tools/call", call).json()["result"]["requestState"]
    for index, answer in enumerate([{"action": "decline"}, {"action": "cancel"}]):
        declined = modern(ask_every_time, "tools/call", {**call, "inputResponses": {"micromcp.approval": answer}, "requestState": state},
                          request_id=2 + index)
        assert declined.status_code == 403 and declined.json()["error"]["code"] == -31003, declined.text
    # The same round sent again with an accept: it was answered already.
    yes = {"micromcp.approval": {"action": "accept", "content": {"approve": True}}}
    replay = modern(ask_every_time, "tools/call", {**call, "inputResponses": yes, "requestState": state}, request_id=9)
    assert replay.status_code == 403 and "used already (a replay)" in replay.json()["error"]["message"], replay.text
    assert "Logging test completed" not in replay.text
    assert records(ask_every_time, "consent/replay"), "audited as a replay"
