"""What a bridged stdio server reaches of the operator who started `up`:
run as root under a terminal (a pty is the controlling terminal of `up`),
with a descriptor of a secret file left open (`up ... 9<secret`), and a server run as
`nobody`. The server must get a session of its own (no controlling
terminal: no TIOCSTI into the operator's shell, no reading what is typed),
no descriptor above 2, its stderr only through the bridge's log (escape
sequences escaped, tagged with its name), and nothing it forks may outlive
the bridge, even in a session of its own."""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import termios
import textwrap
import threading
import time
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from conftest import BINARY, Running, free_port, wait_for_line
from test_same_user import unprivileged_user
from test_sdk_eras import connect

pytestmark = pytest.mark.anyio

TOKEN = "server-reach-token-0123456789abcdef"
PYTHON = shutil.which("python3", path="/usr/bin:/bin:/usr/local/bin")

# Raw JSON-RPC lines; `reach` reports what the server has, `spawn` leaves a
# grandchild in a session of its own and returns its pid, `exit` does so and
# then exits (the bridge starts the server again).
SERVER = textwrap.dedent('''
    import json, os, sys, time
    sys.stderr.write("\\x1b]0;owned-title\\x07\\x1b[2Jforged INFO line\\n")
    sys.stderr.flush()

    def reach():
        found = {"pid": os.getpid(), "sid": os.getsid(0), "pgid": os.getpgid(0), "bridge": os.getppid()}
        found["ttys"] = [fd for fd in (0, 1, 2) if os.isatty(fd)]
        try:
            os.close(os.open("/dev/tty", os.O_RDWR))
            found["dev_tty"] = "opened"
        except OSError as error:
            found["dev_tty"] = error.__class__.__name__
        names = os.listdir("/proc/self/fd")
        found["fds"] = sorted(int(fd) for fd in names if int(fd) > 2 and os.path.exists(f"/proc/self/fd/{fd}"))
        found["read"] = []
        for fd in found["fds"]:
            try:
                found["read"].append(os.pread(fd, 100, 0).decode("latin-1"))
            except OSError:
                pass
        return found

    def spawn():
        reader, writer = os.pipe()
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.write(writer, str(os.getpid()).encode())
                os.closerange(0, 1024)
                time.sleep(300)
            os._exit(0)
        os.close(writer)
        return {"grandchild": int(os.read(reader, 32))}

    for line in sys.stdin:
        message = json.loads(line)
        if "id" not in message:
            continue
        method, result = message.get("method"), None
        if method == "initialize":
            result = {"protocolVersion": message["params"]["protocolVersion"], "capabilities": {"tools": {}},
                      "serverInfo": {"name": "reach", "version": "1"}}
        elif method == "tools/list":
            result = {"tools": [{"name": name, "inputSchema": {"type": "object"}} for name in ("reach", "spawn", "exit")]}
        elif method == "tools/call":
            found = reach() if message["params"]["name"] == "reach" else spawn()
            result = {"content": [{"type": "text", "text": json.dumps(found)}]}
            if message["params"]["name"] == "exit":
                print(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}), flush=True)
                os._exit(0)
        elif method == "ping":
            result = {}
        reply = {"jsonrpc": "2.0", "id": message["id"]}
        reply.update({"result": result} if result is not None else {"error": {"code": -32601, "message": "no"}})
        print(json.dumps(reply), flush=True)
''')


def server_user() -> str:
    """`nobody`, or an unprivileged account made for the test (idempotent)."""
    try:
        return pwd.getpwnam("nobody").pw_name
    except KeyError:
        return unprivileged_user().pw_name


