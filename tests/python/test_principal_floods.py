"""One principal's flood must cost the others little. A principal refused
by a rate limit that calls again before its `Retry-After` is refused from
the request's headers — its body never read nor parsed (an invalid or a
huge body gets the same 429) — the refusal is held, and once it keeps
coming early its connection is closed; a method the rate limits do not
count still goes through. Past `limits.max_requests_in_flight_per_principal`
a principal's requests wait in its own line while another principal's go
on; by default, while another principal is active, a principal is served
`limits.fair_share_in_flight_per_principal` (8) requests at once, the rest
waiting unread in its own line — but a client's notifications (a
cancellation) and answers to the gateway's requests never wait there. A service's places and queue are shared
fairly: a flooder filling them cannot make another principal's calls fail
or wait behind its whole line. Figures of a real flood:
`loadtest/fault_scenarios.py` (scenario 4)."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import socket
import time

import httpx2

from conftest import TOKEN, start_testkit_gateway
from test_hostile import MODERN, MODERN_META, headers, initialize, legacy

OTHER = "other-token-0123456789"
LIMITED = "[rate_limits]\nper_principal_per_sec = 1\nper_principal_burst = 1\n"


def echo_body(n: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": n, "method": "tools/call",
                       "params": {"name": "echo", "arguments": {"n": n}, "_meta": MODERN_META}}).encode()


def call_headers(token: str = TOKEN, name: str = "echo") -> dict[str, str]:
    return headers({"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": name}, token)


def call(running, n: int, content: bytes | None = None, token: str = TOKEN) -> httpx2.Response:
    return httpx2.post(running.url, content=echo_body(n) if content is None else content,
                       headers=call_headers(token), timeout=30)


def refuse_once(running) -> int:
    """Spends the principal's one call, then gets the rate limit's own
    refusal; returns the retry time it names, in ms."""
    assert call(running, 1).status_code == 200
    limited = call(running, 2)
    assert limited.status_code == 429, limited.text
    error = limited.json()["error"]
    assert "rate_limits.per_principal_per_sec" in error["message"] and "refused unread" not in error["message"], error
    return error["data"]["retryAfterMs"]


def test_a_call_back_before_its_retry_after_is_refused_unread(tmp_path):
    """Each early call is held until the retry time, so each probe below
    follows a refusal of its own."""
    running = start_testkit_gateway(tmp_path, gateway_settings=LIMITED)
    try:
        refuse_once(running)
        # Not JSON at all: refused as early, never parsed (else a 400 parse error).
        garbled = call(running, 3, content=b"{this is not json")
        assert garbled.status_code == 429, garbled.text
        error = garbled.json()["error"]
        assert error["code"] == -31004 and "refused unread" in error["message"], error
        assert "rate_limits.per_principal_per_sec" in error["message"], error
        assert int(garbled.headers["retry-after"]) >= 1
        assert garbled.json()["id"] is None
        refuse_once(running)
        # A body declared far past max_body_bytes and never sent: answered
        # from the headers (else a 413, or a wait for the body).
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as raw:
            head = "".join(f"{name}: {value}\r\n" for name, value in call_headers().items())
            raw.sendall((f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{running.port}\r\n{head}"
                         f"Content-Length: {1 << 30}\r\n\r\n").encode())
            answer = raw.recv(65536).decode(errors="replace")
        assert answer.startswith("HTTP/1.1 429"), answer[:200]
        refuse_once(running)
        # What no rate limit counts goes on meanwhile, in both eras; a
        # 2025-11-25 call (no Mcp-Method) is refused once its envelope is read.
        listed = httpx2.post(running.url, content=json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/list",
                                                             "params": {"_meta": MODERN_META}}),
                             headers=headers({"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/list"}), timeout=10)
        assert listed.status_code == 200 and "result" in listed.json(), listed.text
        session = initialize(running)
        assert legacy(running, session, "tools/list").status_code == 200
        early = legacy(running, session, "tools/call", {"name": "echo", "arguments": {"n": 4}})
        assert early.status_code == 429 and "refused unread" in early.text, early.text
    finally:
        running.stop()


def test_early_refusals_are_held_and_their_connections_then_closed(tmp_path):
    running = start_testkit_gateway(tmp_path, gateway_settings=LIMITED)
    try:
        retry_after_ms = refuse_once(running)
        refused_at = time.monotonic()
        request = (f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{running.port}\r\n"
                   + "".join(f"{name}: {value}\r\n" for name, value in call_headers().items())
                   + f"Content-Length: {len(echo_body(5))}\r\n\r\n").encode() + echo_body(5)

        def early_call(_):
            raw = socket.create_connection(("127.0.0.1", running.port), timeout=10)
            raw.sendall(request)
            answer = b""
            while b"\r\n\r\n" not in answer:
                answer += raw.recv(65536)
            head, body = answer.split(b"\r\n\r\n", 1)
            head = head.decode().lower()
            length = int(next(line.split(":")[1] for line in head.split("\r\n") if line.startswith("content-length")))
            while len(body) < length:
                body += raw.recv(65536)
            raw.settimeout(3)
            try:
                closed = raw.recv(65536, socket.MSG_PEEK) == b""
            except socket.timeout:
                closed = False
            raw.close()
            return head, closed, time.monotonic()

        # 20 calls at once, all before the retry time: each is held, and
        # those past the 16th early call in a row close their connection.
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(early_call, range(20)))
        for head, _, _ in answers:
            assert head.startswith("http/1.1 429"), head
        closed = [head for head, was_closed, _ in answers if was_closed]
        assert len(closed) == 4 and all("connection: close" in head for head in closed), answers
        # Held: no early refusal came back long before the retry time.
        first_answer = min(answered for _, _, answered in answers)
        assert first_answer - refused_at >= min(retry_after_ms, 1000) / 1000 * 0.5, (first_answer - refused_at, retry_after_ms)
    finally:
        running.stop()


def test_past_its_share_a_principal_waits_in_its_own_line(tmp_path):
    """Two slow calls fill principal A's share; its third waits in line
    (unread) while B's calls go through, and runs when one of A's ends."""
    digest = hashlib.sha256(OTHER.encode()).hexdigest()
    settings = ("[limits]\nmax_requests_in_flight_per_principal = 2\n"
                f'[[auth.tokens]]\nname = "other"\nsha256 = "{digest}"\nscopes = ["*"]\n')
    running = start_testkit_gateway(tmp_path, gateway_settings=settings)

    def slow(n: int) -> httpx2.Response:
        body = json.dumps({"jsonrpc": "2.0", "id": n, "method": "tools/call",
                           "params": {"name": "slow", "arguments": {"millis": 2500}, "_meta": MODERN_META}})
        return httpx2.post(running.url, content=body, headers=call_headers(name="slow"), timeout=30)

    try:
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            first = [pool.submit(slow, n) for n in range(2)]
            time.sleep(0.5)
            third = pool.submit(slow, 2)
            time.sleep(0.5)
            running_calls = httpx2.get(f"http://127.0.0.1:{running.port}/readyz", timeout=10).json()
            assert running_calls["services"][0]["calls_running"] == 2, running_calls
            other = call(running, 9, token=OTHER)
            assert other.status_code == 200 and "result" in other.json(), other.text
            assert not third.done(), "the third waits for one of the first two"
            for future in [*first, third]:
                assert future.result().status_code == 200
    finally:
        running.stop()


def other_token_settings() -> str:
    digest = hashlib.sha256(OTHER.encode()).hexdigest()
    return f'[[auth.tokens]]\nname = "other"\nsha256 = "{digest}"\nscopes = ["*"]\n'


def slow_call(running, n: int, millis: int, token: str = TOKEN) -> dict:
    body = json.dumps({"jsonrpc": "2.0", "id": n, "method": "tools/call",
                       "params": {"name": "slow", "arguments": {"millis": millis}, "_meta": MODERN_META}})
    answer = httpx2.post(running.url, content=body, headers=call_headers(token, name="slow"), timeout=60)
    return answer.json()


def calls_running(running) -> int:
    ready = httpx2.get(f"http://127.0.0.1:{running.port}/readyz", timeout=10).json()
    return ready["services"][0]["calls_running"]


def test_by_default_a_principal_is_held_to_its_fair_share_only_while_another_is_active(tmp_path):
    """Defaults only (no `[limits]`): alone, a principal's ten slow calls all
    run; right after another principal's call, eight run and two wait in the
    flooder's own line, unread, while the other principal's calls go on."""
    running = start_testkit_gateway(tmp_path, gateway_settings=other_token_settings())
    try:
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            alone = [pool.submit(slow_call, running, n, 3000) for n in range(10)]
            time.sleep(1.0)
            assert calls_running(running) == 10, "a principal alone is not held"
            for future in alone:
                assert "result" in future.result(), future.result()
            assert call(running, 100, token=OTHER).status_code == 200
            flood = [pool.submit(slow_call, running, n, 4000) for n in range(10, 20)]
            time.sleep(1.0)
            assert calls_running(running) == 8, "held to the default fair share"
            other = call(running, 101, token=OTHER)
            assert other.status_code == 200 and "result" in other.json(), other.text
            assert sum(future.done() for future in flood) == 0
            for future in flood:
                assert "result" in future.result(), future.result()
    finally:
        running.stop()


def test_a_flood_filling_a_services_queue_cannot_make_another_principals_call_fail(tmp_path):
    """The service runs 2 calls and queues 2: the flooder's four fill both
    (its fifth is shed, its own excess); the other principal's call then
    takes the place of the flooder's newest waiting call (shed instead) and
    is served at the next free place, before the flooder's older waiting
    call has run."""
    running = start_testkit_gateway(
        tmp_path, gateway_settings=other_token_settings(),
        service_settings="[services.backends]\nmax_concurrent_calls = 2\nmax_queued_calls = 2\n")
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            flood = []
            for n in range(4):
                flood.append(pool.submit(slow_call, running, n, 3000))
                time.sleep(0.2)
            excess = slow_call(running, 4, 3000)
            assert "at capacity" in excess["error"]["message"], excess
            other = pool.submit(lambda: call(running, 9, token=OTHER))
            answer = other.result(timeout=30)
            assert answer.status_code == 200 and "result" in answer.json(), answer.text
            assert not flood[2].done(), "the flooder's older waiting call runs after the other's"
            outcomes = [future.result() for future in flood]
    finally:
        running.stop()
    assert ["result" in outcome for outcome in outcomes] == [True, True, True, False], outcomes
    assert "at capacity" in outcomes[3]["error"]["message"], outcomes[3]




def test_a_cancellation_never_waits_behind_the_call_it_cancels(tmp_path):
    """A 2025-11-25 session answered in JSON only, held to a fair share of
    one request while another principal is active: its slow call holds that
    place for as long as it runs. The client's `notifications/cancelled`
    for it (like its answers to the gateway's requests) takes no place in
    the line: it is accepted while the call still runs, and ends it, instead
    of waiting until the call it cancels is over (and then cancelling
    nothing)."""
    settings = "[limits]\nfair_share_in_flight_per_principal = 1\n" + other_token_settings()
    running = start_testkit_gateway(tmp_path, gateway_settings=settings)
    try:
        opened = httpx2.post(running.url, headers=headers(), timeout=10, json={
            "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"}}})
        in_session = {"Mcp-Session-Id": opened.headers["mcp-session-id"],
                      "MCP-Protocol-Version": "2025-11-25", "Accept": "application/json"}
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            assert call(running, 100, token=OTHER).status_code == 200  # another principal is active
            pending = pool.submit(lambda: httpx2.post(
                running.url, headers=headers(in_session), timeout=60,
                json={"jsonrpc": "2.0", "id": 41, "method": "tools/call",
                      "params": {"name": "slow", "arguments": {"millis": 15000}}}))
            deadline = time.monotonic() + 10
            while calls_running(running) != 1:
                assert time.monotonic() < deadline, "the slow call never started"
                time.sleep(0.05)
            cancelled = httpx2.post(running.url, headers=headers(in_session), timeout=60, json={
                "jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": {"requestId": 41, "reason": "test"}})
            assert cancelled.status_code == 202, cancelled.text
            answer = pending.result(timeout=60).json()
            assert "cancelled" in answer["error"]["message"], "the call ran to its end before the cancellation got in"
            assert calls_running(running) == 0
    finally:
        running.stop()
