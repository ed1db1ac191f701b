"""Medication currency (docs/medication-currency.md), one clinical case at a time: which active orders a patient
is taking now, which are likely stale and why, and how orders group into drugs. TODAY is fixed; every date is
written out, so each case reads as the chart would."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest

from epic_mcp.answers.medications import (
    LONG_TERM_GRACE_DAYS,
    classify,
    drug_key,
    drug_name,
    group_by_drug,
    judge,
    normalised_name,
    order_kind,
)

TODAY = date(2026, 6, 1)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
COURSE = "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy"


def order(oid: str, drug: str = "metformin 500 MG Oral Tablet", rxnorm: str | None = "860975", *,
          written: str = "2026-05-01", course: str | None = None, category: str | None = None,
          supply_days: int | None = None, refills: int | None = None, valid_until: str | None = None,
          stop: str | None = None, bounds_days: int | None = None, prn: bool = False, once: str | None = None,
          encounter: str | None = None, status: str = "active") -> dict[str, Any]:
    """A MedicationRequest shaped as Epic sends one (category and course as codings, the supply in the dispense
    request, the bounds and PRN flag in the dosage)."""
    codings = [{"system": RXNORM, "code": rxnorm, "display": drug}] if rxnorm else []
    repeat: dict[str, Any] = {"frequency": 1, "period": 1, "periodUnit": "d"}
    if stop:
        repeat["boundsPeriod"] = {"start": written, "end": stop}
    if bounds_days:
        repeat["boundsDuration"] = {"value": bounds_days, "unit": "day", "system": "http://unitsofmeasure.org",
                                    "code": "d"}
    timing: dict[str, Any] = {"repeat": repeat}
    if once == "count":
        timing = {"repeat": {"count": 1}}
    elif once == "code":
        timing = {"code": {"text": "Once"}}
    dispense: dict[str, Any] = {"validityPeriod": {"start": written, **({"end": valid_until} if valid_until else {})}}
    if supply_days is not None:
        dispense["expectedSupplyDuration"] = {"value": supply_days, "unit": "Day", "system": "http://unitsofmeasure.org",
                                              "code": "d"}
    if refills is not None:
        dispense["numberOfRepeatsAllowed"] = refills
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest", "id": oid, "status": status, "intent": "order",
        "medicationCodeableConcept": {"coding": codings, "text": drug}, "authoredOn": written,
        "dispenseRequest": dispense,
        "dosageInstruction": [{"text": "as directed", "timing": timing, "asNeededBoolean": prn}]}
    if course:
        resource["courseOfTherapyType"] = {"coding": [{"system": COURSE, "code": course}]}
    if category:
        resource["category"] = [{"coding": [{"system": CATEGORY, "code": category}], "text": category.capitalize()}]
    if encounter:
        resource["encounter"] = {"reference": f"Encounter/{encounter}"}
    return resource


def stay(eid: str, *, start: str = "2026-05-20T08:00:00Z", end: str | None = "2026-05-24T11:00:00Z",
         status: str = "finished", klass: str = "IMP") -> dict[str, Any]:
    period = {"start": start, **({"end": end} if end else {})}
    return {"resourceType": "Encounter", "id": eid, "status": status, "class": {"code": klass}, "period": period}


def edited(resource: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The order with elements set at paths written with dots ('dispenseRequest.validityPeriod.start'); a value of
    None removes the element."""
    for path, value in changes.items():
        *parents, last = path.split(".")
        at = resource
        for key in parents:
            at = at[int(key)] if isinstance(at, list) else at.setdefault(key, {})
        if value is None:
            at.pop(last, None)
        else:
            at[last] = value
    return resource


def supply(value: Any, **unit: str) -> dict[str, Any]:
    return {"value": value, **unit}


@dataclass
class Case:
    story: str
    order: dict[str, Any]
    current: bool
    says: str = ""  # words the reason (stale) or caveat (current) holds; "" for a current order with no caveat
    stays: list[dict[str, Any]] = field(default_factory=list)
    patient: dict[str, Any] | None = None
    whole: bool = False  # `says` is the whole reason, word for word


