"""The population database: built from the merged NDJSON, queried read-only with caps; nothing but one SELECT
runs, and nothing outside the database file can be read."""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from epic_mcp.bulk.snapshot import merge
from epic_mcp.population.database import QueryError, build, describe, query
from epic_mcp.population.sqlguard import TABLE_FUNCTIONS, refused_function
from epic_mcp.sandbox import data_set

from ..conftest import run_today

DIABETES_A1C_OVER_9 = """
WITH diabetic AS (SELECT DISTINCT patient_id FROM condition WHERE clinical_status = 'active' AND id IN
                  (SELECT condition_id FROM condition_coding WHERE system_name = 'icd10' AND code LIKE 'E11%'))
SELECT count(DISTINCT o.patient_id) AS patients FROM observation o JOIN diabetic USING (patient_id)
WHERE list_contains(o.loinc, '4548-4') AND o.value > 9"""


def write_ndjson(folder: Path, resources: list[dict[str, Any]]) -> list[tuple[str, Path]]:
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for resource in resources:
        by_type[resource["resourceType"]].append(resource)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for resource_type, items in by_type.items():
        path = folder / f"{resource_type}.ndjson"
        path.write_text("".join(json.dumps(r) + "\n" for r in items))
        files.append((resource_type, path))
    return files


def diabetics_with_a1c_over_9(resources: list[dict[str, Any]]) -> int:
    """The expected answer, straight from the resources."""
    diabetic = {r["subject"]["reference"].split("/")[1] for r in resources if r["resourceType"] == "Condition"
                and r["code"]["coding"][0]["code"].startswith("E11")
                and r["clinicalStatus"]["coding"][0]["code"] == "active"}
    return len({r["subject"]["reference"].split("/")[1] for r in resources if r["resourceType"] == "Observation"
                and r["code"]["coding"][0]["code"] == "4548-4" and r.get("valueQuantity", {}).get("value", 0) > 9
                and r["subject"]["reference"].split("/")[1] in diabetic})


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("population")
    merge(folder / "resources", write_ndjson(folder / "download", data_set(run_today())["resources"]), replace=True)
    target = folder / "population.duckdb"
    build(folder / "resources", target, {"group_id": "g1", "transaction_time": "2026-01-01T00:00:00Z"})
    return target


def test_a_population_question_gets_the_answer_the_records_give(database: Path) -> None:
    expected = diabetics_with_a1c_over_9(data_set(run_today())["resources"])
    result = query(database, DIABETES_A1C_OVER_9, 10, 10)
    assert result.columns == ["patients"] and result.rows == [[expected]] and expected > 0


def test_the_database_file_is_private(database: Path) -> None:
    assert database.stat().st_mode & 0o077 == 0


