"""The evaluation's question bank and ground truth: enough questions of every kind for every patient, dated from
the run's today, and known answers computed from the raw FHIR data by rules of their own."""

from __future__ import annotations

import ast
import base64
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from epic_mcp.sandbox import data_set
from evals import truth
from evals.bank import KINDS, question_bank
from evals.truth import Records

from ..conftest import run_today

ROOT = Path(__file__).resolve().parents[2]
TODAY = run_today()
LATER = TODAY + timedelta(days=400)


@pytest.fixture(scope="module")
def bank() -> list[Any]:
    return question_bank(data_set(TODAY), TODAY)


def test_the_bank_asks_over_100_questions_of_every_kind_about_all_seven_patients(bank) -> None:
    assert len(bank) >= 100 and len({q.id for q in bank}) == len(bank)
    for kind in KINDS:
        assert len({q.patient_id for q in bank if q.kind == kind.name}) == 7, kind.name
    assert all((q.text.endswith(".") and q.patient_id in q.text) or q.kind == "mrn_lookup" for q in bank)


def moved(value: Any, days: int) -> Any:
    """A value with every ISO day in it (a date, or the day of a date-time) moved by `days`."""
    if isinstance(value, str) and len(value) >= 10 and value[4] == "-" and value[7] == "-":
        return (date.fromisoformat(value[:10]) + timedelta(days=days)).isoformat() + value[10:]
    if isinstance(value, dict):
        return {k: moved(v, days) for k, v in value.items()}
    return value


def test_questions_and_answers_move_with_today_and_nothing_else_changes(bank) -> None:
    later = question_bank(data_set(LATER), LATER)
    shift = data_set(LATER)["dates"]["shift_days"] - data_set(TODAY)["dates"]["shift_days"]
    assert shift > 0 and len(later) == len(bank)
    for now, then in zip(bank, later, strict=True):
        assert (now.kind, now.patient_id, now.grader) == (then.kind, then.patient_id, then.grader)
        assert moved(now.params, shift) == then.params
        if now.kind in ("next_appointment", "newest_listed", "result_time"):
            assert moved(now.expected, shift) == then.expected
        elif now.kind != "latest_note":  # the note's phrase holds a date that moved with it
            assert now.expected == then.expected, now.id


def test_ground_truth_does_not_use_the_code_it_grades() -> None:
    for name in ("truth", "bank", "graders"):
        tree = ast.parse((ROOT / "evals" / f"{name}.py").read_text())
        imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        assert not {m for m in imported if m.startswith("epic_mcp")}, name


# The rules of "current", "upcoming" and "abnormal", on records made for the purpose ----------------------------

NOW = date(2030, 5, 15)
PATIENT = {"resourceType": "Patient", "id": "p1"}


def order(number: int, **fields: Any) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": f"mr{number}", "status": "active",
            "subject": {"reference": "Patient/p1"}, "authoredOn": "2030-05-01",
            "medicationCodeableConcept": {"text": f"Drug {'abcdefgh'[number]}"}, **fields}


def records(*resources: dict[str, Any], patient: dict[str, Any] = PATIENT) -> Records:
    return Records({"patients": [], "resources": [patient, *resources]})


def current(*resources: dict[str, Any], patient: dict[str, Any] = PATIENT) -> list[str]:
    return [o["id"] for o in truth.current_medications(records(*resources, patient=patient), "p1", NOW)]


def test_an_inpatient_order_is_current_only_while_its_encounter_lasts() -> None:
    ended = {"resourceType": "Encounter", "id": "e1", "class": {"code": "IMP"},
             "period": {"start": "2030-05-01", "end": "2030-05-10"}}
    ongoing = {**ended, "id": "e2", "period": {"start": "2030-05-01"}}
    assert current(ended, order(1, encounter={"reference": "Encounter/e1"})) == []
    assert current(ongoing, order(1, encounter={"reference": "Encounter/e2"})) == ["mr1"]
    inpatient = {"category": [{"coding": [{"code": "inpatient"}]}], "encounter": {"reference": "Encounter/e1"}}
    assert current(ended, order(2, **inpatient)) == []


