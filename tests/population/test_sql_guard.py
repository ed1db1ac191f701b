"""The SQL guard on its own: what each refusal says, which names it refuses and why, what it lets through, and
that a syntax tree it cannot read is refused rather than passed. test_population_db.py runs the same guard on a real
population database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

from epic_mcp.population.sqlguard import QueryError, check_sql, first_line

TABLES = frozenset({"patient", "observation"})
SUFFIX = ". query_population reads the population tables only (observation, patient); describe_population_data " \
         "describes them"
NOT_ACCEPTED = ("this form of SELECT is not accepted; write a plain SELECT over the tables "
                "describe_population_data lists")


@pytest.fixture(scope="module")
def connection() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as opened:
        yield opened


def refusal(connection: duckdb.DuckDBPyConnection, sql: str) -> str:
    with pytest.raises(QueryError) as refused:
        check_sql(connection, sql, TABLES)
    return str(refused.value)


@pytest.mark.parametrize(("sql", "problem"), [
    ("DESCRIBE patient", "DESCRIBE, SHOW and SUMMARIZE are not allowed (describe_population_data lists the columns)"),
    ("SELECT * FROM (SHOW TABLES)",
     "DESCRIBE, SHOW and SUMMARIZE are not allowed (describe_population_data lists the columns)"),
    ("SELECT * FROM (UNPIVOT patient ON gender INTO NAME k VALUE v)", "pivot is not allowed"),
    ("SELECT * FROM information_schema.tables",
     "information_schema.tables is not allowed (only the population tables)"),
    ("SELECT * FROM other.patient", "other.patient is not allowed (only the population tables)"),
    ("SELECT * FROM temp.main.patient", "temp.main.patient is not allowed (only the population tables)"),
    ("SELECT * FROM system.patient", "system.patient is not allowed (only the population tables)"),
    ("SELECT * FROM encounter", "'encounter' is not a population table"),
    ("SELECT * FROM query_table('patient')",
     "query_table() is not allowed (of the table functions only generate_series, range, unnest)"),
    ("SELECT * FROM main.range(3)", "main.range() is not allowed (qualified function)"),
    ("SELECT * FROM system.main.range(3)", "system.main.range() is not allowed (qualified function)"),
    ("SELECT main.lower('x')", "main.lower() is not allowed (qualified function)"),
    ("SELECT system.main.lower('x')", "system.main.lower() is not allowed (qualified function)"),
    ("SELECT current_setting('home_directory')",
     "current_setting() is not allowed (it describes the database, its settings or the host)"),
])
def test_each_refusal_names_what_was_refused_and_what_may_be_read(connection: duckdb.DuckDBPyConnection, sql: str,
                                                                  problem: str) -> None:
    assert refusal(connection, sql) == problem + SUFFIX


def test_a_table_named_like_a_population_table_in_another_schema_or_catalog_is_refused(
        connection: duckdb.DuckDBPyConnection) -> None:
    """`patient` is allowed; the same name under another schema or database would read something else."""
    check_sql(connection, "SELECT * FROM patient", TABLES)
    check_sql(connection, "SELECT * FROM main.patient", TABLES)
    for sql in ("SELECT * FROM other.patient", "SELECT * FROM temp.main.patient", "SELECT * FROM memory.patient"):
        assert "is not allowed (only the population tables)" in refusal(connection, sql)


def test_a_table_function_s_arguments_are_checked_like_any_query(connection: duckdb.DuckDBPyConnection) -> None:
    check_sql(connection, "SELECT * FROM range((SELECT count(*) FROM patient))", TABLES)
    assert refusal(connection, "SELECT * FROM range((SELECT count(*) FROM encounter))") == \
        "'encounter' is not a population table" + SUFFIX
    assert refusal(connection, "SELECT * FROM unnest((SELECT list(path) FROM duckdb_databases()))").startswith(
        "duckdb_databases() is not allowed")
    assert refusal(connection, "SELECT * FROM range(length(getenv('HOME')))").startswith("getenv() is not allowed")


def test_a_pivot_is_refused_in_either_syntax(connection: duckdb.DuckDBPyConnection) -> None:
    assert refusal(connection, "SELECT * FROM (PIVOT patient ON gender)").startswith("only SELECT")
    assert refusal(connection, "SELECT * FROM patient PIVOT (count(*) FOR gender IN ('f'))") == \
        "pivot is not allowed" + SUFFIX


# One name of each family the denylist refuses, called as a scalar: what each would tell.
HOST_FAMILIES = [
    "duckdb_settings",  # the database file's path, settings, extensions, secrets
    "pragma_version", "pg_typeof", "has_table_privilege",  # the catalog, in PostgreSQL's and DuckDB's words
    "current_setting", "current_user", "current_database", "current_schemas",
    "read_text", "parquet_metadata", "sniff_csv", "json_execute_serialized_sql",  # files, and SQL run from text
    "iceberg_scan", "delta_scan", "sqlite_attach", "postgres_query", "mysql_query",  # other databases
    "enable_logging", "disable_logging",
]
HOST_NAMES = [
    "getvariable", "getenv", "version", "user", "session_user", "in_search_path", "txid_current", "nextval", "currval",
    "setval", "write_log", "sleep_ms", "stats", "glob", "query", "query_table", "which_secret",
    "parse_duckdb_log_message", "json_serialize_sql", "json_deserialize_sql", "col_description", "obj_description",
    "checkpoint", "force_checkpoint", "truncate_duckdb_logs", "test_all_types", "test_vector_types",
]


@pytest.mark.parametrize("name", HOST_FAMILIES + HOST_NAMES)
def test_a_function_that_describes_the_session_or_host_is_refused_in_any_case(
        connection: duckdb.DuckDBPyConnection, name: str) -> None:
    for called in (name, name.upper()):
        assert refusal(connection, f"SELECT {called}('x')") == \
            f"{name}() is not allowed (it describes the database, its settings or the host)" + SUFFIX


def test_a_host_function_used_as_a_window_is_refused(connection: duckdb.DuckDBPyConnection) -> None:
    assert refusal(connection, "SELECT stats(id) OVER () FROM patient").startswith("stats() is not allowed")


@pytest.mark.parametrize("clock", ["current_date", "current_time", "current_timestamp", "current_localtime",
                                   "current_localtimestamp", "get_current_time", "get_current_timestamp"])
def test_the_clock_is_not_the_host_and_may_be_read(connection: duckdb.DuckDBPyConnection, clock: str) -> None:
    check_sql(connection, f"SELECT {clock}()", TABLES)
    check_sql(connection, f"SELECT date_diff('day', birth_date::DATE, {clock}()::DATE) FROM patient", TABLES)


@pytest.mark.parametrize("sql", [
    "SELECT 1",  # no FROM
    "SELECT * FROM (SELECT id FROM patient) p",  # a subquery
    "SELECT * FROM (VALUES (1), (2)) v(a)", "VALUES (1)",  # a list of values
    "SELECT * FROM patient a JOIN observation b ON a.id = b.patient_id",  # a join
    "SELECT * FROM generate_series(1, 3)",  # an allowed table function
    "SELECT 1 UNION SELECT 2", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
                               "SELECT * FROM r",
    "SELECT row_number() OVER (ORDER BY id) FROM patient",
])
def test_every_plain_form_of_select_passes(connection: duckdb.DuckDBPyConnection, sql: str) -> None:
    check_sql(connection, sql, TABLES)


class Serializing:
    """A connection whose json_serialize_sql answers with the tree given: another DuckDB version's shape."""

    def __init__(self, tree: Any) -> None:
        self.tree = tree

    def execute(self, sql: str, parameters: list[str]) -> Serializing:
        return self

    def fetchall(self) -> list[tuple[str]]:
        return [(json.dumps(self.tree),)]


