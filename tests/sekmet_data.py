"""Data sets loaded into sekmet-fhir once per test run, kept as sekmet data folders that each server a test starts
gets a copy of (`SekmetServer(..., data=folder)`), instead of every module loading the same 2,400 resources over
HTTP again (several seconds of sekmet's indexing each time).

Why a copy is sound: sekmet keeps everything it serves in SQLite under its data_dir (resources, versions, search
index); the SMART clients and the loader token are in each server's own settings file, not in the folder. A folder
is copied only after the server that loaded it has stopped, with its write-ahead log checkpointed into the
database, and without what makes one server's credentials: its own private key and the secrets it keeps in the
database (the HMAC key of the access tokens it issues, its hook token). Each copy makes its own at start, so a
token one server issued is not good at another. Each server gets its own copy: a test may write to its data.

Under pytest-xdist the workers of one run share the folders: the first that needs one builds it under a file lock,
and the others wait for it. A folder is named by its content's digest, so a run that pretends another day (or one
that crosses midnight) never gets data dated for a different day.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from epic_mcp.sandbox import Sandbox, load_resources
from epic_mcp.sandbox.group import sandbox_group
from epic_mcp.sandbox.lifecycle import exclusive
from epic_mcp.settings import load_settings

from .sekmet_server import LOADER_TOKEN, SekmetServer, free_port

BUILD_TIMEOUT_SECONDS = 600.0
DATABASE = "sekmet.db"
# What identifies one sekmet server, left out of a loaded folder so that every copy makes its own.
SERVER_SECRETS = ("jwt_secret", "hook_token")
OWN_KEY = "sekmet-own.pem"


class LoadedData:
    """The run's loaded data folders, under `root` (shared by the xdist workers of one run)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, name: str, resources: list[dict[str, Any]]) -> Path:
        """A sekmet data folder holding exactly `resources`, loaded through sekmet's own API (PUT transactions)."""
        return self._built(name, resources, lambda scratch: self._load(scratch, resources))

    def sandbox(self, resources: list[dict[str, Any]], patients: list[dict[str, Any]], today: str) -> Path:
        """The local sandbox's data folder as `epic-mcp sandbox` builds it for `today` (the data set and the Group of
        its patients, with the marker saying what was loaded): a sandbox folder seeded with it starts without
        loading. Built by the product's own Sandbox, so the marker is the one it writes."""
        return self._built("sandbox", [*resources, sandbox_group(patients), {"today": today}],
                           lambda scratch: self._run_sandbox(scratch, today))

    def _built(self, name: str, content: list[dict[str, Any]], build: Callable[[Path], Path]) -> Path:
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]
        target = self.root / f"{name}-{digest}"
        with exclusive(self.root / f"{name}-{digest}.lock", BUILD_TIMEOUT_SECONDS):
            if not target.exists():
                scratch = self.root / f"{name}-{digest}.building"
                shutil.rmtree(scratch, ignore_errors=True)
                data = build(scratch)
                _forget_server_secrets(data)
                data.rename(target)
                shutil.rmtree(scratch, ignore_errors=True)
        return target

    @staticmethod
    def _load(scratch: Path, resources: list[dict[str, Any]]) -> Path:
        server = SekmetServer(scratch, []).start()
        try:
            load_resources(server.base_url, LOADER_TOKEN, resources)
        finally:
            server.stop()
        return scratch / "data"

    @staticmethod
    def _run_sandbox(scratch: Path, today: str) -> Path:
        settings = load_settings(None, epic_env="local", epic_sandbox_dir=scratch, epic_sandbox_port=free_port(),
                                 epic_today=today)
        process = Sandbox(settings).start(background=False)
        process.terminate()
        process.wait()
        return scratch / "data"


def _forget_server_secrets(data: Path) -> None:
    with closing(sqlite3.connect(data / DATABASE)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute(f"DELETE FROM kv WHERE k IN ({', '.join('?' for _ in SERVER_SECRETS)})", SERVER_SECRETS)
        db.commit()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (data / OWN_KEY).unlink(missing_ok=True)


def shared_root(basetemp: Path) -> Path:
    """Where a run keeps its loaded folders: the run's temporary folder, which under pytest-xdist is the parent of
    every worker's own."""
    root = basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp
    path = root / "sekmet-data"
    path.mkdir(exist_ok=True)
    return path
