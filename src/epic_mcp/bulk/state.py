"""Where an export stands, on disk: the job URL, the manifest and each file's progress, so a re-run resumes.

The population folder holds patient data (NDJSON, the database), so it is created 0700 and every file 0600.
Layout: export.json (this state), lock, download/ (the current job's files), resources/ (the merged NDJSON,
one file per resource type), population.duckdb.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from .client import BulkError, Level, Manifest

Phase = Literal["running", "downloading", "loading", "complete", "failed", "cancelled"]
UNFINISHED = ("running", "downloading", "loading")
STATE_FILE = "export.json"


@dataclass
class FileProgress:
    type: str
    url: str
    name: str
    expected: int | None = None
    bytes: int = 0
    done: bool = False
    error_file: bool = False


@dataclass
class ExportState:
    base_url: str
    level: Level
    group_id: str | None
    types: list[str]
    since: str | None
    status_url: str
    started_at: str
    phase: Phase = "running"
    progress: str | None = None
    transaction_time: str | None = None
    requires_token: bool = False
    files: list[FileProgress] = field(default_factory=list)
    error: str | None = None
    resources: dict[str, int] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)
    loaded_at: str | None = None
    previous_transaction_time: str | None = None

    @property
    def unfinished(self) -> bool:
        return self.phase in UNFINISHED

    @property
    def refreshable_since(self) -> str | None:
        """The transactionTime an incremental refresh starts from: this export's if it completed."""
        return self.transaction_time if self.phase == "complete" else self.previous_transaction_time

    def same_source(self, base_url: str, level: Level, group_id: str | None) -> bool:
        return (self.base_url, self.level, self.group_id) == (base_url, level, group_id)

    def accept(self, manifest: Manifest) -> None:
        self.transaction_time = manifest.transaction_time
        self.requires_token = manifest.requires_token
        listed = [(f, False) for f in manifest.output] + [(f, True) for f in manifest.errors]
        self.files = [FileProgress(f.type, f.url, f"{i:04d}-{'errors' if is_error else f.type}.ndjson", f.count,
                                   error_file=is_error) for i, (f, is_error) in enumerate(listed)]
        self.phase, self.progress = "downloading", None

    def summary(self) -> dict[str, Any]:
        output = [f for f in self.files if not f.error_file]
        return {
            "phase": self.phase, "group_id": self.group_id, "level": self.level, "types": self.types,
            "since": self.since, "started_at": self.started_at, "progress": self.progress,
            "transaction_time": self.transaction_time,
            "files_done": sum(f.done for f in output), "files_total": len(output),
            "bytes_downloaded": sum(f.bytes for f in self.files),
            "server_errors_files": sum(f.error_file for f in self.files),
            "resources": self.resources, "tables": self.tables, "loaded_at": self.loaded_at, "error": self.error,
        }


def ensure_private_dir(path: Path) -> Path:
    """Create the folder 0700 (and tighten it if it exists): it holds patient data."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Write atomically with mode 0600."""
    staging = path.with_name(path.name + ".tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(staging, path)


class StateStore:
    """The state file of one population folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / STATE_FILE

    @property
    def downloads(self) -> Path:
        return self.folder / "download"

    @property
    def resources(self) -> Path:
        return self.folder / "resources"

    @property
    def database(self) -> Path:
        return self.folder / "population.duckdb"

    def load(self) -> ExportState | None:
        if not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text())
            files = [FileProgress(**f) for f in data.pop("files", [])]
            known = {f.name for f in fields(ExportState)}
            return ExportState(**{k: v for k, v in data.items() if k in known}, files=files)
        except (ValueError, TypeError) as exc:
            raise BulkError(f"the export state {self.path} is unreadable ({type(exc).__name__}); delete it to "
                            "start over") from None

    def save(self, state: ExportState) -> None:
        ensure_private_dir(self.folder)
        write_private(self.path, json.dumps(asdict(state), indent=1))

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One export at a time per folder, across processes (the CLI and an MCP server may share it)."""
        ensure_private_dir(self.folder)
        fd = os.open(self.folder / "lock", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise BulkError(f"another export is running on {self.folder}; wait for it, or follow it with "
                                "export_status / `epic-mcp export`") from None
            yield
        finally:
            os.close(fd)
