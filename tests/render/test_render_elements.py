"""Each renderer of a backbone element or datatype, whole: which field holds which fact, what a partial element
keeps, and that a malformed one (a string where an object belongs) is left out instead of breaking the record."""

from __future__ import annotations

from typing import Any

import pytest

from epic_mcp.render.datatypes import (
    addresses,
    code_only,
    coding,
    concepts,
    extension_value,
    human_name,
    identifiers,
    money,
    notes,
    period,
    reference,
    reference_ranges,
    references,
    telecoms,
    texts,
    untrusted,
)
from epic_mcp.render.elements import (
    attachments,
    care_plan_activities,
    coverage_classes,
    dosages,
    doses_applied,
    issued_if_later,
    participants,
    provisions,
    reactions,
    timing,
)
from epic_mcp.render.terminology import system_label
from epic_mcp.render.text import item_lines

R: dict[str, Any] = {}


def u(value: float, code: str) -> dict[str, Any]:
    return {"value": value, "system": "http://unitsofmeasure.org", "code": code}


@pytest.mark.parametrize(("value", "words"), [
    ({"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}, "2 time(s) per day"),
    ({"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk"}}, "1 time(s) per week"),
    ({"repeat": {"frequency": 1, "period": 2, "periodUnit": "wk"}}, "1 time(s) every 2 week"),
    ({"repeat": {"frequency": 3, "frequencyMax": 4, "period": 1, "periodUnit": "d"}}, "3-4 time(s) per day"),
    ({"repeat": {"frequency": 1, "period": 4, "periodMax": 6, "periodUnit": "h"}}, "1 time(s) every 4-6 hour"),
    ({"repeat": {"frequency": 1, "period": 1, "periodMax": 1, "periodUnit": "mo"}}, "1 time(s) every 1 month"),
    ({"repeat": {"period": 8, "periodUnit": "h"}}, "1 time(s) every 8 hour"),
    ({"repeat": {"frequency": 1, "period": 1, "periodUnit": "fortnight"}}, "1 time(s) per fortnight"),
    ({"repeat": {"frequency": 1, "period": 1, "periodUnit": "s"}}, "1 time(s) per second"),
    ({"repeat": {"frequency": 1, "period": 1, "periodUnit": "min"}}, "1 time(s) per minute"),
    ({"repeat": {"frequency": 1, "period": 1, "periodUnit": "a"}}, "1 time(s) per year"),
    ({"repeat": {"dayOfWeek": ["mon", "thu"], "timeOfDay": ["09:00:00", "21:30:00"]}}, "on mon, thu; at 09:00, 21:30"),
    ({"repeat": {"when": ["ACM", "HS"], "offset": 30}}, "at ACM, HS 30 min"),
    ({"repeat": {"when": ["C"], "offset": 0}}, "at C"),
    ({"repeat": {"duration": 30, "durationUnit": "min"}}, "lasting 30 minute"),
    ({"repeat": {"duration": 1, "durationMax": 2, "durationUnit": "h"}}, "lasting 1-2 hour"),
    ({"repeat": {"duration": 5, "durationUnit": "x"}}, "lasting 5 x"),
    ({"repeat": {"duration": 5}}, "lasting 5"),
    ({"repeat": {"count": 10}}, "10 doses"),
    ({"repeat": {"count": 0}}, "0 doses"),
    ({"repeat": {"count": 3, "countMax": 5}}, "3-5 doses"),
    ({"repeat": {"count": 3, "countMax": 3}}, "3 doses"),
    ({"repeat": {"boundsPeriod": {"start": "2019-04-29", "end": "2019-05-29"}}}, "2019-04-29 to 2019-05-29"),
    ({"repeat": {"boundsRange": {"low": u(1, "d"), "high": u(7, "d")}}}, "1-7 d"),
    ({"repeat": {"boundsDuration": u(10, "d")}}, "for 10 d"),
    ({"code": {"text": "BID"}}, "BID"),
    ({"code": {"coding": [{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.4.798268.300", "code": "0900",
                           "display": "0900"}]},
      "repeat": {"timeOfDay": ["09:00:00"], "count": 365, "boundsPeriod": {"start": "2019-04-29"}}},
     "0900 (at 09:00; 365 doses; from 2019-04-29)"),
    ({"repeat": "junk"}, None), ({"repeat": {}}, None), ("junk", None),
])
def test_a_timing_in_words(value: Any, words: str | None) -> None:
    assert timing(value) == words


def test_dosages_keep_each_dose_with_its_kinds_the_rate_and_the_maximum() -> None:
    assert dosages([{"text": "1 tab BID", "timing": {"code": {"text": "BID"}}, "asNeededBoolean": True,
                     "route": {"text": "Oral"}, "method": {"text": "Swallow"},
                     "doseAndRate": [{"type": {"text": "Ordered"}, "doseQuantity": u(1, "{tbl}")},
                                     {"type": {"text": "Calculated"}, "doseQuantity": u(1, "{tbl}")},
                                     {"doseRange": {"low": u(1, "mg"), "high": u(2, "mg")}},
                                     {"rateRatio": {"numerator": u(5, "mL"), "denominator": u(1, "h")}}, "junk"],
                     "patientInstruction": "with food"}], R) == [
        {"text": "1 tab BID", "timing": "BID", "as_needed": True, "route": "Oral", "method": "Swallow",
         "dose": ["1 {tbl} (Ordered, Calculated)", "1-2 mg"], "rate": ["5 mL / 1 h"],
         "patient_instruction": {"patient_text": "with food"}}]
    assert dosages([{"asNeededCodeableConcept": {"text": "for pain"},
                     "maxDosePerPeriod": {"numerator": u(4, "g"), "denominator": u(1, "d")}}, "junk", {}], R) == [
        {"as_needed": "for pain", "max_dose": "4 g / 1 d"}]
    assert dosages([{"doseAndRate": [{"rateQuantity": u(2, "mL/h")},
                                     {"rateRange": {"low": u(1, "mL/h"), "high": u(3, "mL/h")}}]}], R) == [
        {"rate": ["2 mL/h", "1-3 mL/h"]}]
    assert dosages("junk", R) is None


def test_care_plan_activities_keep_detail_schedule_and_references() -> None:
    assert care_plan_activities([
        {"detail": {"code": {"text": "A1c"}, "status": "scheduled", "description": "every 3 months",
                    "scheduledPeriod": {"start": "2026-01-01"}}},
        {"detail": {"scheduledString": "weekly"}},
        {"reference": {"reference": "ServiceRequest/s1", "display": "Lab order"}}, {"detail": {}}, "junk"], R) == [
        {"code": "A1c", "status": "scheduled", "description": {"patient_text": "every 3 months"},
         "scheduled": "from 2026-01-01"},
        {"scheduled": "weekly"}, {"reference": "Lab order (ServiceRequest/s1)"}]
    assert care_plan_activities("junk", R) is None


def test_participants_are_one_entry_per_person_with_every_role() -> None:
    assert participants([
        {"actor": {"reference": "Practitioner/d1", "display": "Dr A"}, "status": "accepted",
         "type": [{"text": "attender"}]},
        {"individual": {"reference": "Practitioner/d1", "display": "Dr A"}, "status": "accepted",
         "type": [{"text": "admitter"}, {"text": "attender"}]},
        {"member": {"display": "Nurse B"}, "role": [{"text": "Nurse"}]},
        {"who": {"reference": "Organization/o1"}, "function": {"text": "custodian"}},
        {"actor": {"reference": "Practitioner/d2"},
         "extension": [{"url": "http://open.epic.com/FHIR/StructureDefinition/extension/specialty",
                        "valueCodeableConcept": {"text": "Cardiology"}}, {"url": "x/other", "valueString": "no"}]},
        {"type": [{"text": "nobody"}]}, "junk"], R) == [
        "Dr A (Practitioner/d1) [accepted] as attender, admitter", "Nurse B as Nurse", "Organization/o1 as custodian",
        "Practitioner/d2 as specialty Cardiology"]
    assert participants("junk", R) is None


def test_attachments_say_where_content_is_never_the_content() -> None:
    assert attachments([
        {"attachment": {"contentType": "text/html", "title": "Note", "size": 120, "creation": "2026-01-01",
                        "url": "Binary/b1"}},
        {"contentType": "text/plain", "data": "aGk="}, {"attachment": "junk"}, "junk", {"attachment": {}}], R) == [
        {"content_type": "text/html", "title": "Note", "size": 120, "created": "2026-01-01", "url": "Binary/b1"},
        {"content_type": "text/plain", "inline": True}]
    assert attachments("junk", R) is None


def test_reactions_doses_addresses_telecoms_and_identifiers() -> None:
    assert reactions([{"manifestation": [{"text": "Hives"}], "severity": "mild", "substance": {"text": "Penicillin"},
                       "onset": "2019", "description": "itchy"}, {}, "junk"], R) == [
        {"manifestations": ["Hives"], "severity": "mild", "substance": "Penicillin", "onset": "2019",
         "description": {"patient_text": "itchy"}}]
    assert doses_applied([{"doseNumberPositiveInt": 2, "seriesDosesPositiveInt": 2, "series": "MMR"},
                          {"doseNumberString": "booster"}, {"seriesDosesPositiveInt": 3},
                          {"doseNumberPositiveInt": 1, "seriesDosesString": "3"}, "junk"], R) == [
        "dose 2 of 2 (MMR)", "dose booster", "dose 1 of 3"]
    assert addresses([{"line": ["1 Main", "Apt 2"], "city": "Madison", "state": "WI", "postalCode": "53703",
                       "country": "US", "use": "home"}, {"text": "1 Main St, Madison"}, {}, "junk"], R) == [
        "1 Main, Apt 2, Madison, WI, 53703, US (home)", "1 Main St, Madison"]
    assert telecoms([{"system": "phone", "value": "555", "use": "work"}, {"value": "x@y"}, {"system": "email"},
                     "junk"], R) == ["phone 555 (work)", "contact x@y"]
    assert identifiers([
        {"type": {"text": "MRN"}, "value": "1"}, {"system": "http://hl7.org/fhir/sid/us-npi", "value": "2"},
        {"system": "urn:oid:9.9", "value": "3"}, {"value": "4"},
        {"system": "http://hl7.org/fhir/sid/us-ssn", "value": "5", "type": {"coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "SS",
             "display": "Social Security number"}]}},
        {"type": {"text": "EPI (internal)"}, "value": "6"}, {"type": {"text": "CSN [x]"}, "value": "7"},
        {"system": "http://hl7.org/fhir/x", "value": "8"}, {"type": {"text": "no value"}}, "junk"], R) == [
        "MRN 1", "NPI 2", "OID 9.9 3", "id 4", "Social Security number 5", "EPI 6", "CSN 7",
        "http://hl7.org/fhir/x 8"]
    for renderer in (reactions, doses_applied, addresses, telecoms, identifiers):
        assert renderer("junk", R) is None and renderer([], R) is None


