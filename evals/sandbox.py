"""A fresh local sandbox for one evaluation run: sekmet-fhir with the bundled data set dated for today, in a
temporary folder on a free loopback port, and the epic-mcp stdio server that MCP clients would start for it."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from mcp import StdioServerParameters

from epic_mcp.sandbox import Sandbox
from epic_mcp.settings import load_settings


@dataclass(frozen=True)
class Target:
    today: date
    server: StdioServerParameters


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_params(folder: Path, port: int, today: date, tools: str = "all") -> StdioServerParameters:
    """epic-mcp over stdio on this sandbox, with today pinned to the run's today and nothing else inherited (no
    .env, no EPIC_* from the shell): every run asks the same server the same way."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(folder), "EPIC_SANDBOX_DIR": str(folder),
           "EPIC_SANDBOX_PORT": str(port), "EPIC_TODAY": today.isoformat(), "EPIC_LOG_LEVEL": "WARNING",
           "EPIC_TOOLS": tools}
    return StdioServerParameters(command=sys.executable, args=["-m", "epic_mcp", "--env", "local"], env=env,
                                 cwd=str(folder))


@contextmanager
def local_sandbox(tools: str = "all", data: Path | None = None) -> Iterator[Target]:
    """`data`: a sandbox data folder already loaded for today (the tests build one per run, tests/sekmet_data.py),
    copied in so the sandbox starts without loading; without it the sandbox loads the data set as a user's does."""
    with tempfile.TemporaryDirectory(prefix="epic-mcp-evals-") as name:
        folder = Path(name)
        if data is not None:
            shutil.copytree(data, folder / "data")
        no_settings_file = folder / "evals.env"
        no_settings_file.write_text("")
        port = free_port()
        settings = load_settings(no_settings_file, epic_env="local", epic_sandbox_dir=folder, epic_sandbox_port=port)
        process = Sandbox(settings).start(background=False)
        try:
            yield Target(settings.today(), server_params(folder, port, settings.today(), tools))
        finally:
            process.terminate()
            process.wait()
