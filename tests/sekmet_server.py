"""Runs sekmet-fhir, a real FHIR R4 server with a SMART Backend Services token endpoint, on loopback."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

LOADER_TOKEN = "sekmet-loader-token-for-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sekmet_command() -> list[str]:
    local = Path(sys.executable).parent / "sekmet"
    found = str(local) if local.exists() else shutil.which("sekmet")
    if found is None:
        raise RuntimeError("sekmet-fhir is not installed: pip install -e '.[test]'")
    return [found]


class SekmetServer:
    """One sekmet process with the given SMART clients (each: client_id, jwks, scopes)."""

    def __init__(self, workdir: Path, clients: list[dict[str, Any]], token_lifetime: int = 300) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.root}/fhir"
        self.token_url = f"{self.root}/auth/token"
        self.settings = {
            "base_url": self.base_url,
            "host": "127.0.0.1",
            "port": self.port,
            "data_dir": str(workdir / "data"),
            "log_inbound": False,
            "simulator": {"enabled": False},
            "own_private_key_path": str(workdir / "sekmet-own.pem"),
            "server_auth": {"types": ["smart", "bearer"], "tokens": [LOADER_TOKEN],
                            "token_lifetime": token_lifetime, "smart_clients": clients},
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> SekmetServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "settings.yaml"
        config.write_text(json.dumps(self.settings))  # JSON is YAML
        log = open(self.workdir / "sekmet.log", "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen([*sekmet_command(), "serve", "-c", str(config)], cwd=self.workdir,
                                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sekmet exited: {(self.workdir / 'sekmet.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/metadata", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("sekmet did not start in time")

    def load(self, bundle: dict[str, Any]) -> None:
        """Load a transaction or batch Bundle with the static loader token (PUT entries keep their ids)."""
        response = httpx.post(self.base_url, json=bundle, timeout=120,
                              headers={"Authorization": f"Bearer {LOADER_TOKEN}",
                                       "Content-Type": "application/fhir+json"})
        response.raise_for_status()
        failed = [e["response"]["status"] for e in response.json().get("entry", [])
                  if not e.get("response", {}).get("status", "").startswith(("200", "201"))]
        if failed:
            raise RuntimeError(f"sekmet refused {len(failed)} entries: {failed[:3]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
