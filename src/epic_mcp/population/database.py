"""The embedded population database: ViewDefinition tables in one DuckDB file, queried read-only.

The database is built beside the live one and swapped in with a rename, so a query never sees half a load.
Queries run on a read-only connection with external access (files, URLs, extensions) switched off, checked by
sqlguard.py (one SELECT over the population tables), with a row cap and a time limit.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from .codesystems import SYSTEMS, system_names
from .sqlguard import QueryError, check_sql, first_line
from .viewdef import Column, Kind, View, shipped_views

SQL_TYPES: dict[Kind, str] = {"text": "VARCHAR", "decimal": "DOUBLE", "integer": "BIGINT", "boolean": "BOOLEAN"}
META_TABLE = "_population"
QUERY_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False, "autoinstall_known_extensions": False, "autoload_known_extensions": False,
    "python_enable_replacements": False, "lock_configuration": True, "threads": 2, "memory_limit": "2GB",
}
LIST_HINT = ("the code columns (loinc, snomed, icd10, rxnorm, cvx, ...) are lists: filter with list_contains(loinc, "
             "'4548-4'), or use the *_coding tables")
__all__ = ["QueryError", "QueryResult", "as_of", "build", "describe", "guide", "query"]


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    elapsed_ms: int


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_type(column: Column) -> str:
    return SQL_TYPES[column.kind] + ("[]" if column.collection else "")


def as_of(meta: dict[str, Any]) -> date:
    """The day the data describes: the export's transactionTime, else today (UTC). Ages are counted on it."""
    moment = str(meta.get("transaction_time") or "")
    try:
        return date.fromisoformat(moment[:10])
    except ValueError:
        return datetime.now(UTC).date()


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
        for view in views if views is not None else shipped_views(as_of(meta)):
            tables[view.name] = _load_view(connection, view, snapshot / f"{view.resource}.ndjson", scratch)
            on_view(view.name, tables[view.name])
        connection.execute(f"CREATE TABLE {META_TABLE} (key VARCHAR, value VARCHAR)")
        details = {**meta, "as_of": as_of(meta).isoformat(),
                   "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"), "tables": tables}
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
    columns = {column.name: sql_type(column) for column in view.columns}
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


@dataclass(frozen=True)
class _Opened:
    version: tuple[int, int]
    connection: duckdb.DuckDBPyConnection
    tables: frozenset[str]


_OPEN: dict[Path, _Opened] = {}
_OPEN_LOCK = threading.Lock()


def _connect(database: Path) -> tuple[duckdb.DuckDBPyConnection, frozenset[str]]:
    """A cursor on one shared read-only connection per file (opening one costs 15-80 ms, a cursor well under
    1 ms), opened anew when the file was replaced by a newer export, and the file's population tables. The old
    connection is closed first: DuckDB hands out the database already open under a path, which would be the
    replaced file."""
    try:
        stat = database.stat()
    except FileNotFoundError:
        raise QueryError("no population data yet: run an export first (start_export, or `epic-mcp export`)") from None
    version = (stat.st_ino, stat.st_mtime_ns)
    with _OPEN_LOCK:
        opened = _OPEN.get(database)
        if opened is None or opened.version != version:
            if opened is not None:
                opened.connection.close()
            connection = duckdb.connect(str(database), read_only=True, config=QUERY_CONFIG)
            names = connection.execute("SELECT table_name FROM duckdb_tables() WHERE NOT internal").fetchall()
            tables = frozenset(str(name).lower() for (name,) in names) - {META_TABLE}
            opened = _OPEN[database] = _Opened(version, connection, tables)
        return opened.connection.cursor(), opened.tables


def query(database: Path, sql: str, max_rows: int, timeout: float) -> QueryResult:
    """Run one read-only query; at most `max_rows` rows come back, and it is interrupted after `timeout` s."""
    connection, tables = _connect(database)
    timer = threading.Timer(timeout, connection.interrupt)
    try:
        check_sql(connection, sql, tables)
        started = time.perf_counter()
        timer.start()
        cursor = connection.execute(sql)
        columns = [item[0] for item in cursor.description or []]
        rows = cursor.fetchmany(max_rows + 1)
    except duckdb.InterruptException:
        raise QueryError(f"the query ran longer than {timeout:g} s and was stopped; aggregate more, or filter "
                         "first") from None
    except duckdb.Error as exc:
        message = first_line(exc)
        hint = f" ({LIST_HINT})" if "[]" in message and ("Conversion" in message or "No function" in message) else ""
        raise QueryError(f"DuckDB: {message}{hint}") from None
    finally:
        timer.cancel()
        connection.close()
    return QueryResult(columns, [[_plain(v) for v in row] for row in rows[:max_rows]], len(rows) > max_rows,
                       int((time.perf_counter() - started) * 1000))


def _plain(value: Any) -> Any:
    """JSON-friendly: numbers, text, booleans, null and lists of them stay; anything else (dates, decimals) as
    text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return str(value)


def guide(views: Iterable[View], day: str | None) -> list[str]:
    """How to ask the tables, for the model: the traps the views' shapes set."""
    code_columns = [name for name in SYSTEMS if any(c.name == name and c.collection for v in views for c in v.columns)]
    return [
        f"Code columns ({', '.join(code_columns)}) list every code of that system a record carries (often "
        "several: Epic lists its own codes and panel codes too). Filter with list_contains(loinc, '4548-4'); "
        "never compare them with =.",
        "Any other code, or a prefix such as ICD-10 'E11%': the *_coding tables hold one row per coding (element, "
        "system, system_name, code, display), e.g. WHERE id IN (SELECT condition_id FROM condition_coding WHERE "
        f"system_name = 'icd10' AND code LIKE 'E11%'). system_name is one of {system_names()}.",
        "category and *_status columns hold FHIR's codes (laboratory, vital-signs; active, resolved; confirmed) "
        "whatever system the record coded them in.",
        "Orders that reference a Medication (Epic's do) have their drug codes in medication: LEFT JOIN medication m "
        "ON m.id = medication_request.medication_id.",
        "Dates are ISO 8601 text with their time zone: compare days as text or ::DATE; order times with "
        "::TIMESTAMPTZ. Latest result per patient: arg_max(value, effective::TIMESTAMPTZ) ... GROUP BY patient_id. "
        f"patient.age is in whole years on {day or 'the export day'}.",
    ]


def describe(database: Path) -> dict[str, Any]:
    """Tables with their columns and row counts, what the export was, and how to ask the tables."""
    views = {view.name: view for view in shipped_views()}
    connection, _ = _connect(database)
    try:
        meta = {key: json.loads(value) for key, value in connection.execute(f"SELECT * FROM {META_TABLE}").fetchall()}
        columns = connection.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            f"WHERE table_name <> '{META_TABLE}' ORDER BY table_name, ordinal_position").fetchall()
    except duckdb.Error as exc:
        raise QueryError(f"the population database is unreadable ({first_line(exc)}); run the export again") from None
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
    export = {k: v for k, v in meta.items() if k != "tables"}
    return {"tables": tables, "guide": guide(views.values(), meta.get("as_of")), **export}