def test_an_order_is_stale_when_its_supply_validity_or_course_is_over() -> None:
    def supply(start: str, days: int, repeats: int) -> dict[str, Any]:
        return {"dispenseRequest": {"validityPeriod": {"start": start}, "numberOfRepeatsAllowed": repeats,
                                    "expectedSupplyDuration": {"value": days, "unit": "d"}}}

    assert current(order(1, **supply("2030-03-01", 30, 2))) == ["mr1"]  # 90 days of supply from March 1
    assert current(order(1, **supply("2030-02-01", 30, 2))) == ["mr1"], "13 days late: within the grace period"
    assert current(order(1, **supply("2029-09-01", 30, 2))) == [], "ran out in November: past the grace period"
    assert current(order(1, **supply("2030-04-01", 7, 0))) == [], "a week's supply, not long-term: no grace"
    assert current(order(1, dispenseRequest={"validityPeriod": {"end": "2030-05-14"}})) == []
    acute = {"courseOfTherapyType": {"coding": [{"code": "acute"}]}}
    bounded = [{"timing": {"repeat": {"boundsPeriod": {"end": "2030-05-10"}}}}]
    assert current(order(1, **acute, dosageInstruction=bounded)) == []
    assert current(order(1, **acute, dosageInstruction=[{"timing": {"repeat": {"boundsDuration": {
        "value": 30, "unit": "d"}}}}])) == ["mr1"]
    assert current(order(1), patient={**PATIENT, "deceasedDateTime": "2030-01-01"}) == []


def test_one_line_per_drug_the_newest_current_order() -> None:
    drug = {"medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": "6809"}], "text": "Metformin"}}
    found = current(order(1, **drug), order(2, **drug, authoredOn="2030-05-12"), order(3, status="stopped"))
    assert found == ["mr2"]
    by_name = {"medicationReference": {"display": "metformin 500 MG Oral Tablet"}, "medicationCodeableConcept": None}
    assert current(order(1, **drug), order(4, **by_name, authoredOn="2030-05-13")) == ["mr4"], "one drug by name"
    ended = {"resourceType": "Encounter", "id": "e1", "class": {"code": "IMP"},
             "period": {"start": "2030-05-01", "end": "2030-05-10"}}
    in_stay = {"category": [{"coding": [{"code": "inpatient"}]}], "encounter": {"reference": "Encounter/e1"}}
    assert current(ended, order(1, **drug), order(5, **drug, **in_stay, authoredOn="2030-05-14")) == ["mr1"], \
        "the newest current order, not the newest order"


def test_the_next_appointment_is_the_soonest_upcoming_one_still_on() -> None:
    def appointment(number: int, start: str, status: str) -> dict[str, Any]:
        return {"resourceType": "Appointment", "id": f"a{number}", "status": status, "start": start,
                "participant": [{"actor": {"reference": "Patient/p1"}}]}

    found = truth.next_appointment(records(
        appointment(1, "2030-05-14T09:00:00Z", "booked"), appointment(2, "2030-05-16T09:00:00Z", "cancelled"),
        appointment(3, "2030-05-20T09:00:00Z", "proposed"), appointment(4, "2030-06-01T09:00:00Z", "booked"),
    ), "p1", NOW)
    assert found is not None and found["id"] == "a3"


def test_a_lab_flag_decides_abnormal_and_the_range_only_without_one() -> None:
    def observation(value: float, flag: str | None) -> dict[str, Any]:
        made: dict[str, Any] = {"valueQuantity": {"value": value, "unit": "%"},
                                "referenceRange": [{"low": {"value": 4.0}, "high": {"value": 5.6}}]}
        if flag:
            made["interpretation"] = [{"coding": [{"code": flag}]}]
        return made

    assert truth.is_abnormal(observation(5.0, "H")) and not truth.is_abnormal(observation(6.0, "N"))
    assert truth.is_abnormal(observation(6.0, None)) and not truth.is_abnormal(observation(5.0, None))


def test_a_notes_key_phrase_is_one_no_other_note_holds() -> None:
    def note(text: str) -> dict[str, Any]:
        return {"content": [{"attachment": {"contentType": "text/html",
                                            "data": base64.b64encode(text.encode()).decode()}}]}

    newest = note("<h1>Progress note</h1><p>Plan: continue current medications.</p><p>Seen for COPD &amp; HTN.</p>")
    older = note("<h1>Progress note</h1><p>Plan: continue current medications.</p>")
    assert truth.key_phrase(newest, [older]) == "Seen for COPD & HTN."
    assert truth.key_phrase(older, [newest]) is None
