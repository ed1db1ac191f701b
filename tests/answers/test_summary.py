"""The whole-question tools on a record where naive reading goes wrong: thousands of observations in the worst
server order, chronic drugs re-ordered for years, inpatient and discharge orders left "active", a cancelled
appointment before the booked one. Expected answers are computed from the raw records here, not by the tools."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import respx
from mcp import Client

from epic_mcp.answers import summary
from epic_mcp.fhir.results import FOREIGN_NEXT_LINK
from epic_mcp.serve.server import build_server

from ..conftest import EPIC_BASE, EPIC_TOKEN_URL, outcome, run_today, searchset, token_body
from ..fake_fhir import FakeFhir
from ..heavy_patient import LABS, PATIENT_ID, VITALS, heavy_patient

pytestmark = pytest.mark.anyio
TODAY = run_today()
RECORD = heavy_patient(TODAY)


@pytest.fixture
def server(make_settings):
    return build_server(make_settings(epic_today=TODAY))


@pytest.fixture(autouse=True)
def token_route(epic: respx.MockRouter) -> respx.Route:
    return epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())


@pytest.fixture
def fake(epic: respx.MockRouter) -> FakeFhir:
    return FakeFhir(epic, RECORD)


async def call(server, tool: str, args: dict[str, Any]):
    async with Client(server) as client:
        result = await client.call_tool(tool, args)
    assert not result.is_error, result.content[0].text
    return result


def newest_by_code(category: str) -> dict[str, dict[str, Any]]:
    """The truth: the newest observation of each code in the raw record."""
    newest: dict[str, dict[str, Any]] = {}
    for resource in RECORD:
        if resource["resourceType"] == "Observation" and resource["category"][0]["coding"][0]["code"] == category:
            code = resource["code"]["coding"][0]["code"]
            if code not in newest or resource["effectiveDateTime"] > newest[code]["effectiveDateTime"]:
                newest[code] = resource
    return newest


def section(result, name: str) -> dict[str, Any]:
    return next(s for s in result.structured_content["sections"] if s["name"] == name)


async def test_latest_vitals_and_labs_are_the_newest_of_every_kind_whatever_the_server_order(server, fake) -> None:
    assert sum(r["resourceType"] == "Observation" for r in RECORD) > 2000
    result = await call(server, "patient_summary", {"patient_id": PATIENT_ID, "sections": ["vital_signs", "labs"]})
    for name, category, kinds in (("vital_signs", "vital-signs", len(VITALS) + 1), ("labs", "laboratory", len(LABS))):
        shown = {item["id"] for item in section(result, name)["items"]}
        truth = newest_by_code(category)
        assert len(truth) == kinds and shown == {r["id"] for r in truth.values()}, name
        assert section(result, name)["complete"] is True
    assert {s["name"] for s in result.structured_content["sections"]} == {"vital_signs", "labs"}
    searched = {params_type for params_type in (dict(p).get("category") for p in fake.searches)}
    assert searched <= {"vital-signs", "laboratory"}, "only the sections asked for are fetched"


async def test_current_medications_leave_stale_orders_apart_with_the_reason(server, fake) -> None:
    result = await call(server, "patient_summary", {"patient_id": PATIENT_ID, "sections": ["medications"]})
    meds = section(result, "medications")
    current = {item["medication"].split(" [")[0]: item for item in meds["items"]}
    stale = {item["medication"].split(" [")[0]: item["likely_stale"] for item in meds["set_apart"]}
    assert set(current) == {"metformin 500 MG Oral Tablet", "lisinopril 10 MG Oral Tablet"}
    newest_metformin = max((r for r in RECORD if r["resourceType"] == "MedicationRequest"
                            and "metformin" in r["medicationCodeableConcept"]["text"]), key=lambda r: r["authoredOn"])
    assert current["metformin 500 MG Oral Tablet"]["id"] == newest_metformin["id"], "the newest order of a drug"
    assert current["metformin 500 MG Oral Tablet"]["active_orders"] == 48
    assert stale["vancomycin 1000 MG Injection"].startswith("inpatient order of a stay that ended ")
    assert stale["amoxicillin 875 MG Oral Tablet"].startswith("short course: its dosage was to stop "), \
        "one drug (amoxicillin 500 and 875 MG), judged by its newest order"
    text = result.content[0].text
    assert "### Active orders that are likely stale (not current), with the reason: 4" in text
    assert text.index("vancomycin") > text.index("### Active orders that are likely stale")


async def test_every_order_is_stale_when_the_patient_has_died(server, epic) -> None:
    record = [{**r, "deceasedDateTime": "2026-01-01"} if r["resourceType"] == "Patient" else r for r in RECORD]
    FakeFhir(epic, record)
    meds = section(await call(server, "patient_summary", {"patient_id": PATIENT_ID, "sections": ["medications"]}),
                   "medications")
    assert meds["items"] == [] and {item["likely_stale"] for item in meds["set_apart"]} == {
        "the patient died 2026-01-01"}


def condition(cid: str, codings: list[tuple[str, str, str]], onset: str, status: str = "active",
              **extra: Any) -> dict[str, Any]:
    """An Epic-shaped problem-list Condition: ICD-10-CM and SNOMED codings, Epic's text, HL7's status codes."""
    return {"resourceType": "Condition", "id": cid, "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": status}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                         "condition-ver-status", "code": "confirmed"}]},
            "code": {"coding": [{"system": system, "code": code, "display": display}
                                for system, code, display in codings], "text": codings[0][2]},
            "onsetDateTime": onset, **extra}


ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"


async def test_active_problems_are_brief_lines_with_every_code_onset_severity_stage_and_site(server, epic) -> None:
    copd = condition("c-copd", [(ICD10, "J44.9", "COPD")], "2014-09-26",
                     severity={"coding": [{"system": SNOMED, "code": "255604002", "display": "Mild"}]},
                     stage=[{"summary": {"text": "GOLD 3"}}],
                     bodySite=[{"coding": [{"system": SNOMED, "code": "39607008", "display": "Lung structure"}]}])
    htn = condition("c-htn", [(ICD10, "I10", "Hypertension"), (SNOMED, "38341003", "Hypertensive disorder")],
                    "2016-11-01")
    resolved = condition("c-flu", [(ICD10, "J11.1", "Influenza")], "2025-01-05", status="resolved")
    FakeFhir(epic, [*RECORD, copd, htn, resolved])
    result = await call(server, "patient_summary", {"patient_id": PATIENT_ID, "sections": ["problems"]})
    text = result.content[0].text
    assert text.startswith("Summary of ") and f"Patient/{PATIENT_ID}" not in text.splitlines()[0]
    assert "- c-copd | COPD [ICD-10-CM J44.9] | onset 2014-09-26 | Mild | stage GOLD 3 | site Lung structure" \
        in text
    assert "- c-htn | Hypertension [ICD-10-CM I10; SNOMED 38341003] | onset 2016-11-01" in text
    assert "Influenza" not in text and "confirmed" not in text and "active" not in text.split("\n", 2)[2]
    problems = section(result, "problems")
    assert {item["id"] for item in problems["items"]} == {"c-copd", "c-htn"}
    assert next(i for i in problems["items"] if i["id"] == "c-htn")["codes"] == [
        {"system": "ICD-10-CM", "code": "I10"}, {"system": "SNOMED", "code": "38341003"}]


async def test_one_code_system_is_named_once_above_the_problems_newest_onset_first(server, epic) -> None:
    FakeFhir(epic, [*RECORD, condition("c-dm", [(ICD10, "E11.9", "Type 2 diabetes")], "2011-11-08"),
                    condition("c-oa", [(ICD10, "M17.9", "Knee OA")], "2011-12-11")])
    text = (await call(server, "patient_summary", {"patient_id": PATIENT_ID, "sections": ["problems"]})
            ).content[0].text
    assert "## Active problems: 2\ncodes: ICD-10-CM\n- c-oa | Knee OA [M17.9] | onset 2011-12-11\n" \
           "- c-dm | Type 2 diabetes [E11.9] | onset 2011-11-08" in text, "one system named once; newest onset first"


async def test_upcoming_appointments_are_the_live_ones_ahead_soonest_first_cancelled_apart(server, fake) -> None:
    result = await call(server, "patient_summary", {"patient_id": PATIENT_ID, "sections": ["appointments"]})
    appointments = section(result, "appointments")
    assert [a["status"] for a in appointments["items"]] == ["booked", "booked"]
    assert appointments["items"][0]["start"] < appointments["items"][1]["start"]
    assert [a["status"] for a in appointments["set_apart"]] == ["cancelled"]
    assert result.content[0].text.index("booked") < result.content[0].text.index("cancelled")


async def test_latest_notes_are_newest_first_with_their_text(server, fake) -> None:
    result = await call(server, "get_latest_notes", {"patient_id": PATIENT_ID, "count": 2})
    newest = (TODAY - timedelta(days=6)).isoformat()
    notes = result.structured_content["notes"]
    assert notes[0]["date"].startswith(newest) and notes[0]["text"]["patient_text"].startswith(
        f"Progress note written {newest}")
    assert notes[1]["date"] < notes[0]["date"] and len(notes) == 2
    assert result.content[0].text.index(newest) < result.content[0].text.index(notes[1]["date"][:10])


async def test_latest_values_by_name_resolves_the_records_code_and_gives_the_trend(server, fake) -> None:
    result = await call(server, "get_latest_values", {"patient_id": PATIENT_ID, "name": "HbA1c", "limit": 3})
    series = result.structured_content["series"]
    assert [s["code"] for s in series] == ["http://loinc.org|4548-4"]
    a1c = sorted((r for r in RECORD if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] ==
                  "4548-4"), key=lambda r: r["effectiveDateTime"], reverse=True)[:3]
    assert [v["id"] for v in series[0]["values"]] == [r["id"] for r in a1c]
    trend = series[0]["trend"][0]
    first, last = a1c[-1]["valueQuantity"]["value"], a1c[0]["valueQuantity"]["value"]
    assert trend["first"].startswith(f"{first:g} %") and trend["last"].startswith(f"{last:g} %")
    change = last - first
    assert trend["direction"] == ("stable" if abs(change) <= 0.05 * first else "rising" if change > 0 else "falling")
    assert all(v["flag"] == "above range" for v in series[0]["values"]), "above 4.0-5.6 with no lab flag"
    assert "trend Hemoglobin A1c:" in result.content[0].text


async def test_latest_values_of_a_panel_trend_each_component(server, fake) -> None:
    result = await call(server, "get_latest_values", {"patient_id": PATIENT_ID, "name": "blood pressure"})
    trends = {t["measure"] for t in result.structured_content["series"][0]["trend"]}
    assert trends == {"Systolic blood pressure", "Diastolic blood pressure"}


async def test_a_name_the_record_does_not_hold_lists_what_it_does(server, epic, fake) -> None:
    async with Client(server) as client:
        result = await client.call_tool("get_latest_values", {"patient_id": PATIENT_ID, "name": "troponin"})
    assert result.is_error and "no lab or vital sign named like 'troponin'" in result.content[0].text
    assert "Glucose" in result.content[0].text and "list_patient_codes" in result.content[0].text


async def test_the_code_inventory_lists_each_code_with_its_count_and_last_date(server, fake) -> None:
    result = await call(server, "list_patient_codes", {"patient_id": PATIENT_ID, "kinds": ["lab"]})
    codes = {c["code"]: c for c in result.structured_content["codes"]}
    a1c = [r for r in RECORD if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "4548-4"]
    assert codes["http://loinc.org|4548-4"]["count"] == len(a1c)
    assert codes["http://loinc.org|4548-4"]["last"] == max(r["effectiveDateTime"] for r in a1c)[:10]
    assert set(codes) == {f"http://loinc.org|{code}" for code in LABS}


async def test_a_server_that_ignores_count_still_gives_the_true_latest(server, epic) -> None:
    FakeFhir(epic, RECORD, page_size=1000)
    result = await call(server, "patient_summary", {"patient_id": PATIENT_ID, "sections": ["vital_signs"]})
    assert {i["id"] for i in section(result, "vital_signs")["items"]} == \
        {r["id"] for r in newest_by_code("vital-signs").values()}


async def test_a_scan_that_spends_its_budget_says_how_far_back_it_read(server, fake, monkeypatch) -> None:
    monkeypatch.setattr("epic_mcp.answers.collect.SCAN_BUDGET_PAGES", 2)
    result = await call(server, "patient_summary", {"patient_id": PATIENT_ID, "sections": ["vital_signs"]})
    vitals = section(result, "vital_signs")
    assert vitals["complete"] is False
    assert any("were read (the page budget was spent)" in note for note in vitals["notes"])


# The summary's other promises, on a small chart ---------------------------------------------------------------

def without_observations() -> list[dict[str, Any]]:
    return [r for r in RECORD if r["resourceType"] != "Observation"]


# The deadline in the two tests of slow answers: the sections that do answer must finish within it on a loaded
# machine (1.5 s was not always enough with two cores shared by several test runs).
SHORT_DEADLINE = 5.0


async def test_sections_that_fail_or_are_slow_are_listed_not_fatal(server, epic, monkeypatch) -> None:
    monkeypatch.setattr(summary, "DEADLINE_SECONDS", SHORT_DEADLINE)

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(60)
        return httpx.Response(200, json=searchset([]))

    epic.get(url__regex=rf"^{EPIC_BASE}/MedicationRequest\?.*").respond(403, json=outcome(
        "error", "forbidden", "4118", "not authorized"))
    epic.get(url__regex=rf"^{EPIC_BASE}/Immunization\?.*").mock(side_effect=slow)
    FakeFhir(epic, without_observations())  # registered last: the two routes above answer first
    async with Client(server) as client:
        result = await client.call_tool("patient_summary", {"patient_id": PATIENT_ID})
    unavailable = result.structured_content["unavailable"]
    assert [reason.split(":")[0] for reason in unavailable] == ["medications", "immunizations"]
    assert unavailable[0].startswith("medications: the app is not authorized for MedicationRequest")
    assert unavailable[1] == f"immunizations: no answer within {SHORT_DEADLINE:g} s"
    assert [s["name"] for s in result.structured_content["sections"]] == [
        name for name in summary.SECTION_NAMES if name not in ("medications", "immunizations")]
    assert result.content[0].text.endswith("\n## Not available\n" + "\n".join(f"- {r}" for r in unavailable))


async def test_an_unknown_patient_is_an_error_not_an_empty_summary(server, fake) -> None:
    async with Client(server) as client:
        result = await client.call_tool("patient_summary", {"patient_id": "eNobody"})
    assert result.is_error and "no Patient with that id" in result.content[0].text


def test_sandbox_dates_keep_the_heavy_record_current() -> None:
    newest = max(r["effectiveDateTime"] for r in RECORD if r["resourceType"] == "Observation")
    assert date.fromisoformat(newest[:10]) >= TODAY - timedelta(days=10)


async def test_a_forbidden_patient_read_leaves_every_section_and_lists_demographics_as_not_available(server,
                                                                                                    epic) -> None:
    epic.get(url__regex=rf"^{EPIC_BASE}/Patient/{PATIENT_ID}$").respond(403, json=outcome(
        "error", "forbidden", "4118", "not authorized"))
    FakeFhir(epic, without_observations())
    result = await call(server, "patient_summary", {"patient_id": PATIENT_ID})
    data = result.structured_content
    assert data["patient"] is None and len(data["unavailable"]) == 1
    assert data["unavailable"][0].startswith("demographics: the app is not authorized for Patient")
    assert [s["name"] for s in data["sections"]] == list(summary.SECTION_NAMES)
    assert {item["medication"].split(" [")[0] for item in section(result, "medications")["items"]} == {
        "metformin 500 MG Oral Tablet", "lisinopril 10 MG Oral Tablet"}, "stale orders judged without the patient"
    lines = result.content[0].text.splitlines()
    assert lines[0] == f"Patient summary for Patient/{PATIENT_ID}" and lines[1].startswith("## Active problems: ")
    assert lines[-2:] == ["## Not available", f"- {data['unavailable'][0]}"]


async def test_a_forbidden_patient_read_still_names_the_patient_of_chosen_sections_by_id(server, epic) -> None:
    epic.get(url__regex=rf"^{EPIC_BASE}/Patient/{PATIENT_ID}$").respond(403, json=outcome(
        "error", "forbidden", "4118", "not authorized"))
    FakeFhir(epic, without_observations())
    result = await call(server, "patient_summary", {"patient_id": PATIENT_ID, "sections": ["allergies"]})
    assert result.content[0].text.splitlines()[0] == f"Summary of Patient/{PATIENT_ID}"
    assert result.structured_content["unavailable"][0].startswith("demographics: the app is not authorized")


async def test_a_slow_patient_read_is_listed_and_the_sections_still_answer(server, epic, monkeypatch) -> None:
    monkeypatch.setattr(summary, "DEADLINE_SECONDS", SHORT_DEADLINE)

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(60)
        return httpx.Response(200, json=RECORD[0])

    epic.get(url__regex=rf"^{EPIC_BASE}/Patient/{PATIENT_ID}$").mock(side_effect=slow)
    FakeFhir(epic, without_observations())
    result = await call(server, "patient_summary", {"patient_id": PATIENT_ID, "sections": ["allergies",
                                                                                          "appointments"]})
    data = result.structured_content
    assert data["patient"] is None and data["unavailable"] == [f"demographics: no answer within {SHORT_DEADLINE:g} s"]
    assert [s["name"] for s in data["sections"]] == ["allergies", "appointments"]


async def test_a_section_that_stops_at_its_page_limit_says_so_in_the_text(server, epic, monkeypatch) -> None:
    monkeypatch.setattr(summary, "WALK_PAGES", 2)
    FakeFhir(epic, without_observations(), page_size=5)
    result = await call(server, "patient_summary", {"patient_id": PATIENT_ID, "sections": ["medications", "allergies"]})
    meds = section(result, "medications")
    assert (meds["found"], meds["complete"]) == (10, False)
    note = "only the first 2 pages (10 records) were read; more exist: use the matching search tool for all"
    lines = result.content[0].text.splitlines()
    title = next(i for i, line in enumerate(lines) if line.startswith("## Current medications"))
    assert meds["notes"] == [note] and lines[title + 1] == f"note: {note}"
    assert section(result, "allergies")["notes"] == [] and section(result, "allergies")["complete"] is True


async def test_a_section_whose_next_link_leaves_the_server_says_that_and_only_that(server, epic) -> None:
    orders = [r for r in RECORD if r["resourceType"] == "MedicationRequest"][:3]
    epic.get(url__regex=rf"^{EPIC_BASE}/MedicationRequest\?.*").respond(200, json=searchset(
        orders, next_url="https://evil.example.org/R4/MedicationRequest?page=2"))
    FakeFhir(epic, without_observations())
    meds = section(await call(server, "patient_summary", {"patient_id": PATIENT_ID, "sections": ["medications"]}),
                   "medications")
    assert meds["complete"] is False and meds["notes"] == [FOREIGN_NEXT_LINK]
