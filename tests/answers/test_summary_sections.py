"""Each patient_summary section on a small hand-made chart, asserted whole: which records, in which order, how many
were found, whether the section is complete and what its notes say, and the text line by line. Today is fixed, so
every expected value is written out."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import respx
from mcp import Client

from epic_mcp.answers import collect, summary
from epic_mcp.fhir.connection import EpicConnection
from epic_mcp.fhir.guard import OTHER_PATIENTS
from epic_mcp.serve.server import build_server

from ..conftest import EPIC_TOKEN_URL, token_body
from ..fake_fhir import FakeFhir

pytestmark = pytest.mark.anyio
TODAY = date(2026, 6, 1)
PID = "eSmall1Chart"
OTHER = "eSomeoneElse9"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
MORE = "more records not shown: use the matching search tool for all"


@pytest.fixture
def server(make_settings):
    return build_server(make_settings(epic_today=TODAY))


@pytest.fixture(autouse=True)
def token_route(epic: respx.MockRouter) -> respx.Route:
    return epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())


def ref(patient: str = PID) -> dict[str, str]:
    return {"reference": f"Patient/{patient}"}


def patient() -> dict[str, Any]:
    return {"resourceType": "Patient", "id": PID, "name": [{"family": "Small", "given": ["Ada"]}],
            "gender": "female", "birthDate": "1950-02-03"}


def med(mid: str, drug: str, rxnorm: str, authored: str, status: str = "active", who: str = PID) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": mid, "status": status, "intent": "order", "subject": ref(who),
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxnorm, "display": drug}],
                                          "text": drug}, "authoredOn": authored}


def encounter(eid: str, start: str, who: str = PID) -> dict[str, Any]:
    return {"resourceType": "Encounter", "id": eid, "status": "finished", "class": {"code": "AMB"},
            "subject": ref(who), "period": {"start": start, "end": start}}


def coverage(cid: str, status: str, who: str = PID) -> dict[str, Any]:
    return {"resourceType": "Coverage", "id": cid, "status": status, "beneficiary": ref(who),
            "payor": [{"display": f"Payer {cid}"}]}


def immunization(iid: str, when: str, who: str = PID) -> dict[str, Any]:
    return {"resourceType": "Immunization", "id": iid, "status": "completed", "patient": ref(who),
            "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}], "text": "Flu"},
            "occurrenceDateTime": when}


def note(nid: str, when: str, who: str = PID) -> dict[str, Any]:
    return {"resourceType": "DocumentReference", "id": nid, "status": "current", "subject": ref(who), "date": when,
            "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}], "text": "Progress note"}}


def problem(cid: str, onset: str, who: str = PID, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": cid, "subject": ref(who), "onsetDateTime": onset,
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "code": {"coding": [{"system": ICD10, "code": "I10", "display": "Hypertension"}], "text": "Hypertension"},
            **extra}


def allergy(aid: str, who: str = PID) -> dict[str, Any]:
    return {"resourceType": "AllergyIntolerance", "id": aid, "patient": ref(who), "code": {"text": f"Allergen {aid}"}}


def appointment(aid: str, start: str, status: str = "booked", who: str = PID) -> dict[str, Any]:
    return {"resourceType": "Appointment", "id": aid, "status": status, "start": start,
            "participant": [{"actor": ref(who), "status": "accepted"}]}


ENCOUNTER_DAYS = ["2026-02-10", "2026-05-20", "2026-01-05", "2026-04-01", "2026-03-15", "2026-05-30"]
IMMUNIZATION_DAYS = [f"2026-{3 + i % 3:02d}-{1 + i:02d}" for i in range(16)]


def chart() -> list[dict[str, Any]]:
    return [
        patient(),
        med("met-1", "metformin 500 MG Oral Tablet", "860975", "2026-05-01"),
        med("lis-a", "lisinopril 10 MG Oral Tablet", "314076", "2026-02-01"),
        med("lis-b", "lisinopril 10 MG Oral Tablet", "314076", "2026-04-01"),
        med("warf", "warfarin 5 MG Oral Tablet", "855332", "2026-05-10", status="stopped"),
        *(encounter(f"enc-{day}", f"{day}T09:00:00Z") for day in ENCOUNTER_DAYS),
        coverage("cov-old", "cancelled"), coverage("cov-now", "active"), coverage("cov-draft", "draft"),
        *(immunization(f"imm-{day}", day) for day in IMMUNIZATION_DAYS),
        *(note(f"note-05-{day:02d}", f"2026-05-{day:02d}T10:00:00Z") for day in (3, 28, 11, 19, 7)),
        note("note-2025", "2025-10-01T10:00:00Z"), note("note-2019", "2019-10-01T10:00:00Z"),
    ]


async def summary_of(server, *sections: str) -> Any:
    async with Client(server) as client:
        result = await client.call_tool("patient_summary", {"patient_id": PID, "sections": list(sections)})
    assert not result.is_error, result.content[0].text
    return result


def section(result: Any, name: str) -> dict[str, Any]:
    return next(s for s in result.structured_content["sections"] if s["name"] == name)


def shown(result: Any, name: str, part: str = "items") -> list[str]:
    return [item["id"] for item in section(result, name)[part]]


def state(result: Any, name: str) -> tuple[int, bool, list[str]]:
    found = section(result, name)
    return found["found"], found["complete"], found["notes"]


async def test_medications_are_one_line_per_active_drug_counting_its_active_orders(server, epic) -> None:
    FakeFhir(epic, chart())
    result = await summary_of(server, "medications")
    meds = section(result, "medications")["items"]
    assert [m["id"] for m in meds] == ["met-1", "lis-b"], "newest order of each drug, newest drug first"
    assert "active_orders" not in meds[0] and meds[1]["active_orders"] == 2
    assert state(result, "medications") == (3, True, []) and shown(result, "medications", "set_apart") == []
    assert "warfarin" not in result.content[0].text, "a stopped order is no medication"


async def test_recent_encounters_are_the_newest_five_and_say_how_many_more(server, epic) -> None:
    FakeFhir(epic, chart())
    result = await summary_of(server, "encounters")
    assert shown(result, "encounters") == ["enc-2026-05-30", "enc-2026-05-20", "enc-2026-04-01", "enc-2026-03-15",
                                           "enc-2026-02-10"]
    assert state(result, "encounters") == (6, False, [f"1 {MORE}"])
    lines = result.content[0].text.splitlines()
    assert lines[1:3] == ["## Recent encounters (newest first): 5", f"note: 1 {MORE}"]


async def test_coverage_lists_the_active_one_first_with_every_status(server, epic) -> None:
    FakeFhir(epic, chart())
    result = await summary_of(server, "coverage")
    items = section(result, "coverage")["items"]
    assert [(c["id"], c["status"]) for c in items] == [("cov-now", "active"), ("cov-old", "cancelled"),
                                                       ("cov-draft", "draft")]
    assert state(result, "coverage") == (3, True, [])
    assert result.content[0].text.splitlines()[1] == "## Coverage (active first): 3"


async def test_immunizations_are_the_newest_fifteen(server, epic) -> None:
    FakeFhir(epic, chart())
    result = await summary_of(server, "immunizations")
    newest = sorted(IMMUNIZATION_DAYS, reverse=True)[:15]
    assert shown(result, "immunizations") == [f"imm-{day}" for day in newest]
    assert state(result, "immunizations") == (16, False, [f"1 {MORE}"])
    assert result.content[0].text.splitlines()[1] == "## Immunizations (newest first): 15"


async def test_latest_notes_are_the_newest_five_read_until_more_are_known(server, epic) -> None:
    fake = FakeFhir(epic, chart())
    result = await summary_of(server, "notes")
    assert shown(result, "notes") == ["note-05-28", "note-05-19", "note-05-11", "note-05-07", "note-05-03"]
    assert state(result, "notes") == (6, False, [f"1 {MORE}"]), "the 2019 note is older than the window that told"
    assert [[v for k, v in search if k == "date"] for search in fake.searches] == [
        ["ge2026-06-02"], ["ge2026-03-03", "lt2026-06-02"], ["ge2025-06-01", "lt2026-03-03"]], "no older window read"
    assert result.content[0].text.splitlines()[1] == (
        "## Latest notes (newest first; read one with get_document_text or get_latest_notes): 5")


async def test_a_small_chart_is_complete_in_every_section(server, epic) -> None:
    FakeFhir(epic, [patient(), *(encounter(f"enc-{day}", f"2026-05-0{day}T09:00:00Z") for day in range(1, 6)),
                    note("note-1", "2026-05-02"), immunization("imm-1", "2026-05-03"), coverage("cov-1", "active")])
    result = await summary_of(server, "encounters", "notes", "immunizations", "coverage")
    assert state(result, "encounters") == (5, True, []), "exactly as many as a section shows"
    for name in ("notes", "immunizations", "coverage"):
        assert state(result, name) == (1, True, []), name


async def test_notes_read_to_the_budget_say_how_far_back_even_when_they_fill_the_section(server, epic,
                                                                                       monkeypatch) -> None:
    monkeypatch.setattr(collect, "SCAN_BUDGET_PAGES", 4)
    FakeFhir(epic, [patient(), *(note(f"n{day}", f"2026-05-{day:02d}") for day in range(1, 6)),
                    *(note(f"old{month}", f"2025-{month:02d}-01") for month in (7, 8, 9))], page_size=2)
    result = await summary_of(server, "notes")
    assert shown(result, "notes") == ["n5", "n4", "n3", "n2", "n1"]
    assert state(result, "notes") == (5, False, [
        "only records from the last 90 days were read (the page budget was spent); older ones are not shown: ask "
        "with date_from/date_to for an earlier period"])


async def test_every_section_withholds_other_patients_records_when_the_server_ignores_the_filter(server,
                                                                                                epic) -> None:
    theirs = [med("x-med", "warfarin 5 MG Oral Tablet", "855332", "2026-05-10", who=OTHER),
              encounter("x-enc", "2026-05-31T09:00:00Z", who=OTHER), coverage("x-cov", "active", who=OTHER),
              immunization("x-imm", "2026-05-31", who=OTHER), note("x-note", "2026-05-31", who=OTHER),
              problem("x-cond", "2020-01-01", who=OTHER), allergy("x-alg", who=OTHER),
              appointment("x-appt", "2026-07-01T09:00:00Z", who=OTHER)]
    mine = [patient(), med("met-1", "metformin 500 MG Oral Tablet", "860975", "2026-05-01"),
            encounter("enc-1", "2026-05-01T09:00:00Z"), coverage("cov-1", "active"),
            immunization("imm-1", "2026-05-03"), note("note-1", "2026-05-02"), problem("cond-1", "2019-01-01"),
            allergy("alg-1"), appointment("appt-1", "2026-07-02T09:00:00Z")]
    FakeFhir(epic, [*theirs, *mine], ignores_patient=True)
    expected = {"problems": ["cond-1"], "medications": ["met-1"], "allergies": ["alg-1"], "immunizations": ["imm-1"],
                "encounters": ["enc-1"], "appointments": ["appt-1"], "coverage": ["cov-1"], "notes": ["note-1"]}
    result = await summary_of(server, *expected)
    for name, ids in expected.items():
        assert shown(result, name) == ids, name
        assert OTHER_PATIENTS.format(n=1) in section(result, name)["notes"], name
    assert "x-" not in result.content[0].text and "warfarin" not in result.content[0].text


async def test_sections_walked_to_their_page_limit_say_so(server, epic, monkeypatch) -> None:
    monkeypatch.setattr(summary, "WALK_PAGES", 2)
    records = [patient(), *(med(f"m{i}", f"drug {chr(97 + i)}", str(1000 + i), f"2026-05-0{i}") for i in range(1, 6)),
               *(encounter(f"e{i}", f"2026-05-0{i}T09:00:00Z") for i in range(1, 6)),
               *(coverage(f"c{i}", "active") for i in range(1, 6)), *(problem(f"p{i}", "2020-01-01") for i in range(5)),
               *(allergy(f"a{i}") for i in range(5)),
               *(appointment(f"ap{i}", f"2026-07-0{i}T09:00:00Z") for i in range(1, 6))]
    FakeFhir(epic, records, page_size=2)
    names = ("problems", "medications", "allergies", "encounters", "appointments", "coverage")
    result = await summary_of(server, *names)
    for name in names:
        assert state(result, name) == (4, False, [
            "only the first 2 pages (4 records) were read; more exist: use the matching search tool for all"]), name


async def test_problems_are_brief_whole_lines_without_the_usual_status_or_evidence(server, epic) -> None:
    copd = problem("c-copd", "2014-09-26", code={"coding": [{"system": ICD10, "code": "J44.9", "display": "COPD"}]},
                   severity={"coding": [{"system": SNOMED, "code": "255604002", "display": "Mild"}]},
                   stage=[{"summary": {"text": "GOLD 3"}}, "odd", {"summary": {}}],
                   bodySite=[{"coding": [{"system": SNOMED, "code": "39607008", "display": "Lung structure"}]}],
                   evidence=[{"code": [{"text": "dyspnea"}]}], note=[{"text": "smoker"}],
                   verificationStatus={"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                             "condition-ver-status", "code": "provisional"}]})
    back = problem("c-back", "", code={"text": "Back pain"})
    del back["onsetDateTime"]
    htn = problem("c-htn", "2016-11-01", code={"coding": [{"system": ICD10, "code": "I10", "display": "Hypertension"},
                                                          {"system": SNOMED, "code": "38341003"}]})
    FakeFhir(epic, [patient(), back, copd, htn])
    result = await summary_of(server, "problems")
    assert section(result, "problems")["items"] == [
        {"resourceType": "Condition", "id": "c-htn", "code": "Hypertension", "onset": "2016-11-01",
         "codes": [{"system": "ICD-10-CM", "code": "I10"}, {"system": "SNOMED", "code": "38341003"}]},
        {"resourceType": "Condition", "id": "c-copd", "verification_status": ["provisional"], "severity": "Mild",
         "code": "COPD", "body_site": ["Lung structure"], "onset": "2014-09-26", "stage": ["GOLD 3"],
         "note": [{"patient_text": "smoker"}], "codes": [{"system": "ICD-10-CM", "code": "J44.9"}]},
        {"resourceType": "Condition", "id": "c-back", "code": "Back pain"}]
    assert result.content[0].text.splitlines()[1:] == [
        "## Active problems: 3",
        "- c-htn | Hypertension [ICD-10-CM I10; SNOMED 38341003] | onset 2016-11-01",
        "- c-copd | COPD [ICD-10-CM J44.9] | onset 2014-09-26 | Mild | stage GOLD 3 | site Lung structure | "
        "verification_status: provisional | note: <patient-text>smoker</patient-text>",
        "- c-back | Back pain"]


@pytest.mark.parametrize(("extra", "named"), [
    ({}, "Summary of Ada Small, female, born 1950-02-03, age 76"),
    ({"deceasedBoolean": True}, "Summary of Ada Small, female, born 1950-02-03, deceased"),
    ({"deceasedBoolean": False}, "Summary of Ada Small, female, born 1950-02-03, age 76"),
    ({"deceasedDateTime": "2026-01-01T10:00:00Z"}, "Summary of Ada Small, female, born 1950-02-03, deceased "
                                                   "2026-01-01T10:00:00Z at 75"),
    ({"birthDate": "1950"}, "Summary of Ada Small, female, born 1950, age 75 or 76"),
    ({"name": None, "birthDate": None}, "Summary of female"),
    ({"name": None, "gender": None, "birthDate": None}, f"Summary of Patient/{PID}"),
])
async def test_chosen_sections_name_the_patient_in_one_line(server, epic, extra: dict[str, Any], named: str) -> None:
    FakeFhir(epic, [{k: v for k, v in (patient() | extra).items() if v is not None}])
    result = await summary_of(server, "allergies")
    assert result.content[0].text.splitlines() == [named, "## Allergies and intolerances: 0", "- none on file"]
    assert "telecom" not in result.structured_content["patient"]


async def test_the_whole_summary_opens_with_the_demographics_and_says_none_on_file_for_empty_sections(server,
                                                                                                    epic) -> None:
    FakeFhir(epic, [patient() | {"telecom": [{"system": "phone", "value": "555-0100"}]},
                    coverage("cov-1", "active")])
    async with Client(server) as client:
        result = await client.call_tool("patient_summary", {"patient_id": PID})
    lines = result.content[0].text.splitlines()
    assert lines[:2] == [f"Patient summary for Patient/{PID}",
                         f"Patient/{PID} | name: Ada Small | gender: female | birth_date: 1950-02-03 | age: 76"]
    assert lines.count("- none on file") == 9 and "## Coverage (active first): 1" in lines
    assert lines[lines.index("## Coverage (active first): 1") + 1] == "- Coverage/cov-1 | status: active | payor: " \
                                                                       f"Payer cov-1 | beneficiary: Patient/{PID}"
    assert result.structured_content["unavailable"] == [] and "Not available" not in result.content[0].text


async def test_upcoming_appointments_show_the_soonest_five_and_list_the_others_apart(server, epic) -> None:
    FakeFhir(epic, [patient(), appointment("gone", "2026-06-03T09:00:00Z", "cancelled"),
                    appointment("yesterday", "2026-05-31T09:00:00Z"),  # booked, but past: not upcoming
                    *(appointment(f"ap{day}", f"2026-07-{day:02d}T09:00:00Z") for day in (9, 2, 7, 4, 11, 5))])
    result = await summary_of(server, "appointments")
    assert shown(result, "appointments") == ["ap2", "ap4", "ap5", "ap7", "ap9"]
    assert shown(result, "appointments", "set_apart") == ["gone"]
    assert state(result, "appointments") == (7, False, [f"1 {MORE}"])
    lines = result.content[0].text.splitlines()
    assert lines[1] == "## Upcoming appointments (from today, soonest first): 5"
    assert lines[-2:] == ["### Cancelled, missed or not booked (not upcoming): 1",
                          "- Appointment/gone | status: cancelled | start: 2026-06-03T09:00:00Z | participants: "
                          f"Patient/{PID} [accepted]"]


async def test_allergies_show_forty_and_say_how_many_more(server, epic) -> None:
    FakeFhir(epic, [patient(), *(allergy(f"a{i:02d}") for i in range(41))])
    result = await summary_of(server, "allergies")
    assert shown(result, "allergies") == [f"a{i:02d}" for i in range(40)]
    assert state(result, "allergies") == (41, False, [f"1 {MORE}"])
    assert result.content[0].text.splitlines()[1] == "## Allergies and intolerances: 40"


def observation(oid: str, category: str, code: str, when: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final", "subject": ref(),
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": category}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]}, "effectiveDateTime": when,
            "valueQuantity": {"value": 1, "unit": "1"}}


async def test_vital_signs_show_thirty_kinds_and_labs_fifty(server, epic) -> None:
    vitals = [observation(f"v{i:02d}", "vital-signs", f"{1000 + i}-0", f"2026-05-01T{i % 24:02d}:00:00Z")
              for i in range(31)]
    labs = [observation(f"l{i:02d}", "laboratory", f"{2000 + i}-0", f"2026-04-{1 + i % 28:02d}") for i in range(51)]
    FakeFhir(epic, [patient(), *vitals, *labs])
    result = await summary_of(server, "vital_signs", "labs")
    assert len(shown(result, "vital_signs")) == 30 and len(shown(result, "labs")) == 50
    assert state(result, "vital_signs") == (31, False, ["1 more kinds not shown: use the matching search tool for all"])
    assert state(result, "labs") == (51, False, ["1 more kinds not shown: use the matching search tool for all"])
    lines = result.content[0].text.splitlines()
    assert "## Latest vital signs (the newest of each kind): 30" in lines
    assert "## Latest labs (the newest of each test; flag: H/L or out of range): 50" in lines


async def test_long_lists_show_forty_problems_and_drugs_and_five_coverages(server, epic) -> None:
    FakeFhir(epic, [patient(), *(problem(f"p{i:02d}", f"2020-01-{1 + i % 28:02d}") for i in range(41)),
                    *(med(f"m{i:02d}", f"drug {chr(97 + i // 26)}{chr(97 + i % 26)}", str(1000 + i),
                                         f"2026-05-{1 + i % 28:02d}") for i in range(41)),
                    *(coverage(f"c{i}", "active") for i in range(6))])
    result = await summary_of(server, "problems", "medications", "coverage")
    for name, count in (("problems", 40), ("medications", 40), ("coverage", 5)):
        assert len(shown(result, name)) == count, name
        assert state(result, name) == (count + 1, False, [f"1 {MORE}"]), name


async def test_a_problem_without_a_name_or_code_is_shown_as_unknown(server, epic) -> None:
    nameless = problem("c-none", "2021-03-04")
    del nameless["code"]
    FakeFhir(epic, [patient(), nameless])
    result = await summary_of(server, "problems")
    assert result.content[0].text.splitlines()[1:] == ["## Active problems: 1", "- c-none | ? | onset 2021-03-04"]


async def test_only_labs_are_flagged_out_of_range(server, epic) -> None:
    high = {"referenceRange": [{"low": {"value": 0}, "high": {"value": 0.5}}]}
    FakeFhir(epic, [patient(), observation("hr", "vital-signs", "8867-4", "2026-05-01") | high,
                    observation("k", "laboratory", "2823-3", "2026-05-01") | high])
    result = await summary_of(server, "vital_signs", "labs")
    assert "flag" not in section(result, "vital_signs")["items"][0]
    assert section(result, "labs")["items"][0]["flag"] == "above range"


async def test_latest_values_read_to_the_budget_say_which_results_and_how_far_back(server, epic,
                                                                                  monkeypatch) -> None:
    monkeypatch.setattr(collect, "SCAN_BUDGET_PAGES", 2)
    FakeFhir(epic, [patient(), observation("hr", "vital-signs", "8867-4", "2026-05-01"),
                    observation("old", "vital-signs", "8867-4", "2024-05-01")])
    result = await summary_of(server, "vital_signs")
    assert shown(result, "vital_signs") == ["hr"]
    assert state(result, "vital_signs") == (1, False, [
        "only vital-signs results from the last 90 days were read (the page budget was spent); older ones are not "
        "shown: ask with date_from/date_to for an earlier period"])


async def test_every_section_searches_by_fhirs_patient_parameter(server, epic) -> None:
    fake = FakeFhir(epic, chart())
    async with Client(server) as client:
        await client.call_tool("patient_summary", {"patient_id": PID})
    assert len(fake.searches) >= 10
    assert all(search[0] == ("patient", PID) for search in fake.searches), fake.searches


@pytest.mark.parametrize(("extra", "line"), [
    ({"maritalStatus": {"text": "Widowed"}},
     "name: Ada Small | gender: female | birth_date: 1950-02-03 | age: 76 | marital_status: Widowed"),
    ({"deceasedDateTime": "2026-01-01", "maritalStatus": {"text": "Widowed"}},
     "name: Ada Small | gender: female | birth_date: 1950-02-03 | deceased: 2026-01-01 | age: deceased at 75 | "
     "marital_status: Widowed"),
    ({"birthDate": None, "maritalStatus": {"text": "Widowed"},
      "extension": [{"url": "urn:epic-mcp:age", "valueAge": {"value": 90, "comparator": ">=", "unit": "years"}}]},
     "name: Ada Small | gender: female | marital_status: Widowed | age: 90 or older"),
])
async def test_the_age_stands_after_the_birth_date_or_death_else_last(server, epic, extra: dict[str, Any],
                                                                      line: str) -> None:
    FakeFhir(epic, [{k: v for k, v in (patient() | extra).items() if v is not None}])
    async with Client(server) as client:
        result = await client.call_tool("patient_summary", {"patient_id": PID})
    assert result.content[0].text.splitlines()[1] == f"Patient/{PID} | {line}"


async def test_an_age_the_record_does_not_state_is_counted_to_the_calendar_day_not_the_patients_moved_day(
        settings, epic) -> None:
    FakeFhir(epic, [patient()])
    connection = EpicConnection.open(settings)
    try:
        moved = await summary.patient_summary(connection.fhir, PID, date(2026, 1, 1), ["allergies"],
                                              calendar_today=date(2026, 6, 1))
    finally:
        await connection.aclose()
    assert moved.patient is not None and moved.patient["age"] == "76"