@pytest.fixture
def workdir():
    path = Path(tempfile.mkdtemp(prefix="micromcp-reach-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start_under_a_terminal(workdir: Path):
    """`up` as root with a pty as its controlling terminal and stderr, and
    fd 9 open on a secret; (running, terminal output so far, up's sid)."""
    (workdir / "root").mkdir()
    (workdir / "server.py").write_text(SERVER)
    entry = {"command": PYTHON, "args": [str(workdir / "server.py")], "user": server_user()}
    (workdir / "servers.json").write_text(json.dumps({"mcpServers": {"reach": entry}}))
    secret = workdir / "rootsecret"
    secret.write_text("root-only-secret-4242")
    os.chmod(secret, 0o600)
    master, slave = os.openpty()
    secret_fd = os.open(secret, os.O_RDONLY)
    os.set_inheritable(secret_fd, True)

    def controlling_terminal():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    port = free_port()
    process = subprocess.Popen(
        [str(BINARY), "up", "--listen", f"127.0.0.1:{port}", "--root", "root", "--state-dir", "state",
         "--admin-listen", "off", "--mcp-servers", "servers.json"],
        cwd=workdir, env=dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="info", NO_COLOR="1"),
        stdin=slave, stdout=subprocess.PIPE, stderr=slave, text=True, start_new_session=True,
        preexec_fn=controlling_terminal, pass_fds=(secret_fd,),
    )
    os.close(slave)
    os.close(secret_fd)
    terminal = bytearray()

    def drain():
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            terminal.extend(chunk)

    threading.Thread(target=drain, daemon=True).start()
    wait_for_line(process, "listening on")
    running = Running(url=f"http://127.0.0.1:{port}/mcp", token=TOKEN, root=workdir / "root",
                      state_dir=workdir / "state", processes=[process], port=port)
    return running, terminal, os.getsid(process.pid)


async def call(running: Running, tool: str) -> dict:
    async with connect(running, "legacy") as client:
        deadline = time.monotonic() + 20
        while True:
            try:
                result = await client.call_tool(tool, {})
            except MCPError:
                # Unavailable while the bridge starts the server again.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
                continue
            if not result.is_error or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert not result.is_error, result
        return json.loads(result.content[0].text)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(os.getuid() != 0, reason="the server runs as another user: micromcp started as root")
async def test_a_bridged_server_reaches_no_terminal_descriptor_or_afterlife(workdir):
    running, terminal, up_sid = start_under_a_terminal(workdir)
    try:
        found = await call(running, "reach.reach")
        assert found["sid"] == found["pid"] and found["sid"] != up_sid, (found, up_sid)
        assert found["ttys"] == [] and found["dev_tty"] != "opened", found
        assert found["fds"] == [] and "root-only-secret-4242" not in found["read"], found
        # A server that exits leaves its grandchild behind: it ends before
        # the server is started again.
        left = (await call(running, "reach.exit"))["grandchild"]
        assert (await call(running, "reach.reach"))["pid"] != found["pid"], "started again"
        assert not alive(left), "the previous server's tree ended before the next server started"
        grandchild = (await call(running, "reach.spawn"))["grandchild"]
        assert alive(grandchild)
        deadline = time.monotonic() + 10
        while b"owned-title" not in terminal and time.monotonic() < deadline:
            time.sleep(0.1)
        shown = bytes(terminal)
        assert b"\x1b]0;owned-title" not in shown and b"\x1b[2J" not in shown, shown[-2000:]
        assert b"owned-title" in shown and b"reach" in shown, shown[-2000:]
        line = next(line for line in shown.splitlines() if b"owned-title" in line)
        assert b"forged INFO line" in line, "one log line, tagged, the escape sequence escaped"
    finally:
        running.stop()
    deadline = time.monotonic() + 10
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(grandchild):
        os.kill(grandchild, signal.SIGKILL)
        pytest.fail("a grandchild in a session of its own outlived the bridge")


@pytest.mark.skipif(os.getuid() != 0, reason="the server runs as another user: micromcp started as root")
async def test_a_grandchild_ends_even_when_its_bridge_is_killed(workdir):
    """SIGKILL leaves the bridge no time to end its server's tree: the
    server dies with it (PDEATHSIG) and `up`, a child subreaper, adopts the
    grandchild and kills it."""
    running, _, _ = start_under_a_terminal(workdir)
    try:
        bridge = (await call(running, "reach.reach"))["bridge"]
        grandchild = (await call(running, "reach.spawn"))["grandchild"]
        assert alive(grandchild)
        os.kill(bridge, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while alive(grandchild) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(grandchild):
            os.kill(grandchild, signal.SIGKILL)
            pytest.fail("a grandchild in a session of its own outlived its killed bridge")
        assert (await call(running, "reach.reach"))["bridge"] != bridge, "the bridge was started again"
    finally:
        running.stop()


def test_a_server_that_cannot_be_executed_is_still_named_with_the_reason(tmp_path):
    """Descriptors are marked close-on-exec in the child rather than closed,
    so std's own pipe still reports a failed exec: the log names the
    command and the reason, not a server that hung up."""
    (tmp_path / "root").mkdir()
    entry = {"command": "/nonexistent/reach-server"}
    (tmp_path / "servers.json").write_text(json.dumps({"mcpServers": {"gone": entry}}))
    process = subprocess.Popen(
        [str(BINARY), "up", "--listen", f"127.0.0.1:{free_port()}", "--root", "root", "--state-dir", "state",
         "--admin-listen", "off", "--mcp-servers", "servers.json"],
        cwd=tmp_path, env=dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="warn", NO_COLOR="1"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        line = wait_for_line_on(process.stderr, "cannot start /nonexistent/reach-server")
        assert "No such file or directory" in line, line
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_for_line_on(stream, needle: str, timeout: float = 20.0) -> str:
    found: list[str] = []

    def read():
        for line in stream:
            if needle in line:
                found.append(line)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    assert found, f"never logged: {needle}"
    return found[0]
