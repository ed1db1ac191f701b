"""Shared by the benchmarks: a sandbox (sekmet-fhir with the bundled data) on a free loopback port in a temporary
folder, the settings to reach it, sekmet loaded with any data set (the tests' helper, tests/sekmet_server.py), and
the machine description every results file starts with."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcp import StdioServerParameters

from epic_mcp.auth.keys import KeyRing, generate_key, write_private_key
from epic_mcp.sandbox import Sandbox, load_resources
from epic_mcp.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BENCH_CLIENT_ID = "epic-mcp-bench"
if str(ROOT) not in sys.path:  # the benchmarks share the tests' helpers: sekmet for tests, the unseen data set
    sys.path.append(str(ROOT))

from tests.sekmet_server import LOADER_TOKEN, SekmetServer  # noqa: E402 (needs the path above)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def sandbox() -> Iterator[tuple[Settings, dict[str, str]]]:
    """A fresh sandbox with the bundled data; yields its settings and the environment for epic-mcp."""
    with tempfile.TemporaryDirectory(prefix="epic-mcp-bench-") as folder:
        env = {"EPIC_SANDBOX_DIR": folder, "EPIC_SANDBOX_PORT": str(free_port())}
        settings = load_settings(None, epic_env="local", epic_sandbox_dir=folder,
                                 epic_sandbox_port=int(env["EPIC_SANDBOX_PORT"]))
        process = Sandbox(settings).start(background=False)
        try:
            yield settings, env
        finally:
            process.terminate()
            process.wait()


def server_params(env: dict[str, str], *extra: str) -> StdioServerParameters:
    """epic-mcp over stdio as an MCP client starts it, on the sandbox."""
    return StdioServerParameters(command=sys.executable, args=["-m", "epic_mcp", "--env", "local", *extra],
                                 env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"),
                                      "EPIC_LOG_LEVEL": "WARNING", **env})


@dataclass
class LoadedServer:
    """sekmet on loopback with a data set loaded, and how to start epic-mcp over stdio against it."""

    sekmet: SekmetServer
    env_file: Path

    def params(self, *args: str) -> StdioServerParameters:
        return StdioServerParameters(command=sys.executable,
                                     args=["-m", "epic_mcp", "--env-file", str(self.env_file), *args],
                                     env={"PATH": os.environ["PATH"], "EPIC_LOG_LEVEL": "WARNING"}, cwd="/")


@contextmanager
def loaded_server(resources: list[dict[str, Any]]) -> Iterator[LoadedServer]:
    """A fresh sekmet in a temporary folder with `resources` loaded, and a key and client registered for it; every
    tool is offered (EPIC_TOOLS=all), since the benchmarks search every resource type."""
    with tempfile.TemporaryDirectory(prefix="epic-mcp-bench-") as folder:
        key = Path(folder) / "client.key"
        write_private_key(generate_key(), key)
        jwks = KeyRing.from_settings(load_settings(None, private_key_path=str(key))).jwks()
        server = SekmetServer(Path(folder) / "sekmet",
                              [{"client_id": BENCH_CLIENT_ID, "jwks": jwks, "scopes": "system/*.read"}]).start()
        try:
            load_resources(server.base_url, LOADER_TOKEN, resources)
            env_file = Path(folder) / "bench.env"
            env_file.write_text(f"EPIC_ENV=custom\nEPIC_FHIR_BASE_URL={server.base_url}\nEPIC_CLIENT_ID={BENCH_CLIENT_ID}\n"
                                f"PRIVATE_KEY_PATH={key}\nEPIC_TOOLS=all\n")
            yield LoadedServer(server, env_file)
        finally:
            server.stop()


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else "?"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True, check=False).stdout.strip()
    return (f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores ({cpu}), "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}, commit {commit or '?'}.")


def write_results(name: str, title: str, command: str, body: str) -> Path:
    path = DOCS / f"{name}.md"
    path.write_text(f"# {title}\n\n{machine()}\nReproduce: `{command}`\n\n{body.rstrip()}\n")
    return path
