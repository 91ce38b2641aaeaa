"""`micromcp check` on `[[services]] kind = "grpc"` entries: each target is
read as its translator would read it — real grpcio servers (with
grpcio-reflection, without it, over TLS with a private CA) and the tonic
example target — and check prints the tools each would offer after
allow/deny, named as clients see them, or precisely why it cannot: server
reflection off without a descriptor_set, a closed port, a silent target,
TLS on one side only. `--offline` contacts nothing."""

from __future__ import annotations

import os
import socket
import subprocess

from conftest import BINARY, TOKEN
from test_grpc_targets import TONIC_TARGET, processes  # noqa: F401
from test_grpc_up import descriptor_set


def check(tmp_path, entries: str, *flags: str) -> subprocess.CompletedProcess:
    config = tmp_path / "micromcp.toml"
    config.write_text("version = 1\n" + entries)
    return subprocess.run([str(BINARY), "check", "--config", str(config), "--wait-secs", "5", *flags], cwd=tmp_path,
                          env=dict(os.environ, MICROMCP_TOKEN=TOKEN), capture_output=True, text=True, timeout=120)


def entry(name: str, target: str, extra: str = "") -> str:
    return f'[[services]]\nname = "{name}"\nkind = "grpc"\ntarget = "{target}"\n{extra}'


def line_of(result: subprocess.CompletedProcess, name: str) -> str:
    """The line check printed for the gRPC entry `name`."""
    found = [line for line in result.stdout.splitlines() if line.startswith(f"  {name} (")]
    assert len(found) == 1, result.stdout + result.stderr
    return found[0]


