"""One export from kick-off to a loaded population database, resumable at every step.

start() kicks off (or refuses, with the reason); follow() polls the status endpoint (honouring Retry-After, with
a floor), downloads every file (resuming partial ones), merges them into the NDJSON snapshot and loads the
database when the `population` extra is installed. The state file records each step, so after a crash, a
Ctrl-C or a failed download, running follow() again continues where it stopped.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import re
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

import anyio

from ..errors import ConfigError, EpicMcpError
from ..extras import missing_extra
from ..fhir.validation import InvalidInput, check_date, check_id
from ..sandbox.group import SANDBOX_GROUP_ID
from ..settings import MIN_BULK_POLL_SECONDS, Settings
from .client import MAX_RETRY_AFTER, BulkClient, BulkError, ExportRequest, Level, Manifest, OutputFile, Pending
from .snapshot import merge
from .state import ExportState, FileProgress, StateStore, ensure_private_dir

logger = logging.getLogger(__name__)

MAX_BUSY_POLLS = 20
RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
Event = Literal["started", "waiting", "downloading", "loading", "complete"]
Reporter = Callable[[ExportState, Event], None]


def population_extra_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("duckdb", "fhirpathpy"))


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ExportOptions:
    """What to export. `since` wins over `incremental` (which means: what changed since the last complete export,
    of the same group, level and types unless others are given). Level None: a group, or for an incremental
    refresh the last export's level."""

    group_id: str | None = None
    level: Level | None = None
    types: tuple[str, ...] = ()
    since: str | None = None
    incremental: bool = False


def default_group(settings: Settings) -> str | None:
    """EPIC_BULK_GROUP_ID, else the local sandbox's group of Epic's test patients."""
    return settings.epic_bulk_group_id or (SANDBOX_GROUP_ID if settings.epic_env == "local" else None)


