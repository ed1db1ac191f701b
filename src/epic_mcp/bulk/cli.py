"""`epic-mcp export`: a Bulk Data export into the population database, with progress on stderr."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import TYPE_CHECKING, TextIO

from ..extras import missing_extra
from ..settings import Settings

if TYPE_CHECKING:
    from .state import ExportState

HELP = "export a group's data with Bulk Data ($export) into the population database"
DESCRIPTION = """\
Runs a FHIR Bulk Data export (Group/{id}/$export, Epic's kind) and loads it into the local population database
(DuckDB, with the `population` extra) that query_population reads. Progress goes to stderr. The export is
resumable: if it stops (Ctrl-C, a broken download, a crash), run the same command again and it continues.
Epic asks clients to check an export's status every 10-30 minutes (EPIC_BULK_POLL_SECONDS, default 600);
the server's Retry-After always wins.
"""


def add_export_command(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    export = commands.add_parser("export", parents=[common], help=HELP, description=DESCRIPTION,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("--group", metavar="ID", help="Group id to export (default: EPIC_BULK_GROUP_ID; in the local "
                        "sandbox, its group of Epic's test patients)")
    export.add_argument("--all-patients", action="store_true", help="export every patient (Patient/$export) "
                        "instead of a group; not offered by Epic")
    export.add_argument("--type", metavar="TYPES", help="only these resource types, comma-separated (_type), e.g. "
                        "Patient,Condition,Observation")
    since = export.add_mutually_exclusive_group()
    since.add_argument("--since", metavar="INSTANT", help="only resources changed since this FHIR instant (_since), "
                       "e.g. 2026-01-31T00:00:00Z; merged into the existing data (not supported by Epic)")
    since.add_argument("--incremental", action="store_true", help="only what changed since the last complete export "
                       "(its transactionTime), merged into the existing data; without --group, --all-patients or "
                       "--type it refreshes the last export's group and types")
    action = export.add_mutually_exclusive_group()
    action.add_argument("--restart", action="store_true", help="discard an unfinished export (cancelling it on the "
                        "server) and start a new one")
    action.add_argument("--cancel", action="store_true", help="cancel the unfinished export on the server and "
                        "delete what was downloaded of it")
    action.add_argument("--status", action="store_true", help="print the state of the last export as JSON and exit")
    export.add_argument("--quiet", action="store_true", help="no progress on stderr, only the final summary")


def run_export_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.status:
        from .state import StateStore

        state = StateStore(settings.epic_population_dir).load()
        print(json.dumps(state.summary() if state else {"phase": "none"}, indent=2))
        return 0
    try:
        return asyncio.run(_run(args, settings))
    except KeyboardInterrupt:
        print("\ninterrupted; run `epic-mcp export` again to resume", file=sys.stderr)
        return 130


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from ..fhir.connection import EpicConnection, tls_context
    from .client import BulkClient
    from .export import Exporter, ExportOptions

    if settings.epic_env == "local":
        from ..sandbox import Sandbox

        Sandbox(settings).ensure_running()
    connection = EpicConnection.open(settings)
    client = BulkClient(settings, connection.tokens, verify=tls_context())
    bar = ProgressBar(sys.stderr, enabled=not args.quiet)
    exporter = Exporter(settings, client, report=bar.update)
    try:
        with exporter.store.lock():
            if args.cancel:
                cancelled = await exporter.cancel()
                print("export cancelled; its downloaded files were deleted"
                      if cancelled is not None and cancelled.phase == "cancelled" else "no unfinished export")
                return 0
            current = exporter.status()
            unfinished = current is not None and current.unfinished
            if unfinished and _asks_new(args) and not args.restart:
                print("epic-mcp: an unfinished export exists; run `epic-mcp export` to resume it, or add --restart "
                      "to replace it", file=sys.stderr)
                return 1
            if args.restart or not unfinished:
                types = tuple(t.strip() for t in (args.type or "").split(",") if t.strip())
                await exporter.start(ExportOptions(args.group, "patient" if args.all_patients else None, types,
                                                   args.since, args.incremental))
            state = await exporter.follow()
    finally:
        bar.finish()
        await client.aclose()
        await connection.aclose()
    print(_final(state, settings))
    return 0


def _asks_new(args: argparse.Namespace) -> bool:
    return bool(args.group or args.all_patients or args.type or args.since or args.incremental)


def _final(state: ExportState, settings: Settings) -> str:
    resources = sum(state.resources.values())
    kind = f"changes since {state.since}" if state.since else "full export"
    lines = [f"export complete ({kind}, transactionTime {state.transaction_time}): {resources} resources now in "
             f"{settings.epic_population_dir}"]
    if state.tables:
        lines.append("tables: " + ", ".join(f"{name} {rows}" for name, rows in state.tables.items()))
    else:
        lines.append(missing_extra("population", "that loads the NDJSON into the population database"))
    return "\n".join(lines)


class ProgressBar:
    """One line redrawn in place on a terminal; otherwise a line per step (for logs and CI)."""

    WIDTH = 30

    def __init__(self, stream: TextIO, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self.tty = stream.isatty()
        self.last = ""
        self.drawn_at = 0.0

    def update(self, state: ExportState, event: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            line, now = self._line(state, event), time.monotonic()
            if line != self.last and (event != "downloading" or now - self.drawn_at > 0.1):
                self.stream.write("\r\x1b[2K" + line)
                self.stream.flush()
                self.last, self.drawn_at = line, now
            return
        text = self._file_done_line(state) if event == "downloading" else self._line(state, event)
        if text != self.last:
            self.stream.write(text + "\n")
            self.last = text

    def finish(self) -> None:
        if self.enabled and self.tty and self.last:
            self.stream.write("\n")
            self.last = ""

    def _line(self, state: ExportState, event: str) -> str:
        if event == "started":
            return f"export started ({state.level}{f' {state.group_id}' if state.group_id else ''})"
        if event == "waiting":
            return f"waiting for the server: {state.progress or 'in progress'}"
        if event == "loading":
            return "merging and loading into the population database"
        if event == "complete":
            return "done"
        output = [f for f in state.files if not f.error_file]
        done = sum(f.done for f in output)
        expected = sum(f.expected or 0 for f in output)
        fraction = done / len(output) if output else 1.0
        filled = int(self.WIDTH * fraction)
        size = sum(f.bytes for f in state.files) / 1e6
        counts = f", {expected} resources" if expected else ""
        return f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{len(output)} files, {size:.1f} MB{counts}"

    @staticmethod
    def _file_done_line(state: ExportState) -> str:
        output = [f for f in state.files if not f.error_file]
        return f"downloaded {sum(f.done for f in output)}/{len(output)} files"
