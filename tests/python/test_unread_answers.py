"""A client that sends requests and never reads the answers (plain JSON
answers over keep-alive connections, many connections at once) must cost
the gateway bounded memory and the other principals no latency: the bytes
of answers a principal leaves untaken are counted
(`limits.max_unwritten_bytes_per_principal`, per connection
`limits.max_unwritten_bytes_per_connection`), past the bound its next
requests get a 503 with `Retry-After` before their bodies are read, and a
connection whose client takes no bytes for
`limits.stalled_reader_timeout_secs` is closed. Figures of a longer run:
`loadtest/unread_answers.py`."""

from __future__ import annotations

import hashlib
import json
import socket
import time

import httpx2

from conftest import TOKEN, start_testkit_gateway
from test_hardening import rss_kib
from test_hostile import MODERN_META
from test_principal_floods import call_headers

OTHER = "other-token-0123456789"


def echo_request(port: int, pad: int, token: str = TOKEN) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "echo", "arguments": {"pad": "x" * pad}, "_meta": MODERN_META}}).encode()
    head = "".join(f"{name}: {value}\r\n" for name, value in call_headers(token).items())
    return f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


class NeverReads:
    """`connections` sockets that send `request` again and again (a closed
    one is opened again) and never read a byte."""

    def __init__(self, port: int, request: bytes, connections: int):
        self.port, self.request = port, request
        self.sockets = [self.open() for _ in range(connections)]

    def open(self):
        connection = socket.socket()
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        connection.setblocking(False)
        connection.connect_ex(("127.0.0.1", self.port))
        return [connection, 0]

    def push(self) -> None:
        for entry in self.sockets:
            connection, sent = entry
            try:
                sent += connection.send(memoryview(self.request)[sent:])
            except BlockingIOError:
                continue
            except OSError:
                connection.close()
                entry[:] = self.open()
                continue
            entry[1] = sent % len(self.request)

    def close(self) -> None:
        for connection, _ in self.sockets:
            connection.close()


def other_call(running) -> float:
    """One call of the other principal; its latency in seconds."""
    started = time.monotonic()
    body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                       "params": {"name": "echo", "arguments": {"n": 7}, "_meta": MODERN_META}})
    answer = httpx2.post(running.url, content=body, headers=call_headers(OTHER), timeout=30)
    assert answer.status_code == 200 and answer.json()["result"]["structuredContent"] == {"n": 7}, answer.text
    return time.monotonic() - started


def test_a_client_that_never_reads_its_answers_costs_bounded_memory(tmp_path):
    digest = hashlib.sha256(OTHER.encode()).hexdigest()
    settings = ("[limits]\nstalled_reader_timeout_secs = 3\n"
                f'[[auth.tokens]]\nname = "other"\nsha256 = "{digest}"\nscopes = ["*"]\n')
    running = start_testkit_gateway(tmp_path, gateway_settings=settings)
    gateway_pid = running.processes[-1].pid
    attacker = NeverReads(running.port, echo_request(running.port, 1_500_000), 250)
    peak_kib, slowest = 0, 0.0
    try:
        started = time.monotonic()
        next_call = started + 1
        while time.monotonic() - started < 12:
            attacker.push()
            peak_kib = max(peak_kib, rss_kib(gateway_pid))
            if time.monotonic() > next_call:
                slowest = max(slowest, other_call(running))
                next_call = time.monotonic() + 1
            time.sleep(0.01)
        # The attacker's principal is told why, before its body is read.
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as probe:
            probe.sendall(echo_request(running.port, 10))
            answer = probe.recv(65536).decode(errors="replace")
    finally:
        attacker.close()
    try:
        assert peak_kib < 400 * 1024, f"the gateway grew to {peak_kib // 1024} MiB"
        assert slowest < 5, f"another principal's call took {slowest:.1f} s"
        if answer.startswith("HTTP/1.1 503"):
            assert "limits.max_unwritten_bytes_per_principal" in answer and "retry-after: 1" in answer.lower(), answer
        else:
            assert answer.startswith("HTTP/1.1 200"), answer[:300]
        # Its connections were closed (stalled, or refused): it is served again.
        time.sleep(4)
        assert other_call(running) < 5
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as probe:
            probe.sendall(echo_request(running.port, 10))
            assert probe.recv(65536).startswith(b"HTTP/1.1 200")
    finally:
        running.stop()


