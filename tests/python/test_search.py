"""The search service under `micromcp up`, through the gateway: the start-up
crawl makes the root's files searchable, documents indexed through the
gateway are committed before the answer, and survive `kill -9` of the service
(the supervisor restarts it; nothing acknowledged is lost); an index never
serves files the crawl no longer reads (another root, a deleted file, another
config sharing the index directory), nor a crawled file's text once the file
changed (edited, deleted, made unreadable, replaced by a symlink out); an
index directory inside a served root stops the start."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from conftest import BINARY, TOKEN, Running, free_port, make_root, start_up, wait_for_line
from test_failures import eventually
from test_hostile import initialize, legacy
from test_same_user import UNPRIVILEGED, as_uid
from test_sdk_eras import connect

pytestmark = pytest.mark.anyio


def child_pid(running, name: str) -> int:
    up_pid = running.processes[0].pid
    for task in os.listdir(f"/proc/{up_pid}/task"):
        for pid in open(f"/proc/{up_pid}/task/{task}/children").read().split():
            if open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[1:2] == [name.encode()]:
                return int(pid)
    raise AssertionError(f"no {name} child")


async def test_crawl_then_search(tmp_path):
    root = make_root(tmp_path)
    running = start_up(tmp_path, root)
    try:
        async with connect(running, "auto") as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert {"search.query", "search.index", "search.similar", "search.hybrid", "search.stats", "search.delete"} <= names
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                stats = await client.call_tool("search.stats", {})
                if stats.structured_content["crawl"]["finished"]:
                    break
                time.sleep(0.1)
            assert stats.structured_content["crawl"]["files_indexed"] >= 2
            found = await client.call_tool("search.query", {"query": "guide"})
            assert found.structured_content["hits"][0]["title"] == "guide.md"
            assert "<b>Guide</b>" in found.structured_content["hits"][0]["snippet"]
    finally:
        running.stop()


def test_acknowledged_documents_survive_kill_9(gateway_up):
    session = initialize(gateway_up)
    documents = [{"id": f"doc-{n}", "title": f"note {n}", "body": f"durable payload number {n}", "vector": [float(n), 1.0]} for n in range(50)]
    indexed = legacy(gateway_up, session, "tools/call", {"name": "search.index", "arguments": {"documents": documents}}).json()
    assert indexed["result"]["structuredContent"] == {"indexed": 50}
    victim = child_pid(gateway_up, "search")
    os.kill(victim, signal.SIGKILL)

    def query():
        body = legacy(gateway_up, session, "tools/call", {"name": "search.query", "arguments": {"query": "durable", "limit": 100}}).json()
        return body.get("result") and body

    recovered = eventually(query, timeout=20)
    assert recovered["result"]["structuredContent"]["total"] == 50
    assert child_pid(gateway_up, "search") != victim
    similar = legacy(gateway_up, session, "tools/call", {"name": "search.similar", "arguments": {"vector": [49.0, 1.0], "k": 1}}).json()
    assert similar["result"]["structuredContent"]["hits"][0]["id"] == "doc-49"
    resource = legacy(gateway_up, session, "resources/read", {"uri": "search://doc/doc-7"}).json()
    assert "durable payload number 7" in resource["result"]["contents"][0]["text"]


async def crawl_finished(client) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stats = await client.call_tool("search.stats", {})
        if not stats.is_error and stats.structured_content["crawl"]["finished"]:
            return
        await anyio.sleep(0.1)
    raise AssertionError("the crawl never finished")


async def hits(client, word: str) -> list[dict]:
    found = await client.call_tool("search.query", {"query": word})
    assert not found.is_error, found
    return found.structured_content["hits"]


def text_root(base: Path, name: str, files: dict[str, str]) -> Path:
    root = base / name
    root.mkdir()
    for file, text in files.items():
        (root / file).write_text(text)
    return root


async def test_another_root_in_the_same_directory_hides_the_first_roots_files(tmp_path):
    """`up --root B` in the directory of an earlier `up --root A` (the same
    state directory, so the same index): A's files used to come back from
    `search.query` with their snippets while `fs.read_file` refused them."""
    root_a = text_root(tmp_path, "a", {"plans.txt": "zanzibarquux merger plans\n"})
    root_b = text_root(tmp_path, "b", {"notes.txt": "ordinary notes\n"})
    running = start_up(tmp_path, root_a)
    try:
        async with connect(running, "legacy") as client:
            await crawl_finished(client)
            assert [hit["title"] for hit in await hits(client, "zanzibarquux")] == ["plans.txt"]
    finally:
        running.stop()
    running = start_up(tmp_path, root_b)
    try:
        async with connect(running, "legacy") as client:
            assert await hits(client, "zanzibarquux") == [], "A's file before the crawl"
            await crawl_finished(client)
            assert await hits(client, "zanzibarquux") == [], "A's file after the crawl"
            assert [hit["title"] for hit in await hits(client, "ordinary")] == ["notes.txt"]
    finally:
        running.stop()


async def test_a_deleted_file_is_not_searchable_after_a_restart(tmp_path):
    root = text_root(tmp_path, "root", {"ephemeral.txt": "quokkaflux draft\n", "kept.txt": "kept quokkaflux\n"})
    running = start_up(tmp_path, root)
    try:
        async with connect(running, "legacy") as client:
            await crawl_finished(client)
            assert len(await hits(client, "quokkaflux")) == 2
            indexed = await client.call_tool("search.index", {"documents": [{"id": "mine", "body": "quokkaflux by hand"}]})
            assert not indexed.is_error, indexed
    finally:
        running.stop()
    (root / "ephemeral.txt").unlink()
    running = start_up(tmp_path, root)
    try:
        async with connect(running, "legacy") as client:
            titles = {hit["title"] for hit in await hits(client, "quokkaflux")}
            assert "ephemeral.txt" not in titles, "before the crawl"
            await crawl_finished(client)
            titles = {hit["id"] if not hit["title"] else hit["title"] for hit in await hits(client, "quokkaflux")}
            assert titles == {"kept.txt", "mine"}, "documents indexed through the tools stay"
    finally:
        running.stop()


async def test_stdio_runs_sharing_an_index_dir_see_only_their_own_roots(tmp_path):
    """Two `micromcp stdio --config` runs with one `[search] index_dir` and
    different roots: the second used to return the first root's files."""
    root_a = text_root(tmp_path, "a", {"secret.txt": "wombatzest salary table\n"})
    root_b = text_root(tmp_path, "b", {"public.txt": "public wombatzest-free page\n"})
    config = tmp_path / "desktop.toml"
    config.write_text(f'[search]\nindex_dir = "{tmp_path / "shared-index"}"\n')

    def stdio(root: Path) -> Client:
        return Client(StdioServerParameters(command=str(BINARY), args=["stdio", "--root", str(root), "--config", str(config)],
                                            env={**os.environ, "MICROMCP_LOG": "warn"}, cwd="/"), mode="legacy")

    async with stdio(root_a) as client:
        await crawl_finished(client)
        assert [hit["title"] for hit in await hits(client, "salary")] == ["secret.txt"]
    async with stdio(root_b) as client:
        assert await hits(client, "salary") == []
        await crawl_finished(client)
        assert await hits(client, "salary") == []
        assert [hit["title"] for hit in await hits(client, "public")] == ["public.txt"]