CASES = [
    Case("chronic metformin, 30 days with 3 refills from April: supply lasts to the end of July",
         order("m1", course="continuous", category="community", written="2026-04-01", supply_days=30, refills=3),
         True),
    Case("chronic amlodipine, one 30-day fill from 25 April: the refill is a week late",
         order("a1", "amlodipine 5 MG Oral Tablet", "197361", course="continuous", category="community",
               written="2026-04-25", supply_days=30),
         True, "refill overdue: its supply (30 days from 2026-04-25) ran out 2026-05-25, within the 90-day grace"),
    Case("chronic atorvastatin, last filled November: the refill is six months late",
         order("s1", "atorvastatin 40 MG Oral Tablet", "617310", course="continuous", category="community",
               written="2025-11-01", supply_days=30),
         False, "long-term therapy: its supply (30 days from 2025-11-01) ran out 2025-12-01, and the 90-day grace "
                "period for a late refill has passed"),
    Case("chronic drug whose supply ran out exactly 90 days ago: the last day of grace",
         order("g1", course="continuous", written="2026-02-01", supply_days=30), True, "ran out 2026-03-03"),
    Case("chronic drug whose supply ran out 91 days ago: grace has passed",
         order("g2", course="continuous", written="2026-01-31", supply_days=30), False, "ran out 2026-03-02"),
    Case("chronic drug filled for 120 days, ran out 100 days ago: its grace is one fill's supply, 120 days",
         order("g3", course="continuous", written="2025-10-24", supply_days=120), True,
         "ran out 2026-02-21, within the 120-day grace period"),
    Case("Epic's real lisinopril order of 2019 (30 days, 11 refills), never renewed",
         order("l1", "lisinopril (PRINIVIL,ZESTRIL) 5 MG tablet", None, course="continuous", category="community",
               written="2019-04-29", supply_days=30, refills=11),
         False, "its supply (30 days and 11 refills from 2019-04-29) ran out 2020-04-23"),
    Case("acute amoxicillin for 10 days from 1 May: the course is over",
         order("x1", "amoxicillin 500 MG Oral Capsule", "308191", course="acute", written="2026-05-01",
               bounds_days=10),
         False, "short course: its dosage was to stop 2026-05-11"),
    Case("acute amoxicillin for 10 days from 28 May: still being taken",
         order("x2", "amoxicillin 500 MG Oral Capsule", "308191", course="acute", written="2026-05-28",
               bounds_days=10),
         True),
    Case("acute prednisone burst with a 5-day supply from 20 May and no stated stop",
         order("p1", "prednisone 20 MG Oral Tablet", "312617", course="acute", written="2026-05-20", supply_days=5),
         False, "short course: its supply (5 days from 2026-05-20) ran out 2026-05-25"),
    Case("acute course whose dosage says to stop on 10 May, though its supply would last longer",
         order("x3", course="acute", written="2026-05-01", stop="2026-05-10", supply_days=30),
         False, "its dosage was to stop 2026-05-10"),
    Case("albuterol inhaler as needed, written in October with a 30-day supply",
         order("r1", "albuterol 90 MCG/ACTUAT inhaler", "745679", prn=True, written="2025-10-01", supply_days=30),
         True),
    Case("albuterol as needed, written 14 months ago and never renewed",
         order("r2", "albuterol 90 MCG/ACTUAT inhaler", "745679", prn=True, written="2025-04-01", supply_days=30),
         False, "as-needed order: written 2025-04-01 and not renewed; a prescription is valid a year at most, "
                "until 2026-04-01"),
    Case("ondansetron as needed whose prescription expired in May",
         order("r3", "ondansetron 4 MG Oral Tablet", "312086", prn=True, written="2026-03-01",
               valid_until="2026-05-15"),
         False, "as-needed order: its prescription was valid until 2026-05-15"),
    Case("one dose of ceftriaxone last week (timing count 1)",
         order("o1", "ceftriaxone 1000 MG Injection", "1665021", once="count", written="2026-05-25"),
         False, "one-time order for 2026-05-25"),
    Case("one dose given today, as Epic writes it (timing code 'Once')",
         order("o2", "ketorolac 30 MG/ML Injectable Solution", "1665461", once="code", written="2026-06-01"),
         True),
    Case("Epic 'Once' order of March",
         order("o3", "ketorolac 30 MG/ML Injectable Solution", "1665461", once="code", written="2026-03-02"),
         False, "one-time order for 2026-03-02"),
    Case("heparin in hospital, the patient still admitted",
         order("h1", "heparin 5000 UNT/ML Injectable Solution", "1361615", category="inpatient",
               encounter="now", course="acute", written="2026-05-29"),
         True, "inpatient order of a stay still going",
         stays=[stay("now", start="2026-05-28T20:00:00Z", end=None, status="in-progress")]),
    Case("vancomycin given in a stay that ended on 24 May",
         order("v1", "vancomycin 1000 MG Injection", "1807627", category="inpatient", encounter="s1",
               written="2026-05-21"),
         False, "inpatient order of a stay that ended 2026-05-24", stays=[stay("s1")]),
    Case("an uncategorised order written during an inpatient stay that has ended",
         order("v2", "cefazolin 1000 MG Injection", "1665050", encounter="s1", written="2026-05-21"),
         False, "inpatient order of a stay that ended 2026-05-24", stays=[stay("s1")]),
    Case("a home medicine (community order) continued during a stay: it outlives the stay",
         order("c1", course="continuous", category="community", encounter="s1", written="2026-05-21",
               supply_days=90),
         True, stays=[stay("s1")]),
    Case("discharge prescription of 24 May for 14 days of apixaban",
         order("d1", "apixaban 5 MG Oral Tablet", "1364445", category="discharge", course="acute", encounter="s1",
               written="2026-05-24", supply_days=14),
         True, stays=[stay("s1")]),
    Case("discharge prescription of April for 14 days: over",
         order("d2", "apixaban 5 MG Oral Tablet", "1364445", category="discharge", course="acute", encounter="s0",
               written="2026-04-01", supply_days=14),
         False, "short course: its supply (14 days from 2026-04-01) ran out 2026-04-15",
         stays=[stay("s0", start="2026-03-25T08:00:00Z", end="2026-04-01T10:00:00Z")]),
    Case("every order of a patient who has died",
         order("z1", course="continuous", written="2026-05-01", supply_days=90), False,
         "the patient died 2026-03-01", patient={"resourceType": "Patient", "deceasedDateTime": "2026-03-01"}),
    Case("course not stated, but refills allowed (maintenance): three weeks late",
         order("u1", written="2026-03-12", supply_days=30, refills=1), True,
         "refill overdue: its supply (30 days and 1 refill from 2026-03-12) ran out 2026-05-11"),
    Case("course not stated, a 7-day supply in April and no refills",
         order("u2", "cephalexin 500 MG Oral Capsule", "309114", written="2026-04-02", supply_days=7), False,
         "order: its supply (7 days from 2026-04-02) ran out 2026-04-09"),
    Case("nothing but the date written, three months ago (a hand-made order)",
         order("n1", written="2026-03-01"), True),
    Case("nothing but the date written, two years ago",
         order("n2", written="2024-05-01"), False,
         "order: written 2024-05-01 with no end, supply or renewal; a prescription is valid a year at most, "
         "until 2025-05-01"),
    Case("seasonal fluticasone nasal spray written in March",
         order("f1", "fluticasone 50 MCG/ACTUAT Nasal Spray", "1797907", course="seasonal", written="2026-03-01",
               supply_days=30),
         True),
    Case("short course whose prescription was never filled before it expired",
         order("e1", "nitrofurantoin 100 MG Oral Capsule", "1648755", course="acute", written="2026-04-01",
               valid_until="2026-04-30"),
         False, "short course: its prescription was valid until 2026-04-30"),
    Case("a patient recorded as deceased with no date: every order set apart",
         order("z2", course="continuous", written="2026-05-01", supply_days=90), False,
         "the patient is deceased", patient={"resourceType": "Patient", "deceasedBoolean": True}, whole=True),
    Case("a patient recorded as not deceased: her orders are judged as anyone's",
         order("z3", course="continuous", written="2026-05-01", supply_days=90), True,
         patient={"resourceType": "Patient", "deceasedBoolean": False}),
    Case("an inpatient order of a stay marked finished with no end date",
         order("v3", "vancomycin 1000 MG Injection", "1807627", category="inpatient", encounter="s2",
               written="2026-05-21"),
         False, "inpatient order of a stay that ended (date not given)", stays=[stay("s2", end=None)], whole=True),
    Case("an inpatient order of a stay still marked in progress whose end date has passed",
         order("v4", "vancomycin 1000 MG Injection", "1807627", category="inpatient", encounter="s3",
               written="2026-05-21"),
         False, "inpatient order of a stay that ended 2026-05-24", stays=[stay("s3", status="in-progress")]),
    Case("an inpatient order of a stay ending today: it still runs",
         order("v5", "heparin 5000 UNT/ML Injectable Solution", "1361615", category="inpatient", encounter="s4",
               written="2026-05-29"),
         True, "inpatient order of a stay still going",
         stays=[stay("s4", end="2026-06-01T18:00:00Z", status="in-progress")], whole=True),
    Case("an inpatient order in an encounter whose class is not a stay's (a hospital outpatient visit)",
         order("v6", "ondansetron 4 MG/2ML Injection", "1740467", category="inpatient", encounter="h1",
               written="2026-05-21"),
         False, "inpatient order of a stay that ended 2026-05-24", stays=[stay("h1", klass="HOV")]),
    Case("an uncategorised order written at an office visit outlives the visit",
         order("c2", course="continuous", encounter="a1", written="2026-05-21", supply_days=90),
         True, stays=[stay("a1", klass="AMB")]),
    Case("an inpatient order naming its stay by absolute URL",
         order("v7", "vancomycin 1000 MG Injection", "1807627", category="inpatient", written="2026-05-21",
               encounter="s1") | {"encounter": {"reference": "https://fhir.example.org/api/FHIR/R4/Encounter/s1"}},
         False, "inpatient order of a stay that ended 2026-05-24", stays=[stay("s1")]),
    Case("an order whose encounter reference names no type (a local '#' reference) is judged by its dates",
         order("c3", course="continuous", category="inpatient", written="2026-05-21", supply_days=90)
         | {"encounter": {"reference": "#visit"}},
         True, stays=[stay("s1")]),
    Case("a prescription valid from later than written: its supply counts from when it became valid",
         edited(order("w1", course="continuous", written="2026-02-01", supply_days=30),
                **{"dispenseRequest.validityPeriod.start": "2026-05-01"}),
         True, "refill overdue: its supply (30 days from 2026-05-01) ran out 2026-05-31"),
    Case("an order with no validity period: its supply counts from the day written",
         edited(order("w2", course="continuous", written="2025-11-01", supply_days=30),
                **{"dispenseRequest.validityPeriod": None}),
         False, "its supply (30 days from 2025-11-01) ran out 2025-12-01"),
    Case("a one-time dose scheduled for later this week",
         edited(order("o4", "ceftriaxone 1000 MG Injection", "1665021", once="count", written="2026-05-20"),
                **{"dosageInstruction.0.timing.repeat.boundsPeriod": {"start": "2026-06-03"}}),
         True),
    Case("a one-time order coded 'ONCE' under a frequency text of its own",
         edited(order("o5", "ketorolac 30 MG/ML Injectable Solution", "1665461", written="2026-03-02"),
                **{"dosageInstruction.0.timing": {"code": {"text": "Give in clinic", "coding": [{"code": "ONCE"}]}}}),
         False, "one-time order for 2026-03-02"),
    Case("an order with no date, supply or end at all",
         edited(order("n3"), **{"authoredOn": None, "dispenseRequest": None}),
         True, "no end date, supply or date written on the order: current by its status only", whole=True),
    Case("a short course whose last day is today",
         order("x4", "amoxicillin 500 MG Oral Capsule", "308191", course="acute", written="2026-05-22",
               stop="2026-06-01"),
         True),
    Case("chronic drug, 30 days and 2 refills from January: the refill is six weeks late",
         order("m2", course="continuous", written="2026-01-20", supply_days=30, refills=2), True,
         "refill overdue: its supply (30 days and 2 refills from 2026-01-20) ran out 2026-04-20, within the 90-day "
         "grace period for long-term therapy", whole=True),
    Case("long-term order with no supply, written 14 months ago: a year's validity, then the grace period",
         order("m3", course="continuous", written="2025-04-01"), True,
         "refill overdue: written 2025-04-01 with no end, supply or renewal; a prescription is valid a year at most, "
         "until 2026-04-01, within the 90-day grace period for long-term therapy", whole=True),
    Case("a two-week supply written in weeks",
         edited(order("u3", "cephalexin 500 MG Oral Capsule", "309114", written="2026-05-01"),
                **{"dispenseRequest.expectedSupplyDuration": supply(2, unit="weeks", code="wk")}),
         False, "order: its supply (14 days from 2026-05-01) ran out 2026-05-15"),
    Case("a supply whose unit is spelled 'day(s)' but coded in UCUM",
         edited(order("u4", course="continuous", written="2026-03-01"),
                **{"dispenseRequest.expectedSupplyDuration": supply(30, unit="day(s)", code="d")}),
         True, "refill overdue: its supply (30 days from 2026-03-01) ran out 2026-03-31"),
    Case("a supply with a unit but no code",
         edited(order("u5", course="continuous", written="2026-03-01"),
                **{"dispenseRequest.expectedSupplyDuration": supply(30, unit="days")}),
         True, "refill overdue: its supply (30 days from 2026-03-01) ran out 2026-03-31"),
    Case("a supply counted in tablets says nothing of days: judged by the day written",
         edited(order("u6", written="2025-05-01"),
                **{"dispenseRequest.expectedSupplyDuration": supply(60, unit="tablets")}),
         False, "written 2025-05-01 with no end, supply or renewal"),
    Case("a supply whose value is sent as text is not read as a number",
         edited(order("u7", written="2025-05-01"),
                **{"dispenseRequest.expectedSupplyDuration": supply("30", code="d")}),
         False, "written 2025-05-01 with no end, supply or renewal"),
    Case("a date written sent as a number is not read as a date",
         edited(order("n4", written="2025-05-01"), **{"authoredOn": 20250501, "dispenseRequest": None}),
         True, "no end date, supply or date written on the order: current by its status only", whole=True),
    Case("a course coded twice, first by Epic's own code system with no code: still continuous",
         order("k1", course="continuous", written="2026-04-25", supply_days=10)
         | {"courseOfTherapyType": {"coding": [
             {"system": "urn:oid:1.2.840.114350.1.13.0.1.7.4.698084.10", "display": "Continuous long term therapy"},
             {"system": COURSE, "code": "continuous"}]}},
         True, "refill overdue: its supply (10 days from 2026-04-25) ran out 2026-05-05"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.story for c in CASES])