def test_an_http2_client_that_grants_no_credit_is_cut_and_its_answers_freed(tmp_path):
    """An HTTP/2 client that sets its streams' window to 0 and sends calls
    never lets an answer's DATA out, while the connection's socket keeps
    taking the other frames (headers, pings): the answers stay charged to
    the connection and its principal, and after
    `limits.stalled_reader_timeout_secs` without a byte of them taken the
    connection is closed and they are freed — the principal is served
    again. Before, the socket's progress paid for them and nothing timed
    the connection: they were held for as long as the client liked."""
    import h2.config
    import h2.connection
    import h2.events
    from h2.settings import SettingCodes

    settings = ("[limits]\nstalled_reader_timeout_secs = 3\n"
                "max_unwritten_bytes_per_connection = 262144\nmax_unwritten_bytes_per_principal = 524288\n")
    running = start_testkit_gateway(tmp_path, gateway_settings=settings)
    try:
        client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        client.initiate_connection()
        client.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: 0})
        sock = socket.create_connection(("127.0.0.1", running.port), timeout=1)
        sock.sendall(client.data_to_send())
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                           "params": {"name": "echo", "arguments": {"pad": "x" * 20_000}, "_meta": MODERN_META}}).encode()
        head = [(":method", "POST"), (":path", "/mcp"), (":scheme", "http"), (":authority", f"127.0.0.1:{running.port}"),
                *((name.lower(), value) for name, value in call_headers().items()), ("content-length", str(len(body)))]
        events = []

        def pump() -> None:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                return
            if chunk:
                events.extend(client.receive_data(chunk))
                sock.sendall(client.data_to_send())

        for _ in range(40):
            stream_id = client.get_next_available_stream_id()
            client.send_headers(stream_id, head)
            sent = 0
            while sent < len(body):
                window = min(client.local_flow_control_window(stream_id), client.max_outbound_frame_size)
                if window == 0:
                    sock.sendall(client.data_to_send())
                    pump()
                    continue
                piece = body[sent:sent + window]
                sent += len(piece)
                client.send_data(stream_id, piece, end_stream=sent >= len(body))
            sock.sendall(client.data_to_send())
        answered, data_bytes, closed_after = 0, 0, None
        started = time.monotonic()
        while time.monotonic() - started < 15:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                closed_after = time.monotonic() - started
                break
            for event in events + client.receive_data(chunk):
                if isinstance(event, h2.events.ResponseReceived):
                    answered += 1
                elif isinstance(event, h2.events.DataReceived):
                    data_bytes += len(event.data)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    closed_after = time.monotonic() - started
            events.clear()
            pending = client.data_to_send()
            if pending:
                sock.sendall(pending)
            if closed_after is not None:
                break
        sock.close()
        assert answered > 0 and data_bytes == 0, (answered, data_bytes)
        assert closed_after is not None, "the connection was still open 15 s after its answers stalled"
        assert closed_after < 10, f"closed only after {closed_after:.1f} s"
        # Its answers were freed with it: the same principal is served at once.
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as probe:
            probe.sendall(echo_request(running.port, 10))
            reply = probe.recv(65536)
            assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
        # A client that grants credit gets a large answer whole, in pieces.
        assert http2_call(running.port, head_of=lambda body: head[:-1] + [("content-length", str(len(body)))],
                          pad=300_000) == {"pad": "x" * 300_000}
    finally:
        running.stop()


def http2_call(port: int, head_of, pad: int) -> dict:
    """One echo call over HTTP/2 by a client that reads its answer and
    grants credit as it goes; the answer's structured content."""
    import h2.config
    import h2.connection
    import h2.events

    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    client.initiate_connection()
    body = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                       "params": {"name": "echo", "arguments": {"pad": "x" * pad}, "_meta": MODERN_META}}).encode()
    answer, ended = bytearray(), False
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(client.data_to_send())
        stream_id = client.get_next_available_stream_id()
        client.send_headers(stream_id, head_of(body))
        sent = 0
        while not ended:
            window = min(client.local_flow_control_window(stream_id), client.max_outbound_frame_size) if sent < len(body) else 0
            if window:
                piece = body[sent:sent + window]
                sent += len(piece)
                client.send_data(stream_id, piece, end_stream=sent >= len(body))
                sock.sendall(client.data_to_send())
                continue
            chunk = sock.recv(65536)
            assert chunk, "the connection closed before the answer ended"
            for event in client.receive_data(chunk):
                if isinstance(event, h2.events.DataReceived):
                    answer += event.data
                    client.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    ended = True
            sock.sendall(client.data_to_send())
    return json.loads(answer)["result"]["structuredContent"]