# What reaches past the population tables, by name: the host (the database file's path, the account's home, the
# platform), DuckDB's settings, secrets and logs, files, the catalogs, and SQL run from text.
HAZARDS = [
    "SELECT * FROM duckdb_databases()", "SELECT path FROM duckdb_databases", "SELECT * FROM main.duckdb_databases()",
    "SELECT * FROM system.main.duckdb_settings()", "SELECT * FROM duckdb_settings()", "SELECT * FROM duckdb_settings",
    "SELECT current_setting('home_directory')", "SELECT current_setting('temp_directory') AS t",
    "SELECT * FROM query_table('patient')", "SELECT * FROM query_table(['patient', 'observation'])",
    "SELECT * FROM query('SELECT path FROM duckdb_databases()')",
    "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))",
    "SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM read_blob('/etc/hostname')", "SELECT * FROM read_parquet('x.parquet')",
    "SELECT * FROM read_json_auto('x.json')", "SELECT * FROM read_ndjson_objects('x')", "SELECT * FROM glob('/*')",
    "SELECT * FROM sniff_csv('/etc/passwd')", "SELECT * FROM parquet_metadata('x.parquet')",
    "SELECT * FROM '/etc/passwd'", "SELECT * FROM 'population.duckdb'", "SELECT * FROM read_duckdb('x.duckdb')",
    "SELECT * FROM duckdb_extensions()", "SELECT * FROM duckdb_secrets()", "SELECT * FROM which_secret('s3://b', 's3')",
    "SELECT * FROM duckdb_temporary_files()", "SELECT * FROM duckdb_memory()", "SELECT * FROM duckdb_logs",
    "SELECT * FROM pragma_database_list", "SELECT * FROM pragma_platform()", "SELECT * FROM pragma_version()",
    "SELECT * FROM pragma_user_agent()", "SELECT * FROM pragma_storage_info('patient')",
    "SELECT * FROM test_all_types()",
    "SELECT * FROM information_schema.tables", "SELECT * FROM pg_catalog.pg_class", "SELECT * FROM sqlite_master",
    "SELECT pg_catalog.current_database()", "SELECT current_database()", "SELECT current_schemas(true)",
    "SELECT version()", "SELECT getvariable('x')", "SELECT write_log('x')", "SELECT sleep_ms(1)",
    "SELECT nextval('s')", "SELECT * FROM _population", "DESCRIBE patient", "SHOW TABLES", "SUMMARIZE patient",
    "SELECT id FROM patient WHERE id IN (SELECT database_name FROM duckdb_databases())",
    "SELECT list_transform([1], lambda x: current_setting('home_directory'))",
    # a CTE named like a catalog view covers only its own query, not the outer one
    "SELECT * FROM (WITH duckdb_databases AS (SELECT 1 AS p) SELECT * FROM duckdb_databases) a, duckdb_databases b",
]
# What an analyst writes: CTEs (even one named like a catalog view), lambdas, windows, lists, dates, generators.
ANALYST = [
    "WITH duckdb_databases AS (SELECT 1 AS n) SELECT n FROM duckdb_databases",
    "SELECT count(*) FILTER (WHERE deceased) FROM patient",
    "SELECT patient_id, arg_max(value, effective) FROM observation WHERE list_contains(loinc, '4548-4') GROUP BY 1",
    "SELECT id FROM condition WHERE len(list_filter(icd10, lambda c: c LIKE 'E11%')) > 0",
    "SELECT o.id FROM observation o, unnest(o.loinc) AS u(code) WHERE u.code = '4548-4'",
    "SELECT * FROM range(3)", "SELECT * FROM generate_series(1, 3)",
    "SELECT gender, row_number() OVER (PARTITION BY gender ORDER BY birth_date) FROM patient",
    "SELECT date_diff('day', period_start::DATE, current_date) FROM encounter",
    "SELECT strftime(birth_date::DATE, '%Y'), regexp_matches(family, '^[A-Z]') FROM main.patient",
    "FROM patient SELECT id LIMIT 1",
    "SELECT (SELECT count(*) FROM observation_coding WHERE system_name = 'loinc') AS n",
]


def test_duckdb_databases_would_reveal_the_population_folder(database: Path) -> None:
    """The hazard is real: without the guard, the read-only query connection names the file's full path."""
    from epic_mcp.population import database as db

    connection, _ = db._connect(database)
    try:
        paths = [row[0] for row in connection.execute("SELECT path FROM duckdb_databases()").fetchall()]
    finally:
        connection.close()
    assert str(database) in paths


@pytest.mark.parametrize("sql", HAZARDS)
def test_what_reveals_the_host_or_escapes_the_tables_is_refused_by_name(database: Path, sql: str) -> None:
    with pytest.raises(QueryError) as refused:
        query(database, sql, 10, 10)
    message = str(refused.value)
    assert "not allowed" in message or "not a population table" in message or "not accepted" in message
    assert str(database.parent) not in message and "patient, patient" not in message


@pytest.mark.parametrize("sql", ANALYST)
def test_what_an_analyst_writes_still_runs(database: Path, sql: str) -> None:
    assert query(database, sql, 5, 10).columns


def test_every_duckdb_table_function_but_three_is_refused_and_host_looking_functions_are_reviewed(
        database: Path) -> None:
    """The allowlist and the denylist against the installed DuckDB's own catalog: an upgrade that adds a function
    reaching the host fails here until it is refused or reviewed as harmless."""
    import duckdb

    with duckdb.connect() as catalog:
        functions = catalog.execute("SELECT DISTINCT function_name, function_type FROM duckdb_functions() "
                                    "WHERE function_type <> 'pragma'").fetchall()
    tables = sorted(name for name, kind in functions if kind in ("table", "table_macro"))
    assert {"read_csv", "query_table", "duckdb_databases", "glob"} <= set(tables)
    for name in tables:
        if name in TABLE_FUNCTIONS:
            continue
        with pytest.raises(QueryError, match="not allowed"):
            query(database, f"SELECT * FROM {name}()", 1, 10)
    host_looking = re.compile(r"setting|env|database|schema|catalog|version|platform|secret|file|path|dir|extension|"
                              r"query|sql|read|glob|temp|memory|user|role|privilege|variable|txid|val$|log|sleep|"
                              r"current|connection|transaction|stats|describe|config|host|system")
    unreviewed = sorted(name for name, kind in functions if kind not in ("table", "table_macro")
                        and host_looking.search(name) and not refused_function(name) and name not in REVIEWED)
    assert unreviewed == [], "review these functions: refuse them in sqlguard.py, or add them to REVIEWED"


