"""`deploy/` works as shipped.

The container's default command is run as the Dockerfile writes it (only its
paths and port moved into a temporary directory): it listens on every address
with authentication required and keeps its state where it says. The
Kubernetes base renders with kubectl's kustomize (Debian's `kubernetes-client`,
unpacked by scripts/install-test-clients.sh, and any other kubectl on the
PATH), every document validates against the Kubernetes schemas offline
(`kubernetes-validate`, strict: a misspelt field fails), the manifests hold
what a production gateway needs, and the shipped gateway config runs and
accepts the Service's cluster names. `/readyz` keeps a gateway in its load
balancer while any service answers.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import httpx2
import kubernetes_validate
import pytest
import yaml

from conftest import BINARY, REPO, TOKEN, free_port, make_root, start_testkit_gateway, wait_for_line, wait_for_port
from test_failures import eventually

DEPLOY = REPO / "deploy"
KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]  # the oldest and newest kept in support here
INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "deploy-test", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


# ---- the container's default command ----

def dockerfile_command() -> list[str]:
    """ENTRYPOINT + CMD of the shipped Dockerfile (exec form)."""
    entrypoint, command = None, None
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.startswith("ENTRYPOINT "):
            entrypoint = json.loads(line.removeprefix("ENTRYPOINT "))
        elif line.startswith("CMD "):
            command = json.loads(line.removeprefix("CMD "))
    assert entrypoint and command, "the Dockerfile needs exec-form ENTRYPOINT and CMD"
    return entrypoint + command


def test_the_image_command_listens_everywhere_with_authentication_and_keeps_state_where_it_says(tmp_path):
    command = dockerfile_command()
    assert command[0] == "/usr/local/bin/micromcp"
    assert "0.0.0.0:8080" in command and "/var/lib/micromcp" in command and "/data" in command, command
    port = free_port()
    data = make_root(tmp_path)
    state = tmp_path / "var-lib-micromcp"
    moved = {"0.0.0.0:8080": f"0.0.0.0:{port}", "/var/lib/micromcp": str(state), "/data": str(data)}
    args = [str(BINARY)] + [moved.get(arg, arg) for arg in command[1:]]
    env = {key: value for key, value in os.environ.items() if key != "MICROMCP_TOKEN"}
    env["MICROMCP_LOG"] = "warn"
    workdir = tmp_path / "workdir"  # the image's WORKDIR is the state directory; any works
    workdir.mkdir()
    process = subprocess.Popen(args, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        wait_for_line(process, "listening on")
        token = (state / "token").read_text().strip()
        assert oct((state / "token").stat().st_mode & 0o777) == "0o600"
        url = f"http://127.0.0.1:{port}/mcp"
        refused = httpx2.post(url, json=INITIALIZE, headers=MCP_HEADERS, timeout=10)
        assert refused.status_code == 401, refused.text
        answered = httpx2.post(url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"}, timeout=10)
        assert answered.status_code == 200, answered.text
        # Bound to every address, not only loopback's first.
        with socket.create_connection(("127.0.0.2", port), timeout=5):
            pass
        assert (state / "audit.jsonl").exists() and (state / "session.key").exists()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_state_directory_that_cannot_be_made_is_named(tmp_path):
    """In a container run as another user the state directory may not be
    writable; the error names the path (root ignores modes, so a path under a
    file stands in for it here)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = subprocess.run(
        [str(BINARY), "up", "--listen", f"127.0.0.1:{free_port()}", "--root", str(make_root(tmp_path)),
         "--state-dir", str(blocker / "state")],
        cwd=tmp_path, env=dict(os.environ, MICROMCP_TOKEN=TOKEN), capture_output=True, text=True, timeout=30,
    )
    assert result.returncode != 0
    assert f"state directory {blocker / 'state'}:" in result.stderr, result.stderr


# ---- the Kubernetes base ----

