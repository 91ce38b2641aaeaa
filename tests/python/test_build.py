"""The README's build commands do not rebuild each other.

`cargo build --workspace` (what `scripts/test.sh` and the benches build) and
`cargo run --release -- up` (one package) must resolve every shared dependency
with the same features; otherwise the second command recompiles the crates
whose features differ and everything that depends on them (it once cost 13
crates and ~5 minutes of a release build). `cargo tree` shows the resolved
features without building anything.
"""

from __future__ import annotations

import json
import subprocess

import pytest

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


def compiled_units(*selection: str) -> dict[str, bool]:
    """`cargo build` of `selection`: each unit it produced (lib, build
    script, example) by name and kind, and whether it was already fresh."""
    built = subprocess.run(
        ["cargo", "build", *selection, "--message-format=json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert built.returncode == 0, built.stderr[-4000:]
    units = {}
    for line in built.stdout.splitlines():
        if not line.startswith("{"):
            continue
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact":
            name = f"{message['package_id'].rsplit('#', 1)[-1]} {'/'.join(message['target']['kind'])} {message['target']['name']}"
            units[name] = message["fresh"]
    return units


@pytest.mark.xfail(reason="since the grpc crates joined the workspace, building the SDK example alone "
                          "recompiles the workspace's own libraries (4 units: bench, bridge, gateway and the "
                          "example); external crates stay fresh. Known, not yet found why", strict=False)
def test_the_sdk_example_reuses_the_workspace_build():
    """`cargo build -p micromcp-sdk --example notes` (what services/sdk/README.md
    says) right after `cargo build --workspace --all-targets` (what
    scripts/test.sh builds) compiles nothing: the SDK's dev-dependencies make
    it resolve every shared crate as the workspace does (it once recompiled
    ~30 crates, cedar and tantivy among them). Build scripts and libraries
    compiled again would show here as units that were not fresh."""
    compiled_units("--workspace", "--all-targets")
    units = compiled_units("-p", "micromcp-sdk", "--example", "notes")
    assert any(name.endswith(" example notes") for name in units), sorted(units)
    rebuilt = sorted(name for name, fresh in units.items() if not fresh)
    assert not rebuilt, f"building the SDK example alone recompiled {len(rebuilt)} units: {rebuilt}"
