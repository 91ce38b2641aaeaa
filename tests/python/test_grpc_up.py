"""`[[services]] kind = "grpc"` under `micromcp up`: each entry runs as a
`micromcp grpc-service` child and its methods are tools, through the
official Python MCP client — one target read through reflection (tonic),
one from a descriptor set with reflection off (grpcio), one over TLS with
a private CA (grpcio); and the entry's keys are checked at start."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import BINARY, TOKEN, free_port, make_root, start_up
from test_grpc_targets import FIXTURES, TONIC_TARGET, connect, processes, tools_once  # noqa: F401

pytestmark = pytest.mark.anyio


def descriptor_set(tmp_path):
    from grpc_tools import protoc
    from pathlib import Path
    out = tmp_path / "bookshelf.fds"
    include = Path(protoc.__file__).resolve().parent / "_proto"
    assert protoc.main(["grpc_tools.protoc", f"-I{FIXTURES}", f"-I{include}", "--include_imports",
                        f"--descriptor_set_out={out}", str(FIXTURES / "bookshelf.proto")]) == 0
    return out


async def test_up_runs_grpc_entries_as_translator_children(tmp_path, processes):  # noqa: F811
    subprocess.run([str(BINARY), "tls-cert", "--out", str(tmp_path / "tls"), "--name", "localhost"], check=True,
                   capture_output=True)
    _, line = processes.start([TONIC_TARGET], needle="grpc-target on")
    inventory = int(line.strip().rsplit(":", 1)[1])
    plain = processes.python_target("bookshelf_server.py", tmp_path / "stubs", "--no-reflection")
    tls = processes.python_target("bookshelf_server.py", tmp_path / "stubs-tls", "--tls-cert", tmp_path / "tls" / "localhost.pem",
                                  "--tls-key", tmp_path / "tls" / "localhost-key.pem")
    (tmp_path / "micromcp.toml").write_text(
        'version = 1\n'
        f'[[services]]\nname = "inv"\nkind = "grpc"\ntarget = "http://127.0.0.1:{inventory}"\n'
        f'[[services]]\nname = "books"\nkind = "grpc"\ntarget = "http://127.0.0.1:{plain}"\n'
        f'descriptor_set = "{descriptor_set(tmp_path)}"\nmethods.allow = ["bookshelf.v1.Bookshelf/*"]\n'
        f'methods.deny = ["*/Sleep"]\n'
        f'[[services]]\nname = "secure"\nkind = "grpc"\ntarget = "https://localhost:{tls}"\n'
        f'tls_ca = "{tmp_path / "tls" / "ca.pem"}"\nmethods.allow = ["*/GetBook"]\n')
    running = start_up(tmp_path, make_root(tmp_path))
    processes.running.extend(running.processes)
    async with connect(running.url) as client:
        tools = await tools_once(client, {"inv.Inventory.GetItem", "books.Bookshelf.GetBook", "secure.Bookshelf.GetBook"})
        item = await client.call_tool("inv.Inventory.GetItem", {"sku": "A-7"})
        book = await client.call_tool("books.Bookshelf.GetBook", {"id": 3})
        secured = await client.call_tool("secure.Bookshelf.GetBook", {"id": 4})
    assert "books.Bookshelf.Sleep" not in tools and "books.Library.Count" not in tools, sorted(tools)
    assert [name for name in tools if name.startswith("secure.")] == ["secure.Bookshelf.GetBook"], sorted(tools)
    assert not item.is_error and item.structured_content["sku"] == "A-7", item
    assert not book.is_error and book.structured_content["title"] == "Book 3", book
    assert not secured.is_error and secured.structured_content["title"] == "Book 4", secured


@pytest.mark.parametrize("entry, message", [
    ('kind = "grpc"\n', "services[0].target: required for kind = \"grpc\""),
    ('kind = "grpc"\ntarget = "ftp://h:1"\n', "services[0].target: ftp://h:1/ is not http://host:port"),
    ('kind = "grpc"\ntarget = "http://h:1"\ndeadline_ms = 0\n', "services[0].deadline_ms: must be between"),
    ('kind = "grpc"\ntarget = "http://h:1"\nforward_metadata = ["cookie"]\n', "services[0].forward_metadata: unknown entry \"cookie\""),
    ('kind = "grpc"\ntarget = "https://h:1"\n', "services[0].tls_ca: an https:// target needs"),
    ('kind = "soap"\nendpoint = "http://h:1"\n', "].kind: unknown kind \"soap\""),
    ('endpoint = "http://h:1"\ntarget = "http://h:2"\n', "].target: only for kind = \"grpc\""),
])
def test_grpc_entries_are_checked_at_start(tmp_path, entry, message):
    (tmp_path / "micromcp.toml").write_text(f'version = 1\n[[services]]\nname = "g"\n{entry}')
    (tmp_path / "root").mkdir()
    started = subprocess.run([str(BINARY), "up", "--listen", f"127.0.0.1:{free_port()}", "--root", str(tmp_path / "root"),
                              "--state-dir", str(tmp_path / "state")], cwd=tmp_path, capture_output=True, text=True,
                             env=dict(os.environ, MICROMCP_TOKEN=TOKEN), timeout=30)
    assert started.returncode != 0 and message in started.stderr, started.stderr


def test_a_grpc_entry_beside_the_gateway_says_how_to_run_it(tmp_path):
    config = tmp_path / "micromcp.toml"
    config.write_text(f'version = 1\n[gateway]\nlisten = "127.0.0.1:{free_port()}"\n[admin]\nlisten = "off"\n'
                      '[[services]]\nname = "g"\nkind = "grpc"\ntarget = "http://127.0.0.1:1"\n')
    started = subprocess.run([str(BINARY), "gateway", "--config", str(config)], capture_output=True, text=True,
                             env=dict(os.environ, MICROMCP_TOKEN=TOKEN), timeout=30)
    assert started.returncode != 0 and "micromcp grpc-service" in started.stderr, started.stderr


def test_check_shows_grpc_entries_as_up_children_and_names_bad_keys(tmp_path):
    config = tmp_path / "micromcp.toml"
    config.write_text('version = 1\n[[services]]\nname = "inv"\nkind = "grpc"\ntarget = "http://127.0.0.1:1"\n')
    checked = subprocess.run([str(BINARY), "check", "--config", str(config), "--offline"], capture_output=True, text=True,
                             env=dict(os.environ, MICROMCP_TOKEN=TOKEN), timeout=30)
    assert checked.returncode == 0 and "inv (grpc translator)" in checked.stdout, checked
    config.write_text('version = 1\n[[services]]\nname = "inv"\nkind = "grpc"\ntarget = "http://127.0.0.1:1"\ndeadline_ms = 0\n')
    checked = subprocess.run([str(BINARY), "check", "--config", str(config), "--offline"], capture_output=True, text=True,
                             env=dict(os.environ, MICROMCP_TOKEN=TOKEN), timeout=30)
    assert checked.returncode == 1 and "services[0].deadline_ms: must be between" in checked.stderr, checked