def big_root(base: Path, files: int = 12_000) -> Path:
    """A root the crawl takes seconds over (crawled before the roots named
    ahead of it: the crawl takes roots last first)."""
    big = base / "big"
    many = big / "many"
    many.mkdir(parents=True)
    for number in range(files):
        (many / f"f{number}.txt").write_text(f"filler {number} of the big root\n")
    return big


async def read_file(client, path: str) -> str:
    read = await client.call_tool("fs.read_file", {"path": path})
    return "" if read.is_error else read.content[0].text


async def eventually_hits(client, word: str, wanted) -> list[dict]:
    deadline = time.monotonic() + 20
    while True:
        found = await hits(client, word)
        if wanted(found) or time.monotonic() > deadline:
            return found
        await anyio.sleep(0.1)


@pytest.mark.parametrize("keep_mtime", [False, True], ids=["edited", "edited-keeping-mtime"])
async def test_a_file_edited_before_a_restart_shows_only_its_new_text(tmp_path, keep_mtime):
    """Edited while `up` was down: its old text (hit and snippet) used to be
    served until the crawl reached the file again, while fs served the new."""
    root = text_root(tmp_path, "root", {"zzz-secret.txt": "zzz token is plumtree777 here\n"})
    running = start_up(tmp_path, root)
    try:
        async with connect(running, "legacy") as client:
            await crawl_finished(client)
            assert [hit["title"] for hit in await hits(client, "plumtree777")] == ["zzz-secret.txt"]
    finally:
        running.stop()
    secret = root / "zzz-secret.txt"
    before = secret.stat()
    secret.write_text("zzz token is lemonpeel999 here\n")  # the same size
    if keep_mtime:
        os.utime(secret, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert secret.stat().st_mtime_ns == before.st_mtime_ns
    # Restarted with a big root the crawl goes through first: the edited
    # file is crawled again only after it.
    running = start_up(tmp_path, root, extra=["--root", str(big_root(tmp_path))])
    try:
        async with connect(running, "legacy") as client:
            assert await hits(client, "plumtree777") == [], "old text while the crawl runs"
            resource = str(await read_file(client, str(secret)))
            assert "lemonpeel999" in resource
            found = await eventually_hits(client, "lemonpeel999", bool)
            assert [hit["title"] for hit in found] == ["zzz-secret.txt"], "indexed again"
            assert "<b>lemonpeel999</b>" in found[0]["snippet"]
    finally:
        running.stop()


async def crawled_secret(tmp_path) -> tuple:
    root = text_root(tmp_path, "root", {"big.txt": "the vault code is kumquat4242\n", "other.txt": "other page\n"})
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "elsewhere.txt").write_text("the vault code is kumquat4242\n")
    return root, root / "big.txt"


