"""Gateway memory held for tokens with many glob scopes: `micromcp up` with a
loopback JWT issuer; 100 tokens of distinct subjects, each with 250
`fs:NAME_*` scopes (the same patterns), each used once for `tools/list`;
the up process's VmRSS before and after.

    MICROMCP_BIN=target/debug/micromcp .cache/venv/bin/python bench/scope_memory.py
"""

from __future__ import annotations

import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "python"))

from test_jwt import Issuer, call, start_jwt  # noqa: E402


def rss_kib(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    issuer = Issuer()
    with tempfile.TemporaryDirectory() as base:
        running = start_jwt(pathlib.Path(base), issuer.url)
        try:
            pid = running.processes[0].pid
            scope = " ".join(f"fs:read_{index}_*" for index in range(250))
            assert call(running, issuer.token(running.resource, scope="fs", sub="warm")).status_code == 200
            before = rss_kib(pid)
            for index in range(100):
                answer = call(running, issuer.token(running.resource, scope=scope, sub=f"user-{index}"))
                assert answer.status_code == 200, answer.text
            after = rss_kib(pid)
            print(f"VmRSS before {before} KiB, after 100 tokens x 250 glob scopes {after} KiB: +{(after - before) / 1024:.1f} MiB")
        finally:
            running.stop()
            issuer.close()


if __name__ == "__main__":
    main()