def test_each_clinical_case_is_judged_as_a_clinician_would(case: Case) -> None:
    verdict = judge(case.order, {s["id"]: s for s in case.stays}, case.patient, TODAY)
    assert verdict.current is case.current
    assert case.says in verdict.reason if case.says else verdict.reason == ""
    if case.whole:
        assert verdict.reason == case.says
    assert verdict.current or verdict.reason, "every stale verdict keeps its reason"


def test_there_are_at_least_25_written_out_cases() -> None:
    assert len(CASES) >= 25 and len({c.story for c in CASES}) == len(CASES)


def test_the_grace_period_is_the_documented_90_days() -> None:
    assert LONG_TERM_GRACE_DAYS == 90


@pytest.mark.parametrize(("extra", "kind"), [
    ({"course": "continuous"}, "long-term"), ({"course": "acute"}, "short course"), ({"course": "seasonal"},
                                                                                        "seasonal"),
    ({"prn": True, "course": "continuous"}, "as-needed"), ({"once": "count"}, "one-time"),
    ({"once": "count", "refills": 2}, "long-term"), ({"supply_days": 28}, "long-term"), ({"refills": 1},
                                                                                          "long-term"),
    ({"supply_days": 10}, "unstated"), ({}, "unstated"),
])
def test_the_kind_of_an_order_comes_from_its_course_dosage_and_supply(extra: dict[str, Any], kind: str) -> None:
    assert order_kind(order("k", **extra)) == kind


