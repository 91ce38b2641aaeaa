"""OpenTelemetry traces across the gateway and a service: `micromcp up` with
the standard OTLP environment exports to an OTLP/HTTP receiver on loopback
(spans decoded with the official `opentelemetry-proto` messages); a call
that carries a W3C traceparent — as an HTTP header, or in a 2026-07-28
client's `_meta` — yields the gateway's request span as a child of the
client's span, routing and backend spans under it, and the fs service's
span as a child of the backend span, all in the client's trace. Without the
environment nothing is exported."""

from __future__ import annotations

import contextlib
import http.server
import os
import threading
import time

import pytest

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse

from conftest import make_root, start_up
from test_hostile import MODERN_META, initialize, modern, post

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


@contextlib.contextmanager
def otlp_receiver():
    """An OTLP/HTTP (protobuf) trace receiver; yields (port, spans) where
    spans fills with (service name, span) as exports arrive."""
    spans: list[tuple[str, object]] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path == "/v1/traces":
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource_spans in request.resource_spans:
                    name = next((attribute.value.string_value for attribute in resource_spans.resource.attributes
                                 if attribute.key == "service.name"), "")
                    for scope_spans in resource_spans.scope_spans:
                        spans.extend((name, span) for span in scope_spans.spans)
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], spans
    finally:
        server.shutdown()


def traced_up(tmp_path, port: int):
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_BSP_SCHEDULE_DELAY": "100"}
    return start_up(tmp_path, make_root(tmp_path), env_extra=env)


