"""A bridged server whose lists never end — every `tools/list` page holds
2000 tools and a new `nextCursor`, every `prompts/list` page the same
cursor again with the same prompt — is read within bounds: the bridge
keeps the first 20 000 tools and the prompt once, the service answers,
and the gateway and the other services stay (before: the bridge followed
the cursors until its memory ran out, and the prompt listed twice made
`up` refuse to start as a collision of the server with itself). Real `micromcp up`,
a real stdio server."""

from __future__ import annotations

import json
import sys
import textwrap

import httpx2

from conftest import free_port, make_root, start_up
from test_failures import eventually
from test_hostile import initialize, legacy
from test_live_config import ADMIN, ADMIN_TOKEN

ENDLESS = textwrap.dedent('''
    import json, sys

    def tools(cursor):
        page = int(cursor or "0")
        return [{"name": f"t{page}_{index}", "inputSchema": {"type": "object"}} for index in range(2000)], str(page + 1)

    for line in sys.stdin:
        message = json.loads(line)
        if "id" not in message:
            continue
        method, params, result = message.get("method"), message.get("params") or {}, None
        if method == "initialize":
            result = {"protocolVersion": params["protocolVersion"], "capabilities": {"tools": {}, "prompts": {}},
                      "serverInfo": {"name": "endless", "version": "1"}}
        elif method == "tools/list":
            listed, cursor = tools(params.get("cursor"))
            result = {"tools": listed, "nextCursor": cursor}
        elif method == "prompts/list":
            result = {"prompts": [{"name": "p"}], "nextCursor": "same-again"}
        elif method == "tools/call":
            result = {"content": [{"type": "text", "text": "answered " + params["name"]}]}
        elif method == "ping":
            result = {}
        reply = ({"jsonrpc": "2.0", "id": message["id"], "result": result} if result is not None else
                 {"jsonrpc": "2.0", "id": message["id"], "error": {"code": -32601, "message": "no such method"}})
        print(json.dumps(reply), flush=True)
''')


def test_a_server_whose_lists_never_end_is_read_within_bounds(tmp_path):
    (tmp_path / "endless.py").write_text(ENDLESS)
    servers = tmp_path / "servers.json"
    servers.write_text(json.dumps({"mcpServers": {"endless": {"command": sys.executable, "args": [str(tmp_path / "endless.py")],
                                                              "protocolVersion": "2025-11-25"}}}))
    admin_port = free_port()
    running = start_up(tmp_path, make_root(tmp_path), extra=["--mcp-servers", str(servers), "--admin-listen", f"127.0.0.1:{admin_port}"],
                       env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})
    try:
        def catalog():
            services = httpx2.get(f"http://127.0.0.1:{admin_port}/api/services", headers=ADMIN, timeout=10).json()["services"]
            return next((service["catalog"] for service in services if service["name"] == "endless"), {})
        assert eventually(lambda: catalog().get("tools") == 20_000, timeout=90), catalog()
        assert catalog().get("prompts") == 1, "the page served twice: its prompt kept once"
        session = initialize(running)
        answered = legacy(running, session, "tools/call", {"name": "endless.t9_1999", "arguments": {}}).json()
        assert "answered t9_1999" in json.dumps(answered), answered
        read = legacy(running, session, "tools/call", {"name": "fs.read_file", "arguments": {"path": "hello.txt"}}).json()
        assert "hello from the fs service" in json.dumps(read), read
    finally:
        running.stop()