# Drugs: grouping orders ---------------------------------------------------------------------------------------

def test_names_keep_the_drug_and_drop_brand_strength_salt_form_and_release() -> None:
    assert {normalised_name(n) for n in ("Metformin (Glucophage)", "metformin hydrochloride 500 MG Oral Tablet",
                                         "Metformin ER", "metformin 500 MG Oral Tablet")} == {"metformin"}
    assert normalised_name("lisinopril-hydroCHLOROthiazide (PRINZIDE,ZESTORETIC) 10") == \
        "hydrochlorothiazide+lisinopril"
    assert normalised_name("Amoxicillin / Clavulanate (Augmentin)") == normalised_name("amoxicillin-clavulanate")
    assert normalised_name("potassium chloride 20 MEQ") == "potassium chloride", "a salt that is the drug stays"
    assert normalised_name("vitamin B12 1000 MCG") == "vitamin b12"


def test_orders_of_one_drug_group_by_rxnorm_code_whatever_their_text() -> None:
    groups = group_by_drug([order("a", "Glucophage", "860975"), order("b", "GLUCOPHAGE XR 750", "860975")])
    assert [[o["id"] for o in g] for g in groups] == [["a", "b"]]


def test_an_order_naming_its_drug_only_in_a_reference_groups_with_the_coded_ones_by_name() -> None:
    hand_made = {"resourceType": "MedicationRequest", "id": "h", "status": "active", "authoredOn": "2026-05-20",
                 "medicationReference": {"reference": "Medication/med-metformin",
                                         "display": "metformin 500 MG Oral Tablet"}}
    coded = order("c", "Metformin (Glucophage)", "6809")
    assert [[o["id"] for o in g] for g in group_by_drug([hand_made, coded])] == [["h", "c"]]


