"""Kept registrations that no longer validate never lock the control plane:
each is skipped at start (listed under `skipped` in GET /api/services with
why), left out of every later change's validation, and can be DELETEd; a
registration, a reload and a second DELETE all go through. Real
`micromcp up`, clients over HTTP."""

from __future__ import annotations

import json
import os
import time

import httpx2
import pytest

from conftest import free_port, make_root, start_up
from test_live_config import ADMIN, ADMIN_TOKEN, start_admin_up


def test_two_skipped_registrations_leave_the_admin_api_usable(tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    broken = [{"name": "x1"}, {"name": "x2", "endpoint": "ftp://nowhere"}]
    (state_dir / "registrations.json").write_text(json.dumps({"version": 1, "services": broken}))
    admin_port = free_port()
    running = start_admin_up(tmp_path, state_dir, admin_port)
    admin = f"http://127.0.0.1:{admin_port}"
    try:
        reloaded = httpx2.post(f"{admin}/api/reload", headers=ADMIN, timeout=15)
        assert reloaded.status_code == 200, reloaded.text
        added = httpx2.post(f"{admin}/api/services", headers=ADMIN, timeout=15,
                            json={"name": "kit", "endpoint": "http://127.0.0.1:1"})
        assert added.status_code == 201, added.text
        listed = httpx2.get(f"{admin}/api/services", headers=ADMIN, timeout=15).json()
        skipped = {entry["name"]: entry["why"] for entry in listed.get("skipped", [])}
        assert sorted(skipped) == ["x1", "x2"], listed
        assert "ftp://nowhere" in skipped["x2"] or "endpoint" in skipped["x2"], skipped
        first = httpx2.delete(f"{admin}/api/services/x1", headers=ADMIN, timeout=15)
        assert first.status_code == 200, first.text
        second = httpx2.delete(f"{admin}/api/services/x2", headers=ADMIN, timeout=15)
        assert second.status_code == 200, second.text
        kept = json.loads((state_dir / "registrations.json").read_text())["services"]
        assert [entry["name"] for entry in kept] == ["kit"]
        listed = httpx2.get(f"{admin}/api/services", headers=ADMIN, timeout=15).json()
        assert listed["skipped"] == []
    finally:
        running.stop()


DAMAGED = {
    "empty": b"",
    "nul": b"\x00" * 100,
    "not-json": b"{garbage",
    "a-list": b"[]",
    "services-a-string": json.dumps({"version": 1, "services": "x"}).encode(),
    "version-99": json.dumps({"version": 99, "services": []}).encode(),
    "invalid-utf8": b'{"version":1,"services":[{"name":"\xff","endpoint":"http://127.0.0.1:1"}]}',
}


@pytest.mark.parametrize("damage", sorted(DAMAGED))
def test_a_damaged_registrations_file_is_moved_aside_and_the_start_goes_on(tmp_path, damage):
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    (state_dir / "registrations.json").write_bytes(DAMAGED[damage])
    admin_port = free_port()
    running = start_admin_up(tmp_path, state_dir, admin_port)
    try:
        assert running.processes[0].poll() is None, "the start went on"
        aside = [path for path in state_dir.iterdir() if path.name.startswith("registrations.json.broken-")]
        assert len(aside) == 1 and aside[0].read_bytes() == DAMAGED[damage], sorted(os.listdir(state_dir))
        added = httpx2.post(f"http://127.0.0.1:{admin_port}/api/services", headers=ADMIN, timeout=15,
                            json={"name": "kit", "endpoint": "http://127.0.0.1:1"})
        assert added.status_code == 201, added.text
        assert aside[0].read_bytes() == DAMAGED[damage], "the operator's data is kept"
    finally:
        running.stop()


def test_an_entry_that_does_not_parse_is_skipped_and_the_file_kept(tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    text = json.dumps({"version": 1, "services": [
        {"name": "y", "endpoint": "http://127.0.0.1:1", "evil": 1},
        {"name": "z", "endpoint": "http://127.0.0.1:2"}]})
    (state_dir / "registrations.json").write_text(text)
    admin_port = free_port()
    running = start_admin_up(tmp_path, state_dir, admin_port)
    try:
        assert running.processes[0].poll() is None, "the start went on"
        listed = httpx2.get(f"http://127.0.0.1:{admin_port}/api/services", headers=ADMIN, timeout=15).json()
        names = [service["name"] for service in listed["services"]]
        assert "z" in names and "y" not in names, names
        aside = [path for path in state_dir.iterdir() if path.name.startswith("registrations.json.broken-")]
        assert len(aside) == 1 and aside[0].read_text() == text
    finally:
        running.stop()


def test_a_registered_command_runs_in_an_empty_directory_of_its_own(tmp_path):
    """A registered MCP server's command (what `registry add` makes:
    `npx -y PKG@VERSION`) never runs in the gateway's working directory,
    where a `PKG@1.4.0.tgz` or an `.npmrc` could lie: it gets an empty one."""
    (tmp_path / "evil.tgz").write_text("planted")
    seen = tmp_path / "seen"
    runner = tmp_path / "fake-npx"
    runner.write_text(f"#!/bin/sh\n{{ pwd; ls -A; }} > {seen}\nexec sleep 30\n")
    runner.chmod(0o755)
    state_dir = tmp_path / "state"
    admin_port = free_port()
    running = start_admin_up(tmp_path, state_dir, admin_port)
    try:
        added = httpx2.post(f"http://127.0.0.1:{admin_port}/api/services", headers=ADMIN, timeout=30,
                            json={"name": "wx", "mcp_server": {"command": str(runner), "args": ["-y", "@acme/weather-mcp@1.4.0"]}})
        assert added.status_code in (200, 201), added.text
        deadline = time.time() + 15
        while not (seen.exists() and seen.read_text()) and time.time() < deadline:
            time.sleep(0.2)
        lines = seen.read_text().split("\n")
        assert lines[0] != str(tmp_path) and lines[0].endswith("reg-wx.cwd"), lines
        assert [line for line in lines[1:] if line] == [], "the directory is empty"
    finally:
        running.stop()


def test_two_registrations_the_config_file_now_names_can_each_be_deleted(tmp_path):
    """The operator moved two registered services into the config file's
    `[[services]]`: both are skipped, a reload works, each DELETE works."""
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    kept = [{"name": "weather", "endpoint": "http://127.0.0.1:1"}, {"name": "github", "endpoint": "http://127.0.0.1:2"}]
    (state_dir / "registrations.json").write_text(json.dumps({"version": 1, "services": kept}))
    config = tmp_path / "micromcp.toml"
    config.write_text('[[services]]\nname = "weather"\nendpoint = "http://127.0.0.1:1"\n\n'
                      '[[services]]\nname = "github"\nendpoint = "http://127.0.0.1:2"\n')
    admin_port = free_port()
    running = start_up(tmp_path, make_root(tmp_path), extra=["--admin-listen", f"127.0.0.1:{admin_port}", "--config", str(config)],
                       state_dir=state_dir, env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = f"http://127.0.0.1:{admin_port}"
    try:
        assert httpx2.post(f"{admin}/api/reload", headers=ADMIN, timeout=15).status_code == 200
        for name in ("weather", "github"):
            removed = httpx2.delete(f"{admin}/api/services/{name}", headers=ADMIN, timeout=15)
            assert removed.status_code == 200, removed.text
        assert json.loads((state_dir / "registrations.json").read_text())["services"] == []
        assert httpx2.delete(f"{admin}/api/services/weather", headers=ADMIN, timeout=15).status_code == 409
    finally:
        running.stop()


def test_a_name_kept_twice_keeps_the_first_and_the_start_goes_on(tmp_path):
    """An edited `registrations.json` naming one service twice: the first
    entry is kept, the second skipped with a warning naming it, the file as
    it was copied aside, and the admin API stays usable (the name can be
    deleted, and registered again)."""
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    text = json.dumps({"version": 1, "services": [
        {"name": "twin", "endpoint": "http://127.0.0.1:1"},
        {"name": "twin", "endpoint": "http://127.0.0.1:2"},
        {"name": "other", "endpoint": "http://127.0.0.1:3"}]})
    (state_dir / "registrations.json").write_text(text)
    admin_port = free_port()
    running = start_admin_up(tmp_path, state_dir, admin_port)
    admin = f"http://127.0.0.1:{admin_port}"
    try:
        assert running.processes[0].poll() is None, "the start went on"
        listed = httpx2.get(f"{admin}/api/services", headers=ADMIN, timeout=15).json()
        twins = [service for service in listed["services"] if service["name"] == "twin"]
        assert len(twins) == 1 and "127.0.0.1:1" in json.dumps(twins[0]), listed
        assert "other" in [service["name"] for service in listed["services"]], listed
        aside = [path for path in state_dir.iterdir() if path.name.startswith("registrations.json.broken-")]
        assert len(aside) == 1 and aside[0].read_text() == text, sorted(os.listdir(state_dir))
        deleted = httpx2.delete(f"{admin}/api/services/twin", headers=ADMIN, timeout=15)
        assert deleted.status_code == 200, deleted.text
        again = httpx2.post(f"{admin}/api/services", headers=ADMIN, timeout=15,
                            json={"name": "twin", "endpoint": "http://127.0.0.1:4"})
        assert again.status_code == 201, again.text
        kept = json.loads((state_dir / "registrations.json").read_text())["services"]
        assert sorted(entry["name"] for entry in kept) == ["other", "twin"], kept
    finally:
        running.stop()
