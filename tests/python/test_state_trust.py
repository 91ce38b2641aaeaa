"""`micromcp up` trusts only a state directory, and state files, of its own.

A local user who can write where `up` starts (`/tmp`, a shared project
directory) could otherwise plant `.micromcp/registrations.json` (a command
the gateway runs), `token`, `session.key`, or an `audit.jsonl` symlink that
makes the gateway create or append a file elsewhere. Files another user owns
are made here with `os.chown` to `nobody` (uid 65534), as such a user would
leave them.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

from conftest import BINARY, TOKEN, free_port, make_root

NOBODY = 65534



def error_output_once_ended(process: subprocess.Popen) -> str:
    """The error output of `process` once it has ended (killed after 15 s)."""
    try:
        _, error = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        _, error = process.communicate(timeout=5)
    return error

def up_outcome(base, root, env_extra=None, state_dir=None, timeout=15.0) -> tuple[bool, str]:
    """Runs `up` in `base`; (started, its error output). Stopped either way."""
    env = dict(os.environ, MICROMCP_LOG="warn", **(env_extra or {}))
    if "MICROMCP_TOKEN" not in (env_extra or {}):
        env.pop("MICROMCP_TOKEN", None)
    arguments = [str(BINARY), "up", "--listen", f"127.0.0.1:{free_port()}", "--admin-listen", f"127.0.0.1:{free_port()}",
                 "--root", str(root)]
    if state_dir is not None:
        arguments += ["--state-dir", str(state_dir)]
    process = subprocess.Popen(arguments, cwd=base, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    started = False
    while time.monotonic() < deadline and process.poll() is None:
        line = process.stdout.readline()
        if "listening on" in line:
            started = True
            break
    if process.poll() is None:
        process.terminate()
    error = error_output_once_ended(process)
    return started, error


def plant_reviewers_state(shared, proof):
    """The reviewer's planted `.micromcp`, owned by nobody."""
    state = shared / ".micromcp"
    state.mkdir(mode=0o755)
    (state / "token").write_text("mmcp_attacker_known_token_0123456789abcdef0123\n")
    os.chmod(state / "token", 0o600)
    (state / "session.key").write_text("0" * 64)
    os.symlink(shared / "victim-audit", state / "audit.jsonl")
    registration = {"name": "pwn", "mcp_server": {"command": "/bin/sh", "args": ["-c", f"id > {proof}"]}}
    (state / "registrations.json").write_text(json.dumps({"version": 1, "services": [registration]}))
    for path in [state, *state.iterdir()]:
        os.lchown(path, NOBODY, NOBODY)
    return state