def test_reference_ranges_say_their_kind_unless_normal_and_whom_they_apply_to() -> None:
    assert reference_ranges([
        {"low": u(70, "mg/dL"), "high": u(99, "mg/dL"), "type": {"text": "Normal Range"}}, {"text": "negative"},
        {"high": u(200, "mg/dL"), "type": {"text": "Therapeutic"},
         "appliesTo": [{"text": "Adult"}, {"text": "Female"}]},
        {"low": u(1, "x")}, {}, "junk"], R) == [
        "70-99 mg/dL", "negative", "<=200 mg/dL (Therapeutic) for Adult, Female", ">=1 x"]
    assert reference_ranges("junk", R) is None


def test_consent_provisions_and_coverage_classes() -> None:
    assert provisions({"type": "deny", "period": {"start": "2025"}, "action": [{"text": "access"}]}, R) == {
        "type": "deny", "period": "from 2025", "actions": ["access"]}
    assert provisions({"type": "permit"}, R) == {"type": "permit"}
    assert provisions({}, R) is None and provisions("junk", R) is None
    assert coverage_classes([{"type": {"text": "Group (employer)"}, "value": "G1", "name": "Acme"}, {"value": "P"},
                             "junk"], R) == ["Group: G1 (Acme)", "class: P"]
    assert coverage_classes([], R) is None and coverage_classes("junk", R) is None


