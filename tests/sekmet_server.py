"""Runs sekmet-fhir for tests, on a free loopback port, with the SMART clients a test needs."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from epic_mcp.sandbox import sekmet_command, sekmet_config, wait_until_serving

LOADER_TOKEN = "sekmet-loader-token-for-tests"


PORT_BLOCK = 1000
FIRST_BLOCK = 10_000


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def _candidate_ports() -> Iterator[int]:
    """This process's block of ports below the kernel's ephemeral range, one block per xdist worker, begun at an
    offset of its own so that two suites run at once rarely try the same port first."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    blocks = (_ephemeral_low() - FIRST_BLOCK) // PORT_BLOCK
    if blocks < 1:
        return
    start = FIRST_BLOCK + (int(worker) if worker.isdigit() else 0) % blocks * PORT_BLOCK
    offset = os.getpid() % PORT_BLOCK
    yield from itertools.cycle(start + (offset + i) % PORT_BLOCK for i in range(PORT_BLOCK))


_CANDIDATES = _candidate_ports()


def free_port() -> int:
    """A loopback port nobody holds. Not one bound to port 0: that comes from the ephemeral range, and between
    this check and the server's own bind, an outgoing connection (a run makes thousands) may take it as its
    source port; the kernel never hands out ports below the range that way."""
    for port in itertools.islice(_CANDIDATES, PORT_BLOCK):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
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
