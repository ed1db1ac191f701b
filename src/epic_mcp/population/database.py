"""The embedded population database: ViewDefinition tables in one DuckDB file, queried read-only.

The database is built beside the live one and swapped in with a rename, so a query never sees half a load.
Queries run on a read-only connection with external access (files, URLs, extensions) switched off, one
statement, SELECT or WITH only, with a row cap and a time limit.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from ..errors import EpicMcpError
from .viewdef import Kind, View, shipped_views

SQL_TYPES: dict[Kind, str] = {"text": "VARCHAR", "decimal": "DOUBLE", "integer": "BIGINT", "boolean": "BOOLEAN"}
META_TABLE = "_population"
QUERY_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False, "autoinstall_known_extensions": False, "autoload_known_extensions": False,
    "lock_configuration": True, "threads": 2, "memory_limit": "2GB",
}


class QueryError(EpicMcpError):
    """The SQL was refused or failed; the message says why."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    elapsed_ms: int


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def build(snapshot: Path, target: Path, meta: dict[str, Any], views: Iterable[View] | None = None,
          on_view: Callable[[str, int], None] = lambda name, rows: None) -> dict[str, int]:
    """Flatten the snapshot (one NDJSON file per type) with every view into a new database at `target`."""
    staging = target.with_name(target.name + ".building")
    scratch = target.with_name("rows.ndjson")
    for leftover in (staging, scratch, staging.with_name(staging.name + ".wal")):
        leftover.unlink(missing_ok=True)
    tables: dict[str, int] = {}
    connection = duckdb.connect(str(staging))
    try:
        for view in views if views is not None else shipped_views():
            tables[view.name] = _load_view(connection, view, snapshot / f"{view.resource}.ndjson", scratch)
            on_view(view.name, tables[view.name])
        connection.execute(f"CREATE TABLE {META_TABLE} (key VARCHAR, value VARCHAR)")
        details = {**meta, "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"), "tables": tables}
        connection.executemany(f"INSERT INTO {META_TABLE} VALUES (?, ?)",
                               [(key, json.dumps(value)) for key, value in details.items()])
        connection.execute("CHECKPOINT")
    finally:
        connection.close()
        scratch.unlink(missing_ok=True)
    os.chmod(staging, 0o600)
    os.replace(staging, target)
    return tables


def _load_view(connection: duckdb.DuckDBPyConnection, view: View, source: Path, scratch: Path) -> int:
    """Rows go through a scratch NDJSON file that DuckDB reads with the view's column types (much faster than
    inserting row by row)."""
    names = [column.name for column in view.columns]
    columns = {column.name: SQL_TYPES[column.kind] for column in view.columns}
    definition = ", ".join(f"{_quote(name)} {kind}" for name, kind in columns.items())
    connection.execute(f"CREATE TABLE {_quote(view.name)} ({definition})")
    if not source.exists():
        return 0
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    count = 0
    with os.fdopen(fd, "w") as sink, open(source, "rb") as lines:
        for line in lines:
            if line.strip():
                for row in view.rows(json.loads(line)):
                    sink.write(json.dumps(dict(zip(names, row, strict=True))) + "\n")
                    count += 1
    if count:
        connection.execute(f"INSERT INTO {_quote(view.name)} SELECT * FROM read_json(?, format = "
                           f"'newline_delimited', columns = {_struct(columns)})", [str(scratch)])
    return count


def _struct(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"


def check_select(sql: str) -> str:
    """One SELECT (or WITH ... SELECT) statement, else QueryError; DuckDB's own parser decides."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"the SQL does not parse: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise QueryError(f"send exactly one statement (got {len(statements)})")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise QueryError("only SELECT (or WITH ... SELECT) is allowed: the population database is read-only")
    return sql


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


_OPEN: dict[Path, tuple[tuple[int, int], duckdb.DuckDBPyConnection]] = {}
_OPEN_LOCK = threading.Lock()


def _connect(database: Path) -> duckdb.DuckDBPyConnection:
    """A cursor on one shared read-only connection per file (opening one costs 15-80 ms, a cursor well under
    1 ms), opened anew when the file was replaced by a newer export. The old connection is closed first:
    DuckDB hands out the database already open under a path, which would be the replaced file."""
    try:
        stat = database.stat()
    except FileNotFoundError:
        raise QueryError("no population data yet: run an export first (start_export, or `epic-mcp export`)") from None
    version = (stat.st_ino, stat.st_mtime_ns)
    with _OPEN_LOCK:
        opened = _OPEN.get(database)
        if opened is None or opened[0] != version:
            if opened is not None:
                opened[1].close()
            opened = _OPEN[database] = (version, duckdb.connect(str(database), read_only=True, config=QUERY_CONFIG))
        return opened[1].cursor()


def query(database: Path, sql: str, max_rows: int, timeout: float) -> QueryResult:
    """Run one read-only query; at most `max_rows` rows come back, and it is interrupted after `timeout` s."""
    check_select(sql)
    connection = _connect(database)
    timer = threading.Timer(timeout, connection.interrupt)
    started = time.perf_counter()
    timer.start()
    try:
        cursor = connection.execute(sql)
        columns = [item[0] for item in cursor.description or []]
        rows = cursor.fetchmany(max_rows + 1)
    except duckdb.InterruptException:
        raise QueryError(f"the query ran longer than {timeout:g} s and was stopped; aggregate more, or filter "
                         "first") from None
    except duckdb.Error as exc:
        raise QueryError(f"DuckDB: {_first_line(exc)}") from None
    finally:
        timer.cancel()
        connection.close()
    return QueryResult(columns, [[_plain(v) for v in row] for row in rows[:max_rows]], len(rows) > max_rows,
                       int((time.perf_counter() - started) * 1000))


def _plain(value: Any) -> Any:
    """JSON-friendly: numbers, text, booleans and null stay; anything else (dates, decimals, lists) as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def describe(database: Path) -> dict[str, Any]:
    """Tables with their columns and row counts, and what the export was."""
    views = {view.name: view for view in shipped_views()}
    connection = _connect(database)
    try:
        meta = {key: json.loads(value) for key, value in connection.execute(f"SELECT * FROM {META_TABLE}").fetchall()}
        columns = connection.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            f"WHERE table_name <> '{META_TABLE}' ORDER BY table_name, ordinal_position").fetchall()
    except duckdb.Error as exc:
        raise QueryError(f"the population database is unreadable ({_first_line(exc)}); run the export again") from None
    finally:
        connection.close()
    tables: dict[str, dict[str, Any]] = {}
    for table, column, kind in columns:
        entry = tables.setdefault(table, {"rows": meta.get("tables", {}).get(table, 0), "columns": []})
        view = views.get(table)
        if view is not None:
            entry["title"] = view.title
        note = next((c.description for c in view.columns if c.name == column), "") if view else ""
        entry["columns"].append({"name": column, "type": kind, **({"note": note} if note else {})})
    return {"tables": tables, **{k: v for k, v in meta.items() if k != "tables"}}
