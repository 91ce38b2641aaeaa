"""Side-by-side comparison on loopback, in one run: the echo MCP server called
directly (the limit), Micro-MCP in front of the echo micro-service over gRPC
(TCP, Unix socket and QUIC), Micro-MCP in front of the same echo MCP server through
a bridge — over stdio and over Streamable HTTP — and peer gateways from PyPI in
front of that same echo server. Each path's ratio is against the direct path
of the same era (2025-11-25 sessions or 2026-07-28 requests); for the bridge over
HTTP, the TCP connections it opened to the echo server per 1 000 calls are
counted from /proc/net/tcp (TIME_WAIT included). `MICROMCP_RELEASE` names
another directory of release binaries (e.g. a build copied aside before a change).

Every process started here has a bounded lifetime (`timeout`). Rounds are
interleaved (round 1 runs every path, then round 2 …) so drift shows. Gateway
CPU per call comes from /proc/PID/stat (user+system ticks) across each run
divided by the requests sent. Run through bench/compare.sh, which builds the
release binaries and installs the peers first."""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jwt_issuer import Issuer  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RELEASE = Path(os.environ.get("MICROMCP_RELEASE", REPO / "target" / "release"))
PEERS = REPO / ".cache" / "peers"
TOKEN = "compare-" + "x" * 32
LIFETIME_SECS = 3600
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process exited with status {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def connections_to(port: int) -> set[tuple[str, str]]:
    """(local, remote) addresses of the TCP sockets in any state (TIME_WAIT
    included) whose remote port is `port`: the connections opened to it."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, remote = line.split()[1:3]
            if int(remote.rsplit(":", 1)[1], 16) == port:
                found.add((local, remote))
    return found


def children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        found += [int(child) for child in open(f"/proc/{pid}/task/{task}/children").read().split()]
    return found


@dataclass
class Route:
    """One way of reaching the echo tool, and the processes whose CPU it costs."""

    name: str
    url: str
    tool: str
    args: str
    era: str = "legacy"
    token: str | None = None
    cpu_pids: list[int] = field(default_factory=list)
    note: str = ""
    # The TCP port of the upstream this path opens connections to, if any:
    # its connections opened per 1 000 calls are counted.
    upstream_port: int | None = None


class Stack:
    """The processes of a run; all stopped at exit."""

    def __init__(self, work: Path):
        self.work = work
        self.processes: list[subprocess.Popen] = []

    def start(self, name: str, command: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.work / f"{name}.log", "w")
        process = subprocess.Popen(
            ["timeout", str(LIFETIME_SECS), *command],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
            cwd=self.work, start_new_session=True,
        )
        self.processes.append(process)
        return process

    def pid_of(self, process: subprocess.Popen) -> int:
        """The real program under `timeout`."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            found = children(process.pid)
            if found:
                return found[0]
            time.sleep(0.02)
        raise RuntimeError("process did not start")

    def stop(self) -> None:
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def gateway_config(work: Path, name: str, port: int, services: list[tuple[str, ...]], page_size: int = 1000,
                   tail: str = "") -> Path:
    """A gateway config mounting `services` as (name, namespace, endpoint[, extra TOML lines]),
    then `tail` (more tables: auth, policy, audit)."""
    config = work / f"{name}.toml"
    text = ("version = 1\n[gateway]\n"
            f'listen = "127.0.0.1:{port}"\npage_size = {page_size}\n'
            f'session_key_file = "{work / (name + ".key")}"\n')
    for service, namespace, endpoint, *extra in services:
        text += f'[[services]]\nname = "{service}"\nnamespace = "{namespace}"\nendpoint = "{endpoint}"\n'
        text += "".join(extra)
    if "[admin]" not in tail:
        # Metrics recorded, as by default, on an address of this gateway's own
        # (the default one is taken by the first gateway on the machine).
        tail += f'[admin]\nlisten = "127.0.0.1:{free_port()}"\n'
    config.write_text(text + tail)
    return config


def start_gateway(stack: Stack, name: str, services: list[tuple[str, ...]], page_size: int = 1000,
                  tail: str = "", port: int | None = None) -> tuple[int, int]:
    """Starts `micromcp gateway` on `port` (default a free one); returns (port, pid)."""
    port = port or free_port()
    config = gateway_config(stack.work, name, port, services, page_size, tail)
    process = stack.start(name, [str(RELEASE / "micromcp"), "gateway", "--config", str(config)],
                          {"MICROMCP_TOKEN": TOKEN, "MICROMCP_LOG": "warn"})
    wait_for_port(port, timeout=60, process=process)
    return port, stack.pid_of(process)


AGENT_TOKEN = "compare-agent-" + secrets.token_hex(8)


def governance_toml(work: Path) -> str:
    """A named token with scopes, a Cedar policy and an audit file: the
    authorization and audit work a production deployment turns on."""
    policy = work / "policy.cedar"
    policy.write_text(
        "permit(principal, action, resource);\n"
        "forbid(principal, action == Micromcp::Action::\"tools/call\", resource is Micromcp::Tool)\n"
        "  when { resource.destructive } unless { principal.roles.contains(\"admin\") };\n"
        "forbid(principal, action, resource) when { principal.name == \"blocked\" };\n")
    digest = hashlib.sha256(AGENT_TOKEN.encode()).hexdigest()
    return ("[[auth.tokens]]\nname = \"agent\"\n"
            f"sha256 = \"{digest}\"\nscopes = [\"echo\"]\nroles = [\"admin\"]\n"
            f"[policy]\ncedar_file = \"{policy}\"\n"
            f"[audit]\npath = \"{work / 'audit.jsonl'}\"\n")


def start_contextforge(stack: Stack, echo_url: str) -> tuple[Route | None, str]:
    """ContextForge in front of the echo server, or why not."""
    binary = PEERS / "contextforge" / "bin" / "mcpgateway"
    if not binary.exists():
        return None, "not installed (pip install mcp-contextforge-gateway failed; see .cache/peers/contextforge-install.log)"
    port = free_port()
    secret = secrets.token_hex(32)
    env = {
        "HOST": "127.0.0.1", "PORT": str(port), "JWT_SECRET_KEY": secret, "AUTH_REQUIRED": "true",
        "AUTH_ENCRYPTION_SECRET": secrets.token_hex(32),
        "BASIC_AUTH_USER": "admin", "BASIC_AUTH_PASSWORD": secrets.token_urlsafe(24) + "aA1!",
        "PLATFORM_ADMIN_EMAIL": "admin@example.com", "PLATFORM_ADMIN_PASSWORD": secrets.token_urlsafe(24) + "aA1!",
        "DATABASE_URL": f"sqlite:///{stack.work / 'contextforge.db'}", "MCPGATEWAY_UI_ENABLED": "false",
        "MCPGATEWAY_ADMIN_API_ENABLED": "true", "LOG_LEVEL": "ERROR", "CACHE_TYPE": "memory",
        "SSRF_PROTECTION_ENABLED": "false", "SSRF_ALLOW_LOCALHOST": "true", "SSRF_ALLOW_PRIVATE_NETWORKS": "true",
        # Its default per-user rate limits (100/min for MCP) would measure the limiter, not the gateway.
        "RATE_LIMITING_ENABLED": "false", "RATE_LIMIT_LOCKOUT_ENABLED": "false", "TOOL_RATE_LIMIT": "1000000",
    }
    process = stack.start("contextforge", [str(binary), "--host", "127.0.0.1", "--port", str(port)], env)
    try:
        wait_for_port(port, timeout=120, process=process)
        token = subprocess.run(
            [str(PEERS / "contextforge" / "bin" / "python"), "-m", "mcpgateway.utils.create_jwt_token",
             "--username", "admin@example.com", "--admin", "--exp", "60", "--secret", secret],
            capture_output=True, text=True, timeout=60, env={**os.environ, **env}, check=True,
        ).stdout.strip().splitlines()[-1]
        base = f"http://127.0.0.1:{port}"

        def call(method: str, path: str, body: dict) -> dict:
            request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method=method,
                                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"{}")

        gateway = call("POST", "/gateways", {"name": "echo", "url": echo_url, "transport": "STREAMABLEHTTP"})
        tools = json.loads(urllib.request.urlopen(urllib.request.Request(
            base + "/tools", headers={"Authorization": f"Bearer {token}"}), timeout=60).read())
        tool_ids = [tool["id"] for tool in tools if tool.get("gatewayId") == gateway.get("id") or "echo" in tool.get("name", "")]
        server = call("POST", "/servers", {"server": {"name": "echo-server", "associated_tools": tool_ids}})
        tool_name = next(tool["name"] for tool in tools if tool["id"] in tool_ids)
        url = f"{base}/servers/{server['id']}/mcp"
        pids = [stack.pid_of(process), *children(stack.pid_of(process))]
        return Route("ContextForge (PyPI)", url, tool_name, '{"text":"hello"}', token=token, cpu_pids=pids), ""
    except Exception as error:  # the peer is optional: report why it did not run
        return None, f"did not come up: {type(error).__name__}: {error} (log: {stack.work / 'contextforge.log'})"


