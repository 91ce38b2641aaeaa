"""Fault scenarios for the per-service stack, driven by micromcp-loadtest on
loopback, every figure a ratio or a bound measured in one run:

1. flood: one service (`busy`) flooded with slow calls far past its places
   and queue (`[backends]`) while another (`calm`) is measured — calm's p99
   against its own baseline from the same run, and how fast busy's excess
   is shed;
2. dead service: `busy` killed — how fast its calls fail (the route's
   fail-fast), then restarted — how long until its calls succeed again;
3. one of two endpoints dead: a service with two endpoints under load, one
   killed mid-run — the calls in flight on it at that moment, the time until
   it is ejected, and the failures after (the goal: none);
4. principal flood: `micromcp up` (fs and search) with two principals; one
   floods `search.query` closed loop with 64 clients while the other's
   `fs.stat` p99 is measured against its own baseline from the same run —
   without rate limits (and without the default fair share of the front,
   `limits.fair_share_in_flight_per_principal = 0`), with
   `per_principal_per_sec`, with `per_service_per_sec`, each with the
   default fair share (`--principal-flood-only` runs just this one,
   `--rounds N` repeats it to show the spread).

Everything started here has a bounded lifetime (`timeout`) and talks only to
127.0.0.1. Needs the release binaries:
`cargo build --release -p micromcp -p micromcp-loadtest --bins`.
Run: `python3 loadtest/fault_scenarios.py [--duration 5s] [--rounds 1] [--principal-flood-only]
[--fair-shares 2,4,8] [--results bench/RESULTS.md]`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RELEASE = REPO / "target" / "release"
TOKEN = "faults-" + "y" * 32
LIFETIME_SECS = 600


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def bounded(args: list[str], **kwargs) -> subprocess.Popen:
    """`args` under `timeout`, in a process group of its own (signals go to
    the group, so they reach the program and not only `timeout`)."""
    return subprocess.Popen(["timeout", str(LIFETIME_SECS), *args], start_new_session=True, **kwargs)


def signal_group(process: subprocess.Popen, number: int) -> None:
    try:
        os.killpg(process.pid, number)
    except ProcessLookupError:
        pass


def stop_all(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to every group, then SIGKILL to those still there after 15 s."""
    for process in processes:
        signal_group(process, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            signal_group(process, signal.SIGKILL)


def start_service(port: int, extra: list[str] | None = None) -> subprocess.Popen:
    service = bounded([str(RELEASE / "micromcp"), "testkit", "--listen", f"127.0.0.1:{port}", *(extra or [])],
                      env=dict(os.environ, MICROMCP_LOG="error"))
    wait_for_port(port)
    return service


def loadtest(url: str, tool: str, arguments: str, concurrency: int, duration: str, out: Path,
             rate: float | None = None, token: str = TOKEN) -> dict:
    command = [str(RELEASE / "micromcp-loadtest"), "--url", url, "--token", token, "--tool", tool,
               "--args", arguments, "--concurrency", str(concurrency), "--duration", duration,
               "--warmup", "500ms", "--json", str(out)]
    if rate:
        command += ["--rate", str(rate)]
    env = {key: value for key, value in os.environ.items() if key != "MICROMCP_TOKEN"}
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, timeout=300, check=True)
    return json.loads(out.read_text())


# The calm service's load, open loop: below what the 2 cores can serve, so
# the measurement is of isolation, not of a saturated machine.
CALM_RATE = 2000


def start_loadtest(url: str, tool: str, arguments: str, concurrency: int, duration: str, out: Path,
                   rate: float | None = None, nice: bool = False, token: str = TOKEN) -> subprocess.Popen:
    # A flood's own generator at low CPU priority: on 2 cores it would
    # otherwise take the gateway's time and show in the measured tail.
    prefix = ["nice", "-n", "19"] if nice else []
    command = [*prefix, str(RELEASE / "micromcp-loadtest"), "--url", url, "--token", token, "--tool", tool,
               "--args", arguments, "--concurrency", str(concurrency), "--duration", duration,
               "--warmup", "500ms", "--json", str(out)]
    if rate:
        command += ["--rate", str(rate)]
    env = {key: value for key, value in os.environ.items() if key != "MICROMCP_TOKEN"}
    return bounded(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def first_success_after(url: str, deadline_secs: float) -> float | None:
    """Seconds until a busy.echo call succeeds, polling every 20 ms."""
    import urllib.request

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "busy.echo", "arguments": {"n": 1}, "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}}}).encode()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
               "Mcp-Method": "tools/call", "Mcp-Name": "busy.echo"}
    started = time.monotonic()
    while time.monotonic() - started < deadline_secs:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if "result" in json.loads(response.read()):
                    return time.monotonic() - started
        except Exception:  # noqa: BLE001 - any failure means "not yet"
            pass
        time.sleep(0.02)
    return None