# Pure functions whose names look host-related: logarithms, path-string parsing, JSON paths, the clock.
REVIEWED = {"current_date", "current_localtime", "current_localtimestamp", "get_current_time", "get_current_timestamp",
            "transaction_timestamp", "json_extract_path", "json_extract_path_text", "log", "log10", "log2",
            "normalized_interval", "parse_dirname", "parse_dirpath", "parse_filename", "parse_path", "path_join",
            "uuid_extract_version"}


@pytest.mark.parametrize("sql", [
    "SELECT count(*) FROM observation WHERE loinc = '4548-4'",  # DuckDB: Conversion Error
    "SELECT count(*) FROM observation WHERE lower(loinc) = '4548-4'",  # DuckDB: No function matches
    "SELECT count(*) FROM observation WHERE loinc LIKE '4548%'",
])
def test_using_a_code_list_as_one_code_fails_loudly_with_the_fix(database: Path, sql: str) -> None:
    with pytest.raises(QueryError, match=r"\(the code columns .* are lists: filter with list_contains\(loinc"):
        query(database, sql, 1, 10)


@pytest.mark.parametrize("sql", [
    'SELECT "loinc[]" FROM observation',  # brackets, but not a list used as a code
    "SELECT lower(1, 2, 3)",  # no function, but no list
    "SELECT CAST('x' AS INTEGER)",  # a conversion, but no list
])
def test_other_errors_get_no_code_list_hint(database: Path, sql: str) -> None:
    with pytest.raises(QueryError) as failed:
        query(database, sql, 1, 10)
    assert "list_contains" not in str(failed.value)


@pytest.mark.parametrize("sql", [
    "DROP TABLE patient", "DELETE FROM observation", "INSERT INTO patient (id) VALUES ('x')",
    "CREATE TABLE t AS SELECT 1", "COPY patient TO 'out.csv'", "ATTACH 'other.duckdb'", "INSTALL httpfs",
    "SET enable_external_access = true", "PRAGMA show_tables", "SELECT 1; DROP TABLE patient",
])
def test_anything_but_one_select_is_refused(database: Path, sql: str) -> None:
    with pytest.raises(QueryError, match="only SELECT|exactly one statement"):
        query(database, sql, 10, 10)
    assert query(database, "SELECT count(*) FROM patient", 1, 10).rows == [[7]]


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT 1; SELECT 2", "send exactly one statement (got 2)"),
    ("", "send exactly one statement (got 0)"),
    ("DELETE FROM observation", "only SELECT (or WITH ... SELECT) is allowed: the population database is read-only"),
])
def test_a_refused_statement_says_what_is_allowed(database: Path, sql: str, message: str) -> None:
    with pytest.raises(QueryError) as refused:
        query(database, sql, 10, 10)
    assert str(refused.value) == message


def test_sql_that_does_not_parse_or_run_says_duckdb_s_first_line(database: Path) -> None:
    with pytest.raises(QueryError) as unparsed:
        query(database, "SELEC id FROM patient", 10, 10)
    assert str(unparsed.value).startswith("the SQL does not parse: Parser Error: syntax error at or near \"SELEC\"")
    assert "\n" not in str(unparsed.value)
    with pytest.raises(QueryError) as failed:
        query(database, "SELECT no_such_column FROM patient", 10, 10)
    assert str(failed.value).startswith("DuckDB: Binder Error: ") and "no_such_column" in str(failed.value)
    with pytest.raises(QueryError) as long:
        query(database, f"SELECT {'x' * 400} FROM patient", 10, 10)
    assert len(str(long.value)) == len("DuckDB: ") + 300, "a long message is cut to 300 characters"