def bridge_routes_of(stack: Stack, binary: Path, echo_url: str, echo_port: int, args: str) -> list[Route]:
    """The bridged paths (stdio and Streamable HTTP, both eras) through
    bridges run from `binary`, each behind a gateway of this build."""
    routes = []
    for kind, upstream in (("stdio", ["--command", str(RELEASE / "micromcp-echo"), "--arg", "--stdio"]),
                           ("Streamable HTTP", ["--url", echo_url])):
        name = "before-" + kind.split()[0].lower()
        socket_path = stack.work / f"bridge-{name}.sock"
        process = stack.start(f"bridge-{name}", [str(binary), "bridge", "--name", "echo", *upstream, "--socket", str(socket_path)],
                              {"MICROMCP_LOG": "warn"})
        for _ in range(200):
            if socket_path.exists():
                break
            time.sleep(0.05)
        bridge_pid = stack.pid_of(process)
        port, gateway_pid = start_gateway(stack, f"gateway-bridge-{name}", [("echo", "", f"unix://{socket_path}")])
        for era, suffix in (("legacy", ""), ("modern", ", 2026-07-28")):
            routes.append(Route(f"Micro-MCP → bridge ({binary}) → echo MCP server ({kind}){suffix}", f"http://127.0.0.1:{port}/mcp",
                                "echo", args, era=era, token=TOKEN, cpu_pids=[gateway_pid, bridge_pid], note="CPU: gateway + bridge",
                                upstream_port=echo_port if kind != "stdio" else None))
    return routes


