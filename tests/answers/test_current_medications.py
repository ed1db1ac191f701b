"""search_medication_requests(current_only=true) and patient_summary judge medications by the one rule set
(medications.py): the same drugs current, one line per drug, and every active order left out said with why."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import respx
from mcp import Client

from epic_mcp.serve.server import build_server

from ..conftest import EPIC_TOKEN_URL, token_body
from ..fake_fhir import FakeFhir
from .test_medications import order, stay

pytestmark = pytest.mark.anyio
TODAY = date(2026, 6, 1)
PID = "eMeds1"
SUBJECT = {"reference": f"Patient/{PID}"}


def mine(resource: dict[str, Any]) -> dict[str, Any]:
    return {**resource, "subject": SUBJECT}


CHART = [
    {"resourceType": "Patient", "id": PID, "birthDate": "1950-02-03"},
    mine(stay("s1")),
    mine(order("met-old", "Metformin (Glucophage)", "6809", course="continuous", written="2025-10-01",
               supply_days=30)),
    mine(order("met-new", "metformin 500 MG Oral Tablet", "860975", course="continuous", written="2026-05-10",
               supply_days=30)),
    mine(order("aml", "amlodipine 5 MG Oral Tablet", "197361", course="continuous", written="2026-01-10",
               supply_days=90)),
    mine(order("vanc", "vancomycin 1000 MG Injection", "1807627", category="inpatient", encounter="s1",
               written="2026-05-21")),
    mine(order("amox", "amoxicillin 500 MG Oral Capsule", "308191", course="acute", written="2026-04-01",
               bounds_days=7)),
    mine(order("done", "lisinopril 10 MG Oral Tablet", "314076", status="completed")),
]


def build(make_settings, epic: respx.MockRouter, chart: list[dict[str, Any]], **fake: Any):
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(scope="system/*.read"))
    served = FakeFhir(epic, chart, **fake)
    return build_server(make_settings(epic_today=TODAY)), served


@pytest.fixture
def server(make_settings, epic: respx.MockRouter):
    return build(make_settings, epic, CHART)[0]


async def test_current_only_lists_one_line_per_current_drug_and_says_what_it_left_out_and_why(server) -> None:
    async with Client(server) as client:
        result = await client.call_tool("search_medication_requests", {"patient_id": PID, "current_only": True})
    data = result.structured_content
    assert [item["id"] for item in data["items"]] == ["met-new", "aml"], "newest current order first"
    assert (data["total"], data["next_cursor"]) == (2, None)
    metformin, amlodipine = data["items"]
    assert metformin["active_orders"] == 2 and "caveat" not in metformin
    assert amlodipine["caveat"].startswith("refill overdue: its supply (90 days from 2026-01-10) ran out 2026-04-10")
    assert data["warnings"] == [
        "left out as likely stale: vancomycin 1000 MG Injection (MedicationRequest/vanc): inpatient order of a stay "
        "that ended 2026-05-24",
        "left out as likely stale: amoxicillin 500 MG Oral Capsule (MedicationRequest/amox): short course: its "
        "dosage was to stop 2026-04-08"]
    assert data["order"].startswith("one per current drug")


async def test_the_summary_and_current_only_agree_drug_for_drug(server) -> None:
    async with Client(server) as client:
        searched = (await client.call_tool("search_medication_requests", {"patient_id": PID, "current_only": True})
                    ).structured_content
        summary = (await client.call_tool("patient_summary", {"patient_id": PID, "sections": ["medications"]})
                   ).structured_content
    [section] = summary["sections"]
    assert [i["id"] for i in section["items"]] == [i["id"] for i in searched["items"]]
    assert {i["id"] for i in section["set_apart"]} == {"vanc", "amox"}
    assert not {i["id"] for i in section["items"]} & {i["id"] for i in section["set_apart"]}


async def test_current_only_counts_current_drugs_and_keeps_caveats_beside_raw_records(server) -> None:
    async with Client(server) as client:
        counted = await client.call_tool("search_medication_requests", {"patient_id": PID, "current_only": True,
                                                                        "count_only": True})
        raw = (await client.call_tool("search_medication_requests", {"patient_id": PID, "current_only": True,
                                                                     "format": "raw"})).structured_content
    assert counted.content[0].text.startswith("MedicationRequest count: 2 current drugs")
    assert raw["items"][1]["resourceType"] == "MedicationRequest" and "caveat" not in raw["items"][1]
    assert any(w.startswith("MedicationRequest/aml: refill overdue") for w in raw["warnings"])


async def test_current_only_with_another_status_is_refused_before_any_request(server, epic) -> None:
    async with Client(server) as client:
        result = await client.call_tool("search_medication_requests", {"patient_id": PID, "current_only": True,
                                                                       "status": "stopped"})
    assert result.is_error and "current_only judges the active orders" in result.content[0].text


async def test_without_current_only_the_search_is_the_servers_own(server) -> None:
    async with Client(server) as client:
        data = (await client.call_tool("search_medication_requests", {"patient_id": PID})).structured_content
    assert {item["id"] for item in data["items"]} == {"met-old", "met-new", "aml", "vanc", "amox", "done"}


async def current_only(server) -> dict[str, Any]:
    async with Client(server) as client:
        result = await client.call_tool("search_medication_requests", {"patient_id": PID, "current_only": True})
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def test_current_only_reads_the_patient_and_sets_every_order_apart_when_she_has_died(make_settings,
                                                                                          epic) -> None:
    chart = [{**CHART[0], "deceasedDateTime": "2026-04-02"}, *CHART[1:]]
    data = await current_only(build(make_settings, epic, chart)[0])
    assert data["items"] == [] and len(data["warnings"]) == 4
    assert all(w.endswith(": the patient died 2026-04-02") for w in data["warnings"])


async def test_a_stay_of_another_patient_that_the_server_answers_ends_no_order_of_hers(make_settings, epic) -> None:
    other = {**stay("s9"), "subject": {"reference": "Patient/eSomeoneElse"}}
    home = mine(order("ins", "insulin glargine 100 UNT/ML Injectable Solution", "261551", encounter="s9",
                      written="2026-05-21", supply_days=90))
    server, _ = build(make_settings, epic, [CHART[0], other, home], ignores_patient=True)
    assert [item["id"] for item in (await current_only(server))["items"]] == ["ins"]


async def test_a_stay_far_down_a_long_encounter_history_still_ends_its_orders(make_settings, epic) -> None:
    visits = [mine({**stay(f"v{i}", start=f"2026-0{i}-02T09:00:00Z", end=f"2026-0{i}-02T10:00:00Z"),
                    "class": {"code": "AMB"}}) for i in range(1, 7)]
    ended = mine(stay("s1"))
    in_stay = mine(order("vanc", "vancomycin 1000 MG Injection", "1807627", encounter="s1", written="2026-05-21"))
    server, _ = build(make_settings, epic, [CHART[0], *visits, ended, in_stay], page_size=1)
    data = await current_only(server)
    assert data["items"] == [] and data["warnings"] == [
        "left out as likely stale: vancomycin 1000 MG Injection (MedicationRequest/vanc): inpatient order of a stay "
        "that ended 2026-05-24"]


async def test_the_summary_keeps_caveats_and_order_counts_and_reads_encounters_and_the_patient_once(make_settings,
                                                                                                    epic) -> None:
    older_amox = mine(order("amox-0", "amoxicillin 500 MG Oral Capsule", "308191", course="acute",
                            written="2026-02-01", bounds_days=7))
    server, _ = build(make_settings, epic, [*CHART, older_amox])
    async with Client(server) as client:
        summary = (await client.call_tool("patient_summary", {"patient_id": PID,
                                                              "sections": ["medications", "encounters"]})
                   ).structured_content
    section = next(s for s in summary["sections"] if s["name"] == "medications")
    assert section["title"] == ("Current medications (one line per drug, its newest current order; rules: "
                                "docs/medication-currency.md)")
    amlodipine = next(i for i in section["items"] if i["id"] == "aml")
    assert amlodipine["caveat"].startswith("refill overdue: its supply (90 days from 2026-01-10) ran out 2026-04-10")
    amoxicillin = next(i for i in section["set_apart"] if i["id"] == "amox")
    assert amoxicillin["active_orders"] == 2
    paths = [call.request.url.path for call in epic.calls if call.request.method == "GET"]
    assert sum(p.endswith(f"/Patient/{PID}") for p in paths) == 1, paths
    assert sum(p.endswith("/Encounter") for p in paths) == 1, paths
