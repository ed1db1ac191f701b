"""Real processes for the HTTP end-to-end tests: epic-mcp over streamable HTTP, and the SDK's HTTP client."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from epic_mcp.auth.keys import KeyRing, generate_key, write_private_key
from epic_mcp.sandbox import data_set
from epic_mcp.settings import load_settings

from .conftest import run_today
from .sekmet_server import SekmetServer, free_port

START_TIMEOUT_SECONDS = 30
FULL, PATIENT_ONLY = "epic-mcp-http", "epic-mcp-http-patient-only"


class LoadedSekmet:
    """sekmet-fhir with the bundled data set (started from `loaded`, a copy of a data folder holding it) and two SMART
    clients sharing one key: FULL (system/*.read) and PATIENT_ONLY (system/Patient.read)."""

    def __init__(self, workdir: Path, loaded: Path) -> None:
        self.key = workdir / "client.key"
        write_private_key(generate_key(), self.key)
        jwks = KeyRing.from_settings(load_settings(None, private_key_path=str(self.key))).jwks()
        self.data = data_set(run_today())
        self.server = SekmetServer(workdir / "sekmet", [
            {"client_id": FULL, "jwks": jwks, "scopes": "system/*.read"},
            {"client_id": PATIENT_ONLY, "jwks": jwks, "scopes": "system/Patient.read"},
        ], data=loaded)

    def start(self) -> LoadedSekmet:
        self.server.start()
        return self

    def settings(self, client_id: str = FULL) -> dict[str, Any]:
        """Settings for an epic-mcp that reads this sekmet as `client_id`."""
        return {"epic_env": "custom", "epic_fhir_base_url": self.server.base_url, "epic_client_id": client_id,
                "private_key_path": self.key}

    def stop(self) -> None:
        self.server.stop()


class EpicMcpHttp:
    """`epic-mcp --transport streamable-http` on a free loopback port, configured by an env file."""

    def __init__(self, env_file: Path, log: Path, port: int | None = None) -> None:
        self.env_file = env_file
        self.log = log
        self.port = port or free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.root}/mcp"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> EpicMcpHttp:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "epic_mcp", "--env-file", str(self.env_file), "--transport",
                 "streamable-http", "--port", str(self.port)],
                env={"PATH": os.environ["PATH"]}, cwd="/", stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        with httpx.Client(timeout=1) as http:  # one client for every poll: each new one loads the CA certificates
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"epic-mcp exited at start: {self.log.read_text()[-2000:]}")
                try:
                    if http.get(f"{self.root}/healthz").status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"epic-mcp did not answer /healthz in {START_TIMEOUT_SECONDS} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@asynccontextmanager
async def connect(url: str, *, token: str | None = None, auth: Any = None, **options: Any) -> AsyncIterator[Client]:
    """The SDK's Client over its streamable HTTP transport, sending `token` as a bearer credential."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with create_mcp_http_client(headers=headers, auth=auth) as http, \
            Client(streamable_http_client(url, http_client=http), **options) as client:
        yield client


def write_env(path: Path, **settings: Any) -> Path:
    """A settings file; every tool unless the test names a profile (the default profile is core)."""
    settings = {"epic_tools": "all", **settings}
    path.write_text("".join(f"{name.upper()}={value}\n" for name, value in settings.items()))
    return path
