"""A taken port or a bad flag gives one clear line naming the flag — no
debug dump of an error value — from `micromcp grpc-service`, the tonic
example target `grpc-target` and the SDK example `notes` (each run as the
real binary). Binaries: MICROMCP_BIN's directory (grpc-target) and
MICROMCP_SDK_EXAMPLE (notes), else this checkout's build."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import BINARY, REPO
from test_grpc_targets import TONIC_TARGET

NOTES = Path(os.environ.get("MICROMCP_SDK_EXAMPLE", REPO / "target" / "debug" / "examples" / "notes"))


@pytest.fixture
def taken_port():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def fails_with_one_line(arguments) -> str:
    done = subprocess.run([str(part) for part in arguments], capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, MICROMCP_LOG="error", RUST_BACKTRACE="1"))
    assert done.returncode != 0, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    for raw in ("Os {", "Error {", "kind:", 'Error: "'):
        assert raw not in line, line
    return line


def test_grpc_service_names_a_taken_listen_port(taken_port):
    line = fails_with_one_line([BINARY, "grpc-service", "--target", "http://127.0.0.1:1",
                                "--listen", f"127.0.0.1:{taken_port}"])
    assert f"--listen 127.0.0.1:{taken_port}" in line and "in use" in line, line


@pytest.mark.parametrize("binary", ["grpc-target", "notes"])
def test_the_examples_name_a_taken_port(binary, taken_port):
    path = TONIC_TARGET if binary == "grpc-target" else NOTES
    line = fails_with_one_line([path, "--listen", f"127.0.0.1:{taken_port}"])
    assert f"--listen 127.0.0.1:{taken_port}" in line and "in use" in line, line


@pytest.mark.parametrize("binary", ["grpc-target", "notes"])
def test_the_examples_name_a_bad_flag(binary):
    path = TONIC_TARGET if binary == "grpc-target" else NOTES
    unknown = fails_with_one_line([path, "--bogus", "x"])
    assert "--bogus" in unknown and "usage:" in unknown, unknown
    missing = fails_with_one_line([path, "--listen"])
    assert "--listen" in missing and "needs" in missing, missing
    if binary == "grpc-target":
        malformed = fails_with_one_line([path, "--listen", "nonsense"])
        assert '--listen "nonsense"' in malformed and "127.0.0.1:50051" in malformed, malformed