async def assert_not_served_by_search(client, secret: Path) -> None:
    assert await hits(client, "kumquat4242") == []
    hybrid = await client.call_tool("search.hybrid", {"query": "kumquat4242"})
    assert not hybrid.is_error and hybrid.structured_content["hits"] == [], hybrid
    uri = f"search://doc/file://{secret}"
    with pytest.raises(Exception):
        await client.read_resource(uri)


@pytest.mark.parametrize("change", ["deleted", "symlink-out", "unreadable"])
async def test_a_file_changed_during_a_run_is_not_served_by_search(tmp_path, change):
    """A file deleted, replaced by a symlink out of the root, or made
    unreadable while `up` runs: search used to serve its hit, snippet and
    whole body (`search://doc/file://…`) until the next restart, while
    fs.read_file refused it. Made unreadable, `up` runs as an unprivileged
    uid (root reads a chmod 000 file, through fs too)."""
    as_nobody = change == "unreadable" and os.geteuid() == 0  # root reads a chmod 000 file
    if as_nobody:
        tmp_path = Path(tempfile.mkdtemp(prefix="micromcp-search-"))
        os.chmod(tmp_path, 0o755)
    root, secret = await crawled_secret(tmp_path)
    running = start_up_as_nobody(tmp_path, root) if as_nobody else start_up(tmp_path, root)
    try:
        async with connect(running, "legacy") as client:
            await crawl_finished(client)
            assert [hit["title"] for hit in await hits(client, "kumquat4242")] == ["big.txt"]
            body = await client.read_resource(f"search://doc/file://{secret}")
            assert "kumquat4242" in body.contents[0].text
            if change == "deleted":
                secret.unlink()
            elif change == "symlink-out":
                secret.unlink()
                os.symlink(tmp_path / "outside" / "elsewhere.txt", secret)
            else:
                secret.chmod(0)
            assert "kumquat4242" not in await read_file(client, str(secret)), "fs refuses it"
            await assert_not_served_by_search(client, secret)
            # Still not served once the refresh has run.
            await anyio.sleep(0.5)
            await assert_not_served_by_search(client, secret)
            assert [hit["title"] for hit in await hits(client, "other")] == ["other.txt"]
    finally:
        running.stop()
        if as_nobody:
            shutil.rmtree(tmp_path, ignore_errors=True)


def start_up_as_nobody(base: Path, root: Path) -> Running:
    """`up` as an unprivileged uid (which a chmod 000 file stops, as it
    stops fs), everything under `base` its own."""
    for path in [base, *base.rglob("*")]:
        os.chown(path, UNPRIVILEGED, UNPRIVILEGED, follow_symlinks=False)
    port = free_port()
    process = subprocess.Popen(
        [str(BINARY), "up", "--listen", f"127.0.0.1:{port}", "--root", str(root), "--state-dir", str(base / "state"),
         "--admin-listen", "off"],
        cwd=base, env=dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="warn"), stdout=subprocess.PIPE, text=True,
        preexec_fn=as_uid(UNPRIVILEGED))
    wait_for_line(process, "listening on")
    return Running(url=f"http://127.0.0.1:{port}/mcp", token=TOKEN, root=root, state_dir=base / "state",
                   processes=[process], port=port)


def refused_start(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    process = subprocess.Popen(command, cwd=cwd, env={**os.environ, "MICROMCP_TOKEN": "t" * 32, "MICROMCP_LOG": "warn"},
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"started with the index inside a root: {out}{err}")
    return subprocess.CompletedProcess(command, process.returncode, out, err)


@pytest.mark.parametrize("command", ["up", "stdio"])
async def test_an_index_dir_inside_a_served_root_is_refused(tmp_path, command):
    """`[search] index_dir` inside a root: fs used to list and stream the
    raw index, whose store files hold every document's body. The root here
    reaches the index through a symlink, and the index does not exist yet."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "page.txt").write_text("a page\n")
    link = tmp_path / "link"
    os.symlink(served, link)
    config = tmp_path / "micromcp.toml"
    config.write_text(f'[search]\nindex_dir = "{served / "not-yet" / "index"}"\n')
    if command == "up":
        args = ["up", "--listen", "127.0.0.1:0", "--admin-listen", "off", "--root", str(link), "--config", str(config),
                "--state-dir", str(tmp_path / "state")]
    else:
        args = ["stdio", "--root", str(link), "--config", str(config)]
    result = refused_start([str(BINARY), *args], tmp_path)
    assert result.returncode != 0
    assert "search.index_dir" in result.stderr, result.stderr
    assert not (served / "not-yet").exists()