def test_a_persons_name_is_the_official_one_whole() -> None:
    assert human_name([{"use": "usual", "given": ["Cami"], "family": "Lopez"},
                       {"use": "official", "prefix": ["Ms"], "given": ["Camila", "Maria"], "family": "Lopez",
                        "suffix": ["PhD"]}], R) == "Ms Camila Maria Lopez PhD"
    assert human_name([{"text": "Camila Lopez", "family": "X"}], R) == "Camila Lopez"
    assert human_name({"family": "Lopez"}, R) == "Lopez"
    assert human_name(["junk", {"family": "Only"}], R) == "Only"
    assert human_name([{"use": "official"}], R) is None and human_name([], R) is None
    assert human_name("junk", R) is None


def test_a_name_part_sent_as_a_lone_string_is_one_word_not_letters() -> None:
    assert human_name([{"given": "Camila", "family": "Lopez", "prefix": "Ms"}], R) == "Ms Camila Lopez"
    assert human_name([{"given": ["Camila", 7, None], "family": ["Lopez"]}], R) == "Camila Lopez"


@pytest.mark.parametrize(("system", "label"), [
    ("http://example.org/fhir/CodeSystem/my-codes", "my-codes"), ("https://terminology.example.com/ValueSet/x/", "x"),
    ("http://jlac10.example.jp/JLAC10", "JLAC10"), ("http://example.org/fhir/sid", "example.org"),
    ("http://Example.org/SID/Codes", "Codes"), ("urn:oid:1.2.3.4", "OID 1.2.3.4"),
    ("urn:oid:1.2.840.114350.1.13.0.1.7.2.707679", "Epic"), ("https://www.epic.com/codes", "Epic"),
    ("http://terminology.hl7.org/CodeSystem/v3-ActCode", None), ("http://loinc.org", "LOINC"), (None, None),
    ("", None), ("mailto:x", "mailto:x"),
])
def test_a_code_systems_short_name(system: str | None, label: str | None) -> None:
    assert system_label(system) == label