def silent_listener() -> socket.socket:
    """A port that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    return listener


def test_check_lists_the_tools_each_grpc_target_would_offer(tmp_path, processes):  # noqa: F811
    subprocess.run([str(BINARY), "tls-cert", "--out", str(tmp_path / "tls"), "--name", "localhost"], check=True,
                   capture_output=True)
    _, line = processes.start([TONIC_TARGET], needle="grpc-target on")
    inventory = int(line.strip().rsplit(":", 1)[1])
    books = processes.python_target("bookshelf_server.py", tmp_path / "stubs", "--library")
    plain = processes.python_target("bookshelf_server.py", tmp_path / "stubs-off", "--no-reflection")
    tls = processes.python_target("bookshelf_server.py", tmp_path / "stubs-tls", "--tls-cert", tmp_path / "tls" / "localhost.pem",
                                  "--tls-key", tmp_path / "tls" / "localhost-key.pem")
    result = check(tmp_path,
                   entry("inv", f"http://127.0.0.1:{inventory}")
                   + entry("books", f"http://127.0.0.1:{books}",
                           'methods.allow = ["bookshelf.v1.*"]\nmethods.deny = ["*/DeleteAll", "*/Sleep"]\n')
                   + entry("files", f"http://127.0.0.1:{plain}",
                           f'descriptor_set = "{descriptor_set(tmp_path)}"\nmethods.allow = ["*/GetBook"]\n')
                   + entry("secure", f"https://localhost:{tls}",
                           f'tls_ca = "{tmp_path / "tls" / "ca.pem"}"\nnamespace = "s"\nmethods.allow = ["*/GetBook", "*/AddBook"]\n')
                   + entry("named", f"https://127.0.0.1:{tls}",
                           f'tls_ca = "{tmp_path / "tls" / "ca.pem"}"\ntls_server_name = "localhost"\nmethods.allow = ["*/GetBook"]\n'))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "grpc targets" in result.stdout, result.stdout
    assert line_of(result, "inv").endswith(
        "server reflection): 3 tools: inv.Inventory.GetItem, inv.Inventory.Restock, inv.Inventory.WatchItem"), result.stdout
    # The allow list lets the Library in, the deny list keeps DeleteAll and
    # Sleep out; a bidirectional method (Chat) is never a tool.
    assert line_of(result, "books").endswith(
        "server reflection): 4 tools: books.Bookshelf.AddBook, books.Bookshelf.GetBook, books.Bookshelf.ListBooks, "
        "books.Library.Count"), result.stdout
    assert f"descriptor_set {tmp_path / 'bookshelf.fds'}): 1 tools: files.Bookshelf.GetBook" in line_of(result, "files"), result.stdout
    # Over TLS: the server name is the target's host, the CA the entry's.
    assert line_of(result, "secure").endswith("2 tools: s.Bookshelf.AddBook, s.Bookshelf.GetBook"), result.stdout
    # An address the certificate does not name, with tls_server_name.
    assert line_of(result, "named").endswith("1 tools: named.Bookshelf.GetBook"), result.stdout


def test_check_presents_the_entrys_client_certificate(tmp_path, processes):  # noqa: F811
    tls = tmp_path / "tls"
    subprocess.run([str(BINARY), "tls-cert", "--out", str(tls), "--name", "localhost", "--name", "agent"], check=True,
                   capture_output=True)
    port = processes.python_target("bookshelf_server.py", tmp_path / "stubs", "--tls-cert", tls / "localhost.pem",
                                   "--tls-key", tls / "localhost-key.pem", "--tls-client-ca", tls / "ca.pem")
    secure = f'tls_ca = "{tls / "ca.pem"}"\nmethods.allow = ["*/GetBook"]\n'
    result = check(tmp_path,
                   entry("mtls", f"https://localhost:{port}",
                         secure + f'tls_client_cert = "{tls / "agent.pem"}"\ntls_client_key = "{tls / "agent-key.pem"}"\n')
                   + entry("anonymous", f"https://localhost:{port}", secure))
    assert result.returncode == 2, result.stdout + result.stderr
    assert line_of(result, "mtls").endswith("1 tools: mtls.Bookshelf.GetBook"), result.stdout
    assert "cannot be read: " in line_of(result, "anonymous") and "the target closed the TLS connection: does it want a " \
        "client certificate (tls_client_cert, tls_client_key)" in line_of(result, "anonymous"), result.stdout


def test_check_says_why_a_grpc_target_cannot_be_read(tmp_path, processes):  # noqa: F811
    subprocess.run([str(BINARY), "tls-cert", "--out", str(tmp_path / "tls"), "--name", "localhost"], check=True,
                   capture_output=True)
    off = processes.python_target("bookshelf_server.py", tmp_path / "stubs-off", "--no-reflection")
    plain = processes.python_target("bookshelf_server.py", tmp_path / "stubs")
    tls = processes.python_target("bookshelf_server.py", tmp_path / "stubs-tls", "--tls-cert", tmp_path / "tls" / "localhost.pem",
                                  "--tls-key", tmp_path / "tls" / "localhost-key.pem")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    silent = silent_listener()
    ca = tmp_path / "tls" / "ca.pem"
    try:
        result = check(tmp_path,
                       entry("off", f"http://127.0.0.1:{off}")
                       + entry("closed", f"http://127.0.0.1:{closed_port}")
                       + entry("closedfile", f"http://127.0.0.1:{closed_port}", f'descriptor_set = "{descriptor_set(tmp_path)}"\n')
                       + entry("silent", f"http://127.0.0.1:{silent.getsockname()[1]}", "deadline_ms = 1000\n")
                       + entry("plaintotls", f"http://127.0.0.1:{tls}")
                       + entry("tlstoplain", f"https://localhost:{plain}", f'tls_ca = "{ca}"\n'))
    finally:
        silent.close()
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cannot be read: " in line_of(result, "off") and \
        "server reflection is off on the target: turn it on there, or give descriptor_set" in line_of(result, "off"), result.stdout
    for name in ("closed", "closedfile"):
        assert "cannot be read: " in line_of(result, name) and \
            "the target is unreachable: is it running, and is the address right?" in line_of(result, name), result.stdout
    assert "the target is silent: no answer within the deadline of 1000 ms (deadline_ms)" in line_of(result, "silent"), result.stdout
    assert "the target may speak TLS: give an https:// target (with tls_ca)" in line_of(result, "plaintotls"), result.stdout
    assert "TLS failed: does the target speak TLS" in line_of(result, "tlstoplain"), result.stdout


def test_check_offline_contacts_no_grpc_target(tmp_path):
    listener = silent_listener()
    listener.setblocking(False)
    try:
        entries = entry("quiet", f"http://127.0.0.1:{listener.getsockname()[1]}", "deadline_ms = 1000\n")
        offline = check(tmp_path, entries, "--offline")
        assert offline.returncode == 0 and "quiet (grpc translator)" in offline.stdout, offline.stdout + offline.stderr
        assert "grpc targets" not in offline.stdout, offline.stdout
        try:
            listener.accept()
            raise AssertionError("check --offline dialled the gRPC target")
        except BlockingIOError:
            pass
        online = check(tmp_path, entries)
        assert online.returncode == 2 and "the target is silent" in line_of(online, "quiet"), online.stdout
        connection, _ = listener.accept()
        connection.close()
    finally:
        listener.close()
