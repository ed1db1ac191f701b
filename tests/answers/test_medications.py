"""Current vs likely-stale medication orders: one drug per line judged by its newest active order, and the reason
a stale one is set apart (the stay ended, the course is over, the prescription or its supply ran out, the patient
died). Dates are written out; TODAY is fixed."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from epic_mcp.answers.medications import classify, drug_key, stale_reason

TODAY = date(2026, 6, 1)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
COURSE = "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy"


def order(oid: str, authored: str = "2026-05-01", drug: str = "metformin 500 MG Oral Tablet",
          rxnorm: str | None = "860975", **extra: Any) -> dict[str, Any]:
    codings = [{"system": RXNORM, "code": rxnorm, "display": drug}] if rxnorm else []
    return {"resourceType": "MedicationRequest", "id": oid, "status": "active", "intent": "order",
            "medicationCodeableConcept": {"coding": codings, "text": drug}, "authoredOn": authored, **extra}


def category(*codes: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": CATEGORY, "code": code}]} for code in codes]


def acute(**repeat: Any) -> dict[str, Any]:
    return {"courseOfTherapyType": {"coding": [{"system": COURSE, "code": "acute"}]},
            "dosageInstruction": [{"text": "take one"}, {"timing": {"repeat": repeat}}]}


def encounter(eid: str, klass: str = "IMP", end: str | None = "2026-05-03T10:00:00Z",
              status: str = "finished") -> dict[str, Any]:
    period = {"start": "2026-04-28T08:00:00Z", **({"end": end} if end else {})}
    return {"resourceType": "Encounter", "id": eid, "status": status, "class": {"code": klass}, "period": period}


def reason(med: dict[str, Any], encounters: list[dict[str, Any]] = (), patient: dict[str, Any] | None = None
           ) -> str | None:
    return stale_reason(med, {e["id"]: e for e in encounters}, patient, TODAY)


# Which drug an order is for ---------------------------------------------------------------------------------------

def test_orders_of_one_drug_are_grouped_by_rxnorm_code_whatever_their_text() -> None:
    assert drug_key(order("a", drug="metformin 500 MG Oral Tablet")) == drug_key(order("b", drug="Metformin ER")) \
        == "rxnorm:860975"


def test_orders_without_rxnorm_are_grouped_by_their_name_in_any_case() -> None:
    assert drug_key(order("a", drug="Metformin 500 MG", rxnorm=None)) == "metformin 500 mg"
    assert drug_key({"resourceType": "MedicationRequest"}) == ""


def test_each_drug_is_judged_by_its_newest_active_order_and_counts_them_all() -> None:
    orders = [order("met-2024", "2024-01-10"), order("lis", "2026-02-01", "lisinopril 10 MG", "314076"),
              order("met-2026", "2026-05-10"), order("met-2025", "2025-03-01")]
    drugs = classify(orders, {}, None, TODAY)
    assert [(d.order["id"], d.active_orders, d.stale_reason) for d in drugs] == [
        ("met-2026", 3, None), ("lis", 1, None)]


def test_a_drug_whose_newest_order_is_stale_is_stale_even_if_an_older_one_is_not() -> None:
    newest = order("new", "2026-05-02", encounter={"reference": "Encounter/stay"})
    older = order("old", "2026-04-01")
    [drug] = classify([older, newest], {"stay": encounter("stay")}, None, TODAY)
    assert (drug.order["id"], drug.active_orders, drug.stale_reason) == (
        "new", 2, "inpatient order of a stay that ended 2026-05-03")


# Why an order looks stale -----------------------------------------------------------------------------------------

def test_a_current_order_has_no_reason() -> None:
    assert reason(order("m")) is None


@pytest.mark.parametrize("patient", [{"deceasedBoolean": True}, {"deceasedDateTime": "2026-01-01"}])
def test_every_order_of_a_patient_who_died_is_stale(patient: dict[str, Any]) -> None:
    assert reason(order("m"), patient={"resourceType": "Patient", **patient}) == "the patient is deceased"


@pytest.mark.parametrize("patient", [None, {"deceasedBoolean": False}, {"deceasedDateTime": ""}, {}])
def test_a_living_patient_leaves_orders_current(patient: dict[str, Any] | None) -> None:
    assert reason(order("m"), patient=patient) is None


@pytest.mark.parametrize("klass", ["IMP", "EMER", "ACUTE", "NONAC", "OBSENC", "SS", "inpatient", "emergency"])
def test_an_order_placed_during_a_stay_that_ended_is_stale(klass: str) -> None:
    med = order("m", encounter={"reference": "Encounter/stay"})
    assert reason(med, [encounter("stay", klass)]) == "inpatient order of a stay that ended 2026-05-03"


def test_an_inpatient_order_in_an_encounter_of_any_class_ends_with_it() -> None:
    med = order("m", encounter={"reference": "https://epic.example.org/R4/Encounter/visit"}, category=category(
        "inpatient"))
    assert reason(med, [encounter("visit", "AMB", end="2026-05-20")]) == \
        "inpatient order of a stay that ended 2026-05-20"


def test_a_discharge_prescription_outlives_the_stay() -> None:
    med = order("m", encounter={"reference": "Encounter/visit"}, category=category("inpatient", "discharge"))
    assert reason(med, [encounter("visit", "AMB")]) is None
    assert reason(order("m", encounter={"reference": "Encounter/visit"}), [encounter("visit", "AMB")]) is None


def test_an_order_of_a_stay_still_going_is_current() -> None:
    med = order("m", encounter={"reference": "Encounter/stay"})
    assert reason(med, [encounter("stay", end=None, status="in-progress")]) is None
    assert reason(med, [encounter("stay", end="2026-06-01", status="in-progress")]) is None, "ends today"
    assert reason(med, [encounter("stay", end="2026-06-20", status="in-progress")]) is None


def test_a_stay_marked_finished_has_ended_even_without_or_before_its_end_date() -> None:
    med = order("m", encounter={"reference": "Encounter/stay"})
    assert reason(med, [encounter("stay", end=None, status="finished")]) == \
        "inpatient order of a stay that ended (date not given)"
    assert reason(med, [encounter("stay", end="2026-06-20", status="cancelled")]) == \
        "inpatient order of a stay that ended 2026-06-20"
    assert reason(med, [encounter("stay", end="2026-06-20", status="entered-in-error")]) is not None


def test_an_order_of_an_unknown_or_unreadable_encounter_is_judged_on_its_own() -> None:
    assert reason(order("m", encounter={"reference": "Encounter/gone"}), [encounter("stay")]) is None
    assert reason(order("m", encounter={"reference": 7}), [encounter("7")]) is None
    assert reason(order("m", encounter={"reference": "Encounter/stay"}), [encounter("stay") | {"class": "IMP"}]) \
        is None


def test_an_acute_course_whose_bounds_ended_is_stale() -> None:
    assert reason(order("m", **acute(boundsPeriod={"start": "2026-05-01", "end": "2026-05-10"}))) == \
        "acute course that ended 2026-05-10"
    assert reason(order("m", **acute(boundsPeriod={"end": "2026-06-01"}))) is None, "ends today"


@pytest.mark.parametrize(("duration", "ended"), [
    ({"value": 10, "code": "d"}, "2026-04-30"), ({"value": 10, "unit": "days"}, "2026-04-30"),
    ({"value": 2, "code": "wk"}, "2026-05-04"), ({"value": 1, "unit": "Month"}, "2026-05-20"),
    ({"value": 1, "code": "a"}, None), ({"value": 36, "code": "h"}, "2026-04-21"),
    ({"value": 10, "code": "d", "unit": "weeks"}, "2026-04-30"),  # the UCUM code wins over the unit's text
])
def test_an_acute_course_of_a_duration_ends_that_long_after_the_order(duration: dict[str, Any],
                                                                     ended: str | None) -> None:
    med = order("m", "2026-04-20T09:00:00Z", **acute(boundsDuration=duration))
    assert reason(med) == (f"acute course that ended {ended}" if ended else None)


def test_a_course_without_a_readable_end_is_not_judged_by_it() -> None:
    assert reason(order("m", **acute(boundsDuration={"value": 3, "unit": "fortnights"}))) is None
    assert reason(order("m", **acute(boundsDuration={"value": "3", "code": "d"}))) is None
    assert reason(order("m", authored="", **acute(boundsDuration={"value": 3, "code": "d"}))) is None
    assert reason(order("m", **acute(boundsPeriod={"end": "2026-13-45"}))) is None
    assert reason(order("m", **acute(boundsPeriod={"end": "2026-05"}))) is None


def test_only_an_acute_course_ends_by_its_bounds() -> None:
    med = order("m", **acute(boundsPeriod={"end": "2026-05-10"}))
    med["courseOfTherapyType"]["coding"][0]["code"] = "continuous"
    assert reason(med) is None


def test_the_first_dosage_with_bounds_gives_the_course_end() -> None:
    med = order("m", "2026-05-01", **acute(boundsDuration={"value": 5, "code": "d"}))
    med["dosageInstruction"].append({"timing": {"repeat": {"boundsPeriod": {"end": "2026-07-01"}}}})
    assert reason(med) == "acute course that ended 2026-05-06"


def test_a_prescription_past_its_validity_is_stale() -> None:
    med = order("m", dispenseRequest={"validityPeriod": {"start": "2025-05-01", "end": "2026-05-01T00:00:00Z"}})
    assert reason(med) == "prescription valid until 2026-05-01"
    med["dispenseRequest"]["validityPeriod"]["end"] = "2026-06-01"
    assert reason(med) is None, "valid until today"


@pytest.mark.parametrize(("repeats", "ran_out"), [(None, "2026-01-31"), (0, "2026-01-31"), (2, "2026-04-01"),
                                                  (-1, "2026-01-31"), ("2", "2026-01-31")])
def test_a_supply_that_ran_out_with_its_refills_is_stale(repeats: Any, ran_out: str) -> None:
    dispense = {"validityPeriod": {"start": "2026-01-01T10:00:00Z"},
                "expectedSupplyDuration": {"value": 30, "unit": "days"}, "numberOfRepeatsAllowed": repeats}
    assert reason(order("m", "2025-12-01", dispenseRequest=dispense)) == f"supply ran out {ran_out} (no newer order)"


def test_a_supply_counts_from_the_order_when_the_prescription_has_no_start() -> None:
    dispense = {"expectedSupplyDuration": {"value": 30, "code": "d"}, "numberOfRepeatsAllowed": 1}
    assert reason(order("m", "2026-03-01", dispenseRequest=dispense)) == "supply ran out 2026-04-30 (no newer order)"
    assert reason(order("m", "2026-04-05", dispenseRequest=dispense)) is None, "runs out 2026-06-04"
    assert reason(order("m", "2026-04-02", dispenseRequest=dispense)) is None, "runs out today"
    assert reason(order("m", "", dispenseRequest=dispense)) is None


def test_a_reason_found_first_is_the_one_given() -> None:
    med = order("m", encounter={"reference": "Encounter/stay"},
                dispenseRequest={"validityPeriod": {"end": "2026-01-01"}}, **acute(boundsPeriod={"end": "2026-02-01"}))
    assert reason(med, [encounter("stay")], {"deceasedBoolean": True}) == "the patient is deceased"
    assert reason(med, [encounter("stay")]) == "inpatient order of a stay that ended 2026-05-03"
    assert reason(med) == "acute course that ended 2026-02-01"
    del med["courseOfTherapyType"]
    assert reason(med) == "prescription valid until 2026-01-01"


def test_odd_shapes_do_not_make_an_order_stale() -> None:
    med = order("m", dispenseRequest="30 days", dosageInstruction=["bid", None, {"timing": "daily"}],
                courseOfTherapyType={"coding": ["acute", {"code": ""}, {"code": "acute"}]}, category="inpatient")
    assert reason(med) is None
    med = order("m", "2026-05-20", encounter="Encounter/stay", dosageInstruction=[{"timing": {"repeat": "daily"}}, {
        "timing": {"repeat": {"boundsPeriod": "5 days"}}}], courseOfTherapyType=acute()["courseOfTherapyType"],
                dispenseRequest={"validityPeriod": "2026", "expectedSupplyDuration": {"value": 30, "code": "d"}})
    assert reason(med, [encounter("stay")]) is None
    stay = order("m", encounter={"reference": "Encounter/stay"})
    assert reason(stay, [encounter("stay", end=None, status="in-progress") | {"period": "2026"}]) is None
    assert reason(order("m", encounter={"reference": "#stay"}), [encounter("stay")]) is None, "a contained one"
    assert reason(order("m", dispenseRequest={"validityPeriod": {"end": 20260101}})) is None, "a date is text"