def test_a_combination_is_another_drug_than_one_of_its_parts() -> None:
    groups = group_by_drug([order("l", "lisinopril 10 MG Oral Tablet", "314076"),
                            order("lh", "lisinopril 10 MG / hydrochlorothiazide 12.5 MG Oral Tablet", "197885")])
    assert len(groups) == 2


def test_the_inventory_key_of_an_order_is_its_rxnorm_code_else_its_name() -> None:
    assert drug_key(order("a")) == "rxnorm:860975"
    assert drug_key(order("b", "Metformin 500 MG", None)) == "name:metformin"


def referencing(oid: str, reference: dict[str, Any], contained: list[dict[str, Any]] | None = None
                ) -> dict[str, Any]:
    """A hand-made order naming its drug through medicationReference (and, for a '#id', a contained Medication)."""
    return {"resourceType": "MedicationRequest", "id": oid, "status": "active", "authoredOn": "2026-05-20",
            "medicationReference": reference, **({"contained": contained} if contained else {})}


CONTAINED = [{"resourceType": "Organization", "id": "org1", "name": "Pharmacy"},
             {"resourceType": "Medication", "id": "med2", "code": {
                 "coding": [{"system": RXNORM, "code": "860975", "display": "metformin 500 MG Oral Tablet"}]}}]