def select(from_table: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"error": False, "statements": [{"node": {"type": "SELECT_NODE", "sample": None, "cte_map": {"map": []},
                                                      "select_list": [], "from_table": from_table, **fields}}]}


BASE_TABLE = {"type": "BASE_TABLE", "sample": None, "schema_name": "", "catalog_name": "", "table_name": "patient"}


@pytest.mark.parametrize("tree", [
    {"error": True, "error_message": "Only SELECT statements can be serialized to json!"},  # a form it cannot write
    {"statements": []},  # no error flag
    {"error": False},  # no statements
    select({key: value for key, value in BASE_TABLE.items() if key != "table_name"}),
    select({key: value for key, value in BASE_TABLE.items() if key != "schema_name"}),
    select({key: value for key, value in BASE_TABLE.items() if key != "catalog_name"}),
    select({"type": "TABLE_FUNCTION", "sample": None, "function": {"function_name": "range", "schema": ""}}),
    select({"type": "TABLE_FUNCTION", "sample": None, "function": "range"}),
    select({"sample": None}),
    select(BASE_TABLE, select_list=[{"class": "FUNCTION", "function_name": "getenv"}]),
    select(BASE_TABLE, select_list=[{"class": "FUNCTION", "schema": "", "catalog": ""}]),
    "statements",
])
def test_a_syntax_tree_the_guard_cannot_read_is_refused_not_passed(tree: Any) -> None:
    with pytest.raises(QueryError) as refused:
        check_sql(Serializing(tree), "SELECT 1", TABLES)  # type: ignore[arg-type]
    assert str(refused.value) == NOT_ACCEPTED


def test_a_tree_of_the_known_shape_is_read(connection: duckdb.DuckDBPyConnection) -> None:
    """The control for the test above: the hand-made tree, complete, passes, and a bad name in it is refused."""
    check_sql(Serializing(select(BASE_TABLE)), "SELECT 1", TABLES)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="^'encounter' is not a population table"):
        check_sql(Serializing(select({**BASE_TABLE, "table_name": "encounter"})), "SELECT 1",  # type: ignore[arg-type]
                  TABLES)


@pytest.mark.parametrize(("error", "line"), [
    (duckdb.InterruptException(), "InterruptException"),
    (duckdb.Error("  \n "), "Error"),
    (duckdb.ParserException("Parser Error: syntax error\nLINE 1: SELEC"), "Parser Error: syntax error"),
])
def test_a_duckdb_error_is_told_in_its_first_line_or_its_kind(error: Exception, line: str) -> None:
    assert first_line(error) == line