def readyz_endpoints(port: int) -> dict[str, dict]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
        service = json.loads(response.read())["services"][0]
    return {endpoint["address"]: endpoint for endpoint in service.get("endpoints", [])}


def endpoint_death(work: Path, duration: str) -> list[str]:
    """Scenario 3: two endpoints of one service under load, one killed."""
    ports, gateway_port = [free_port(), free_port()], free_port()
    services = [start_service(port) for port in ports]
    config = work / "pair.toml"
    config.write_text(
        "version = 1\n[gateway]\n"
        f'listen = "127.0.0.1:{gateway_port}"\n'
        f'session_key_file = "{work / "session.key"}"\n'
        "[backends]\nhealth_check_secs = 1\n"
        f'[[services]]\nname = "pair"\nendpoints = ["http://127.0.0.1:{ports[0]}", "http://127.0.0.1:{ports[1]}"]\n'
    )
    gateway = bounded([str(RELEASE / "micromcp"), "gateway", "--config", str(config)],
                      env=dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="error"), stdout=subprocess.DEVNULL)
    processes = [*services, gateway]
    url = f"http://127.0.0.1:{gateway_port}/mcp"
    try:
        wait_for_port(gateway_port)
        time.sleep(0.5)
        both = loadtest(url, "pair.echo", '{"n":1}', 16, duration, work / "pair-both.json")
        across = start_loadtest(url, "pair.echo", '{"n":1}', 16, "4s", work / "pair-across.json")
        time.sleep(2.0)
        killed_at = time.monotonic()
        signal_group(services[0], signal.SIGKILL)
        ejected_after = None
        while time.monotonic() - killed_at < 10:
            if readyz_endpoints(gateway_port).get(f"127.0.0.1:{ports[0]}", {}).get("ejected"):
                ejected_after = time.monotonic() - killed_at
                break
            time.sleep(0.005)
        across.wait(timeout=60)
        spanning = json.loads((work / "pair-across.json").read_text())
        after = loadtest(url, "pair.echo", '{"n":1}', 16, duration, work / "pair-after.json")
    finally:
        stop_all(processes)
    ratio = after["latency"]["p99_us"] / max(both["latency"]["p99_us"], 1)
    return [
        "#### One of two endpoints dead",
        "",
        f"Command: as above (service `pair`: two testkit endpoints, `health_check_secs = 1`; echo calls, "
        f"16 clients; one endpoint SIGKILLed 2 s into a 4 s run)",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| failed / sent, the run the kill fell in | {spanning['failures']} / {spanning['requests']} |",
        f"| kill → endpoint ejected (`/readyz`) | "
        + (f"{ejected_after * 1000:.0f} ms |" if ejected_after is not None else "not within 10 s |"),
        f"| failed / sent after the ejection ({duration}) | {after['failures']} / {after['requests']} |",
        f"| p99 with both endpoints / with the survivor alone | {both['latency']['p99_us']} / {after['latency']['p99_us']} µs (× {ratio:.2f}) |",
        "",
    ]


