"""The tasks extension (SEP-2663) through the real gateway in front of the
testkit service, over raw HTTP (the Python SDK has no tasks client): a
task-capable tool called by a request that declared
`io.modelcontextprotocol/tasks` answers with a `CreateTaskResult`; the task
is followed with `tasks/get`, asks for input there and resumes after
`tasks/update`, ends with `tasks/cancel`. The task id is sealed for its
principal: another principal, or an altered id, finds no task. Without the
extension a tool runs synchronously, the `tasks/*` methods and tools that
need a task are -32021, and a 2025-11-25 session does not know the methods."""

from __future__ import annotations

import hashlib
import time

import pytest

from conftest import start_testkit_gateway
from test_hostile import MODERN_META, initialize, legacy, modern

TASKS = {"extensions": {"io.modelcontextprotocol/tasks": {}}, "elicitation": {}}
WITH_TASKS = {**MODERN_META, "io.modelcontextprotocol/clientCapabilities": TASKS}
OTHER = "another-principal-token-for-tasks"


@pytest.fixture
def tasked(tmp_path):
    sha = hashlib.sha256(OTHER.encode()).hexdigest()
    running = start_testkit_gateway(tmp_path, gateway_settings=f'[[auth.tokens]]\nname = "other"\nsha256 = "{sha}"\nscopes = ["*"]\n')
    yield running
    running.stop()


def result_of(answer) -> dict:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "result" in body, body
    return body["result"]


def call(running, tool, arguments=None, meta=WITH_TASKS, extra=None):
    return modern(running, "tools/call", {"name": tool, "arguments": arguments or {}, "_meta": meta}, extra)


def task_request(running, method, task_id, extra_params=None, meta=WITH_TASKS, extra=None):
    params = {"taskId": task_id, "_meta": meta, **(extra_params or {})}
    return modern(running, method, params, {"Mcp-Name": task_id, **(extra or {})})


