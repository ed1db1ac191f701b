"""Runs sekmet-fhir for tests, on a free loopback port, with the SMART clients a test needs."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from epic_mcp.sandbox import sekmet_command, sekmet_config, wait_until_serving

LOADER_TOKEN = "sekmet-loader-token-for-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SekmetServer:
    """One sekmet process with the given SMART clients (each: client_id, jwks, scopes); with `data`, a loaded data
    folder (tests/sekmet_data.py) that the server starts from, a copy of its own."""

    def __init__(self, workdir: Path, clients: list[dict[str, Any]], token_lifetime: int = 300,
                 data: Path | None = None) -> None:
        self.workdir = workdir
        self.data = data
        self.port = free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.root}/fhir"
        self.token_url = f"{self.root}/auth/token"
        self.config = sekmet_config(self.root, self.port, workdir / "data", clients, LOADER_TOKEN, token_lifetime)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> SekmetServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.data is not None and not (self.workdir / "data").exists():
            shutil.copytree(self.data, self.workdir / "data")
        config = self.workdir / "settings.json"
        config.write_text(json.dumps(self.config))
        log_path = self.workdir / "sekmet.log"
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen([*sekmet_command(), "serve", "-c", str(config)], cwd=self.workdir,
                                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_until_serving(self.base_url, self.process, log_path)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