class Exporter:
    """Drives one population folder's export; `report` hears about each step (for progress bars)."""

    def __init__(self, settings: Settings, client: BulkClient, *, report: Reporter = lambda state, event: None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.settings = settings
        self.client = client
        self.store = StateStore(settings.epic_population_dir)
        self.report = report
        self._sleep = sleep

    def status(self) -> ExportState | None:
        return self.store.load()

    def request_for(self, options: ExportOptions, previous: ExportState | None) -> ExportRequest:
        options = self._refreshing(options, previous)
        level: Level = options.level or "group"
        group_id = (options.group_id or default_group(self.settings)) if level == "group" else None
        if level == "group" and not group_id:
            raise ConfigError("EPIC_BULK_GROUP_ID: no Group to export; set it (or pass --group) to the group id "
                              "the health system registered for this app")
        if group_id is not None:
            check_id("group id (--group, EPIC_BULK_GROUP_ID)", group_id)
        for resource_type in options.types:
            if not RESOURCE_TYPE.fullmatch(resource_type):
                raise InvalidInput(f"--type: {resource_type[:40]!r} is not a FHIR resource type (e.g. Observation)")
        since = options.since
        if since is not None and (len(since) <= 10 or check_date("--since", since) != since):
            raise InvalidInput("--since is not a FHIR instant; use YYYY-MM-DDThh:mm:ssZ")
        if options.incremental and since is None:
            same = previous is not None and previous.same_source(self.settings.fhir_base_url, level, group_id)
            since = previous.refreshable_since if same and previous is not None else None
            if since is None:
                raise BulkError("no complete earlier export of this group to refresh from; run a full export first")
        if since and self.settings.epic_env in ("sandbox", "production"):
            raise ConfigError("--since: Epic does not support _since for Bulk Data; run a full export instead (it "
                              "replaces the population data)")
        return ExportRequest(level, group_id, options.types, since)

    def _refreshing(self, options: ExportOptions, previous: ExportState | None) -> ExportOptions:
        """An incremental refresh with nothing said about what to export refreshes the last export of this FHIR
        server: its level, group and types (`export --group X` then `export --incremental` refreshes X, whatever
        EPIC_BULK_GROUP_ID says; a refresh of fewer types would leave the others stale)."""
        if not options.incremental or options.since is not None or previous is None \
                or previous.base_url != self.settings.fhir_base_url:
            return options
        if options.level is None and options.group_id is None:
            options = replace(options, level=previous.level, group_id=previous.group_id)
        if not options.types and (options.level or "group") == previous.level \
                and options.group_id in (None, previous.group_id):
            options = replace(options, types=tuple(previous.types))
        return options

    async def start(self, options: ExportOptions) -> ExportState:
        """Kick off a new export, replacing any unfinished one (whose server job is cancelled)."""
        previous = self.store.load()
        request = self.request_for(options, previous)
        if previous is not None and previous.unfinished:
            await self._forget(previous)
        status_url = await self.client.kickoff(request)
        state = ExportState(self.settings.fhir_base_url, request.level, request.group_id, list(request.types),
                            request.since, status_url, now())
        if previous is not None and previous.same_source(state.base_url, state.level, state.group_id):
            state.previous_transaction_time = previous.refreshable_since
        shutil.rmtree(self.store.downloads, ignore_errors=True)
        self.store.save(state)
        self.report(state, "started")
        return state

    async def follow(self) -> ExportState:
        """Take the unfinished export to the end: poll, download, merge, load."""
        state = self.store.load()
        if state is None:
            raise BulkError("no export to follow; start one (start_export, or `epic-mcp export`)")
        if state.base_url != self.settings.fhir_base_url:
            raise BulkError("the unfinished export belongs to another FHIR server; start a new one with --restart")
        try:
            if state.phase == "running":
                await self._poll(state)
            if state.phase == "downloading":
                await self._download(state)
            if state.phase == "loading":
                self.report(state, "loading")
                await anyio.to_thread.run_sync(self._load, state)
                self.report(state, "complete")
        except EpicMcpError as exc:
            state.error = str(exc)
            self.store.save(state)
            raise
        return state

    async def cancel(self) -> ExportState | None:
        """Cancel the unfinished export on the server and delete what was downloaded of it."""
        state = self.store.load()
        if state is None or not state.unfinished:
            return state
        refused = await self._forget(state)
        state.phase, state.progress = "cancelled", None
        state.error = f"{refused}; it was dropped here (the server's job may still finish, its files expire)" \
            if refused else None
        self.store.save(state)
        return state

    async def _forget(self, state: ExportState) -> str | None:
        """DELETE the server's job and drop the partial downloads; the server's refusal, if it refused."""
        shutil.rmtree(self.store.downloads, ignore_errors=True)
        try:
            await self.client.cancel(state.status_url)
        except BulkError as exc:
            logger.warning("could not cancel the export on the server: %s", exc)
            return str(exc)
        return None

    async def _poll(self, state: ExportState) -> None:
        busy = 0
        while True:
            result = await self.client.poll(state.status_url)
            if isinstance(result, Manifest):
                state.accept(result)
                state.error = None
                self.store.save(state)
                return
            busy = busy + 1 if result.busy else 0
            if busy > MAX_BUSY_POLLS:
                raise BulkError(f"the status endpoint stayed busy for {busy} checks; run again later to resume")
            state.progress = result.progress
            self.store.save(state)
            self.report(state, "waiting")
            await self._sleep(self.poll_delay(result))

    def poll_delay(self, pending: Pending) -> float:
        """Retry-After when the server sends it, else the configured interval; never below the floor."""
        wanted = pending.retry_after if pending.retry_after is not None else self.settings.bulk_poll_seconds
        return max(MIN_BULK_POLL_SECONDS, min(MAX_RETRY_AFTER, wanted))

    async def _download(self, state: ExportState) -> None:
        folder = ensure_private_dir(self.store.downloads)
        for file in state.files:
            if file.done:
                continue
            target = folder / file.name
            if not target.exists():
                target.touch(mode=0o600)

            def progressed(size: int, file: FileProgress = file) -> None:
                file.bytes += size
                self.report(state, "downloading")

            file.bytes = target.stat().st_size
            try:
                file.bytes = await self.client.download(OutputFile(file.type, file.url, file.expected),
                                                       state.requires_token, target, progressed)
            finally:
                file.bytes = target.stat().st_size
                self.store.save(state)
            file.done = True
            self.store.save(state)
        state.phase = "loading"
        state.error = None
        self.store.save(state)

    def _load(self, state: ExportState) -> None:
        """Merge and flatten (CPU-bound: run in a worker thread, so an MCP server keeps answering)."""
        downloads = [(f.type, self.store.downloads / f.name) for f in state.files if not f.error_file]
        state.resources = merge(self.store.resources, downloads, replace=not state.since)
        if population_extra_installed():
            from ..population.database import build

            meta = {"fhir_base_url": state.base_url, "group_id": state.group_id, "level": state.level,
                    "transaction_time": state.transaction_time, "since": state.since}
            state.tables = build(self.store.resources, self.store.database, meta)
            state.loaded_at = now()
        else:
            logger.warning("the NDJSON is in %s; %s", self.store.resources,
                           missing_extra("population", "that loads it into the population database"))
        state.phase = "complete"
        self.store.save(state)
        shutil.rmtree(self.store.downloads, ignore_errors=True)