def test_a_contained_medication_names_the_drug_by_its_own_code() -> None:
    contained = referencing("c", {"reference": "#med2", "display": "Glucophage"}, CONTAINED)
    assert (drug_name(contained), drug_key(contained)) == ("metformin 500 MG Oral Tablet", "rxnorm:860975")
    assert len(group_by_drug([contained, order("m", "Metformin", "860975")])) == 1


def test_a_reference_to_a_contained_medication_that_is_missing_falls_back_to_its_display() -> None:
    missing = referencing("x", {"reference": "#med9", "display": "metformin 500 MG Oral Tablet"}, CONTAINED)
    assert (drug_name(missing), drug_key(missing)) == ("metformin 500 MG Oral Tablet", "name:metformin")


def test_a_reference_with_only_a_display_names_the_drug() -> None:
    assert drug_name(referencing("d", {"display": "amlodipine 5 MG Oral Tablet"})) == "amlodipine 5 MG Oral Tablet"


def test_an_order_naming_no_drug_is_an_unnamed_drug_of_its_own() -> None:
    unnamed = referencing("u", {"reference": "Medication/m1"})
    assert (drug_name(unnamed), drug_key(unnamed)) == ("unnamed drug", "name:")
    [drug] = classify([unnamed], {}, None, TODAY)
    assert drug.name == "unnamed drug"