# Scenario 4: two principals, one flooding.
FLOODER = "flooder-" + "f" * 32
VICTIM = "victim-" + "v" * 32
FLOOD_CLIENTS = 64
# The victim's load, open loop: light, so its p99 is the front's doing.
VICTIM_RATE = 200
FLOOD_VARIANTS = {
    "no rate limits, fair share off": "[limits]\nfair_share_in_flight_per_principal = 0\n",
    "no rate limits": "",
    "per_principal_per_sec = 500": "[rate_limits]\nper_principal_per_sec = 500\n",
    "per_service_per_sec = 500": "[rate_limits]\nper_service_per_sec = 500\n",
}


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def child_of(pid: int) -> int:
    """The one child of `timeout` (the program it runs)."""
    for task in os.listdir(f"/proc/{pid}/task"):
        children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        if children:
            return int(children[0])
    raise RuntimeError(f"process {pid} has no child")


def flood_root(work: Path) -> Path:
    root = work / "flood-root"
    (root / "notes").mkdir(parents=True, exist_ok=True)
    (root / "hello.txt").write_text("hello from the fs service\n")
    words = ["gateway", "service", "principal", "flood", "search", "index", "query", "latency", "tail", "share"]
    for number in range(400):
        text = " ".join(words[(number * 7 + k) % len(words)] for k in range(200))
        (root / "notes" / f"note-{number}.md").write_text(f"# Note {number}\n\n{text}\n")
    return root


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def principal_flood_round(work: Path, root: Path, label: str, settings: str, duration: str) -> dict:
    """One gateway (`micromcp up`) with `settings`: the victim alone, then
    during a closed-loop flood by the other principal."""
    port = free_port()
    config = work / "flood.toml"
    config.write_text(
        "version = 1\n"
        f'[[auth.tokens]]\nname = "flooder"\nsha256 = "{digest(FLOODER)}"\nscopes = ["*"]\n'
        f'[[auth.tokens]]\nname = "victim"\nsha256 = "{digest(VICTIM)}"\nscopes = ["*"]\n'
        f"{settings}"
    )
    state = work / f"state-{port}"
    up = bounded([str(RELEASE / "micromcp"), "up", "--listen", f"127.0.0.1:{port}", "--root", str(root),
                  "--state-dir", str(state), "--config", str(config), "--admin-listen", "off"],
                 env=dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="error"), stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/mcp"
    victim = ("fs.stat", '{"path":"hello.txt"}')
    flood = ("search.query", '{"query":"gateway OR latency"}')
    try:
        wait_for_port(port)
        time.sleep(2.0)  # the crawl indexes the root
        gateway_pid = child_of(up.pid)
        loadtest(url, *flood, 4, "1s", work / "warm.json", token=FLOODER)
        baseline = loadtest(url, *victim, 4, duration, work / "victim-alone.json", rate=VICTIM_RATE, token=VICTIM)
        seconds = float(duration.rstrip("s"))
        flooder = start_loadtest(url, *flood, FLOOD_CLIENTS, f"{seconds + 2}s", work / "flood.json", nice=True,
                                 token=FLOODER)
        time.sleep(1.5)
        ticks_before, started = cpu_ticks(gateway_pid), time.monotonic()
        during = loadtest(url, *victim, 4, duration, work / "victim-flooded.json", rate=VICTIM_RATE, token=VICTIM)
        cpu_seconds = (cpu_ticks(gateway_pid) - ticks_before) / os.sysconf("SC_CLK_TCK")
        wall = time.monotonic() - started
        flooder.wait(timeout=120)
        flooded = json.loads((work / "flood.json").read_text())
    finally:
        stop_all([up])
    refused = sum(count for outcome, count in flooded["outcomes"].items() if "429" in outcome)
    answered = flooded["outcomes"].get("ok", 0)
    return {
        "label": label,
        "ratio": during["latency"]["p99_us"] / max(baseline["latency"]["p99_us"], 1),
        "baseline": baseline, "during": during,
        "flood_ok_per_s": answered / flooded["seconds"], "flood_refused_per_s": refused / flooded["seconds"],
        "flood_other": flooded["requests"] - answered - refused,
        "gateway_cpu_share": cpu_seconds / wall,
        "gateway_us_per_flood_request": cpu_seconds * 1e6 / max(flooded["requests"] / flooded["seconds"] * wall, 1),
        "load_average": os.getloadavg()[0],
    }