def wait_for(spans, predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [entry for entry in list(spans) if predicate(entry)]
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no such span in {[(name, span.name) for name, span in spans]}")


def in_trace(entry) -> bool:
    return entry[1].trace_id.hex() == TRACE_ID


def check_chain(spans) -> None:
    """request ← client span; backend ← request; fs's span ← backend."""
    request = wait_for(spans, lambda entry: in_trace(entry) and entry[1].name.startswith("tools/call fs.read_file"))[0][1]
    assert request.parent_span_id.hex() == CLIENT_SPAN, "the gateway's span continues the client's"
    backend = wait_for(spans, lambda entry: in_trace(entry) and entry[1].name == "fs tools/call read_file")[0][1]
    assert backend.parent_span_id == request.span_id
    service_name, service_span = wait_for(spans, lambda entry: in_trace(entry) and entry[0] == "micromcp-fs")[0]
    assert service_span.name == "tools/call" and service_span.parent_span_id == backend.span_id, \
        "the service's span continues the gateway's backend span"
    route = wait_for(spans, lambda entry: in_trace(entry) and entry[1].name == "mcp.route")[0][1]
    assert route.parent_span_id == request.span_id
    gateway_names = {name for name, span in spans if span.span_id in (request.span_id, backend.span_id)}
    assert gateway_names == {"micromcp-gateway"}


def header_call(running):
    """tools/call in a 2025-11-25 session, traceparent as an HTTP header."""
    session = initialize(running)
    return post(running, {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                          "params": {"name": "fs.read_file", "arguments": {"path": "hello.txt"}}},
                {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25",
                 "traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"})


def meta_call(running):
    """tools/call of a 2026-07-28 client, traceparent in `_meta`."""
    return modern(running, "tools/call", {"name": "fs.read_file", "arguments": {"path": "hello.txt"},
                                          "_meta": {**MODERN_META, "traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"}})


@pytest.mark.parametrize("call", [header_call, meta_call], ids=["header", "meta"])
def test_a_client_traceparent_links_client_gateway_and_service(tmp_path, call):
    with otlp_receiver() as (port, spans):
        running = traced_up(tmp_path, port)
        try:
            answer = call(running)
            assert "result" in answer.json(), answer.text
            check_chain(spans)
        finally:
            running.stop()


def test_without_the_environment_nothing_is_exported(tmp_path):
    with otlp_receiver() as (_port, spans):
        running = start_up(tmp_path, make_root(tmp_path))
        try:
            assert "result" in modern(running, "tools/call", {"name": "fs.read_file", "arguments": {"path": "hello.txt"}}).json()
            time.sleep(0.5)
        finally:
            running.stop()
        assert spans == []
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in os.environ


def test_json_log_lines_carry_the_trace_id(tmp_path):
    """MICROMCP_LOG_FORMAT=json: each line a JSON object; lines logged while
    a traced request is handled carry its trace_id."""
    import json
    import subprocess

    from conftest import BINARY, TOKEN, Running, free_port, wait_for_line

    with otlp_receiver() as (port, spans):
        gateway_port = free_port()
        log_path = tmp_path / "gateway.log"
        env = dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="info,h2=debug", MICROMCP_LOG_FORMAT="json",
                   OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}", OTEL_BSP_SCHEDULE_DELAY="100")
        with open(log_path, "w") as log:
            process = subprocess.Popen([str(BINARY), "up", "--listen", f"127.0.0.1:{gateway_port}", "--root", str(make_root(tmp_path)),
                                        "--state-dir", str(tmp_path / "state"), "--admin-listen", "off"],
                                       cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
            running = Running(url=f"http://127.0.0.1:{gateway_port}/mcp", token=TOKEN, root=tmp_path, state_dir=tmp_path,
                              processes=[process], port=gateway_port)
            try:
                wait_for_line(process, "listening on")
                answer = modern(running, "tools/call", {"name": "fs.read_file", "arguments": {"path": "hello.txt"},
                                                        "_meta": {**MODERN_META, "traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"}})
                assert "result" in answer.json(), answer.text
            finally:
                running.stop()
        lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
        assert lines and all("level" in line and "fields" in line for line in lines)
        traced = [line for line in lines if any(span.get("trace_id") == TRACE_ID for span in line.get("spans", []))]
        assert traced, "some line logged inside the request carries its trace_id"


def test_an_unknown_log_format_is_refused_naming_the_variable(tmp_path):
    import subprocess

    from conftest import BINARY

    result = subprocess.run([str(BINARY), "check", "--config", str(tmp_path / "none.toml")],
                            env=dict(os.environ, MICROMCP_LOG_FORMAT="xml"), capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and 'MICROMCP_LOG_FORMAT: "xml"' in result.stderr, result.stderr


def test_the_stdio_front_continues_a_meta_traceparent(tmp_path):
    """`micromcp stdio`: a 2026-07-28 request's `_meta.traceparent` is the
    parent of the gateway's span, and fs (its child process) continues it."""
    import json
    import subprocess

    from conftest import BINARY

    with otlp_receiver() as (port, spans):
        env = dict(os.environ, MICROMCP_LOG="error", OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
                   OTEL_BSP_SCHEDULE_DELAY="100")
        process = subprocess.Popen([str(BINARY), "stdio", "--root", str(make_root(tmp_path))], env=env,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert process.stdin and process.stdout
            request = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "fs.read_file", "arguments": {"path": "hello.txt"},
                                  "_meta": {**MODERN_META, "traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"}}}
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            answer = json.loads(process.stdout.readline())
            assert "result" in answer, answer
            check_chain(spans)
        finally:
            process.kill()
            process.wait()


BOGUS_PARENTS = [
    "garbage",
    "00-" + "0" * 32 + "-" + CLIENT_SPAN + "-01",  # all-zero trace id: invalid
    "ff-" + TRACE_ID + "-" + CLIENT_SPAN + "-01",  # version ff: invalid
    "00-" + TRACE_ID.upper() + "-" + CLIENT_SPAN + "-01",  # upper case: invalid
    "00-" + TRACE_ID + "-" + CLIENT_SPAN + "-01-" + "x" * 6000,  # oversized
]


def test_hostile_traceparents_start_fresh_traces_and_break_nothing(tmp_path):
    """A traceparent that is malformed, invalid, oversized, or not a string
    in `_meta`, is ignored: the call is answered and its spans start a trace
    of their own (never the bogus one)."""
    with otlp_receiver() as (port, spans):
        running = traced_up(tmp_path, port)
        try:
            session = initialize(running)
            for index, parent in enumerate(BOGUS_PARENTS):
                answer = post(running, {"jsonrpc": "2.0", "id": index, "method": "tools/call",
                                        "params": {"name": "fs.read_file", "arguments": {"path": "hello.txt"}}},
                              {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25", "traceparent": parent})
                assert "result" in answer.json(), (parent[:80], answer.text[:300])
            for parent in [*BOGUS_PARENTS, 7, {"trace": TRACE_ID}, None]:
                answer = modern(running, "tools/call", {"name": "fs.read_file", "arguments": {"path": "hello.txt"},
                                                         "_meta": {**MODERN_META, "traceparent": parent}})
                assert "result" in answer.json(), (str(parent)[:80], answer.text[:300])
            calls = 2 * len(BOGUS_PARENTS) + 3
            requests = wait_for(spans, lambda entry: entry[1].name.startswith("tools/call fs.read_file"))
            deadline = time.monotonic() + 15
            while len(requests) < calls and time.monotonic() < deadline:
                time.sleep(0.2)
                requests = [entry for entry in list(spans) if entry[1].name.startswith("tools/call fs.read_file")]
            assert len(requests) == calls, len(requests)
            assert all(span.trace_id.hex() not in (TRACE_ID, "0" * 32) for _, span in requests)
            assert all(not span.parent_span_id for _, span in requests), "no bogus parent is continued"
        finally:
            running.stop()


def test_a_collector_that_is_down_costs_the_calls_nothing(tmp_path):
    """The OTLP endpoint refuses connections: calls are answered as fast as
    ever and the gateway still stops promptly (its last flush gives up)."""
    from conftest import free_port

    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}", "OTEL_BSP_SCHEDULE_DELAY": "100"}
    running = start_up(tmp_path, make_root(tmp_path), env_extra=env)
    try:
        session = initialize(running)
        started = time.monotonic()
        for index in range(100):
            answer = post(running, {"jsonrpc": "2.0", "id": index, "method": "tools/call",
                                    "params": {"name": "fs.read_file", "arguments": {"path": "hello.txt"}}},
                          {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25",
                           "traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"})
            assert "result" in answer.json()
        assert time.monotonic() - started < 20, "100 calls while every export fails"
    finally:
        stopping = time.monotonic()
        running.stop()
        assert running.processes[0].returncode is not None
        assert time.monotonic() - stopping < 12, "the gateway stops without waiting on the collector"


def test_a_service_name_given_to_up_names_its_children_after_it(tmp_path):
    with otlp_receiver() as (port, spans):
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_BSP_SCHEDULE_DELAY": "100",
               "OTEL_SERVICE_NAME": "acme"}
        running = start_up(tmp_path, make_root(tmp_path), env_extra=env)
        try:
            assert "result" in header_call(running).json()
            wait_for(spans, lambda entry: in_trace(entry) and entry[0] == "acme-fs" and entry[1].name == "tools/call")
            wait_for(spans, lambda entry: in_trace(entry) and entry[0] == "acme" and entry[1].name.startswith("tools/call fs."))
        finally:
            running.stop()
