"""The gateways as an ACL user of a real `redis-server` allowed only the
commands `[cluster]` sends (listed in gateway/src/cluster/README.md), with
every other user off — over plain TCP and over TLS (`rediss://`, a
throwaway CA made here with openssl, trusted through `SSL_CERT_FILE`):
every shared decision is taken (rate limits, calls in flight, ended
sessions, registrations, heartbeats) and Redis denies nothing
(`ACL LOG` stays empty)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx2
import pytest

from conftest import TOKEN, free_port, wait_for_port
from test_cluster import ADMIN, Redis, cluster, pytestmark, ready  # noqa: F401  (skipped without redis-server)
from test_cluster_in_flight import IN_FLIGHT, slow_calls
from test_failures import eventually
from test_hostile import initialize, legacy
from test_live_config import tool_names
from test_tool_pins import start_kit

PASSWORD = "acl-user-password"
# The smallest command set the gateways need: what they send, and what their scripts call.
COMMANDS = ("+evalsha +eval +get +set +hgetall +hset +zrem +time +exists +expireat +incr +pexpire +zadd +zcard "
            "+zrange +zremrangebyscore")


class AclRedis(Redis):
    """A redis-server whose default user is off: the gateways log in as
    `gateway`, allowed only COMMANDS on keys under `test:`; with `tls`, it
    listens with TLS only."""

    def __init__(self, directory: Path, tls: bool):
        super().__init__(directory)
        self.tls = tls

    def start(self) -> None:
        args = ["redis-server", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        if self.tls:
            self.ca = make_certificates(self.directory)
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.directory / "server.crt"),
                     "--tls-key-file", str(self.directory / "server.key"), "--tls-ca-cert-file", str(self.ca),
                     "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(self.port)]
        acl = self.directory / "users.acl"
        acl.write_text(f"user default off\nuser gateway on >{PASSWORD} ~test:* resetchannels -@all {COMMANDS}\n"
                       f"user admin on >admin ~* &* +@all\n")
        self.process = subprocess.Popen([*args, "--aclfile", str(acl)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def cli(self, *args: str) -> str:
        tls = ["--tls", "--cacert", str(self.ca)] if self.tls else []
        return subprocess.run(["redis-cli", *tls, "-p", str(self.port), "--user", "admin", "--pass", "admin", "--no-auth-warning",
                               *args], capture_output=True, text=True, check=True, timeout=10).stdout

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://gateway:{PASSWORD}@127.0.0.1:{self.port}"


def make_certificates(directory: Path) -> Path:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it; the CA's path."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(ca_key),
            "-out", str(ca), "-subj", "/CN=micromcp test CA", "-days", "1")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(directory / "server.key"),
            "-out", str(directory / "server.csr"), "-subj", "/CN=127.0.0.1")
    extensions = directory / "server.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", str(directory / "server.csr"), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
            "-out", str(directory / "server.crt"), "-days", "1", "-extfile", str(extensions))
    return ca


@pytest.mark.parametrize("tls", [False, True], ids=["acl-user", "acl-user-over-tls"])
def test_the_gateways_need_only_the_documented_commands_as_an_acl_user(tmp_path, tls):
    redis = AclRedis(tmp_path / "redis", tls)
    env = {}
    if tls:
        # The throwaway CA is trusted through the store rustls reads.
        redis.directory.mkdir(parents=True, exist_ok=True)
        env = {"SSL_CERT_FILE": str(tmp_path / "redis" / "ca.crt")}
    settings = f"[rate_limits]\nper_principal_per_sec = 100\n{IN_FLIGHT.split('.')[1]} = 2\n"
    with cluster(tmp_path, settings, redis=redis, env_extra=env) as (redis, a, b):
        eventually(lambda: ready(a)["cluster"]["live_replicas"] == 2 and ready(b)["cluster"]["live_replicas"] == 2)
        session = initialize(a)
        threads, outcomes = slow_calls([(a, session)] * 2 + [(b, session)] * 2, millis=3000)
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(outcomes) == ["in flight"] * 2 + ["ok"] * 2, outcomes
        second_port = free_port()
        a.kits.append(start_kit(second_port))
        registered = httpx2.post(f"{a.admin}/api/services", headers=ADMIN,
                                 json={"name": "kit2", "endpoint": f"http://127.0.0.1:{second_port}"}, timeout=15)
        assert registered.status_code == 201, registered.text
        eventually(lambda: "kit2.test_simple_text" in tool_names(b, session), timeout=5.0)
        ended = httpx2.delete(a.url, headers={"Authorization": f"Bearer {TOKEN}", "Mcp-Session-Id": session}, timeout=10)
        assert ended.status_code == 200, ended.text
        assert legacy(b, session, "tools/list").status_code == 404
        for gateway in (a, b):
            state = ready(gateway)["cluster"]
            assert state["up"] is True and state["down_reason"] is None, state
        assert redis.cli("ACL", "LOG").strip() == "", "Redis denied the gateways a command"