def cluster_routes_of(stack: Stack, testkit_port: int, args: str) -> list[Route]:
    """The TCP path with a per-principal rate limit (never reached), decided
    by the gateway alone and through `[cluster]` (one Redis round trip per
    call, both eras): what sharing the decision costs. CPU: the gateway's."""
    redis_port = free_port()
    stack.start("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
    wait_for_port(redis_port)
    limits = "[rate_limits]\nper_principal_per_sec = 1000000\nper_principal_burst = 1000000\n"
    shared = limits + f'[cluster]\nredis_url = "redis://127.0.0.1:{redis_port}"\n'
    routes = []
    for name, tail in (("rate limit", limits), ("rate limit + [cluster] Redis", shared)):
        port, pid = start_gateway(stack, "gateway-" + name.replace(" ", "-").replace("[", "").replace("]", "").replace("+", "and"),
                                  [("echo", "", f"http://127.0.0.1:{testkit_port}")], tail=tail)
        for era, suffix in (("legacy", ""), ("modern", ", 2026-07-28")):
            routes.append(Route(f"Micro-MCP → echo service, gRPC/TCP, {name}{suffix}", f"http://127.0.0.1:{port}/mcp", "echo", args,
                                era=era, token=TOKEN, cpu_pids=[pid]))
    return routes


def loadtest(path: Route, concurrency: int, duration: str, warmup: str, out: Path) -> dict:
    command = [str(RELEASE / "micromcp-loadtest"), "--url", path.url, "--era", path.era, "--tool", path.tool,
               "--args", path.args, "--concurrency", str(concurrency), "--duration", duration,
               "--warmup", warmup, "--json", str(out)]
    env = dict(os.environ)
    env.pop("MICROMCP_TOKEN", None)
    if path.token:
        command += ["--token", path.token]
    before = cpu_seconds(path.cpu_pids) if path.cpu_pids else 0.0
    sockets_before = connections_to(path.upstream_port) if path.upstream_port else set()
    finished = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, timeout=600)
    if finished.returncode != 0:
        # Only the loadtest's own message: the command line holds tokens.
        reason = next((line for line in finished.stderr.splitlines() if line.startswith("Error")), "no message")
        raise RuntimeError(f"micromcp-loadtest exited with {finished.returncode}: {reason}")
    after = cpu_seconds(path.cpu_pids) if path.cpu_pids else 0.0
    report = json.loads(out.read_text())
    report["cpu_us_per_call"] = (after - before) * 1e6 / max(report["sent"], 1) if path.cpu_pids else None
    if path.upstream_port:
        # Warm-up calls count too: a connection opened then is one opened for these calls.
        opened = len(connections_to(path.upstream_port) - sockets_before)
        report["upstream_connections_per_1000"] = opened * 1000 / max(report["sent"], 1)
    return report