def test_a_complex_extension_is_its_parts_named() -> None:
    race = {"url": "race", "extension": [
        {"url": "ombCategory", "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2106-3",
                                               "display": "White"}},
        {"url": "text", "valueString": "White"}, {"url": "detailed", "valueQuantity": {"value": 2, "code": "mg"}},
        {"url": "empty"}, "junk"]}
    assert extension_value(race, R) == "ombCategory: White [CDC race 2106-3]; text: White; detailed: 2 mg"
    assert extension_value({"url": "x", "valueBoolean": False}, R) is False
    assert extension_value({"url": "x"}, R) is None and extension_value("junk", R) is None


@pytest.mark.parametrize(("taken", "issued", "shown"), [
    ({"effectiveDateTime": "2026-04-21T10:42:00Z"}, "2026-04-21T14:00:00Z", "14:00:00Z"),
    ({"effectiveDateTime": "2026-04-21T10:42:00Z"}, "2026-04-22T09:00:00Z", "2026-04-22T09:00:00Z"),
    ({"effectiveDateTime": "2026-04-21T10:42:00Z"}, "2026-04-21T10:42:00Z", None),
    ({"effectiveDateTime": "2026-04-21"}, "2026-04-21", None),
    ({}, "2026-04-21T14:00:00Z", "2026-04-21T14:00:00Z"),
    ({"effectivePeriod": {"start": "2026-04-21T10:00:00Z"}}, "2026-04-21T14:00:00Z", "14:00:00Z"),
    ({"effectiveInstant": "2026-04-21T14:00:00Z"}, "2026-04-21T14:00:00Z", None),
    ({}, 42, None),
])
def test_when_a_result_was_released_if_not_when_it_was_taken(taken, issued, shown) -> None:
    assert issued_if_later(issued, taken) == shown


def test_periods_and_small_datatypes() -> None:
    assert period({"start": "2026-01-01T08:00:00Z", "end": "2026-01-01"}) == "2026-01-01T08:00:00Z to 2026-01-01"
    assert period({"start": "2026-01-01T08:00:00Z", "end": "2026-01-02T08:00:00Z"}) == \
        "2026-01-01T08:00:00Z to 2026-01-02T08:00:00Z"
    assert period({"start": 1, "end": 2}) == "1 to 2" and period({}) is None and period("junk") is None
    assert texts("medication", R) == ["medication"] and texts([1, "a", None, {}], R) == [1, "a"]
    assert texts([], R) is None
    assert coding({"system": "http://loinc.org", "code": "1", "display": "X"}) == "X [LOINC 1]"
    assert coding("junk") is None
    assert references({"reference": "Patient/e1"}, R) == ["Patient/e1"]
    assert notes({"text": "n"}, R) == [{"patient_text": "n"}] and notes([{"text": 1}], R) is None
    assert untrusted("  ", R) is None and untrusted(3, R) is None
    assert concepts({"text": "one"}, R) == ["one"]
    assert code_only({"coding": [{"display": "Lab"}]}, R) == ["Lab"]
    assert code_only([{"text": "free"}, {"coding": [{"code": "x"}], "text": "no"}], R) == ["free", "x (no)"]
    assert money({"value": 5}, R) == "5" and money({"currency": "USD"}, R) is None


