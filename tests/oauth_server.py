"""Runs a real OAuth authorization server on loopback for the MCP authorization tests: oidc-provider (npm, an
OpenID-certified implementation), installed by scripts/test in tests/oauth, issuing JWT access tokens by the
client_credentials grant for RFC 8707 resource indicators."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from .sekmet_server import free_port

OAUTH_DIR = Path(__file__).resolve().parent / "oauth"
START_TIMEOUT_SECONDS = 30


def require_oidc_provider() -> None:
    """Skip without oidc-provider (as the inspector tests do), except in CI (EPIC_MCP_REQUIRE_E2E), which fails."""
    if shutil.which("node") is None or not (OAUTH_DIR / "node_modules" / "oidc-provider").is_dir():
        message = "oidc-provider is not installed (scripts/test installs tests/oauth with npm)"
        if os.environ.get("EPIC_MCP_REQUIRE_E2E"):
            pytest.fail(message)
        pytest.skip(message)


class AuthorizationServer:
    """oidc-provider with the given resource indicators, scopes and clients (client_id, client_secret, scope,
    optional access_token_ttl and extra_claims)."""

    def __init__(self, workdir: Path, resources: list[str], scopes: list[str], clients: list[dict[str, Any]]) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.token_url = f"{self.issuer}/token"
        key = json.loads(RSAAlgorithm.to_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
        self.config = {"port": self.port, "resources": resources, "scopes": scopes, "clients": clients,
                       "signing_key": {**key, "kid": "as-key-1", "use": "sig", "alg": "RS256"}}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> AuthorizationServer:
        require_oidc_provider()
        config = self.workdir / "oauth-server.json"
        config.write_text(json.dumps(self.config))
        log = self.workdir / "oauth-server.log"
        with open(log, "wb") as out:
            self.process = subprocess.Popen(["node", str(OAUTH_DIR / "server.mjs"), str(config)], cwd=OAUTH_DIR,
                                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the authorization server exited: {log.read_text()[-2000:]}")
            if "ready" in log.read_text():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the authorization server did not start")

    def token(self, client: dict[str, Any], resource: str | None, scope: str | None = None) -> dict[str, Any]:
        """A token response for `client` by client_credentials, for `resource` (RFC 8707)."""
        form = {"grant_type": "client_credentials", "scope": scope or client["scope"]}
        if resource is not None:
            form["resource"] = resource
        response = httpx.post(self.token_url, data=form, auth=(client["client_id"], client["client_secret"]))
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
