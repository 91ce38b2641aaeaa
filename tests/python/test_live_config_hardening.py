"""Run-time changes attacked: what was registered and acknowledged never
stops the next start (two registrations whose catalogs share resource URIs:
the one known first wins, at start as at run time; a registration the
config file now names is skipped, naming it); a reload of an empty
file does not remove every service unless `admin.allow_empty_reload` says
it is meant; DELETEs racing for one registration get one 200 and 404s;
copies of the registrations file staged by a save that `kill -9`
interrupted are removed at the next start. Real `micromcp up` /
`micromcp gateway`, real testkit services, clients over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading

import httpx2

from conftest import BINARY, TOKEN, free_port, make_root, start_up, wait_for_line
from test_failures import eventually
from test_hostile import initialize, legacy
from test_live_config import ADMIN, ADMIN_TOKEN, SIMPLE_TEXT, call_text, gateway_config, start_admin_up, start_testkit, tool_names


def test_registrations_sharing_resources_never_stop_the_next_start(tmp_path):
    first, first_port = start_testkit()
    second, second_port = start_testkit()
    admin_port = free_port()
    state_dir = tmp_path / "state"
    running = start_admin_up(tmp_path, state_dir, admin_port)
    admin = f"http://127.0.0.1:{admin_port}"
    try:
        for name, port in (("kit-a", first_port), ("kit-b", second_port)):
            registered = httpx2.post(f"{admin}/api/services", headers=ADMIN, timeout=15,
                                     json={"name": name, "endpoint": f"http://127.0.0.1:{port}"})
            assert registered.status_code == 201, registered.text
        running.stop()

        running = start_admin_up(tmp_path, state_dir, admin_port)
        assert running.processes[0].poll() is None, "the start succeeded"
        session = initialize(running)
        assert eventually(lambda: call_text(running, session, "kit-b.test_simple_text") == SIMPLE_TEXT)
        assert call_text(running, session, "kit-a.test_simple_text") == SIMPLE_TEXT
        resources = legacy(running, session, "resources/list").json()["result"]["resources"]
        uris = [resource["uri"] for resource in resources]
        assert len(uris) == len(set(uris)), "each URI listed once"
        kept = json.loads((state_dir / "registrations.json").read_text())["services"]
        assert [service["name"] for service in kept] == ["kit-a", "kit-b"]
        # Both testkits list the same resource URIs: the one known first
        # serves them, and the registration's answer said so.
        collisions = registered.json().get("collisions", [])
        assert collisions and all('service "kit-a" and service "kit-b"' in collision for collision in collisions), registered.text
    finally:
        running.stop()
        first.kill()
        second.kill()


def test_a_registration_the_config_file_now_names_never_stops_the_start(tmp_path):
    """The config file gains a service of a registered name: the next start
    skips the registration (naming it), serves the file's service, and a
    DELETE removes what was kept."""
    kit, kit_port = start_testkit()
    admin_port = free_port()
    state_dir = tmp_path / "state"
    root = make_root(tmp_path)
    config = tmp_path / "micromcp.toml"
    config.write_text("")

    def start():
        return start_up(tmp_path, root, extra=["--admin-listen", f"127.0.0.1:{admin_port}", "--config", str(config)],
                        state_dir=state_dir, env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})

    running = start()
    admin = f"http://127.0.0.1:{admin_port}"
    try:
        registered = httpx2.post(f"{admin}/api/services", headers=ADMIN, timeout=15,
                                 json={"name": "kit", "endpoint": f"http://127.0.0.1:{kit_port}", "namespace": "registered"})
        assert registered.status_code == 201, registered.text
        running.stop()
        config.write_text(f'[[services]]\nname = "kit"\nendpoint = "http://127.0.0.1:{kit_port}"\n')

        running = start()
        session = initialize(running)
        assert eventually(lambda: call_text(running, session, "kit.test_simple_text") == SIMPLE_TEXT)
        assert "registered.test_simple_text" not in tool_names(running, session)
        removed = httpx2.delete(f"{admin}/api/services/kit", headers=ADMIN, timeout=15)
        assert removed.status_code == 200, removed.text
        assert json.loads((state_dir / "registrations.json").read_text())["services"] == []
        assert httpx2.delete(f"{admin}/api/services/kit", headers=ADMIN, timeout=15).status_code == 409
        assert call_text(running, session, "kit.test_simple_text") == SIMPLE_TEXT
    finally:
        running.stop()
        kit.kill()


def test_up_serves_the_config_files_services_beside_its_own_and_reloads_them(tmp_path):
    kit, kit_port = start_testkit()
    admin_port = free_port()
    config = tmp_path / "micromcp.toml"
    config.write_text(f'[[services]]\nname = "kit"\nendpoint = "http://127.0.0.1:{kit_port}"\n')
    running = start_up(tmp_path, make_root(tmp_path), extra=["--admin-listen", f"127.0.0.1:{admin_port}", "--config", str(config)],
                       env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})
    try:
        session = initialize(running)
        assert eventually(lambda: call_text(running, session, "kit.test_simple_text") == SIMPLE_TEXT)
        read = legacy(running, session, "tools/call", {"name": "fs.read_file", "arguments": {"path": "hello.txt"}}).json()
        assert "hello from the fs service" in json.dumps(read["result"])
        reloaded = httpx2.post(f"http://127.0.0.1:{admin_port}/api/reload", headers=ADMIN, timeout=15)
        assert reloaded.status_code == 200 and reloaded.json()["changes"]["services"] == {"added": [], "replaced": [], "removed": []}, reloaded.text
    finally:
        running.stop()
        kit.kill()


def test_a_reload_that_removes_every_service_needs_a_key(tmp_path):
    kit, kit_port = start_testkit()
    port, admin_port = free_port(), free_port()
    config = tmp_path / "micromcp.toml"
    session_key = f'session_key_file = "{tmp_path / "session.key"}"\n'
    config.write_text(gateway_config(port, {"a": kit_port}, session_key))
    env = dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="warn", MICROMCP_ADMIN_TOKEN=ADMIN_TOKEN)
    gateway = subprocess.Popen([str(BINARY), "gateway", "--config", str(config), "--admin-listen", f"127.0.0.1:{admin_port}"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    wait_for_line(gateway, "listening on")
    admin = f"http://127.0.0.1:{admin_port}"

    class Gw:
        url = f"http://127.0.0.1:{port}/mcp"
        headers = {"Authorization": f"Bearer {TOKEN}"}

    try:
        session = initialize(Gw)
        assert call_text(Gw, session, "a.test_simple_text") == SIMPLE_TEXT
        config.write_text("")
        refused = httpx2.post(f"{admin}/api/reload", headers=ADMIN, timeout=15)
        assert refused.status_code == 422 and "admin.allow_empty_reload" in refused.text, refused.text
        assert call_text(Gw, session, "a.test_simple_text") == SIMPLE_TEXT
        assert len(tool_names(Gw, session)) > 0

        config.write_text("[admin]\nallow_empty_reload = true\n")
        meant = httpx2.post(f"{admin}/api/reload", headers=ADMIN, timeout=15)
        assert meant.status_code == 200, meant.text
        assert eventually(lambda: not tool_names(Gw, session)), "meant: every service removed"
    finally:
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(timeout=10)
        except subprocess.TimeoutExpired:
            gateway.kill()
        kit.kill()


def test_racing_deletes_of_one_registration_get_one_200_and_404s(tmp_path):
    kit, kit_port = start_testkit()
    admin_port = free_port()
    running = start_admin_up(tmp_path, tmp_path / "state", admin_port)
    admin = f"http://127.0.0.1:{admin_port}"
    try:
        for round_number in range(3):
            registered = httpx2.post(f"{admin}/api/services", headers=ADMIN, timeout=15,
                                     json={"name": "kit", "endpoint": f"http://127.0.0.1:{kit_port}"})
            assert registered.status_code == 201, registered.text
            statuses: list[int] = []
            answers: list[str] = []
            barrier = threading.Barrier(8)

            def delete():
                barrier.wait()
                answer = httpx2.delete(f"{admin}/api/services/kit", headers=ADMIN, timeout=30)
                statuses.append(answer.status_code)
                answers.append(answer.text)

            threads = [threading.Thread(target=delete) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert sorted(statuses) == [200] + [404] * 7, (round_number, statuses, answers)
    finally:
        running.stop()
        kit.kill()


def test_copies_staged_by_an_interrupted_save_are_removed_at_start(tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    (state_dir / "registrations.json").write_text(json.dumps({"version": 1, "services": []}))
    # What a `kill -9` during a save leaves: the staged copies of the
    # registrations and of the tool pins.
    left = [state_dir / ".tool-pins.json.Q7fXz2.tmp", state_dir / ".registrations.json.Ab3dE9.tmp"]
    for path in left:
        path.write_bytes(b"{" + b" " * 880_000)
    (state_dir / "notes.txt").write_text("the operator's own file")
    admin_port = free_port()
    running = start_admin_up(tmp_path, state_dir, admin_port)
    try:
        assert not [path.name for path in left if path.exists()], sorted(os.listdir(state_dir))
        assert (state_dir / "notes.txt").read_text() == "the operator's own file"
        registered = httpx2.post(f"http://127.0.0.1:{admin_port}/api/services", headers=ADMIN, timeout=15,
                                 json={"name": "kit", "endpoint": "http://127.0.0.1:1"})
        assert registered.status_code == 201, registered.text
        assert not [name for name in os.listdir(state_dir) if name.endswith(".tmp")]
    finally:
        running.stop()


def test_a_shared_state_directory_keeps_every_name_the_gateway_did_not_write(tmp_path):
    """`up --state-dir` on a directory shared with other programs removes
    only its own staged copies, never another program's `.tmp` files."""
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    theirs = [".viminfo.tmp", ".my.important.tmp", ".tmpABCDEF", ".registrations.json.mine.tmp"]
    for name in theirs:
        (state_dir / name).write_text("someone else's")
    running = start_admin_up(tmp_path, state_dir, free_port())
    try:
        assert sorted(name for name in theirs if (state_dir / name).exists()) == sorted(theirs), sorted(os.listdir(state_dir))
    finally:
        running.stop()


def test_a_config_file_over_4_mib_is_refused_at_start_and_on_reload(tmp_path):
    admin_port = free_port()
    config = tmp_path / "micromcp.toml"
    padding = ("# " + "x" * 1000 + "\n") * 5000
    config.write_text(padding)
    root = make_root(tmp_path)
    started = subprocess.run([str(BINARY), "up", "--listen", f"127.0.0.1:{free_port()}", "--root", str(root), "--config", str(config),
                              "--state-dir", str(tmp_path / "s1")], cwd=tmp_path,
                             capture_output=True, text=True, timeout=15, env={**os.environ, "MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})
    assert started.returncode != 0 and "4 MiB" in started.stderr, started.stderr[-2000:]
    config.write_text("")
    running = start_up(tmp_path, root, extra=["--admin-listen", f"127.0.0.1:{admin_port}", "--config", str(config)],
                       env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})
    try:
        config.write_text(padding)
        reloaded = httpx2.post(f"http://127.0.0.1:{admin_port}/api/reload", headers=ADMIN, timeout=30)
        assert reloaded.status_code == 422 and "4 MiB" in reloaded.text, reloaded.text[:500]
    finally:
        running.stop()