def test_queries_share_one_read_only_connection_per_file(database: Path) -> None:
    import duckdb

    from epic_mcp.population import database as module

    query(database, "SELECT 1", 1, 10)
    shared = module._OPEN[database]
    query(database, "SELECT 2", 1, 10)
    assert module._OPEN[database] is shared, "opening a connection costs 15-80 ms; one serves every query"
    cursor, _ = module._connect(database)
    with pytest.raises(duckdb.Error, match="read-only"):
        cursor.execute("CREATE TABLE t (a INTEGER)")
    cursor.close()


def test_the_time_a_query_took_is_said_in_milliseconds(database: Path) -> None:
    import time

    started = time.perf_counter()
    result = query(database, "SELECT count(*) FROM range(20000000)", 1, 30)
    took = (time.perf_counter() - started) * 1000
    assert 0 < result.elapsed_ms <= took + 1


def test_queries_run_read_only_under_the_guard_s_settings(database: Path) -> None:
    settings = ("enable_external_access", "autoinstall_known_extensions", "autoload_known_extensions",
                "python_enable_replacements", "lock_configuration", "threads", "memory_limit")
    from epic_mcp.population import database as module

    query(database, "SELECT 1", 1, 10)
    cursor, _ = module._connect(database)
    sql = "SELECT " + ", ".join(f"current_setting('{name}')" for name in settings)
    assert cursor.execute(sql).fetchall() == [(False, False, False, False, True, 2, "1.8 GiB")]
    cursor.close()
    with pytest.raises(QueryError, match=r"^current_setting\(\) is not allowed"):
        query(database, sql, 1, 10)


def test_values_come_back_as_json_numbers_text_booleans_and_null(database: Path) -> None:
    result = query(database, "SELECT DATE '2026-01-02' AS day, 1.5::DECIMAL(4,2) AS d, [1, 2] AS l, NULL AS n, "
                             "true AS b, 'x' AS t, 2::BIGINT AS i, 2.5::DOUBLE AS f", 1, 10)
    assert result.columns == ["day", "d", "l", "n", "b", "t", "i", "f"]
    assert result.rows == [["2026-01-02", "1.50", [1, 2], None, True, "x", 2, 2.5]]
    assert not result.truncated and isinstance(result.elapsed_ms, int) and result.elapsed_ms >= 0


def test_exactly_as_many_rows_as_the_cap_is_not_truncated(database: Path) -> None:
    result = query(database, "SELECT * FROM range(5)", 5, 10)
    assert len(result.rows) == 5 and not result.truncated


