"""Which SQL query_population runs: one SELECT over the population tables, nothing that reaches past them.

The connection is read-only with external access off, so nothing can be written and no file read. What is left
is what DuckDB tells about itself and its host (duckdb_databases() names the database file's full path,
current_setting('home_directory') the account) and ways around the tables (query_table('...'), query('...'),
the system catalog's views). DuckDB's own parser turns the statement into its syntax tree
(json_serialize_sql), and the tree is checked:

- tables: an allowlist. Only the population tables and the query's own CTEs, unqualified; no file name, no
  system or information_schema view, no DESCRIBE/SHOW.
- table functions: an allowlist: range, generate_series, unnest (every other one reads files, settings, the
  catalog or runs SQL from text).
- other functions: a denylist, because the analyst's toolbox (string, date, list, math, aggregate and window
  functions) is hundreds of names while the ones that describe the session or host are a few families:
  duckdb_*, pragma_*, pg_*, current_* (but the clock), version(), getvariable(), sequences, logs, sleep. Any
  function qualified with a schema or catalog is refused too. A test lists DuckDB's catalog and fails on any
  name that looks host-related and is neither refused nor reviewed, so a DuckDB upgrade cannot slip one in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import duckdb

from ..errors import EpicMcpError

TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
CLOCK = frozenset({"current_date", "current_time", "current_timestamp", "current_localtime",  # current_, but harmless
                   "current_localtimestamp"})
HOST_PREFIXES = ("duckdb_", "pragma_", "pg_", "has_", "current_", "read_", "parquet_", "json_execute", "sniff_",
                 "iceberg_", "delta_", "sqlite_", "postgres_", "mysql_", "enable_", "disable_")
HOST_FUNCTIONS = frozenset({
    "getvariable", "getenv", "version", "user", "session_user", "in_search_path", "txid_current", "nextval",
    "currval", "setval", "write_log", "sleep_ms", "stats", "glob", "query", "query_table", "which_secret",
    "parse_duckdb_log_message", "json_serialize_sql", "json_deserialize_sql", "col_description", "obj_description",
    "checkpoint", "force_checkpoint", "truncate_duckdb_logs", "test_all_types", "test_vector_types",
})
# The nodes of the tree that carry a sample: a SELECT and the table references of its FROM (anything else, e.g.
# DESCRIBE's SHOW_REF or UNPIVOT's PIVOT, is refused).
NODES = frozenset({"SELECT_NODE", "BASE_TABLE", "JOIN", "SUBQUERY", "TABLE_FUNCTION", "EXPRESSION_LIST", "EMPTY"})
NOT_ACCEPTED = ("this form of SELECT is not accepted; write a plain SELECT over the tables "
                "describe_population_data lists")


class QueryError(EpicMcpError):
    """The SQL was refused or failed; the message says why."""


def check_sql(connection: duckdb.DuckDBPyConnection, sql: str, tables: frozenset[str]) -> None:
    """Refuse (QueryError) anything but one SELECT whose tables are `tables` and whose functions stay inside them."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"the SQL does not parse: {first_line(exc)}") from None
    if len(statements) != 1:
        raise QueryError(f"send exactly one statement (got {len(statements)})")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise QueryError("only SELECT (or WITH ... SELECT) is allowed: the population database is read-only")
    tree = json.loads(connection.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0])
    problem = _first_problem(tree, tables)
    if problem is not None:
        raise QueryError(problem)


def _first_problem(tree: dict[str, Any], tables: frozenset[str]) -> str | None:
    """What is wrong with the query, if anything. A tree the guard cannot read (a form DuckDB does not serialize,
    or a field another DuckDB version names differently) is refused, never passed."""
    try:
        if tree["error"]:
            return NOT_ACCEPTED
        problem = next(_problems(tree["statements"], frozenset(), tables), None)
    except (KeyError, TypeError, AttributeError):
        return NOT_ACCEPTED
    if problem is None:
        return None
    return (f"{problem}. query_population reads the population tables only ({', '.join(sorted(tables))}); "
            "describe_population_data describes them")


def refused_function(name: str) -> bool:
    """Whether a scalar, aggregate or window function is refused (it describes the session or host)."""
    name = name.lower()
    if name in CLOCK:
        return False
    return name in HOST_FUNCTIONS or name.startswith(HOST_PREFIXES)


def _problems(node: Any, ctes: frozenset[str], tables: frozenset[str]) -> Iterator[str]:
    """Walk the tree; a node's CTE names are in scope for everything under it (and nowhere else)."""
    if isinstance(node, list):
        for item in node:
            yield from _problems(item, ctes, tables)
        return
    if not isinstance(node, dict):
        return
    names = [entry.get("key") for entry in (node.get("cte_map") or {}).get("map", []) if isinstance(entry, dict)]
    ctes = ctes | {str(name).lower() for name in names if name}
    if node.get("class") in ("FUNCTION", "WINDOW"):
        name = str(node["function_name"])
        if node["schema"] or node["catalog"]:
            yield f"{_qualified(node['catalog'], node['schema'], name)}() is not allowed (qualified function)"
        elif refused_function(name):
            yield f"{name}() is not allowed (it describes the database, its settings or the host)"
    elif "sample" in node:
        yield from _table_problems(node, ctes, tables)
    for value in node.values():
        yield from _problems(value, ctes, tables)


def _table_problems(node: dict[str, Any], ctes: frozenset[str], tables: frozenset[str]) -> Iterator[str]:
    kind = node["type"]
    if kind == "SHOW_REF":
        yield "DESCRIBE, SHOW and SUMMARIZE are not allowed (describe_population_data lists the columns)"
    elif kind not in NODES:
        yield f"{str(kind).lower()} is not allowed"
    elif kind == "BASE_TABLE":
        name, schema, catalog = str(node["table_name"]), node["schema_name"], node["catalog_name"]
        if catalog or schema not in ("", "main"):
            yield f"{_qualified(catalog, schema, name)} is not allowed (only the population tables)"
        elif name.lower() not in tables | ctes:
            yield f"{name!r} is not a population table"
    elif kind == "TABLE_FUNCTION":
        function = node["function"]
        name = str(function["function_name"])
        if function["schema"] or function["catalog"]:
            yield f"{_qualified(function['catalog'], function['schema'], name)}() is not allowed (qualified function)"
        elif name.lower() not in TABLE_FUNCTIONS:
            yield f"{name}() is not allowed (of the table functions only {', '.join(sorted(TABLE_FUNCTIONS))})"


def _qualified(*parts: str) -> str:
    return ".".join(part for part in parts if part)


def first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
