"""The merged NDJSON: one file per resource type holding the newest copy of every resource.

A full export replaces it; an incremental one (_since) replaces the resources it carries, by type and id, and
keeps the rest. Files are streamed line by line, so memory holds only the ids of the changed resources.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from .state import ensure_private_dir

logger = logging.getLogger(__name__)


def _resources(path: Path) -> Iterator[tuple[str | None, bytes]]:
    """(id, line) for each resource line; blank lines are skipped, unreadable ones yield id None."""
    with open(path, "rb") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                resource = json.loads(line)
                key = resource.get("id") if isinstance(resource, dict) else None
            except ValueError:
                key = None
            yield (key if isinstance(key, str) else None), line if line.endswith(b"\n") else line + b"\n"


def merge(snapshot: Path, downloads: list[tuple[str, Path]], *, replace: bool) -> dict[str, int]:
    """Merge downloaded files (type, path) into the snapshot folder; returns resources per type.

    Idempotent: merging the same downloads again gives the same snapshot (so an interrupted load can re-run).
    """
    by_type: dict[str, list[Path]] = defaultdict(list)
    for resource_type, path in downloads:
        by_type[resource_type].append(path)
    staging = snapshot.with_name(snapshot.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    ensure_private_dir(staging)
    existing = {p.stem for p in snapshot.glob("*.ndjson")} if snapshot.exists() and not replace else set()
    counts: dict[str, int] = {}
    for resource_type in sorted(existing | set(by_type)):
        counts[resource_type] = _merge_type(snapshot / f"{resource_type}.ndjson", by_type.get(resource_type, []),
                                            staging / f"{resource_type}.ndjson", replace)
    retired = snapshot.with_name(snapshot.name + ".old")
    shutil.rmtree(retired, ignore_errors=True)
    if snapshot.exists():
        os.replace(snapshot, retired)
    os.replace(staging, snapshot)
    shutil.rmtree(retired, ignore_errors=True)
    return {k: v for k, v in counts.items() if v}


def _merge_type(current: Path, new_files: list[Path], target: Path, replace: bool) -> int:
    """New resources first (the first copy of each id), then the current ones not replaced; lines that are not a
    resource with an id are dropped (and logged) so flattening never meets them."""
    seen: set[str] = set()
    dropped = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as sink:
        sources = [*new_files, *([current] if not replace and current.exists() else [])]
        for path in sources:
            for key, line in _resources(path):
                if key is None:
                    dropped += 1
                elif key not in seen:
                    seen.add(key)
                    sink.write(line)
    if dropped:
        logger.warning("dropped %d export lines of %s that were not resources with an id", dropped, target.stem)
    return len(seen)