def test_files_outside_the_database_cannot_be_read(database: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    for sql in (f"SELECT * FROM read_csv('{secret}')", f"SELECT * FROM '{secret}'",
                "SELECT * FROM read_text('/etc/hostname')"):
        with pytest.raises(QueryError, match="not allowed|not a population table"):
            query(database, sql, 10, 10)


def test_external_access_stays_off_under_the_guard(database: Path, tmp_path: Path) -> None:
    """Defence in depth: were the guard to miss a file reader, the connection itself refuses files."""
    from epic_mcp.population import database as db

    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    connection, _ = db._connect(database)
    try:
        with pytest.raises(Exception, match="disabled|Permission"):
            connection.execute(f"SELECT * FROM read_csv('{secret}')").fetchall()
    finally:
        connection.close()


def test_rows_are_capped_and_the_cap_is_reported(database: Path) -> None:
    result = query(database, "SELECT id FROM observation ORDER BY id", 5, 10)
    assert len(result.rows) == 5 and result.truncated
    everything = query(database, "SELECT count(*) FROM observation", 5, 10)
    assert not everything.truncated


def test_a_runaway_query_is_stopped_at_the_time_limit(database: Path) -> None:
    with pytest.raises(QueryError) as stopped:
        query(database, "SELECT count(*) FROM range(1000000000) a, range(1000) b", 5, 0.5)
    assert str(stopped.value) == "the query ran longer than 0.5 s and was stopped; aggregate more, or filter first"


def test_no_database_yet_says_to_export_first(tmp_path: Path) -> None:
    with pytest.raises(QueryError) as missing:
        query(tmp_path / "population.duckdb", "SELECT 1", 1, 1)
    assert str(missing.value) == "no population data yet: run an export first (start_export, or `epic-mcp export`)"


def test_describe_lists_tables_columns_rows_and_the_export(database: Path) -> None:
    described = describe(database)
    assert described["group_id"] == "g1" and described["transaction_time"] == "2026-01-01T00:00:00Z"
    assert described["loaded_at"].endswith("+00:00") and "tables" not in {k for k in described if k != "tables"}
    observation = described["tables"]["observation"]
    assert observation["rows"] == sum(r["resourceType"] == "Observation" for r in data_set(run_today())["resources"])
    kinds = {c["name"]: c["type"] for c in observation["columns"]}
    assert kinds["value"] == "DOUBLE" and kinds["loinc"] == "VARCHAR[]" and "code" not in kinds
    assert observation["title"] and {"name": "value", "type": "DOUBLE"} in [
        {k: c[k] for k in ("name", "type")} for c in observation["columns"]]
    assert [c["type"] for c in observation["columns"] if c["name"] in ("id", "value")] == ["VARCHAR", "DOUBLE"]
    assert any(c.get("note") for c in observation["columns"]), "the views' column descriptions are shown"
    assert "_population" not in described["tables"]
    assert described["as_of"] == "2026-01-01", "ages are counted on the export's day"
    guide = " ".join(described["guide"])
    assert "list_contains(loinc" in guide and "condition_coding" in guide and "system_name" in guide


def test_a_database_that_is_no_population_database_says_to_export_again(tmp_path: Path) -> None:
    import duckdb

    broken = tmp_path / "population.duckdb"
    duckdb.connect(str(broken)).close()
    with pytest.raises(QueryError, match="^the population database is unreadable .*; run the export again$"):
        describe(broken)


def test_every_column_kind_of_a_view_has_its_sql_type(tmp_path: Path) -> None:
    from epic_mcp.population.viewdef import View

    view = View({"resourceType": "ViewDefinition", "name": "kinds", "resource": "Patient", "select": [{"column": [
        {"name": "t", "path": "id"}, {"name": "d", "path": "%d", "type": "decimal"},
        {"name": "i", "path": "%i", "type": "integer"}, {"name": "b", "path": "%b", "type": "boolean"}]}],
        "constant": [{"name": "d", "valueDecimal": 1.5}, {"name": "i", "valueInteger": 7},
                     {"name": "b", "valueBoolean": True}]})
    merge(tmp_path / "resources", write_ndjson(tmp_path / "download", [{"resourceType": "Patient", "id": "p1"}]),
          replace=True)
    assert build(tmp_path / "resources", tmp_path / "population.duckdb", {}, [view]) == {"kinds": 1}
    columns = describe(tmp_path / "population.duckdb")["tables"]["kinds"]["columns"]
    assert [(c["name"], c["type"]) for c in columns] == [("t", "VARCHAR"), ("d", "DOUBLE"), ("i", "BIGINT"),
                                                          ("b", "BOOLEAN")]
    assert query(tmp_path / "population.duckdb", "SELECT * FROM kinds", 5, 10).rows == [["p1", 1.5, 7, True]]


def test_incremental_merge_replaces_changed_resources_and_keeps_the_rest(tmp_path: Path) -> None:
    first = [{"resourceType": "Observation", "id": f"o{i}", "status": "final"} for i in range(3)]
    merge(tmp_path / "resources", write_ndjson(tmp_path / "full", first), replace=True)
    changed = [{"resourceType": "Observation", "id": "o1", "status": "amended"},
               {"resourceType": "Condition", "id": "c1"}]
    counts = merge(tmp_path / "resources", write_ndjson(tmp_path / "since", changed), replace=False)
    assert counts == {"Observation": 3, "Condition": 1}
    lines = [json.loads(line) for line in (tmp_path / "resources" / "Observation.ndjson").read_text().splitlines()]
    assert sorted((r["id"], r["status"]) for r in lines) == [("o0", "final"), ("o1", "amended"), ("o2", "final")]
    assert os.stat(tmp_path / "resources").st_mode & 0o077 == 0
    again = merge(tmp_path / "resources", write_ndjson(tmp_path / "since", changed), replace=False)
    assert again == counts, "merging the same download twice (a resumed load) changes nothing"


def test_queries_see_a_new_export_as_soon_as_it_is_loaded(tmp_path: Path) -> None:
    target = tmp_path / "population.duckdb"
    for patients in (2, 5):
        resources = [{"resourceType": "Patient", "id": f"p{i}"} for i in range(patients)]
        merge(tmp_path / "resources", write_ndjson(tmp_path / f"download{patients}", resources), replace=True)
        build(tmp_path / "resources", target, {})
        assert query(target, "SELECT count(*) FROM patient", 1, 10).rows == [[patients]], "not a stale connection"