def ceiling(concurrency: int, duration: str, warmup: str, out: Path) -> dict:
    command = [str(RELEASE / "micromcp-loadtest"), "--ceiling", "--era", "legacy", "--tool", "echo",
               "--args", '{"text":"hello"}', "--concurrency", str(concurrency), "--duration", duration,
               "--warmup", warmup, "--json", str(out)]
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    return json.loads(out.read_text())["ceiling"] if out.exists() else {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", default="1,32,64")
    parser.add_argument("--duration", default="5s")
    parser.add_argument("--warmup", default="1s")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-contextforge", action="store_true")
    parser.add_argument("--no-peers", action="store_true", help="only the direct and Micro-MCP paths")
    parser.add_argument("--only", help="comma-separated substrings of path names to run (the direct path always runs)")
    parser.add_argument("--bridge-before", type=Path,
                        help="another build's `micromcp`: its bridges (stdio and HTTP) run too, behind gateways of this build, "
                             "so a change to the bridge is compared in one interleaved run")
    parser.add_argument("--results", type=Path, help="append the table to this Markdown file")
    parser.add_argument("--cluster", action="store_true",
                        help="add the TCP path with a per-principal rate limit, without and with [cluster] (a redis-server of its own)")
    options = parser.parse_args()
    levels = [int(level) for level in options.concurrency.split(",")]
    work = Path(tempfile.mkdtemp(prefix="micromcp-compare-"))
    stack = Stack(work)
    skipped: list[str] = []
    try:
        echo_port = free_port()
        stack.start("echo-http", [str(RELEASE / "micromcp-echo"), "--listen", f"127.0.0.1:{echo_port}"])
        wait_for_port(echo_port)
        echo_url = f"http://127.0.0.1:{echo_port}/mcp"
        testkit_port = free_port()
        stack.start("testkit-tcp", [str(RELEASE / "micromcp"), "testkit", "--listen", f"127.0.0.1:{testkit_port}"], {"MICROMCP_LOG": "warn"})
        testkit_socket = work / "testkit.sock"
        stack.start("testkit-unix", [str(RELEASE / "micromcp"), "testkit", "--socket", str(testkit_socket)], {"MICROMCP_LOG": "warn"})
        certs = work / "certs"
        subprocess.run([str(RELEASE / "micromcp"), "tls-cert", "--out", str(certs), "--name", "localhost"], check=True,
                       stdout=subprocess.DEVNULL)
        testkit_quic_port = free_port()
        stack.start("testkit-quic", [str(RELEASE / "micromcp"), "testkit", "--quic", f"127.0.0.1:{testkit_quic_port}",
                                     "--tls-cert", str(certs / "localhost.pem"), "--tls-key", str(certs / "localhost-key.pem")],
                    {"MICROMCP_LOG": "warn"})
        bridge_socket = work / "bridge.sock"
        bridge = stack.start("bridge", [str(RELEASE / "micromcp"), "bridge", "--name", "echo", "--command", str(RELEASE / "micromcp-echo"),
                                        "--arg", "--stdio", "--socket", str(bridge_socket)], {"MICROMCP_LOG": "warn"})
        wait_for_port(testkit_port)
        for _ in range(100):
            if testkit_socket.exists() and bridge_socket.exists():
                break
            time.sleep(0.05)
        bridge_http_socket = work / "bridge-http.sock"
        bridge_http = stack.start("bridge-http", [str(RELEASE / "micromcp"), "bridge", "--name", "echo", "--url", echo_url,
                                                  "--socket", str(bridge_http_socket)], {"MICROMCP_LOG": "warn"})
        for _ in range(100):
            if bridge_http_socket.exists():
                break
            time.sleep(0.05)
        bridge_pid = stack.pid_of(bridge)
        bridge_http_pid = stack.pid_of(bridge_http)
        tcp_port, tcp_pid = start_gateway(stack, "gateway-tcp", [("echo", "", f"http://127.0.0.1:{testkit_port}")])
        unix_port, unix_pid = start_gateway(stack, "gateway-unix", [("echo", "", f"unix://{testkit_socket}")])
        quiet_port, quiet_pid = start_gateway(stack, "gateway-tcp-no-metrics", [("echo", "", f"http://127.0.0.1:{testkit_port}")],
                                              tail='[admin]\nlisten = "off"\n')
        bridged_port, bridged_pid = start_gateway(stack, "gateway-bridge", [("echo", "", f"unix://{bridge_socket}")])
        bridged_http_port, bridged_http_pid = start_gateway(stack, "gateway-bridge-http", [("echo", "", f"unix://{bridge_http_socket}")])
        governed_port, governed_pid = start_gateway(stack, "gateway-governed", [("echo", "", f"unix://{testkit_socket}")],
                                                    tail=governance_toml(work))
        issuer = Issuer(work)
        jwt_port = free_port()
        jwt_audience = f"http://127.0.0.1:{jwt_port}/mcp"
        jwt_port, jwt_pid = start_gateway(stack, "gateway-tcp-jwt", [("echo", "", f"http://127.0.0.1:{testkit_port}")],
                                          tail=issuer.toml(jwt_audience), port=jwt_port)
        quic_tls = f'tls_ca = "{certs / "ca.pem"}"\ntls_server_name = "localhost"\n'
        quic_port, quic_pid = start_gateway(stack, "gateway-quic", [("echo", "", f"quic://127.0.0.1:{testkit_quic_port}", quic_tls)])
        args = '{"text":"hello"}'
        paths = [
            Route("direct: echo MCP server (rmcp, HTTP)", echo_url, "echo", args),
            Route("direct: echo MCP server (rmcp, HTTP), 2026-07-28", echo_url, "echo", args, era="modern"),
            Route("Micro-MCP → echo service, gRPC/TCP", f"http://127.0.0.1:{tcp_port}/mcp", "echo", args, token=TOKEN, cpu_pids=[tcp_pid]),
            Route("Micro-MCP → echo service, gRPC/TCP, 2026-07-28", f"http://127.0.0.1:{tcp_port}/mcp", "echo", args, era="modern", token=TOKEN, cpu_pids=[tcp_pid]),
            Route("Micro-MCP → echo service, gRPC/TCP, metrics off", f"http://127.0.0.1:{quiet_port}/mcp", "echo", args, token=TOKEN,
                  cpu_pids=[quiet_pid], note="[admin] listen = \"off\": no recorder"),
            Route("Micro-MCP → echo service, gRPC/TCP, JWT (EdDSA)", jwt_audience, "echo", args, token=issuer.token(jwt_audience),
                  cpu_pids=[jwt_pid], note="an issuer's access token instead of a configured one"),
            Route("Micro-MCP → echo service, gRPC/Unix", f"http://127.0.0.1:{unix_port}/mcp", "echo", args, token=TOKEN, cpu_pids=[unix_pid]),
            Route("Micro-MCP → echo service, gRPC/Unix, scopes + Cedar + audit file", f"http://127.0.0.1:{governed_port}/mcp", "echo", args,
                  token=AGENT_TOKEN, cpu_pids=[governed_pid], note="named token, Cedar policy, every call audited to a file"),
            Route("Micro-MCP → echo service, gRPC/QUIC (HTTP/3, TLS)", f"http://127.0.0.1:{quic_port}/mcp", "echo", args, token=TOKEN,
                  cpu_pids=[quic_pid]),
            Route("Micro-MCP → bridge → echo MCP server (stdio)", f"http://127.0.0.1:{bridged_port}/mcp", "echo", args, token=TOKEN,
                  cpu_pids=[bridged_pid, bridge_pid], note="CPU: gateway + bridge"),
            Route("Micro-MCP → bridge → echo MCP server (stdio), 2026-07-28", f"http://127.0.0.1:{bridged_port}/mcp", "echo", args,
                  era="modern", token=TOKEN, cpu_pids=[bridged_pid, bridge_pid], note="CPU: gateway + bridge"),
            Route("Micro-MCP → bridge → echo MCP server (Streamable HTTP)", f"http://127.0.0.1:{bridged_http_port}/mcp", "echo", args,
                  token=TOKEN, cpu_pids=[bridged_http_pid, bridge_http_pid], note="CPU: gateway + bridge", upstream_port=echo_port),
            Route("Micro-MCP → bridge → echo MCP server (Streamable HTTP), 2026-07-28", f"http://127.0.0.1:{bridged_http_port}/mcp", "echo",
                  args, era="modern", token=TOKEN, cpu_pids=[bridged_http_pid, bridge_http_pid], note="CPU: gateway + bridge",
                  upstream_port=echo_port),
        ]
        if options.bridge_before:
            paths += bridge_routes_of(stack, options.bridge_before, echo_url, echo_port, args)
        if options.cluster:
            paths += cluster_routes_of(stack, testkit_port, args)
        proxy = PEERS / "mcp-proxy" / "bin" / "mcp-proxy"
        if options.no_peers:
            skipped.append("peers: --no-peers")
        elif proxy.exists():
            proxy_port = free_port()
            proxy_process = stack.start("mcp-proxy", [str(proxy), "--port", str(proxy_port), "--host", "127.0.0.1", "--log-level", "WARNING",
                                                       "--", str(RELEASE / "micromcp-echo"), "--stdio"])
            wait_for_port(proxy_port)
            paths.append(Route("mcp-proxy 0.13 (PyPI) → echo MCP server (stdio)", f"http://127.0.0.1:{proxy_port}/mcp", "echo", args,
                               cpu_pids=[stack.pid_of(proxy_process)]))
        else:
            skipped.append("mcp-proxy: not installed (bench/compare.sh installs it into .cache/peers/mcp-proxy)")
        if not options.no_contextforge and not options.no_peers:
            contextforge, why = start_contextforge(stack, echo_url)
            if contextforge:
                paths.append(contextforge)
            else:
                skipped.append(f"ContextForge: {why}")
        if options.only:
            wanted = [part.strip().lower() for part in options.only.split(",")]
            paths = [path for path in paths if path.name.startswith("direct")
                     or any(part in path.name.lower() for part in wanted)]
        ceilings = {level: ceiling(level, options.duration, options.warmup, work / f"ceiling-{level}.json") for level in levels}
        results: dict[tuple[str, int], list[dict]] = {}
        for round_index in range(options.rounds):
            for level in levels:
                for path in paths:
                    out = work / f"r{round_index}-c{level}-{len(results)}.json"
                    try:
                        report = loadtest(path, level, options.duration, options.warmup, out)
                    except (subprocess.SubprocessError, RuntimeError) as error:
                        report = {"error": str(error)}
                    results.setdefault((path.name, level), []).append(report)
                    print(f"round {round_index + 1} c={level} {path.name}: "
                          f"{report.get('throughput_rps', 0):.0f} req/s p50 {report.get('latency', {}).get('p50_us', '-')} µs "
                          f"failures {report.get('failures', '-')}", flush=True)
        table = render(paths, levels, results, ceilings, skipped, options)
        publish(table, options.results)
        return 0
    finally:
        stack.stop()
        shutil.rmtree(work, ignore_errors=True)


def heading(title: str, script: str) -> list[str]:
    """The first lines of a results section: the title with the time, and the command that made it."""
    return [f"### {title} {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
            f"Command: `python3 bench/{script} {' '.join(sys.argv[1:])}`".replace("  ", " "), ""]


def publish(table: str, results: Path | None) -> None:
    """Prints a results section and appends it to `results`, if given."""
    print("\n" + table)
    if results:
        with open(results, "a") as out:
            out.write("\n" + table + "\n")


def render(paths, levels, results, ceilings, skipped, options) -> str:
    command = "bench/compare.sh " + " ".join(sys.argv[1:])
    lines = [
        f"### Comparison {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} — {os.cpu_count()} cores",
        "",
        f"Command: `{command.strip()}` (2025-11-25 sessions unless marked; {options.rounds} interleaved rounds of "
        f"{options.duration} after {options.warmup} warm-up; figures are the per-round values, round 1 / round 2 …; "
        "× direct is against the direct path of the same era; upstream connections are TCP connections opened to the "
        "echo server per 1 000 calls, warm-up included).",
        "",
        "| path | conc | req/s | p50 µs | p99 µs | CPU µs/call | × direct (req/s) | added p50 µs | upstream conns / 1 000 calls | failures |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    direct_by_era = {}
    for path in paths:
        if path.name.startswith("direct"):
            direct_by_era.setdefault(path.era, path.name)
    for level in levels:
        for path in paths:
            direct_name = direct_by_era.get(path.era, paths[0].name)
            direct = results.get((direct_name, level), [])
            runs = results.get((path.name, level), [])
            ok = [run for run in runs if "throughput_rps" in run]
            if not ok:
                lines.append(f"| {path.name} | {level} | failed: {runs[0].get('error', '?') if runs else 'no run'} | | | | | | | |")
                continue

            def joined(values, digits=0):
                return " / ".join(f"{value:.{digits}f}" for value in values)

            ratios = [run["throughput_rps"] / max(base["throughput_rps"], 1e-9) for run, base in zip(ok, direct) if "throughput_rps" in base]
            added = [run["latency"]["p50_us"] - base["latency"]["p50_us"] for run, base in zip(ok, direct) if "latency" in base]
            cpu = [run["cpu_us_per_call"] for run in ok if run.get("cpu_us_per_call") is not None]
            opened = [run["upstream_connections_per_1000"] for run in ok if "upstream_connections_per_1000" in run]
            lines.append(
                f"| {path.name} | {level} | {joined([run['throughput_rps'] for run in ok])} | "
                f"{joined([run['latency']['p50_us'] for run in ok])} | {joined([run['latency']['p99_us'] for run in ok])} | "
                f"{joined(cpu) if cpu else '–'}{' (' + path.note + ')' if path.note and cpu else ''} | "
                f"{joined(ratios, 2) if path.name != direct_name else '1'} | {joined(added) if path.name != direct_name else '–'} | "
                f"{joined(opened, 1) if opened else '–'} | "
                f"{sum(run.get('failures', 0) for run in ok)} |"
            )
    lines.append("")
    lines.append("Generator ceiling (micromcp-loadtest against its built-in responder, same concurrency): " + ", ".join(
        f"c={level}: {ceiling.get('throughput_rps', 0):.0f} req/s" for level, ceiling in ceilings.items()))
    for line in skipped:
        lines.append(f"\nNot run — {line}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