def wait_for(running, task_id, wanted, timeout=10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        task = result_of(task_request(running, "tasks/get", task_id))
        if task["status"] in wanted:
            return task
        assert time.monotonic() < deadline, task
        time.sleep(0.1)


def test_a_task_is_created_followed_and_finished(tasked):
    created = result_of(call(tasked, "slow_compute", {"seconds": 0.5, "label": "sum"}))
    assert created["resultType"] == "task" and created["status"] == "working", created
    assert {"createdAt", "lastUpdatedAt", "ttlMs", "pollIntervalMs"} <= set(created)
    task_id = created["taskId"]
    assert "requestState" not in created and "result" not in created
    done = wait_for(tasked, task_id, {"completed"})
    assert done["taskId"] == task_id and done["resultType"] == "complete"
    assert done["result"]["content"][0]["text"] == "computed sum"
    # A tool error is a completed task whose result says so; a service
    # failure is a failed task with an error.
    failing = result_of(call(tasked, "failing_job"))["taskId"]
    assert wait_for(tasked, failing, {"completed", "failed"})["result"]["isError"] is True
    broken = wait_for(tasked, result_of(call(tasked, "protocol_error_job"))["taskId"], {"completed", "failed"})
    assert broken["status"] == "failed" and "code" in broken["error"] and "result" not in broken


def test_a_task_asks_for_input_and_is_cancelled(tasked):
    asking = result_of(call(tasked, "confirm_delete", {"filename": "notes.txt"}))["taskId"]
    waiting = wait_for(tasked, asking, {"input_required"})
    (key, request), = waiting["inputRequests"].items()
    assert request["method"] == "elicitation/create" and "notes.txt" in request["params"]["message"]
    ack = result_of(task_request(tasked, "tasks/update", asking, {"inputResponses": {key: {"action": "accept", "content": {"confirm": True}}}}))
    assert ack == {"resultType": "complete"}, ack
    assert wait_for(tasked, asking, {"completed"})["result"]["content"][0]["text"] == "deleted notes.txt"

    running = result_of(call(tasked, "slow_compute", {"seconds": 30}))["taskId"]
    assert result_of(task_request(tasked, "tasks/cancel", running)) == {"resultType": "complete"}
    assert wait_for(tasked, running, {"cancelled"})["status"] == "cancelled"
    # Cancelling a finished task is the same empty ack.
    assert result_of(task_request(tasked, "tasks/cancel", running)) == {"resultType": "complete"}


def test_a_task_id_belongs_to_its_principal(tasked):
    task_id = result_of(call(tasked, "slow_compute", {"seconds": 5}))["taskId"]
    stolen = task_request(tasked, "tasks/get", task_id, extra={"Authorization": f"Bearer {OTHER}"})
    assert stolen.status_code == 400 and stolen.json()["error"]["code"] == -32602, stolen.text
    assert "unknown task" in stolen.json()["error"]["message"]
    altered = task_id[:-3] + ("A" if task_id[-3] != "A" else "B") + task_id[-2:]
    refused = task_request(tasked, "tasks/get", altered)
    assert refused.json()["error"]["code"] == -32602, refused.text
    mismatch = modern(tasked, "tasks/get", {"taskId": task_id, "_meta": WITH_TASKS}, {"Mcp-Name": "another-task"})
    assert mismatch.status_code == 400 and mismatch.json()["error"]["code"] == -32020, mismatch.text
    result_of(task_request(tasked, "tasks/cancel", task_id))


def test_without_the_extension(tasked):
    synchronous = result_of(call(tasked, "slow_compute", {"seconds": 0.1, "label": "now"}, meta=MODERN_META))
    assert synchronous["resultType"] == "complete" and synchronous["content"][0]["text"] == "computed now"
    for answer in (task_request(tasked, "tasks/get", "anything", meta=MODERN_META), call(tasked, "failing_job", meta=MODERN_META)):
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["code"] == -32021, error
        assert error["data"]["requiredCapabilities"] == {"extensions": {"io.modelcontextprotocol/tasks": {}}}
    session = initialize(tasked)
    assert legacy(tasked, session, "tasks/get", {"taskId": "x"}).json()["error"]["code"] == -32601


def test_a_task_belongs_to_the_scopes_it_was_created_under(tmp_path):
    # Two tokens of one JWT subject: the one with no scope for the tool
    # neither reads, cancels nor answers the other's task; a renewed token
    # with the same scopes is the same owner.
    from test_jwt import Issuer

    issuer = Issuer()
    audience = "http://127.0.0.1/mcp"
    running = start_testkit_gateway(tmp_path, gateway_settings=(
        f'[auth]\nresource = "{audience}"\n'
        f'[[auth.issuers]]\nname = "corp"\nissuer = "{issuer.url}"\njwks_uri = "{issuer.url}/jwks.json"\n'))
    try:
        wide = {"Authorization": f"Bearer {issuer.token(audience, scope='testkit')}"}
        narrow = {"Authorization": f"Bearer {issuer.token(audience, scope='openid')}"}
        assert call(running, "slow_compute", {"seconds": 0.1}, extra=narrow).status_code == 403, "the narrow token may not call it"
        task_id = result_of(call(running, "slow_compute", {"seconds": 0.5, "label": "mine"}, extra=wide))["taskId"]
        for method in ("tasks/get", "tasks/cancel", "tasks/update"):
            params = {"inputResponses": {}} if method == "tasks/update" else None
            borrowed = task_request(running, method, task_id, params, extra=narrow)
            assert borrowed.status_code in (400, 403) and "result" not in borrowed.json(), (method, borrowed.text)
        renewed = {"Authorization": f"Bearer {issuer.token(audience, scope='testkit', iat=int(time.time()) - 1)}"}
        deadline = time.monotonic() + 10
        while (task := result_of(task_request(running, "tasks/get", task_id, extra=renewed)))["status"] != "completed":
            assert time.monotonic() < deadline, task
            time.sleep(0.1)
        assert task["result"]["content"][0]["text"] == "computed mine"
    finally:
        running.stop()
        issuer.close()