def test_a_state_directory_another_user_made_stops_the_start(tmp_path):
    root = make_root(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    proof = tmp_path / "pwned.txt"
    state = plant_reviewers_state(shared, proof)
    started, error = up_outcome(shared, root)
    assert not started, error
    assert "state directory not trusted" in error and str(state) in error and "uid 65534" in error, error
    assert not proof.exists(), "the planted registration never runs"
    assert not (shared / "victim-audit").exists(), "nothing is created through the planted link"
    # Owned by root but each planted file alone (a link, another's file, a writable file) still stops it.
    os.lchown(state, 0, 0)
    os.chmod(state, 0o700)
    for name in ["token", "session.key", "registrations.json"]:
        os.lchown(state / name, 0, 0)
    started, error = up_outcome(shared, root)
    assert not started and "audit.jsonl: is a symbolic link" in error, error
    os.unlink(state / "audit.jsonl")
    os.chown(state / "token", NOBODY, NOBODY)
    started, error = up_outcome(shared, root)
    assert not started and f"{state / 'token'}: owned by uid 65534" in error, error
    os.chown(state / "token", 0, 0)
    os.chmod(state / "registrations.json", 0o666)
    started, error = up_outcome(shared, root)
    assert not started and "registrations.json: writable by group or others" in error, error
    os.chmod(state / "registrations.json", 0o600)
    os.chmod(state, 0o770)
    started, error = up_outcome(shared, root)
    assert not started and "writable by group or others (mode 770)" in error, error
    # Once everything is root's own and private, it starts (its own token file is used).
    os.chmod(state, 0o700)
    (state / "registrations.json").write_text(json.dumps({"version": 1, "services": []}))
    started, error = up_outcome(shared, root)
    assert started, error
    assert not proof.exists()
    assert not (shared / "victim-audit").exists()


def test_a_state_directory_that_came_with_a_project_stops_the_start(tmp_path):
    """A `.micromcp/` shipped in a project — the user's own files, as a git
    clone or an archive leaves them (0755, 0644) — with a registration that
    runs a command and a token: `up` there stops naming why, runs nothing
    (before: the command ran at start and the planted token was accepted);
    once the operator makes it private (0700), it is theirs and starts."""
    root = make_root(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    proof = tmp_path / "pwned.txt"
    state = project / ".micromcp"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    (state / "token").write_text("mmcp_attacker_known_token_0123456789abcdef0123\n")
    registration = {"name": "helper", "mcp_server": {"command": "/bin/sh", "args": ["-c", f"id > {proof}; exec sleep 100"]}}
    (state / "registrations.json").write_text(json.dumps({"version": 1, "services": [registration]}))
    for path in state.iterdir():
        os.chmod(path, 0o644)
    started, error = up_outcome(project, root)
    assert not started, error
    assert "state directory not trusted" in error and "mode 755" in error and "chmod 700" in error, error
    time.sleep(0.5)
    assert not proof.exists(), "the shipped registration never runs"
    os.chmod(state, 0o700)
    (state / "registrations.json").write_text(json.dumps({"version": 1, "services": []}))
    started, error = up_outcome(project, root)
    assert started, error


def test_state_files_named_by_the_config_are_checked_too(tmp_path):
    root = make_root(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = tmp_path / "victim"
    cases = {
        "audit": ("[audit]\npath = \"{path}\"\n", "link"),
        "pins": ("[admin]\ntool_pins_file = \"{path}\"\n", "foreign"),
        "registrations": ("[admin]\nregistrations_file = \"{path}\"\n", "writable"),
        "key": ("[gateway]\nsession_key_file = \"{path}\"\n", "foreign"),
    }
    for name, (setting, kind) in cases.items():
        path = elsewhere / f"{name}.file"
        if kind == "link":
            os.symlink(victim, path)
        else:
            path.write_text({"pins": "{}", "key": "0" * 64}.get(name, json.dumps({"version": 1, "services": []})))
            if kind == "foreign":
                os.chown(path, NOBODY, NOBODY)
                os.chmod(path, 0o644)
            else:
                os.chmod(path, 0o666)
        (tmp_path / "micromcp.toml").write_text("version = 1\n" + setting.format(path=path))
        started, error = up_outcome(tmp_path, root, env_extra={"MICROMCP_TOKEN": TOKEN},
                                    state_dir=tmp_path / f"state-{name}")
        assert not started, (name, error)
        assert str(path) in error, (name, error)
        expected = {"link": "symbolic link", "foreign": "owned by uid 65534", "writable": "writable by group or others"}[kind]
        assert expected in error, (name, error)
    assert not victim.exists(), "the audit log is never opened through a link"


def test_state_files_inside_a_served_root_stop_the_start_naming_the_key(tmp_path):
    """fs would serve them: the admin token, the registrations (a command the
    gateway runs) and the approved tool definitions, like the token, key,
    audit log and index before them."""
    root = make_root(tmp_path)
    cases = {
        "admin.token_file": "[admin]\ntoken_file = \"{path}\"\n",
        "admin.registrations_file": "[admin]\nregistrations_file = \"{path}\"\n",
        "admin.tool_pins_file": "[admin]\ntool_pins_file = \"{path}\"\n",
    }
    for key, setting in cases.items():
        path = root / f"{key}.file"
        if key == "admin.token_file":
            path.write_text("admin-token-0123456789abcdef0123456789\n")
            os.chmod(path, 0o600)
        (tmp_path / "micromcp.toml").write_text("version = 1\n" + setting.format(path=path))
        started, error = up_outcome(tmp_path, root, env_extra={"MICROMCP_TOKEN": TOKEN},
                                    state_dir=tmp_path / f"state-{key}")
        assert not started, (key, error)
        assert key in error and "inside the served root" in error, (key, error)


def gateway_outcome(base, gateway_keys: str = "", admin_keys: str = "", timeout=15.0) -> tuple[bool, str]:
    """Runs `micromcp gateway` with these `[gateway]` and `[admin]` keys;
    (started, its error output). Stopped either way."""
    config = base / "gateway.toml"
    config.write_text(f'version = 1\n[gateway]\nlisten = "127.0.0.1:{free_port()}"\n{gateway_keys}'
                      f'[admin]\nlisten = "off"\n{admin_keys}')
    env = dict(os.environ, MICROMCP_LOG="warn", MICROMCP_TOKEN=TOKEN)
    process = subprocess.Popen([str(BINARY), "gateway", "--config", str(config)], cwd=base, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    started = False
    while time.monotonic() < deadline and process.poll() is None:
        if "listening on" in process.stdout.readline():
            started = True
            break
    if process.poll() is None:
        process.terminate()
    error = error_output_once_ended(process)
    return started, error


def test_the_gateway_command_trusts_the_directories_of_its_state_files_as_up_does(tmp_path):
    """`micromcp gateway` checked each state file but not where it lies: a
    directory others may write (or another user's) lets them swap a file
    after its check, or plant the session key or registrations the gateway
    has yet to create. Refused naming the key; a private directory starts."""
    writable = tmp_path / "writable"
    writable.mkdir()
    os.chmod(writable, 0o777)
    started, error = gateway_outcome(tmp_path, gateway_keys=f'session_key_file = "{writable / "session.key"}"\n')
    assert not started, error
    assert "gateway.session_key_file" in error and str(writable) in error, error
    assert "writable by group or others" in error, error
    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o755)
    os.chown(foreign, NOBODY, NOBODY)
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    started, error = gateway_outcome(tmp_path, gateway_keys=f'session_key_file = "{private / "session.key"}"\n',
                                     admin_keys=f'registrations_file = "{foreign / "registrations.json"}"\n')
    assert not started, error
    assert "admin.registrations_file" in error and "owned by uid 65534" in error, error
    started, error = gateway_outcome(tmp_path, gateway_keys=f'session_key_file = "{private / "session.key"}"\n')
    assert started, error


def stdio_outcome(base, config_text: str, root) -> tuple[bool, str]:
    """Runs `micromcp stdio` with this config; (answered an initialize,
    its error output). Stopped either way."""
    config = base / "stdio.toml"
    config.write_text(config_text)
    env = dict(os.environ, MICROMCP_LOG="warn")
    process = subprocess.Popen([str(BINARY), "stdio", "--root", str(root), "--config", str(config)], cwd=base, env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    try:
        process.stdin.write(json.dumps(initialize) + "\n")
        process.stdin.flush()
        answer = process.stdout.readline()
    except BrokenPipeError:
        answer = ""
    started = '"result"' in answer
    process.terminate()
    error = error_output_once_ended(process)
    return started, error


def test_the_stdio_command_trusts_the_directories_of_its_state_files_as_up_does(tmp_path):
    """`micromcp stdio` opened its audit log, session key and search index
    wherever its config said, in a directory any user could write or in
    another user's: refused naming the key, as `up` and `gateway` refuse;
    private directories start."""
    root = make_root(tmp_path)
    writable = tmp_path / "writable"
    writable.mkdir()
    os.chmod(writable, 0o777)
    started, error = stdio_outcome(tmp_path, f'version = 1\n[audit]\npath = "{writable / "audit.jsonl"}"\n', root)
    assert not started, error
    assert "audit.path" in error and str(writable) in error and "writable by group or others" in error, error
    assert not (writable / "audit.jsonl").exists()
    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o755)
    os.chown(foreign, NOBODY, NOBODY)
    started, error = stdio_outcome(tmp_path, f'version = 1\n[gateway]\nsession_key_file = "{foreign / "session.key"}"\n', root)
    assert not started, error
    assert "gateway.session_key_file" in error and "owned by uid 65534" in error, error
    index = tmp_path / "index"
    index.mkdir()
    os.chmod(index, 0o777)
    started, error = stdio_outcome(tmp_path, f'version = 1\n[search]\nindex_dir = "{index}"\n', root)
    assert not started, error
    assert "search.index_dir" in error and "writable by group or others" in error, error
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    started, error = stdio_outcome(tmp_path, f'version = 1\n[audit]\npath = "{private / "audit.jsonl"}"\n', root)
    assert started, error
