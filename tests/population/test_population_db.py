"""The population database: built from the merged NDJSON, queried read-only with caps; nothing but one SELECT
runs, and nothing outside the database file can be read."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from epic_mcp.bulk.snapshot import merge
from epic_mcp.population.database import QueryError, build, describe, query
from epic_mcp.sandbox import data_set

from ..conftest import run_today

DIABETES_A1C_OVER_9 = """
WITH diabetic AS (SELECT DISTINCT patient_id FROM condition WHERE code LIKE 'E11%' AND clinical_status = 'active')
SELECT count(DISTINCT o.patient_id) AS patients FROM observation o JOIN diabetic USING (patient_id)
WHERE o.code = '4548-4' AND o.value > 9"""


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
    cursor = module._connect(database)
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
                "lock_configuration", "threads", "memory_limit")
    sql = "SELECT " + ", ".join(f"current_setting('{name}')" for name in settings)
    assert query(database, sql, 1, 10).rows == [[False, False, False, True, 2, "1.8 GiB"]]


def test_values_come_back_as_json_numbers_text_booleans_and_null(database: Path) -> None:
    result = query(database, "SELECT DATE '2026-01-02' AS day, 1.5::DECIMAL(4,2) AS d, [1, 2] AS l, NULL AS n, "
                             "true AS b, 'x' AS t, 2::BIGINT AS i, 2.5::DOUBLE AS f", 1, 10)
    assert result.columns == ["day", "d", "l", "n", "b", "t", "i", "f"]
    assert result.rows == [["2026-01-02", "1.50", "[1, 2]", None, True, "x", 2, 2.5]]
    assert not result.truncated and isinstance(result.elapsed_ms, int) and result.elapsed_ms >= 0


def test_exactly_as_many_rows_as_the_cap_is_not_truncated(database: Path) -> None:
    result = query(database, "SELECT * FROM range(5)", 5, 10)
    assert len(result.rows) == 5 and not result.truncated


def test_files_outside_the_database_cannot_be_read(database: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    for sql in (f"SELECT * FROM read_csv('{secret}')", f"SELECT * FROM '{secret}'",
                "SELECT * FROM read_text('/etc/hostname')"):
        with pytest.raises(QueryError, match="disabled|Permission"):
            query(database, sql, 10, 10)


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
    assert observation["title"] and {"name": "value", "type": "DOUBLE"} in [
        {k: c[k] for k in ("name", "type")} for c in observation["columns"]]
    assert [c["type"] for c in observation["columns"] if c["name"] in ("id", "value")] == ["VARCHAR", "DOUBLE"]
    assert any(c.get("note") for c in observation["columns"]), "the views' column descriptions are shown"
    assert "_population" not in described["tables"]


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
