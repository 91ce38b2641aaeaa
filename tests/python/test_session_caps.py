"""2025-11-25 sessions are bounded per replica: at most
`limits.max_sessions_per_principal` per principal and `limits.max_sessions`
in all. Past its own cap a principal's least recently used idle session
gives its place (its replica state is dropped; the id stays valid); when all
of them are busy (a call in flight, a GET stream open), or the replica is
full, the request that would add one gets a 503 with `Retry-After` naming
the key — one principal opening sessions fast never crowds out another."""

from __future__ import annotations

import contextlib
import hashlib
import time

import httpx2

from conftest import start_testkit_gateway
from test_hostile import headers, post

OTHER = "other-token-0123456789"


def open_session(running, token=None) -> str:
    extra_token = {"token": token} if token else {}
    answer = post(running, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}, **extra_token)
    assert answer.status_code == 200, answer.text
    return answer.headers["mcp-session-id"]


def ping(running, session: str, token=None) -> httpx2.Response:
    extra_token = {"token": token} if token else {}
    return post(running, {"jsonrpc": "2.0", "id": 1, "method": "ping"},
                {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}, **extra_token)


def listen(stack: contextlib.ExitStack, running, session: str) -> None:
    """Holds a GET stream open on `session` (the session is busy)."""
    response = stack.enter_context(httpx2.stream("GET", running.url, timeout=30, headers=headers(
        {"Accept": "text/event-stream", "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"})))
    assert response.status_code == 200, response.read()


def test_sessions_are_capped_per_principal_and_in_all(tmp_path):
    digest = hashlib.sha256(OTHER.encode()).hexdigest()
    settings = ("[limits]\nmax_sessions = 5\nmax_sessions_per_principal = 3\n"
                f'[[auth.tokens]]\nname = "other"\nsha256 = "{digest}"\nscopes = ["*"]\n')
    running = start_testkit_gateway(tmp_path, gateway_settings=settings)
    try:
        # Idle sessions make room for new ones of the same principal.
        for _ in range(6):
            assert ping(running, open_session(running)).status_code == 200
        with contextlib.ExitStack() as stack:
            busy = [open_session(running) for _ in range(3)]
            for session in busy:
                listen(stack, running, session)
            refused = ping(running, open_session(running))
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "1"
            error = refused.json()["error"]
            assert error["code"] == -31004 and "limits.max_sessions_per_principal = 3" in error["message"], error
            assert ping(running, busy[0]).status_code == 200, "a session already served is served"
            # Another principal has its own places, up to the replica's cap.
            others = [open_session(running, OTHER) for _ in range(3)]
            assert ping(running, others[0], OTHER).status_code == 200
            assert ping(running, others[1], OTHER).status_code == 200
            full = ping(running, others[2], OTHER)
            assert full.status_code == 503 and "limits.max_sessions = 5" in full.json()["error"]["message"], full.text
        # The streams closed: their sessions are idle and give their places.
        fresh = open_session(running)
        for _ in range(50):
            answer = ping(running, fresh)
            if answer.status_code == 200:
                break
            time.sleep(0.1)
        assert answer.status_code == 200, answer.text
    finally:
        running.stop()