def test_references_show_display_and_target_and_contained_resources_by_name() -> None:
    assert reference({"identifier": {"type": {"text": "NPI"}}}, R) == "NPI"
    assert reference({"display": "Dr"}, R) == "Dr"
    assert reference({"reference": "https://x/fhir/Practitioner/d1/"}, R) == "Practitioner/d1"
    medication = {"contained": [{"resourceType": "Medication", "id": "m1", "code": {"text": "aspirin"}}]}
    assert reference({"reference": "#m1"}, medication) == "aspirin (contained Medication)"
    doctor = {"contained": [{"resourceType": "Practitioner", "id": "p1", "name": [{"family": "Doe"}]}]}
    assert reference({"reference": "#p1", "display": "Shown"}, doctor) == "Shown (contained Practitioner)"
    assert reference({"reference": "#p1"}, doctor) == "Doe (contained Practitioner)"
    clinic = {"contained": [{"resourceType": "Organization", "id": "o1", "name": "Acme"}]}
    assert reference({"reference": "#o1"}, clinic) == "Acme (contained Organization)"
    assert reference({"reference": "#zz"}, {"contained": ["junk"]}) == "#zz"


def test_fields_every_item_shares_are_said_once_and_other_types_keep_their_type() -> None:
    pair = [{"resourceType": "Condition", "id": "c1", "status": "active", "code": "A"},
            {"resourceType": "Condition", "id": "c2", "status": "active", "code": "B"}]
    assert item_lines("Condition", pair) == ["every item: status: active", "- c1 | code: A", "- c2 | code: B"]
    assert item_lines("Condition", pair[:1]) == ["- c1 | status: active | code: A"]
    mixed = [pair[0], {"resourceType": "Observation", "id": "o1", "status": "active"}]
    assert item_lines("Condition", mixed) == ["every item: status: active", "- Condition/c1 | code: A",
                                              "- Observation/o1"]


def test_a_component_keeps_its_own_flag_range_and_why_it_has_no_value() -> None:
    from epic_mcp.render.specs import compact

    panel = {"resourceType": "Observation", "id": "p1", "status": "final", "component": [
        {"code": {"text": "Systolic"}, "valueQuantity": {"value": 150, "unit": "mm[Hg]"},
         "interpretation": [{"text": "High"}], "referenceRange": [{"high": {"value": 130, "unit": "mm[Hg]"}}]},
        {"code": {"text": "Diastolic"}, "dataAbsentReason": {"text": "Not performed"}},
        {"code": {"text": "Glucose"}, "valueQuantity": {"value": 10, "unit": "mg/dL"},
         "referenceRange": [{"low": {"value": 3.9, "unit": "mmol/L"}, "high": {"value": 5.5, "unit": "mmol/L"}}]},
        "junk"]}
    assert compact(panel)["components"] == [
        {"code": "Systolic", "value": {"value": 150, "unit": "mm[Hg]"}, "interpretation": ["High"],
         "reference_range": ["<=130 mm[Hg]"]},
        {"code": "Diastolic", "data_absent": "Not performed"},
        {"code": "Glucose", "value": {"value": 10, "unit": "mg/dL"}, "reference_range": ["3.9-5.5 mmol/L"]}]
    assert "components" not in compact({**panel, "component": 5})


