"""No time is shown without its zone: every renderer and every helper, run over records whose times all carry
an offset (a Japanese hospital's +09:00, a US one's Z, Epic-shaped fixtures), shows each date-time as the record
gives it, with its offset. A time moved to UTC and written bare (the issue's 2024-10-21T03:07:00+09:00 shown as
2024-10-20T18:07:00) is the day wrong for the patient."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest
import respx
from mcp import Client

from epic_mcp.fhir.catalog import CATALOG
from epic_mcp.fhir.results import SearchResult
from epic_mcp.render import compact, page_text, record_line
from epic_mcp.serve.server import build_server

from ..conftest import EPIC_TOKEN_URL, token_body
from ..fake_fhir import FakeFhir
from ..unseen_data import unseen_data_set
from .test_render import FIXTURES

pytestmark = pytest.mark.anyio
TODAY = date(2026, 6, 1)
ZONE = r"(?:Z|[+-]\d{2}:\d{2})"
DATE_TIME = re.compile(rf"\d{{4}}-\d{{2}}-\d{{2}}T\d{{2}}:\d{{2}}(?::\d{{2}}(?:\.\d+)?)?(?!\d)({ZONE})?")
CLOCK = re.compile(rf"(?<![\dT:.])\d{{2}}:\d{{2}}:\d{{2}}(?:\.\d+)?(?!\d)({ZONE})?")
JP_PATIENT = "jp-pt-ef399a8a269b"
US_PATIENT = "us-pt-1214f18c8379"


def naive_times(text: str) -> list[str]:
    """Date-times, and clock times with seconds (the time part of a period's same-day end), shown without a
    zone. A dosage's time of day ('at 09:00') is a FHIR `time`, which has none, and is not one of these."""
    return [m.group() for pattern in (DATE_TIME, CLOCK) for m in pattern.finditer(text) if not m.group(1)]


def test_the_check_finds_what_it_looks_for() -> None:
    assert naive_times("date | 2024-10-20T18:07:00 | 5 mg") == ["2024-10-20T18:07:00"]
    assert naive_times("period: 2026-04-14T08:00:00Z to 08:00:00") == ["08:00:00"]
    assert naive_times("2024-10-21T03:07:00+09:00; 2026-01-01T10:00Z; to 08:00:00Z; at 09:00; 2026-01-01") == []


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    """A Japanese and a US record of the unseen set (every time zoned), as a server would hold them."""
    data = unseen_data_set(TODAY)
    mine = {JP_PATIENT, US_PATIENT}
    kept = [r for r in data["resources"] if (r["resourceType"] == "Patient" and r["id"] in mine)
            or any(f"Patient/{p}" in json.dumps(r) for p in mine)]
    assert kept and not naive_times(json.dumps(kept, ensure_ascii=False)), "the input has no naive time"
    return kept


def test_every_renderer_keeps_each_time_with_its_offset(records) -> None:
    corpus = [*records, *(fixture for fixture, _ in FIXTURES.values())]
    assert not naive_times(json.dumps([fixture for fixture, _ in FIXTURES.values()]))
    for resource in corpus:
        record = compact(resource)
        shown = json.dumps(record, ensure_ascii=False) + "\n" + record_line(record)
        assert naive_times(shown) == [], (resource["resourceType"], resource["id"])
    page = SearchResult(resource_type="Observation", total=None, returned=0, warnings=[], next_cursor=None,
                        items=[compact(r) for r in records if r["resourceType"] == "Observation"][:200])
    assert naive_times(page_text(page)) == []


@pytest.fixture
def server(make_settings, epic: respx.MockRouter, records):
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(scope="system/*.read"))
    FakeFhir(epic, records)
    return build_server(make_settings(epic_today=TODAY))


def helper_calls(patient: str) -> list[tuple[str, dict[str, Any]]]:
    searches = [(op.tool, {"patient_id": patient, **({"category": "vital-signs"} if op.tool == "search_observations"
                                                     else {"category": "longitudinal"} if op.tool ==
                                                     "search_care_plans" else {}), "count": 100})
                for op in CATALOG if op.interaction == "search" and "patient_id" in {p.arg for p in op.params}]
    return [("patient_summary", {"patient_id": patient}), ("list_patient_codes", {"patient_id": patient}),
            ("get_latest_values", {"patient_id": patient, "name": "blood pressure", "limit": 20}),
            ("get_latest_values", {"patient_id": patient, "code": "8867-4,2708-6,2160-0,8310-5"}),
            ("get_latest_notes", {"patient_id": patient, "count": 3}),
            ("search_medication_requests", {"patient_id": patient, "current_only": True}), *searches]


@pytest.mark.parametrize("patient", [JP_PATIENT, US_PATIENT])
async def test_no_helper_or_search_shows_a_time_without_its_zone(server, patient: str) -> None:
    async with Client(server) as client:
        for tool, arguments in helper_calls(patient):
            for fmt in ("compact", "raw") if tool.startswith("search_") else ("compact",):
                result = await client.call_tool(tool, {**arguments, **({"format": fmt} if fmt == "raw" else {})})
                assert not result.is_error, (tool, result.content)
                shown = result.content[0].text + json.dumps(result.structured_content, ensure_ascii=False)
                assert naive_times(shown) == [], (tool, fmt)


async def test_a_japanese_lab_time_is_shown_on_its_own_day_with_its_offset(make_settings, epic) -> None:
    """The issue's case: taken at 03:07 in Japan on the 21st, which is the 20th in UTC."""
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())

    def creatinine(oid: str, taken: str, value: float) -> dict[str, Any]:
        return {"resourceType": "Observation", "id": oid, "status": "final", "subject": {"reference": "Patient/jp1"},
                "category": [{"coding": [{"code": "laboratory"}]}], "effectiveDateTime": taken,
                "code": {"coding": [{"system": "http://loinc.org", "code": "2160-0"}], "text": "クレアチニン"},
                "valueQuantity": {"value": value, "unit": "mg/dL"}}

    FakeFhir(epic, [creatinine("cre", "2024-10-21T03:07:00+09:00", 0.9),
                    creatinine("cre0", "2024-10-20T23:30:00+09:00", 1.1)])
    async with Client(build_server(make_settings(epic_today=date(2024, 11, 1)))) as client:
        result = await client.call_tool("get_latest_values", {"patient_id": "jp1", "code": "2160-0"})
    assert [v["date"] for v in result.structured_content["series"][0]["values"]] == [
        "2024-10-21T03:07:00+09:00", "2024-10-20T23:30:00+09:00"]
    assert "0.9 mg/dL on 2024-10-21" in result.content[0].text, "the trend names the patient's day"
    assert "2024-10-20T18:07" not in result.content[0].text
