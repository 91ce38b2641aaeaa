"""A Micro-MCP service in Python on grpcio: the `micromcp.v1.McpService`
contract (proto/micromcp/v1/service.proto), nothing else.

It offers
- the tool `count` (`{"to": N}`): one progress event per step, then its result;
- the tool `add_note` (`{"name": ..., "text": ...}`): adds the resource
  `note://NAME`, a catalog change the gateway is told of on `WatchCatalog`;
- the resource `note://big`: 200 000 bytes of text, read in 64 KiB chunks.

Run it (the stubs are generated from the .proto on first start, into
~/.cache/micromcp/python-stubs/, never into the source tree):

    python examples/python/notes_service.py --listen 127.0.0.1:7001

Copied out of the repository, name the contract's directory:
`--proto path/to/proto` (the directory holding micromcp/v1/service.proto).

and name it in the gateway's config:

    [[services]]
    name = "notes"
    endpoint = "http://127.0.0.1:7001"
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKOUT_PROTO = HERE.parent.parent / "proto"
CONTRACT = Path("micromcp") / "v1" / "service.proto"
CHUNK_BYTES = 64 * 1024
BIG_NOTE = "".join(f"line {index:06d} of the big note\n" for index in range(7143)).encode()[:200_000]


def default_stubs_dir(proto_root: Path) -> Path:
    """A directory of the user's cache named by the contract's digest: a
    changed contract gets fresh stubs, and nothing is written beside the
    source."""
    import hashlib
    import os

    digest = hashlib.sha256((proto_root / CONTRACT).read_bytes()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "micromcp" / "python-stubs" / digest


def load_stubs(proto_root: Path, stubs_dir: Path):
    """`service_pb2` and `service_pb2_grpc`, generated into `stubs_dir` by
    grpcio-tools from the contract unless already there."""
    generated = stubs_dir / "micromcp" / "v1" / "service_pb2_grpc.py"
    if not generated.exists():
        from grpc_tools import protoc

        stubs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        status = protoc.main(["grpc_tools.protoc", f"-I{proto_root}", f"--python_out={stubs_dir}",
                              f"--grpc_python_out={stubs_dir}", str(proto_root / CONTRACT)])
        if status != 0:
            raise SystemExit(f"protoc failed ({status})")
    sys.path.insert(0, str(stubs_dir))
    from micromcp.v1 import service_pb2, service_pb2_grpc

    return service_pb2, service_pb2_grpc


def text_result(text: str, is_error: bool = False) -> bytes:
    return json.dumps({"content": [{"type": "text", "text": text}], "isError": is_error}).encode()


def make_servicer(pb, pb_grpc):
    class Notes(pb_grpc.McpServiceServicer):
        def __init__(self):
            self.notes: dict[str, bytes] = {"big": BIG_NOTE}
            self.revision = 1
            self.changed = threading.Condition()

        # ------------------------------------------------------------ catalog

        def catalog(self):
            tools = [
                pb.Tool(name="count", description="Counts to `to`, one progress event per step.",
                        input_schema_json=json.dumps({"type": "object", "properties": {"to": {"type": "integer", "minimum": 1, "maximum": 100}},
                                                      "required": ["to"]}).encode(),
                        annotations=pb.ToolAnnotations(read_only_hint=True)),
                pb.Tool(name="add_note", description="Adds the resource note://NAME holding `text`.",
                        input_schema_json=json.dumps({"type": "object", "properties": {"name": {"type": "string", "pattern": "^[a-z0-9-]{1,40}$"},
                                                                                        "text": {"type": "string"}},
                                                      "required": ["name", "text"]}).encode()),
            ]
            resources = [pb.Resource(uri=f"note://{name}", name=name, mime_type="text/plain", size=len(body))
                         for name, body in sorted(self.notes.items())]
            return pb.Catalog(tools=tools, resources=resources, instructions="Notes kept in memory.")

        def GetCatalog(self, request, context):
            with self.changed:
                return self.catalog()

        def WatchCatalog(self, request, context):
            with self.changed:
                seen = self.revision
                update = pb.CatalogUpdate(revision=seen, catalog=self.catalog())
            yield update
            while context.is_active():
                with self.changed:
                    self.changed.wait_for(lambda: self.revision != seen or not context.is_active(), timeout=1.0)
                    if self.revision == seen:
                        continue
                    seen = self.revision
                    update = pb.CatalogUpdate(revision=seen, catalog=self.catalog())
                yield update

        # ------------------------------------------------------------ tools

        def CallTool(self, request_iterator, context):
            first = next(request_iterator)
            start = first.start
            arguments = json.loads(start.arguments_json or b"{}")
            if start.name == "count":
                to = arguments.get("to")
                if not isinstance(to, int) or not 1 <= to <= 100:
                    yield pb.CallToolServerMessage(result=pb.ToolResult(result_json=text_result("`to` must be 1..100", True)))
                    return
                for step in range(1, to + 1):
                    if start.progress_requested:
                        yield pb.CallToolServerMessage(progress=pb.Progress(progress=step, total=to, message=f"step {step}"))
                    time.sleep(0.01)
                yield pb.CallToolServerMessage(result=pb.ToolResult(result_json=text_result(f"counted to {to}")))
            elif start.name == "add_note":
                name, text = arguments.get("name"), arguments.get("text")
                if not isinstance(name, str) or not isinstance(text, str) or not name or len(name) > 40:
                    yield pb.CallToolServerMessage(result=pb.ToolResult(result_json=text_result("give a name and a text", True)))
                    return
                with self.changed:
                    self.notes[name] = text.encode()
                    self.revision += 1
                    self.changed.notify_all()
                yield pb.CallToolServerMessage(result=pb.ToolResult(result_json=text_result(f"added note://{name}")))
            else:
                import grpc

                context.abort(grpc.StatusCode.NOT_FOUND, f"no tool {start.name}")

        # ------------------------------------------------------------ resources

        def ReadResource(self, request, context):
            import grpc

            name = request.uri.removeprefix("note://")
            with self.changed:
                body = self.notes.get(name) if request.uri.startswith("note://") else None
            if body is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"no resource {request.uri}")
            yield pb.ReadResourceChunk(header=pb.ResourceHeader(uri=request.uri, mime_type="text/plain", is_text=True, size=len(body)))
            for offset in range(0, len(body), CHUNK_BYTES):
                yield pb.ReadResourceChunk(data=body[offset:offset + CHUNK_BYTES])

    return Notes()


def serve(listen: str, proto_root: Path, stubs_dir: Path):
    import grpc

    pb, pb_grpc = load_stubs(proto_root, stubs_dir)
    # grpcio sets SO_REUSEPORT by default: a second copy on the same port
    # would start silently and take half the calls. Off, a taken port fails.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32), options=[("grpc.so_reuseport", 0)])
    pb_grpc.add_McpServiceServicer_to_server(make_servicer(pb, pb_grpc), server)
    try:
        port = server.add_insecure_port(listen)
    except RuntimeError:
        port = 0
    if port == 0:
        raise SystemExit(f"cannot listen on {listen}: is the port taken? (choose another with --listen, e.g. 127.0.0.1:0)")
    server.start()
    print(f"notes service on {listen.rsplit(':', 1)[0]}:{port}", flush=True)
    server.wait_for_termination()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:7001", help="host:port to serve gRPC on (port 0: any free one)")
    parser.add_argument("--proto", type=Path, default=None,
                        help="the directory holding micromcp/v1/service.proto (default: the checkout's proto/)")
    parser.add_argument("--stubs", type=Path, default=None,
                        help="where the generated stubs go (default: ~/.cache/micromcp/python-stubs/<contract digest>)")
    arguments = parser.parse_args()
    proto_root = arguments.proto or CHECKOUT_PROTO
    if not (proto_root / CONTRACT).is_file():
        raise SystemExit(f"no {CONTRACT} under {proto_root}: name the contract's directory with --proto "
                         "(proto/ of a Micro-MCP checkout)")
    serve(arguments.listen, proto_root, arguments.stubs or default_stubs_dir(proto_root))


if __name__ == "__main__":
    main()
