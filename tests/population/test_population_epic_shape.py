"""Population questions on records in Epic's shape, through the population database: a LOINC, SNOMED or ICD-10
query finds every record whose raw JSON carries that code, in any position and by URL or OID. Two fixtures: the
synthetic Epic-shaped records (tests/epic_shaped.py, always), and the real bodies captured from Epic's sandbox
(../shared/epic-real, when present: skipped cleanly in a CI clone)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from epic_mcp.bulk.snapshot import merge
from epic_mcp.population.database import build, query

from .epic_shaped import real_resources, synthetic_resources
from .test_population_db import write_ndjson

# Written here on their own, not read from the views: the systems as Epic writes them.
SYSTEMS = {
    "loinc": {"http://loinc.org", "urn:oid:2.16.840.1.113883.6.1", "urn:oid:1.2.246.537.6.96"},
    "snomed": {"http://snomed.info/sct", "urn:oid:2.16.840.1.113883.6.96"},
    "icd10": {"http://hl7.org/fhir/sid/icd-10-cm", "urn:oid:2.16.840.1.113883.6.90", "http://hl7.org/fhir/sid/icd-10",
              "urn:oid:2.16.840.1.113883.6.3"},
}
# (table, its code list column, its coding table and key, the resource type, where the codes sit in the JSON)
Codings = Callable[[dict[str, Any]], list[dict[str, Any]]]
QUESTIONS: list[tuple[str, str, str, Codings]] = [
    ("observation", "loinc", "Observation", lambda r: r.get("code", {}).get("coding", [])),
    ("observation", "snomed", "Observation", lambda r: r.get("code", {}).get("coding", [])),
    ("condition", "icd10", "Condition", lambda r: r.get("code", {}).get("coding", [])),
    ("condition", "snomed", "Condition", lambda r: r.get("code", {}).get("coding", [])),
    ("allergy", "snomed", "AllergyIntolerance", lambda r: r.get("code", {}).get("coding", [])),
]
FIXTURES = {"synthetic": synthetic_resources, "epic-real": real_resources}


@pytest.fixture(scope="module", params=list(FIXTURES))
def fixture(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[list[dict[str, Any]], Path]:
    resources = FIXTURES[request.param]()
    if not resources:
        pytest.skip("../shared/epic-real is not present on this machine")
    folder = tmp_path_factory.mktemp(f"epic-{request.param}")
    merge(folder / "resources", write_ndjson(folder / "download", resources), replace=True)
    build(folder / "resources", folder / "population.duckdb", {"transaction_time": "2026-12-06T00:00:00Z"})
    return resources, folder / "population.duckdb"


def expected(resources: list[dict[str, Any]], resource_type: str, codings: Codings, system: str
             ) -> dict[str, set[str]]:
    """Code -> the ids of the records whose raw JSON carries it, in that system, anywhere in the element."""
    found: dict[str, set[str]] = defaultdict(set)
    for resource in resources:
        if resource["resourceType"] == resource_type:
            for coding in codings(resource):
                if coding.get("system") in SYSTEMS[system] and coding.get("code"):
                    found[coding["code"]].add(resource["id"])
    return found


def ids(database: Path, sql: str, *values: str) -> set[str]:
    literal = sql.replace("?", "'{}'").format(*(v.replace("'", "''") for v in values))
    result = query(database, literal, 100_000, 30)
    assert not result.truncated
    return {row[0] for row in result.rows}


@pytest.mark.parametrize("table, system, resource_type, codings", QUESTIONS,
                         ids=[f"{t}-{s}" for t, s, _, _ in QUESTIONS])
def test_code_queries_find_every_record_the_raw_data_says_they_should(
        fixture, table: str, system: str, resource_type: str, codings: Codings) -> None:
    resources, database = fixture
    wanted = expected(resources, resource_type, codings, system)
    key = f"{table}_id"
    for code, records in wanted.items():
        by_list = ids(database, f"SELECT id FROM {table} WHERE list_contains({system}, ?)", code)
        by_table = ids(database, f"SELECT DISTINCT {key} FROM {table}_coding WHERE element = 'code' AND "
                                 f"system_name = '{system}' AND code = ?", code)
        assert by_list == records, f"{table}.{system} = {code}"
        assert by_table == records, f"{table}_coding {system} {code}"
    assert wanted or (table, system) not in (("observation", "loinc"), ("condition", "icd10"))


def test_the_codes_sit_where_a_first_coding_query_would_miss_them(fixture) -> None:
    """The fixture is Epic's shape: standard codes after Epic's own, and more than one code of a system."""
    resources, _ = fixture
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    later = [r for r in observations if any(c.get("system") in SYSTEMS["loinc"] for c in r["code"]["coding"])
             and r["code"]["coding"][0].get("system") not in SYSTEMS["loinc"]]
    several = [r for r in observations if len({c["code"] for c in r["code"]["coding"]
                                               if c.get("system") in SYSTEMS["loinc"]}) > 1]
    assert later and several


def test_a_heart_rate_is_found_by_its_loinc_although_epic_lists_the_vital_signs_panel_first(fixture) -> None:
    resources, database = fixture
    heart_rates = {r["id"] for r in resources if r["resourceType"] == "Observation"
                   and any(c.get("code") == "8867-4" and c.get("system") == "http://loinc.org"
                           for c in r["code"]["coding"])}
    found = ids(database, "SELECT id FROM observation WHERE list_contains(loinc, ?) AND category = 'vital-signs'",
                "8867-4")
    assert found == heart_rates and heart_rates


def test_lab_results_per_patient_count_epic_s_own_lab_category(fixture) -> None:
    resources, database = fixture
    labs: dict[str, int] = defaultdict(int)
    for r in resources:
        if r["resourceType"] == "Observation" and any(
                c.get("code") in ("laboratory", "Lab", "LAB") for cc in r.get("category", []) for c in cc["coding"]):
            labs[r["subject"]["reference"].removeprefix("Patient/")] += 1
    rows = query(database, "SELECT patient_id, count(*) FROM observation WHERE category = 'laboratory' GROUP BY 1",
                 500, 30).rows
    assert dict((patient, n) for patient, n in rows) == labs and labs
