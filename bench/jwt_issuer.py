"""A test identity provider for the benches, from the standard library and
the `openssl` command alone: an Ed25519 key, its JWK Set served on
loopback, and an EdDSA access token for a given audience — what a gateway
with `[[auth.issuers]]` verifies (bench/compare.py's JWT row)."""

from __future__ import annotations

import base64
import http.server
import json
import subprocess
import threading
import time
from pathlib import Path


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """Serves `/jwks.json` until `close`; `toml(audience)` is the `[auth]`
    the gateway needs, `token(audience)` a valid access token."""

    def __init__(self, work: Path):
        self.key = work / "issuer-ed25519.pem"
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(self.key)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        der = subprocess.run(["openssl", "pkey", "-in", str(self.key), "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
        body = json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "bench", "x": b64url(der[-32:])}]}).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def toml(self, audience: str) -> str:
        return (f'[auth]\nresource = "{audience}"\n'
                f'[[auth.issuers]]\nname = "bench"\nissuer = "{self.url}"\njwks_uri = "{self.url}/jwks.json"\n')

    def token(self, audience: str) -> str:
        header = b64url(json.dumps({"alg": "EdDSA", "typ": "JWT", "kid": "bench"}).encode())
        claims = b64url(json.dumps({"iss": self.url, "sub": "bench", "aud": audience, "scope": "*",
                                    "exp": int(time.time()) + 3600}).encode())
        # One-shot Ed25519 signing needs its input's size: a file, not a pipe.
        signed = self.key.with_suffix(".input")
        signed.write_bytes(f"{header}.{claims}".encode())
        signature = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", str(self.key), "-rawin", "-in", str(signed)],
                                   check=True, capture_output=True).stdout
        return f"{header}.{claims}.{b64url(signature)}"

    def close(self) -> None:
        self.server.shutdown()