def principal_flood(work: Path, duration: str, rounds: int, line_opt: int | None = None,
                    fair_shares: list[int] | None = None) -> list[str]:
    """Scenario 4, every variant `rounds` times, interleaved; with
    `line_opt`, also with `limits.max_requests_in_flight_per_principal`;
    with `fair_shares`, only without rate limits, the fair share off and at
    each of these sizes (`limits.fair_share_in_flight_per_principal`)."""
    root = flood_root(work)
    variants = dict(FLOOD_VARIANTS)
    if fair_shares:
        variants = {label: settings for label, settings in FLOOD_VARIANTS.items() if "fair share off" in label}
        for size in fair_shares:
            variants[f"no rate limits, fair share {size}"] = f"[limits]\nfair_share_in_flight_per_principal = {size}\n"
    if line_opt:
        variants[f"none; max_requests_in_flight_per_principal = {line_opt}"] = (
            f"[limits]\nmax_requests_in_flight_per_principal = {line_opt}\n")
    results = [principal_flood_round(work, root, label, settings, duration)
               for _ in range(rounds) for label, settings in variants.items()]
    lines = [
        "#### Principal flood: one principal floods search, another's fs.stat measured",
        "",
        f"Command: `python3 loadtest/fault_scenarios.py --principal-flood-only --duration {duration} --rounds {rounds}"
        + (f" --line {line_opt}" if line_opt else "")
        + (f" --fair-shares {','.join(map(str, fair_shares))}" if fair_shares else "") + "` "
        f"(release; `micromcp up` with fs and search, two `[[auth.tokens]]` principals; the flooder: `search.query`, "
        f"closed loop, {FLOOD_CLIENTS} clients, its generator at nice 19; the victim: `fs.stat`, open loop "
        f"{VICTIM_RATE}/s, 4 clients, alone then during the flood; nothing pinned)",
        "",
        "| rate limits | victim p99 alone → flooded (×) | victim p50 alone → flooded | victim failures | "
        "flood answered / refused (429) per s, other | gateway CPU (cores), µs per flood request | load average (1 min) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        baseline, during = result["baseline"]["latency"], result["during"]["latency"]
        lines.append(
            f"| {result['label']} | {baseline['p99_us']} → {during['p99_us']} µs (× {result['ratio']:.2f}) "
            f"| {baseline['p50_us']} → {during['p50_us']} µs | {result['during']['failures']} of {result['during']['requests']} "
            f"| {result['flood_ok_per_s']:.0f} / {result['flood_refused_per_s']:.0f}, {result['flood_other']} "
            f"| {result['gateway_cpu_share']:.2f}, {result['gateway_us_per_flood_request']:.0f} "
            f"| {result['load_average']:.1f} |")
    by_label: dict[str, list[float]] = {}
    for result in results:
        by_label.setdefault(result["label"], []).append(result["ratio"])
    lines += ["", "Victim p99 × baseline, spread over the rounds: " + "; ".join(
        f"{label} {min(ratios):.2f}–{max(ratios):.2f}" for label, ratios in by_label.items()), ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", default="5s")
    parser.add_argument("--results", type=Path, help="append the tables to this Markdown file")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the principal flood this many times")
    parser.add_argument("--principal-flood-only", action="store_true", help="run scenario 4 alone")
    parser.add_argument("--line", type=int, help="scenario 4 also with this max_requests_in_flight_per_principal")
    parser.add_argument("--fair-shares", type=lambda text: [int(size) for size in text.split(",")],
                        help="scenario 4 without rate limits only: the fair share off and at these sizes (e.g. 2,4,8)")
    parser.add_argument("--binaries", type=Path, help="micromcp and micromcp-loadtest from here (default: target/release)")
    options = parser.parse_args()
    if options.binaries:
        global RELEASE
        RELEASE = options.binaries.resolve()
    work = Path(tempfile.mkdtemp(prefix="micromcp-faults-"))
    if options.principal_flood_only:
        report(principal_flood(work, options.duration, options.rounds, options.line, options.fair_shares),
               options.results)
        return
    busy_port, calm_port, gateway_port = free_port(), free_port(), free_port()
    # calm offers one generated echo tool (no resources to collide with busy's)
    busy, calm = start_service(busy_port), start_service(calm_port, ["--generated-tools", "1"])
    config = work / "gateway.toml"
    config.write_text(
        "version = 1\n[gateway]\n"
        f'listen = "127.0.0.1:{gateway_port}"\n'
        f'session_key_file = "{work / "session.key"}"\n'
        "[backends]\nmax_concurrent_calls = 16\nmax_queued_calls = 16\n"
        f'[[services]]\nname = "busy"\nendpoint = "http://127.0.0.1:{busy_port}"\n'
        f'[[services]]\nname = "calm"\nendpoint = "http://127.0.0.1:{calm_port}"\n'
    )
    gateway = bounded([str(RELEASE / "micromcp"), "gateway", "--config", str(config)],
                      env=dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_LOG="error"), stdout=subprocess.DEVNULL)
    processes = [busy, calm, gateway]
    url = f"http://127.0.0.1:{gateway_port}/mcp"
    lines: list[str] = []
    try:
        wait_for_port(gateway_port)
        time.sleep(0.5)
        baseline = loadtest(url, "calm.tool_0", '{"text":"hello"}', 8, options.duration, work / "baseline.json", rate=CALM_RATE)
        flood = start_loadtest(url, "busy.slow", '{"millis":200}', 256, options.duration, work / "flood.json", rate=1000, nice=True)
        time.sleep(0.3)
        during = loadtest(url, "calm.tool_0", '{"text":"hello"}', 8, options.duration, work / "during.json", rate=CALM_RATE)
        flood.wait(timeout=120)
        flooded = json.loads((work / "flood.json").read_text())
        shed = sum(count for label, count in flooded["outcomes"].items() if "-31004" in label)
        ratio = during["latency"]["p99_us"] / max(baseline["latency"]["p99_us"], 1)
        lines += [
            "#### Flood: one service far past its places, another measured",
            "",
            f"Command: `python3 loadtest/fault_scenarios.py --duration {options.duration}` (release; `[backends]` "
            "max_concurrent_calls = 16, max_queued_calls = 16; busy flooded with `slow` 200 ms calls, open loop "
            "1000/s, up to 256 in flight, its generator at nice 19; calm, another service, measured with an echo tool, "
            f"8 clients, open loop {CALM_RATE}/s)",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| calm p99 alone / during the flood | {baseline['latency']['p99_us']} / {during['latency']['p99_us']} µs (× {ratio:.2f}) |",
            f"| calm p50 alone / during the flood | {baseline['latency']['p50_us']} / {during['latency']['p50_us']} µs |",
            f"| calm failures during the flood | {during['failures']} of {during['requests']} |",
            f"| busy calls answered / shed (-31004 at capacity) | {flooded['requests'] - shed} / {shed} of {flooded['requests']} |",
            f"| busy p50 over all its answers (shed ones are most) | {flooded['latency']['p50_us']} µs |",
            "",
        ]
        signal_group(busy, signal.SIGKILL)
        busy.wait(timeout=10)
        time.sleep(0.5)
        dead = loadtest(url, "busy.echo", '{"n":1}', 1, "2s", work / "dead.json")
        restarted_at = time.monotonic()
        busy = start_service(busy_port)
        processes[0] = busy
        listening_after = time.monotonic() - restarted_at
        recovered = first_success_after(url, 10)
        lines += [
            "#### Dead service, then restarted",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| calls to the dead service: failed / sent | {dead['failures']} / {dead['requests']} |",
            f"| their latency p50 / p99 / max | {dead['latency']['p50_us']} / {dead['latency']['p99_us']} / {dead['latency'].get('max_us', '–')} µs |",
            f"| restart → service listening | {listening_after * 1000:.0f} ms |",
            f"| service listening → first call answered through the gateway | "
            + (f"{recovered * 1000:.0f} ms |" if recovered is not None else "not within 10 s |"),
            "",
        ]
    finally:
        stop_all(processes)
    lines += endpoint_death(work, options.duration)
    lines += principal_flood(work, options.duration, options.rounds, options.line)
    report(lines, options.results)


def report(lines: list[str], results_opt: Path | None) -> None:
    text = "\n".join(lines)
    print(text)
    if results_opt:
        with results_opt.open("a") as results:
            results.write("\n" + text + "\n")


if __name__ == "__main__":
    main()
