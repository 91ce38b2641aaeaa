"""The README's build commands do not rebuild each other.

`cargo build --workspace` (what `scripts/test.sh` and the benches build) and
`cargo run --release -- up` (one package) must resolve every shared dependency
with the same features; otherwise the second command recompiles the crates
whose features differ and everything that depends on them (it once cost 13
crates and ~5 minutes of a release build). `cargo tree` shows the resolved
features without building anything.
"""

from __future__ import annotations

import subprocess

from conftest import REPO


def resolved_features(*selection: str) -> set[str]:
    """`name version [features]` of every normal dependency cargo resolves
    for the packages selected (`--workspace` or `-p NAME`)."""
    tree = subprocess.run(
        ["cargo", "tree", *selection, "-e", "normal", "-f", "{p} [{f}]", "--prefix", "none", "--no-dedupe"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return {line.split(" (")[0] for line in tree.splitlines() if line.strip()}


def test_the_binary_alone_resolves_features_as_the_workspace_does():
    workspace = resolved_features("--workspace")
    alone = resolved_features("-p", "micromcp")
    differing = sorted(alone - workspace)
    assert not differing, (
        "`cargo run -p micromcp` resolves these dependencies with other features than "
        f"`cargo build --workspace`, so one rebuilds the other: {differing}"
    )