def kubectls() -> list[str]:
    pinned = REPO / ".cache" / "kubectl" / "usr" / "bin" / "kubectl"
    assert pinned.exists(), "run scripts/install-test-clients.sh (it unpacks Debian's kubectl)"
    found = [str(pinned)]
    system = shutil.which("kubectl")
    if system and Path(system).resolve() != pinned.resolve():
        found.append(system)
    return found


def rendered(kubectl: str, directory: str = "kubernetes") -> list[dict]:
    result = subprocess.run([kubectl, "kustomize", str(DEPLOY / directory)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{kubectl} kustomize: {result.stderr}"
    return [document for document in yaml.safe_load_all(result.stdout) if document]


@pytest.fixture(scope="module")
def manifests() -> list[dict]:
    return rendered(kubectls()[0])


def named(manifests: list[dict], kind: str) -> dict[str, dict]:
    return {document["metadata"]["name"]: document for document in manifests if document["kind"] == kind}


def test_the_base_renders_and_every_document_validates_against_the_schemas():
    kinds = None
    for kubectl in kubectls():
        documents = rendered(kubectl)
        for document in documents:
            for version in KUBERNETES_VERSIONS:
                try:
                    kubernetes_validate.validate(document, version, strict=True)
                except Exception as error:  # noqa: BLE001 - the library raises several kinds
                    pytest.fail(f"{kubectl}: {document['kind']}/{document['metadata']['name']} on {version}: {error}")
        # The ConfigMap's name ends in a content hash whose recipe changed between kustomize versions.
        rendered_kinds = sorted((document["kind"], document["metadata"]["name"].rsplit("-", 1)[0]
                                 if document["kind"] == "ConfigMap" else document["metadata"]["name"]) for document in documents)
        assert kinds is None or kinds == rendered_kinds, "kubectl versions render different documents"
        kinds = rendered_kinds


def pod_spec(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


def test_the_gateway_runs_as_production_needs(manifests):
    gateway = named(manifests, "Deployment")["micromcp"]
    labels = gateway["spec"]["template"]["metadata"]["labels"]
    assert gateway["spec"]["replicas"] >= 2
    budgets = [budget for budget in named(manifests, "PodDisruptionBudget").values()
               if budget["spec"]["selector"]["matchLabels"] == labels]
    assert budgets and budgets[0]["spec"].get("minAvailable", 0) >= 1
    autoscaler = named(manifests, "HorizontalPodAutoscaler")["micromcp"]
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == "micromcp" and autoscaler["spec"]["minReplicas"] >= 2
    assert autoscaler["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    container = pod_spec(gateway)["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for name in ("MICROMCP_TOKEN", "MICROMCP_ADMIN_TOKEN"):
        token = next(variable for variable in container["env"] if variable["name"] == name)
        assert token["valueFrom"]["secretKeyRef"]["name"] == "micromcp", name
    assert {"containerPort": 9464, "name": "metrics"} in container["ports"]
    key_volume = next(volume for volume in pod_spec(gateway)["volumes"] if "secret" in volume)
    assert key_volume["secret"]["secretName"] == "micromcp"


def test_every_container_is_locked_down_with_resources(manifests):
    for name, deployment in named(manifests, "Deployment").items():
        spec = pod_spec(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec.get("automountServiceAccountToken") is False, name
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], name
            assert "readinessProbe" in container and "livenessProbe" in container, name


def shipped_config() -> str:
    return (DEPLOY / "kubernetes" / "micromcp.toml").read_text()


def test_every_service_is_a_headless_service_the_gateway_finds_by_dns(manifests):
    config = shipped_config()
    services = named(manifests, "Service")
    deployments = named(manifests, "Deployment")
    for name in ("fs", "fetch", "search"):
        service = services[f"micromcp-{name}"]
        assert service["spec"]["clusterIP"] == "None", name
        port = service["spec"]["ports"][0]["port"]
        assert f'endpoint = "dns:///micromcp-{name}:{port}"' in config, name
        selector = service["spec"]["selector"]
        assert deployments[f"micromcp-{name}"]["spec"]["template"]["metadata"]["labels"] == selector, name
        container = pod_spec(deployments[f"micromcp-{name}"])["containers"][0]
        assert f"0.0.0.0:{port}" in container["args"], name
        assert container["readinessProbe"]["grpc"]["port"] == port, name
    assert 'path = "-"' in config, "audit goes to stdout in the cluster"


def test_services_accept_calls_only_from_the_gateway(manifests):
    gateway_labels = named(manifests, "Deployment")["micromcp"]["spec"]["template"]["metadata"]["labels"]
    policies = named(manifests, "NetworkPolicy").values()
    for name in ("fs", "fetch", "search"):
        labels = named(manifests, "Deployment")[f"micromcp-{name}"]["spec"]["template"]["metadata"]["labels"]

        def selects(selector: dict) -> bool:
            if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
                return False
            return all(labels.get(rule["key"]) in rule["values"] for rule in selector.get("matchExpressions", []))

        ingress = [policy for policy in policies
                   if selects(policy["spec"]["podSelector"]) and "Ingress" in policy["spec"]["policyTypes"]]
        assert ingress, f"{name} has no ingress policy"
        for policy in ingress:
            for rule in policy["spec"].get("ingress", []):
                sources = rule.get("from")
                assert sources, f"{policy['metadata']['name']} lets anyone reach {name}"
                assert all(source.get("podSelector", {}).get("matchLabels") == gateway_labels for source in sources)
        egress = [policy for policy in policies
                  if selects(policy["spec"]["podSelector"]) and "Egress" in policy["spec"]["policyTypes"]]
        assert egress, f"{name} has no egress policy"
        if name != "fetch":
            assert all(not policy["spec"].get("egress") for policy in egress), f"{name} may reach the network"


def test_the_shipped_config_runs_and_accepts_the_cluster_names(tmp_path):
    """The gateway with deploy/kubernetes/micromcp.toml as shipped (only the
    session key file moved here): the Service's names in any namespace pass
    the Host check, other names do not; with no service reachable it is not
    ready, and says which are down."""
    key = tmp_path / "session.key"
    key.write_bytes(os.urandom(32).hex().encode())
    config = tmp_path / "micromcp.toml"
    config.write_text(shipped_config().replace("/var/run/micromcp/session.key", str(key)))
    port = free_port()
    admin_port = free_port()
    process = subprocess.Popen([str(BINARY), "gateway", "--config", str(config), "--listen", f"0.0.0.0:{port}",
                                "--admin-listen", f"0.0.0.0:{admin_port}"],
                               env=dict(os.environ, MICROMCP_TOKEN=TOKEN, MICROMCP_ADMIN_TOKEN="admin-" + TOKEN, MICROMCP_LOG="error"),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        wait_for_line(process, "listening on", timeout=40)
        url = f"http://127.0.0.1:{port}/mcp"
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}"}
        for host in ("micromcp", "micromcp.tools.svc", "micromcp.tools.svc.cluster.local", "micromcp.default.svc.cluster.local:8080"):
            answer = httpx2.post(url, json=INITIALIZE, headers={**headers, "Host": host}, timeout=10)
            assert answer.status_code == 200, (host, answer.text)
        for host in ("evil.example", "svc.cluster.local", "micromcp.evil.example"):
            answer = httpx2.post(url, json=INITIALIZE, headers={**headers, "Host": host}, timeout=10)
            assert answer.status_code == 403 and "gateway.allowed_hosts" in answer.text, (host, answer.text)
        ready = httpx2.get(f"http://127.0.0.1:{port}/readyz", headers={"Host": "localhost"}, timeout=10)
        assert ready.status_code == 503 and sorted(ready.json()["degraded"]) == ["fetch", "fs", "search"], ready.text
        # Prometheus scrapes the pod's address with the admin token.
        scrape = httpx2.get(f"http://127.0.0.1:{admin_port}/metrics", headers={"Authorization": f"Bearer admin-{TOKEN}"}, timeout=10)
        assert scrape.status_code == 200 and 'micromcp_service_available{service="fs"} 0' in scrape.text, scrape.text[:500]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_readyz_stays_ready_while_any_service_answers(tmp_path):
    """One service down must not take every replica out of its load balancer
    (each would report the same); it is listed as degraded."""
    other_port = free_port()
    other = subprocess.Popen([str(BINARY), "fs", "--root", str(make_root(tmp_path)), "--listen", f"127.0.0.1:{other_port}"],
                             env=dict(os.environ, MICROMCP_LOG="error"))
    wait_for_port(other_port)
    running = start_testkit_gateway(
        tmp_path,
        service_settings=f'[[services]]\nname = "other"\nnamespace = "fs"\nendpoint = "http://127.0.0.1:{other_port}"\n',
    )
    readyz = running.url.replace("/mcp", "/readyz")
    try:
        first = httpx2.get(readyz, timeout=5)
        assert first.status_code == 200 and first.json()["degraded"] == [], first.text
        other.kill()
        other.wait()
        degraded = eventually(lambda: (answer := httpx2.get(readyz, timeout=5)).json()["degraded"] == ["other"] and answer)
        assert degraded.status_code == 200 and degraded.json()["ready"] is True, degraded.text
        down = next(service for service in degraded.json()["services"] if service["name"] == "other")
        assert "down_reason" in down and "testkit" not in down["down_reason"], down
        running.processes[0].kill()
        none = eventually(lambda: (answer := httpx2.get(readyz, timeout=5)).status_code == 503 and answer)
        assert sorted(none.json()["degraded"]) == ["other", "testkit"], none.text
    finally:
        other.kill()
        running.stop()


# ---- the cluster overlay: the base plus a Redis the replicas share ----

def test_the_cluster_overlay_renders_validates_and_reaches_redis_from_the_gateway_only():
    for kubectl in kubectls():
        documents = rendered(kubectl, "kubernetes-cluster")
        for document in documents:
            for version in KUBERNETES_VERSIONS:
                try:
                    kubernetes_validate.validate(document, version, strict=True)
                except Exception as error:  # noqa: BLE001 - the library raises several kinds
                    pytest.fail(f"{kubectl}: {document['kind']}/{document['metadata']['name']} on {version}: {error}")
        config = next(document for document in documents if document["kind"] == "ConfigMap")["data"]["micromcp.toml"]
        assert '[cluster]\n' in config and 'redis_url = "redis://micromcp-redis:6379"' in config
        gateway = named(documents, "Deployment")["micromcp"]
        env = {variable["name"]: variable for variable in pod_spec(gateway)["containers"][0]["env"]}
        assert env["MICROMCP_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "micromcp", "key": "redis-password"}
        assert "MICROMCP_TOKEN" in env and "MICROMCP_ADMIN_TOKEN" in env, "the base's environment stays"
        redis = named(documents, "StatefulSet")["micromcp-redis"]
        spec = pod_spec(redis)
        assert spec["securityContext"]["runAsNonRoot"] is True and spec.get("automountServiceAccountToken") is False
        container = spec["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["limits"]["memory"] and "readinessProbe" in container
        assert "appendonly yes" in container["command"][-1], "kept on its volume across restarts"
        assert not any("$(REDIS_PASSWORD)" in argument for argument in container.get("args", [])), "never an argument"
        assert redis["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
        policies = named(documents, "NetworkPolicy")
        redis_labels = redis["spec"]["template"]["metadata"]["labels"]
        gateway_labels = gateway["spec"]["template"]["metadata"]["labels"]
        inbound = policies["micromcp-redis-from-gateway"]["spec"]
        assert inbound["podSelector"]["matchLabels"] == redis_labels and "Egress" in inbound["policyTypes"]
        assert not inbound.get("egress"), "redis reaches nothing"
        assert [source["podSelector"]["matchLabels"] for source in inbound["ingress"][0]["from"]] == [gateway_labels]
        outbound = policies["micromcp-gateway-to-redis"]["spec"]
        assert outbound["podSelector"]["matchLabels"] == gateway_labels
        assert outbound["egress"][0]["to"][0]["podSelector"]["matchLabels"] == redis_labels
