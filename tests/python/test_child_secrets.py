"""No secret travels in the environment of a child `micromcp up` starts: a
same-user process that SIGKILLs a bridge or the search child could read the
restarted process's `/proc/<pid>/environ` between exec and its
`PR_SET_DUMPABLE 0`. HTTP bridges' shared headers (in the server spec), the
variables `principalTokens.env` names and `MICROMCP_EMBEDDINGS_KEY` reach the
child on its stdin. Checked directly and by racing a restart as such a
process would (the test runs as root, so it reads every environ at once)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from conftest import BINARY, TOKEN, free_port, wait_for_line

SECRETS = {
    "header": "shared-header-secret-7781",
    "principal": "alice-upstream-secret-3349",
    "embeddings": "embeddings-key-secret-5512",
}


def children_of(pid: int) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


def environ(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/environ", "rb") as file:
            return file.read()
    except OSError:
        return b""


def executed(pid: int) -> bool:
    """Past its exec (a fork of `up` before it still shows `up`'s own
    command and environment, but is non-dumpable as `up` is: the same user
    cannot read it; only root, as this test runs, can)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            arguments = file.read().split(b"\0")
    except OSError:
        return False
    return len(arguments) > 1 and arguments[1] != b"up"


def leaked(text: bytes) -> list[str]:
    return [name for name, secret in SECRETS.items() if secret.encode() in text]


def test_no_secret_in_a_childs_environment_even_across_a_restart(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "micromcp.toml").write_text('version = 1\n[search]\nembeddings_url = "http://127.0.0.1:1/embed"\n')
    entry = {"url": "http://127.0.0.1:1/mcp", "headers": {"Authorization": f"Bearer {SECRETS['header']}"},
             "principalTokens": {"env": {"alice": "ALICE_UPSTREAM_TOKEN"}}}
    (tmp_path / "servers.json").write_text(json.dumps({"mcpServers": {"shared": entry}}))
    env = dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="warn", ALICE_UPSTREAM_TOKEN=SECRETS["principal"],
               MICROMCP_EMBEDDINGS_KEY=SECRETS["embeddings"])
    process = subprocess.Popen(
        [str(BINARY), "up", "--listen", f"127.0.0.1:{free_port()}", "--root", "root", "--state-dir", "state",
         "--admin-listen", "off", "--mcp-servers", "servers.json"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    try:
        wait_for_line(process, "listening on")
        children = children_of(process.pid)
        commands = {pid: open(f"/proc/{pid}/cmdline", "rb").read() for pid in children}
        assert any(b"bridge" in command for command in commands.values()), commands
        assert any(b"search" in command for command in commands.values()), commands
        for pid in children:
            assert leaked(environ(pid)) == [], (commands[pid], environ(pid))
        # The race: kill every child, then read each restarted one's environ
        # as soon as it appears (bounded: 15 s).
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        seen: dict[int, bytes] = {}
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(seen) < len(children):
            for pid in children_of(process.pid):
                if pid not in children and pid not in seen and executed(pid):
                    text = environ(pid)
                    if text:
                        seen[pid] = text
        assert len(seen) >= len(children), ("every child restarted", seen.keys())
        for pid, text in seen.items():
            assert leaked(text) == [], text
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