def test_a_coding_display_names_the_drug_when_the_concept_has_no_text() -> None:
    coded = order("a", rxnorm="860975")
    del coded["medicationCodeableConcept"]["text"]
    named = referencing("b", {"display": "Metformin"})
    assert len(group_by_drug([coded, named])) == 1


def test_only_rxnorm_codes_identify_a_drug_and_only_when_a_code_is_given() -> None:
    local = order("l", "metformin 500 MG Oral Tablet", None)
    local["medicationCodeableConcept"]["coding"] = [
        {"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.698288", "code": "12345"},
        {"system": RXNORM, "display": "metformin 500 MG Oral Tablet"}]
    assert drug_key(local) == "name:metformin"
    other = order("o", "amlodipine 5 MG Oral Tablet", None)
    other["medicationCodeableConcept"]["coding"] = [
        {"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.698288", "code": "12345"}]
    assert len(group_by_drug([local, other])) == 2, "a local code shared by two drugs does not join them"


@pytest.mark.parametrize(("name", "drug"), [
    ("amoxicillin and clavulanate", "amoxicillin+clavulanate"),
    ("metformin-ER 500 MG", "metformin"),
    ("butalbital / ASA / caffeine", "asa+butalbital+caffeine"),
    ("5 MG  tablet", "5 mg tablet"),
])
def test_a_name_splits_at_and_drops_two_letter_leftovers_and_keeps_text_with_no_drug_word(name: str,
                                                                                           drug: str) -> None:
    assert normalised_name(name) == drug


# Drugs: current or stale, never both ----------------------------------------------------------------------------

def test_the_same_drug_on_an_old_stale_order_and_a_new_current_one_is_current_once() -> None:
    old = order("old", written="2025-01-10", course="continuous", supply_days=30)
    new = order("new", written="2026-05-10", course="continuous", supply_days=30)
    [drug] = classify([old, new], {}, None, TODAY)
    assert (drug.current, drug.order["id"], len(drug.orders)) == (True, "new", 2)
    assert [v.current for v in drug.verdicts] == [True, False], "each order keeps its own verdict"


def test_a_drug_shows_its_newest_current_order_even_when_a_newer_one_is_stale() -> None:
    home = order("home", course="continuous", category="community", written="2026-05-01", supply_days=90)
    in_stay = order("in-stay", category="inpatient", encounter="s1", written="2026-05-21")
    [drug] = classify([in_stay, home], {"s1": stay("s1")}, None, TODAY)
    assert (drug.current, drug.order["id"], drug.verdict.reason) == (True, "home", "")


def test_a_stopped_order_restarted_is_current_by_the_new_order_and_the_stopped_one_is_not_an_active_order() -> None:
    stopped = order("stopped", written="2025-06-01", course="continuous", supply_days=30, status="stopped")
    restarted = order("restarted", written="2026-05-15", course="continuous", supply_days=30)
    [drug] = classify([stopped, restarted], {}, None, TODAY)
    assert (drug.current, [o["id"] for o in drug.orders]) == (True, ["restarted"])


def test_no_drug_is_in_both_lists_and_every_stale_drug_says_why() -> None:
    orders = [case.order for case in CASES if case.patient is None]
    stays = {s["id"]: s for case in CASES for s in case.stays}
    drugs = classify(orders, stays, None, TODAY)
    keys = [frozenset(k for o in d.orders for k in (drug_key(o),)) for d in drugs]
    assert all(not (a & b) for i, a in enumerate(keys) for b in keys[i + 1:]), "a drug is one group"
    assert all(d.verdict.reason for d in drugs if not d.current)
    names = [normalised_name(d.name) for d in drugs]
    assert len(names) == len(set(names))


def test_only_active_orders_are_judged() -> None:
    assert classify([order("c", status="completed"), order("d", status="draft")], {}, None, TODAY) == []