def test_patient_extensions_are_found_by_the_end_of_their_url() -> None:
    from epic_mcp.render.specs import compact

    patient = {"resourceType": "Patient", "id": "p2", "extension": [
        "junk", {"url": 7},
        {"url": "http://open.epic.com/FHIR/StructureDefinition/extension/legal-sex",
         "valueCodeableConcept": {"coding": [{"code": "female", "display": "Female"}]}},
        {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-sex", "valueCode": "248153007"},
        {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race", "extension": [
            {"url": "text", "valueString": "Asian"}]},
        {"url": "http://open.epic.com/FHIR/StructureDefinition/extension/calculated-pronouns-to-use-for-text",
         "valueCodeableConcept": {"text": "he/him"}},
        {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-sex", "valueCode": "248152002"}]}
    record = compact(patient)
    assert (record["legal_sex"], record["sex"], record["race"], record["pronouns"]) == (
        "Female", "Male [SNOMED 248153007]", "text: Asian", "he/him")
    assert "birth_sex" not in record and "ethnicity" not in record
    assert "sex" not in compact({**patient, "extension": [
        {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-sex"}]})


# Malformed elements: a number or an object where a list belongs is left out, never a crash --------------------

@pytest.mark.parametrize("renderer", [identifiers, telecoms, addresses, dosages, doses_applied, attachments,
                                      participants, care_plan_activities, reference_ranges, coverage_classes])
@pytest.mark.parametrize("odd", [5, {"value": "x"}, 2.5])
def test_a_list_element_that_is_not_a_list_is_left_out(renderer, odd) -> None:
    assert renderer(odd, R) is None


def test_odd_values_in_list_and_extension_elements_are_left_out() -> None:
    from epic_mcp.render.elements import device_names, ingredients, qualifications, totals
    from epic_mcp.render.specs import compact

    assert totals(5, R) is None and ingredients(5, R) is None
    assert qualifications(5, R) is None and device_names(5, R) is None
    assert "sex" not in compact({"resourceType": "Patient", "id": "p", "extension": 5})
    assert compact({"resourceType": "Patient", "id": "p", "extension": [
        {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-sex", "valueInteger": 5}]})["sex"] == 5


def test_an_odd_item_first_does_not_hide_the_items_after_it() -> None:
    from epic_mcp.render.elements import answers

    assert identifiers(["junk", {"value": "1"}], R) == ["id 1"]
    assert doses_applied(["junk", {"doseNumberPositiveInt": 1}], R) == ["dose 1"]
    assert participants(["junk", {"actor": {"display": "Dr A"}}], R) == ["Dr A"]
    assert dosages(["junk", {"text": "daily"}], R) == [{"text": "daily"}]
    assert answers(["junk", {"linkId": "1", "answer": [{"valueInteger": 1}]}], R) == [{"question": "1", "answer": [1]}]


def test_references_to_contained_resources_are_resolved_inside_backbone_elements() -> None:
    from epic_mcp.render.elements import answers, ingredients

    resource = {"contained": [
        {"resourceType": "Practitioner", "id": "doc", "name": [{"family": "Rivera", "given": ["Ana"]}]},
        {"resourceType": "ServiceRequest", "id": "sr", "code": {"text": "HbA1c"}},
        {"resourceType": "Substance", "id": "sub", "code": {"text": "lactose"}},
        {"resourceType": "Location", "id": "loc", "name": "Ward 3"}]}
    assert participants([{"actor": {"reference": "#doc"}, "type": [{"text": "attender"}]}], resource) == [
        "Ana Rivera (contained Practitioner) as attender"]
    assert care_plan_activities([{"reference": {"reference": "#sr"}}], resource) == [
        {"reference": "HbA1c (contained ServiceRequest)"}]
    assert ingredients([{"itemReference": {"reference": "#sub"}}], resource) == ["lactose (contained Substance)"]
    assert answers([{"linkId": "where", "answer": [{"valueReference": {"reference": "#loc"}}]}], resource) == [
        {"question": "where", "answer": ["Ward 3 (contained Location)"]}]


def test_a_participant_without_a_role_is_named_alone() -> None:
    assert participants([{"actor": {"reference": "Practitioner/d1", "display": "Dr A"}}], R) == [
        "Dr A (Practitioner/d1)"]


def test_a_coverage_class_is_named_by_its_type_without_the_aside() -> None:
    assert coverage_classes([{"type": {"text": "Health plan (employer)"}, "value": "HP1"}], R) == [
        "Health plan: HP1"]


def test_a_result_released_on_the_day_it_was_taken_with_only_a_date_keeps_the_date() -> None:
    assert issued_if_later("2026-04-21", {"effectiveDateTime": "2026-04-21T10:42:00Z"}) == "2026-04-21"


def test_extension_names_and_code_system_labels_from_odd_urls() -> None:
    from epic_mcp.render.datatypes import concept

    site = {"text": "Arm", "extension": [
        {"url": "laterality", "valueCode": "value-left"},
        {"url": "http://example.org/StructureDefinition/ICD-X/", "valueString": "x"}]}
    assert concept(site) == "Arm (laterality: value-left; ICD-X: x)"
    assert system_label("http://terminology.example.org/CodeSystem") == "terminology.example.org"
    assert system_label("http://example.org/ValueSet/") == "example.org"
    assert system_label("fhir/sid") == "fhir/sid"


# Concepts, quantities and the text line, character for character ------------------------------------------------

LOINC, SNOMED = "http://loinc.org", "http://snomed.info/sct"
HL7 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
EPIC = "urn:oid:1.2.840.114350.1.13.0.1.7.2.768282"


@pytest.mark.parametrize(("value", "phrase"), [
    ({"text": "Hemoglobin A1c", "coding": [
        {"system": LOINC, "code": "4548-4", "display": "Hemoglobin A1c/Hemoglobin.total in Blood"},
        {"system": SNOMED, "code": "43396009", "display": "hemoglobin a1c"},
        {"system": "http://www.ama-assn.org/go/cpt", "code": "83036", "display": "PR GLYCOSYLATED HEMOGLOBIN TEST"}]},
     "Hemoglobin A1c [SNOMED 43396009] (Hemoglobin A1c/Hemoglobin.total in Blood [LOINC 4548-4]; PR GLYCOSYLATED "
     "HEMOGLOBIN TEST [CPT 83036])"),
    ({"coding": [{"system": HL7, "code": "H", "display": "High"}]}, "High"),
    ({"coding": [{"system": HL7, "code": "H", "display": "  "}]}, "H"),
    ({"coding": [{"system": HL7, "code": "H"}]}, "H"),
    ({"coding": [{"system": LOINC, "code": "718-7", "display": " "}]}, "LOINC 718-7"),
    ({"coding": [{"system": LOINC, "code": "718-7"}, {"system": SNOMED, "code": "1"}]}, "LOINC 718-7; SNOMED 1"),
    ({"coding": ["junk", {"system": LOINC, "code": "718-7", "display": "Hemoglobin"}]}, "Hemoglobin [LOINC 718-7]"),
    ({"coding": [{"system": LOINC, "code": "718-7", "display": "Hgb"},
                 {"system": EPIC, "code": "5", "display": "HGB"}]}, "Hgb [LOINC 718-7; Epic 5]"),
    ({"coding": [{"system": HL7, "code": "A", "display": "Abnormal"},
                 {"system": "http://terminology.hl7.org/x", "code": "B", "display": "Borderline"}]},
     "Abnormal (Borderline)"),
    ({"text": "4548-4", "coding": [{"system": LOINC, "code": "4548-4"}]}, "4548-4"),
    ({"text": "Glucose", "coding": [{"system": LOINC, "code": "2345-7", "display": "GLUCOSE"},
                                    {"system": LOINC, "code": "2345-7", "display": "GLUCOSE"}]},
     "Glucose [LOINC 2345-7]"),
    ({"text": "  ", "coding": [{"system": LOINC, "code": "1", "display": "X"}]}, "X [LOINC 1]"),
    ({"coding": [{"code": "free", "display": "Free text code"}]}, "Free text code"),
    ({"coding": [{"system": LOINC, "code": "1", "display": "One"}, {"system": LOINC, "code": "2", "display": "Two"},
                 {"system": HL7, "code": "x", "display": "Three"}]}, "One [LOINC 1] (Two [LOINC 2]; Three)"),
    ({"coding": [{"system": LOINC, "code": "1"}], "extension": [{"url": "x/side", "valueString": "left"}]},
     "LOINC 1 (side: left)"),
    ({}, None),
    ({"text": "Arm", "coding": [{"system": SNOMED, "code": "1", "display": "Upper arm"},
                                {"system": HL7, "code": "2", "display": "Upper arm"}]}, "Arm (Upper arm [SNOMED 1])"),
])
def test_a_concept_in_one_phrase_with_every_code_kept(value: dict[str, Any], phrase: str | None) -> None:
    from epic_mcp.render.datatypes import concept

    assert concept(value) == phrase


def test_quantities_ranges_and_the_text_of_a_record_character_for_character() -> None:
    from epic_mcp.render.datatypes import range_text
    from epic_mcp.render.specs import compact
    from epic_mcp.render.text import inline, one_line, record_line

    assert inline({"value": 7.2}) == "7.2" and inline({"value": 5, "unit": "mg", "comparator": "<"}) == "<5 mg"
    assert range_text({"low": {"value": 1}, "high": {"value": 3}}) == "1-3"
    assert range_text({"low": {"value": 1}}) == ">=1" and range_text({"high": {"value": 3}}) == "<=3"
    assert inline({"code": "Systolic"}) == "Systolic: -"
    assert inline({"code": "Systolic", "value": {"value": 120, "unit": "mm[Hg]"}}) == "Systolic: 120 mm[Hg]"
    assert inline({"a": 1, "b": "x"}) == "{a: 1, b: x}"
    assert inline(False) == "no" and inline(True) == "yes" and inline([1, "a"]) == "1; a"
    assert one_line("a\r\nb\rc\nd") == "a\\nb\\nc\\nd"
    assert dosages([{"doseAndRate": [{"doseQuantity": {"unit": "mg"}}]}], R) == [{"dose": ["?"]}], \
        "a dose without a number is shown as unknown, not dropped"
    assert record_line(compact({"resourceType": "Observation", "id": "o", "valueQuantity": {"value": 7.2}})) == \
        "Observation/o | value: 7.2"
    assert compact({"id": "x"}) == {"resourceType": "", "id": "x"}
    assert compact({"resourceType": "Basic", "id": "b", "code": {"text": "x"}}) == {"resourceType": "Basic", "id": "b"}
    assert compact({"resourceType": "Condition", "id": "c", "recordedDate": {"odd": 1}, "onsetString": ""}) == {
        "resourceType": "Condition", "id": "c"}


def test_references_in_lists_and_odd_references() -> None:
    doctor = {"contained": [{"resourceType": "Practitioner", "id": "doc", "name": [{"family": "Rivera"}]}]}
    assert references([{"reference": "#doc"}, {"reference": "Practitioner/eX"}], doctor) == [
        "Rivera (contained Practitioner)", "Practitioner/eX"]
    assert reference({}, R) is None and reference({"reference": 5}, R) is None


def test_a_timing_without_a_period_unit_has_no_dangling_word() -> None:
    assert timing({"repeat": {"period": 8}}) == "1 time(s) every 8"


def test_an_extension_that_points_to_a_contained_resource_names_it() -> None:
    from epic_mcp.render.datatypes import concept

    medication = {"contained": [{"resourceType": "Medication", "id": "m1", "code": {"text": "aspirin"}}]}
    assert extension_value({"url": "x", "valueReference": {"reference": "#m1"}}, medication) == \
        "aspirin (contained Medication)"
    assert extension_value({"url": "x", "extension": [{"url": "given", "valueReference": {"reference": "#m1"}}]},
                           medication) == "given: aspirin (contained Medication)"
    assert concept({"text": "Arm", "extension": [{"url": "x/site", "valueReference": {"reference": "#b1"}}]}) == \
        "Arm (site: #b1)"


# A concept's words and codes, as the summary's problem list shows them -------------------------------------------

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
HL7_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def test_concept_codes_are_each_kept_code_once_with_its_system_name() -> None:
    from epic_mcp.render.datatypes import concept_codes

    assert concept_codes({"coding": [
        {"system": ICD10, "code": "I10", "display": "Hypertension"}, "odd", {"system": HL7_CLINICAL, "code": "active"},
        {"code": "no-system"}, {"system": SNOMED}, {"system": SNOMED, "code": "38341003"},
        {"system": ICD10, "code": "I10"}, {"system": "http://loinc.org", "code": 1234}]}) == [
        ("ICD-10-CM", "I10"), ("SNOMED", "38341003"), ("LOINC", "1234")]
    assert concept_codes({"text": "Back pain"}) == [] and concept_codes("I10") == []
    assert concept_codes({"coding": None}) == []


@pytest.mark.parametrize(("value", "label"), [
    ({"text": "  Hypertension  ", "coding": [{"system": ICD10, "code": "I10", "display": "HTN"}]}, "Hypertension"),
    ({"text": "   ", "coding": [{"system": ICD10, "code": "I10"}, {"system": SNOMED, "code": "1", "display": "HTN"}]},
     "HTN"),  # the first display, past a coding without one
    ({"text": 7, "coding": [{"system": ICD10, "code": "I10", "display": "  "}, {"system": SNOMED, "code": "1"}]},
     "ICD-10-CM I10"),  # no display: the first code with its system
    ({"coding": [{"system": HL7_CLINICAL, "code": "active"}]}, "active"),
    ({"coding": [{"code": "X1"}]}, "X1"),
    ({"coding": []}, None), ({}, None), ("Hypertension", None), (None, None),
])
def test_a_concepts_label_is_its_text_else_its_first_display_else_its_first_code(value: Any,
                                                                                 label: str | None) -> None:
    from epic_mcp.render.datatypes import concept_label

    assert concept_label(value) == label


def test_a_range_text_that_only_respaces_or_recases_its_numbers_is_not_repeated() -> None:
    def mg(value: float) -> dict[str, Any]:
        return {"value": value, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}

    def ranged(text: str) -> list[str] | None:
        return reference_ranges([{"low": mg(70), "high": mg(99), "text": text}], {})

    assert ranged("70 - 99 mg/dL") == ranged("70-99 MG/DL") == ranged("70-99\tmg/dL") == ["70-99 mg/dL"]
    assert ranged("70-99 mg/dL fasting") == ["70-99 mg/dL (70-99 mg/dL fasting)"]
