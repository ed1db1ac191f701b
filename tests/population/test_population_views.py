"""SQL-on-FHIR ViewDefinitions: the runner's semantics (forEach, forEachOrNull, unionAll, where, constants, the key
functions, collections) and the shipped views against four data sets: the sandbox, the unseen US + JP records,
the Epic-shaped synthetic records and, when present, Epic's real bodies. Expected values are read off the records
here, with the code systems spelled out on their own."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from typing import Any

import pytest

from epic_mcp.population.codesystems import (
    ALLERGY_CLINICAL,
    ALLERGY_VERIFICATION,
    CONDITION_CATEGORIES,
    CONDITION_CLINICAL,
    CONDITION_VERIFICATION,
    MEDICATION_REQUEST_CATEGORIES,
    SYSTEMS,
    codes_of,
    normalised_path,
    system_name_path,
)
from epic_mcp.population.codesystems import OBSERVATION_CATEGORIES as OBSERVATION_CATEGORIES_PY
from epic_mcp.population.viewdef import View, ViewError, flatten_lines, shipped_definitions, shipped_views
from epic_mcp.sandbox import data_set

from ..conftest import run_today
from ..unseen_data import unseen_data_set
from .epic_shaped import real_resources, synthetic_resources

OBSERVATION_ALIASES = {"LAB": "laboratory", "Lab": "laboratory"}
CONDITION_ALIASES = {"visit-diagnosis": "encounter-diagnosis"}

PATIENT = {
    "resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-02-03",
    "name": [{"use": "official", "family": "Lopez", "given": ["Camila", "Maria"]}, {"family": "Old"}],
    "telecom": [{"system": "phone", "value": "555-1"}, {"system": "email", "value": "c@example.org"}],
    "deceasedBoolean": False,
}


def view(*select: dict[str, Any], **extra: Any) -> View:
    return View({"resourceType": "ViewDefinition", "name": "v", "resource": "Patient", "select": list(select),
                 **extra})


def test_columns_take_single_values_typed_by_the_view() -> None:
    v = view({"column": [{"name": "id", "path": "getResourceKey()", "type": "id"},
                         {"name": "given", "path": "name.first().given.join(' ')"},
                         {"name": "deceased", "path": "deceased.ofType(boolean)", "type": "boolean"},
                         {"name": "missing", "path": "multipleBirth.ofType(integer)", "type": "integer"}]})
    assert v.rows(PATIENT) == [("p1", "Camila Maria", False, None)]


TEXT_TYPES = ["id", "string", "code", "uri", "url", "canonical", "markdown", "oid", "uuid", "date", "dateTime",
              "instant", "time", "base64Binary"]


@pytest.mark.parametrize(("fhir_type", "constant", "kind", "value"), [
    *((t, {"valueString": "x1"}, "text", "x1") for t in TEXT_TYPES),
    ("decimal", {"valueDecimal": 1.5}, "decimal", 1.5),
    *((t, {"valueInteger": 2}, "integer", 2) for t in ("integer", "positiveInt", "unsignedInt", "integer64")),
    ("boolean", {"valueBoolean": True}, "boolean", True),
])
def test_every_primitive_type_a_column_may_have_gets_its_sql_kind(fhir_type: str, constant: dict[str, Any],
                                                                 kind: str, value: Any) -> None:
    v = view({"column": [{"name": "c", "path": "%value", "type": fhir_type}]},
             constant=[{"name": "value", **constant}])
    assert [(c.name, c.kind) for c in v.columns] == [("c", kind)]
    assert v.rows(PATIENT) == [(value,)]


@pytest.mark.parametrize("name", ["v", "Obs_2024", "a1_b2", "X"])
def test_view_and_column_names_of_letters_digits_and_underscores_are_usable(name: str) -> None:
    v = View({"resourceType": "ViewDefinition", "name": name, "resource": "Patient",
              "select": [{"column": [{"name": name, "path": "id"}]}]})
    assert v.name == name and [c.name for c in v.columns] == [name]


@pytest.mark.parametrize("name", ["1st", "_x", "bad-name", "bad name", "x;drop", "é", ""])
def test_a_name_that_is_no_plain_sql_name_is_refused(name: str) -> None:
    with pytest.raises(ViewError, match="name"):
        View({"resourceType": "ViewDefinition", "name": name, "resource": "Patient",
              "select": [{"column": [{"name": "id", "path": "id"}]}]})
    with pytest.raises(ViewError, match="not a usable SQL name"):
        view({"column": [{"name": name, "path": "id"}]})


def test_for_each_gives_a_row_per_item_and_for_each_or_null_keeps_the_resource() -> None:
    each = view({"column": [{"name": "id", "path": "getResourceKey()"}]},
                {"forEach": "telecom", "column": [{"name": "value", "path": "value"}]})
    assert each.rows(PATIENT) == [("p1", "555-1"), ("p1", "c@example.org")]
    assert each.rows({**PATIENT, "telecom": []}) == [], "forEach over nothing drops the resource"
    or_null = view({"column": [{"name": "id", "path": "getResourceKey()"}]},
                   {"forEachOrNull": "telecom", "column": [{"name": "value", "path": "value"}]})
    assert or_null.rows({k: v for k, v in PATIENT.items() if k != "telecom"}) == [("p1", None)]


def test_union_all_stacks_branches_into_the_same_columns() -> None:
    v = view({"column": [{"name": "id", "path": "getResourceKey()"}],
              "unionAll": [{"forEach": "telecom.where(system = 'phone')", "column": [{"name": "contact",
                                                                                        "path": "value"}]},
                           {"forEach": "name", "column": [{"name": "contact", "path": "family"}]}]})
    assert v.rows(PATIENT) == [("p1", "555-1"), ("p1", "Lopez"), ("p1", "Old")]
    with pytest.raises(ViewError, match="same columns"):
        view({"unionAll": [{"column": [{"name": "a", "path": "id"}]}, {"column": [{"name": "b", "path": "id"}]}]})


def test_where_and_constants_filter_resources() -> None:
    v = view({"column": [{"name": "id", "path": "getResourceKey()"}]},
             where=[{"path": "gender = %wanted"}], constant=[{"name": "wanted", "valueCode": "female"}])
    assert v.rows(PATIENT) == [("p1",)]
    assert v.rows({**PATIENT, "gender": "male"}) == []
    assert v.rows({"resourceType": "Observation", "id": "o1"}) == [], "another resource type gives no rows"


def test_a_where_that_is_empty_for_a_record_leaves_it_out_like_false() -> None:
    """FHIRPath's empty is "unknown": a patient with no gender is not counted under gender = 'female'."""
    v = view({"column": [{"name": "id", "path": "getResourceKey()"}]}, where=[{"path": "gender = 'female'"}])
    no_gender = {key: value for key, value in PATIENT.items() if key != "gender"}
    assert v.rows(no_gender) == []
    assert v.rows({**no_gender, "gender": "unknown"}) == []
    assert v.rows(PATIENT) == [("p1",)]


def test_every_where_must_be_true() -> None:
    v = view({"column": [{"name": "id", "path": "getResourceKey()"}]},
             where=[{"path": "gender = 'female'"}, {"path": "birthDate < @1990-01-01"}])
    assert v.rows(PATIENT) == [("p1",)]
    assert v.rows({**PATIENT, "birthDate": "1995-05-05"}) == [], "the second condition is false"
    assert v.rows({key: value for key, value in PATIENT.items() if key != "birthDate"}) == [], "and here empty"
    with pytest.raises(ViewError, match="where gave 2 values"):
        view({"column": [{"name": "id", "path": "id"}]}, where=[{"path": "name.family"}]).rows(PATIENT)


def test_reference_key_matches_the_type_asked_for() -> None:
    observation = {"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p1"},
                   "encounter": {"reference": "https://fhir.example/R4/Encounter/e1/_history/2"}}
    v = View({"resourceType": "ViewDefinition", "name": "o", "resource": "Observation", "select": [{"column": [
        {"name": "patient", "path": "subject.getReferenceKey(Patient)"},
        {"name": "not_group", "path": "subject.getReferenceKey(Group)"},
        {"name": "encounter", "path": "encounter.getReferenceKey()"}]}]})
    assert v.rows(observation) == [("p1", None, "e1")]


REFERENCES = {"resourceType": "Observation", "id": "o1", "status": "final",
              "subject": {"reference": "https://fhir.example/R4/Patient/p1/_history/2"},
              "encounter": {"reference": "Encounter/e1/"},
              "performer": [{"display": "no reference"}, {"reference": "nothing-to-split"},
                            {"reference": "Practitioner/d1"}],
              "component": [{"code": {"text": "systolic"}, "valueQuantity": {"value": 120}},
                            {"code": {"text": "diastolic"}, "valueQuantity": {"value": 80}}]}


def observation_view(*select: dict[str, Any], **extra: Any) -> View:
    return View({"resourceType": "ViewDefinition", "name": "o", "resource": "Observation", "select": list(select),
                 **extra})


# Each column twice: the plain spelling the fast path evaluates, and in parentheses, which only fhirpathpy does.
@pytest.mark.parametrize("wrap", ["{}", "({})"], ids=["fast path", "fhirpathpy"])
def test_keys_of_resources_and_references_are_the_same_on_either_path(wrap: str) -> None:
    v = observation_view({"column": [
        {"name": "id", "path": wrap.format("getResourceKey()")},
        {"name": "patient", "path": wrap.format("subject.getReferenceKey(Patient)")},
        {"name": "not_group", "path": wrap.format("subject.getReferenceKey(Group)")},
        {"name": "encounter", "path": wrap.format("encounter.getReferenceKey(Encounter)")},
        {"name": "performer", "path": wrap.format("performer.getReferenceKey().first()")},
        {"name": "practitioner", "path": wrap.format("performer.getReferenceKey(Practitioner)")}]})
    assert v.rows(REFERENCES) == [("o1", "p1", None, "e1", "d1", "d1")]


@pytest.mark.parametrize("wrap", ["{}", "({})"], ids=["fast path", "fhirpathpy"])
def test_for_each_focuses_each_item_with_its_type_on_either_path(wrap: str) -> None:
    v = observation_view({"column": [{"name": "id", "path": "getResourceKey()"}]},
                         {"forEach": "component.where(code.text != %skip)", "column": [
                             {"name": "what", "path": wrap.format("code.text")},
                             {"name": "value", "path": wrap.format("value.ofType(Quantity).value"),
                              "type": "decimal"}]},
                         constant=[{"name": "skip", "valueString": "none"}])
    assert v.rows(REFERENCES) == [("o1", "systolic", 120.0), ("o1", "diastolic", 80.0)]


def test_a_column_the_fast_path_gives_up_on_midway_gets_fhirpathpy_s_answer() -> None:
    """where() over a repeating element is FHIRPath's collection equality (two given names never equal one), not
    membership: the fast path hands it over to fhirpathpy."""
    v = view({"column": [{"name": "family", "path": "name.where(given = 'Camila').family"}]},
             {"column": [{"name": "member", "path": "name.where(given contains 'Camila').family"}]})
    assert v.rows(PATIENT) == [(None, "Lopez")]


def test_for_each_or_null_gives_a_row_per_item_when_there_are_items() -> None:
    v = view({"column": [{"name": "id", "path": "getResourceKey()"}]},
             {"forEachOrNull": "telecom", "column": [{"name": "value", "path": "value"}]})
    assert v.rows(PATIENT) == [("p1", "555-1"), ("p1", "c@example.org")]


@pytest.mark.parametrize(("kind", "value", "expected"), [
    ("string", True, "true"), ("string", False, "false"), ("string", 1.5, "1.5"), ("string", 7, "7"),
    ("boolean", "yes", None), ("boolean", 1, None),
    ("decimal", "1.5", None), ("decimal", True, None), ("decimal", 2, 2.0),
    ("integer", 2.5, None), ("integer", True, None), ("integer", "7", None), ("integer", 7.0, 7),
])
def test_a_value_of_another_type_than_its_column_becomes_text_or_nothing(kind: str, value: Any,
                                                                          expected: Any) -> None:
    key = {bool: "valueBoolean", float: "valueDecimal", int: "valueInteger", str: "valueString"}[type(value)]
    v = view({"column": [{"name": "c", "path": "%value", "type": kind}]}, constant=[{"name": "value", key: value}])
    assert v.rows(PATIENT) == [(expected,)]


def test_a_column_keeps_its_description_and_a_view_its_title() -> None:
    v = view({"column": [{"name": "id", "path": "id", "description": "The patient's FHIR id"},
                         {"name": "g", "path": "gender"}]}, title="Patients")
    assert [(c.name, c.description) for c in v.columns] == [("id", "The patient's FHIR id"), ("g", "")]
    assert v.title == "Patients" and view({"column": [{"name": "id", "path": "id"}]}).title == ""


@pytest.mark.parametrize(("definition", "message"), [
    ({"resource": "Patient", "select": [{"column": [{"name": "x"}]}]},
     "a path must be a FHIRPath expression, not None"),
    ({"resource": "Patient", "select": [{"column": [{"name": "x", "path": "  "}]}]},
     "a path must be a FHIRPath expression, not '  '"),
    ({"resource": "Patient", "select": [{"column": [{"name": "x", "path": "name.("}]}]},
     "cannot parse FHIRPath 'name.(': column 6: "),
    ({"resource": "patient-x", "select": [{"column": [{"name": "x", "path": "id"}]}]},
     "view v: `resource` must name a FHIR resource type"),
    ({"resource": "Patient", "select": []}, "view v: it defines no columns"),
    ({"resource": "Patient", "select": [{"column": [{"name": "x", "path": "id"}, {"name": "x", "path": "id"}]}]},
     "view v: column x is defined twice"),
    ({"resource": "Patient", "select": [{"column": [{"name": "x", "path": "id"}]}],
      "constant": [{"name": "c", "valueString": "a", "valueInteger": 1}]},
     "each constant needs a name and exactly one value[x]"),
    ({"resource": "Patient", "select": [{"column": [{"name": "x", "path": "id"}]}],
      "constant": [{"valueString": "a"}]}, "each constant needs a name and exactly one value[x]"),
    ({"name": "bad name", "resource": "Patient", "select": []},
     "a ViewDefinition needs a `name` usable as a table name (letters, digits, _)"),
])
def test_a_definition_that_cannot_work_says_exactly_why(definition: dict[str, Any], message: str) -> None:
    with pytest.raises(ViewError) as refused:
        View({"resourceType": "ViewDefinition", "name": "v", **definition})
    assert str(refused.value).startswith(message)


def test_get_resource_key_takes_no_argument() -> None:
    v = view({"column": [{"name": "k", "path": "getResourceKey(Patient)"}]})
    with pytest.raises(Exception, match="getResourceKey wrong arity: got 1"):
        v.rows(PATIENT)


def test_a_column_that_breaks_its_promise_names_itself() -> None:
    with pytest.raises(ViewError) as many:
        view({"column": [{"name": "telecom", "path": "telecom.value"}]}).rows(PATIENT)
    assert str(many.value) == "column telecom gave 2 values where one was expected; add .first() to its path"
    with pytest.raises(ViewError) as complex_value:
        view({"column": [{"name": "name", "path": "name.first()"}]}).rows(PATIENT)
    assert str(complex_value.value) == ("view v: column name gave a complex value; its path must end at a primitive")


@pytest.mark.parametrize("select, message", [
    ({"column": [{"name": "telecom", "path": "telecom.value"}]}, "add .first()"),
    ({"column": [{"name": "name", "path": "name.first()"}]}, "complex value"),
])
def test_a_path_breaking_the_view_s_promise_is_an_error_not_a_guess(select: dict[str, Any], message: str) -> None:
    with pytest.raises(ViewError, match=message):
        view(select).rows(PATIENT)


def test_collection_columns_hold_every_value_as_a_list() -> None:
    v = view({"column": [{"name": "id", "path": "getResourceKey()"},
                         {"name": "contacts", "path": "telecom.value", "collection": True}]})
    assert v.rows(PATIENT) == [("p1", ["555-1", "c@example.org"])]
    assert v.rows({**PATIENT, "telecom": []}) == [("p1", [])], "an empty list, not a missing row"
    assert v.columns[1].collection


def test_a_fast_for_each_gives_way_to_fhirpathpy_when_a_column_needs_typed_items() -> None:
    """Plain JSON items cannot resolve component.value[x] in fhirpathpy; a column only fhirpathpy evaluates must
    get fhirpathpy's typed items (else it would quietly be empty)."""
    observation = {"resourceType": "Observation", "id": "o1", "component": [
        {"code": {"text": "systolic"}, "valueQuantity": {"value": 118}},
        {"code": {"text": "diastolic"}, "valueQuantity": {"value": 76}}]}
    v = View({"resourceType": "ViewDefinition", "name": "c", "resource": "Observation", "select": [
        {"forEach": "component", "column": [
            {"name": "name", "path": "code.text"},
            {"name": "value", "path": "value.ofType(Quantity).value", "type": "decimal"},
            {"name": "as_text", "path": "value.ofType(Quantity).value.toString()"}]}]})
    assert v.rows(observation) == [("systolic", 118.0, "118"), ("diastolic", 76.0, "76")]


def test_a_for_each_only_fhirpathpy_can_walk_is_never_given_plain_items() -> None:
    """The outer forEach and every column are fast, the inner forEach is not: the inner one must walk fhirpathpy's
    typed components (on plain JSON, value.ofType(Quantity) finds nothing and the rows would vanish)."""
    observation = {"resourceType": "Observation", "id": "o1", "component": [
        {"code": {"text": "systolic"}, "valueQuantity": {"value": 118, "unit": "mm[Hg]"}},
        {"code": {"text": "note"}, "valueString": "n/a"}]}
    v = View({"resourceType": "ViewDefinition", "name": "c", "resource": "Observation", "select": [
        {"forEach": "component", "column": [{"name": "name", "path": "code.text"}], "select": [
            {"forEach": "value.ofType(Quantity).where(value.toString() != '')", "column": [
                {"name": "value", "path": "value", "type": "decimal"}, {"name": "unit", "path": "unit"}]}]}]})
    assert v.rows(observation) == [("systolic", 118.0, "mm[Hg]")]


@pytest.mark.parametrize("definition, message", [
    ({"name": "bad name", "resource": "Patient", "select": [{"column": [{"name": "id", "path": "id"}]}]}, "name"),
    ({"name": "v", "resource": "Patient", "select": [{"repeat": ["item"], "column": []}]}, "unsupported"),
    ({"name": "v", "resource": "Patient", "select": [{"column": [{"name": "x", "path": "id", "type": "Quantity"}]}]},
     "type"),
    ({"name": "v", "resource": "Patient", "select": [{"column": [{"name": "x", "path": "name.("}]}]}, "FHIRPath"),
])
def test_definitions_outside_the_supported_subset_are_refused(definition: dict[str, Any], message: str) -> None:
    with pytest.raises(ViewError, match=message):
        View({"resourceType": "ViewDefinition", **definition})


AS_OF = date(2026, 12, 6)
# The systems as the records write them, spelled out here on their own (not read from the views' code tables).
LOINC = {"http://loinc.org", "urn:oid:2.16.840.1.113883.6.1", "urn:oid:1.2.246.537.6.96"}
SNOMED = {"http://snomed.info/sct", "urn:oid:2.16.840.1.113883.6.96"}
ICD10 = {"http://hl7.org/fhir/sid/icd-10-cm", "urn:oid:2.16.840.1.113883.6.90", "http://hl7.org/fhir/sid/icd-10",
         "urn:oid:2.16.840.1.113883.6.3", "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full"}
RXNORM = {"http://www.nlm.nih.gov/research/umls/rxnorm", "urn:oid:2.16.840.1.113883.6.88"}
# Coding table -> (resource type, the coded elements it lists, as functions from a resource to its codings).
CODED: dict[str, tuple[str, dict[str, Any]]] = {
    "observation_coding": ("Observation", {
        "code": lambda r: r.get("code", {}).get("coding", []),
        "category": lambda r: [c for cc in r.get("category", []) for c in cc.get("coding", [])],
        "value": lambda r: r.get("valueCodeableConcept", {}).get("coding", []),
        "interpretation": lambda r: [c for cc in r.get("interpretation", []) for c in cc.get("coding", [])],
        "component": lambda r: [c for part in r.get("component", []) for c in part.get("code", {}).get("coding", [])]}),
    "condition_coding": ("Condition", {
        "code": lambda r: r.get("code", {}).get("coding", []),
        "category": lambda r: [c for cc in r.get("category", []) for c in cc.get("coding", [])],
        "body_site": lambda r: [c for cc in r.get("bodySite", []) for c in cc.get("coding", [])]}),
    "medication_request_coding": ("MedicationRequest", {
        "medication": lambda r: r.get("medicationCodeableConcept", {}).get("coding", []),
        "category": lambda r: [c for cc in r.get("category", []) for c in cc.get("coding", [])],
        "reason": lambda r: [c for cc in r.get("reasonCode", []) for c in cc.get("coding", [])]}),
    "medication_coding": ("Medication", {
        "code": lambda r: r.get("code", {}).get("coding", []),
        "form": lambda r: r.get("form", {}).get("coding", []),
        "ingredient": lambda r: [c for i in r.get("ingredient", [])
                                 for c in i.get("itemCodeableConcept", {}).get("coding", [])]}),
    "immunization_coding": ("Immunization", {
        "vaccine": lambda r: r.get("vaccineCode", {}).get("coding", []),
        "reason": lambda r: [c for cc in r.get("reasonCode", []) for c in cc.get("coding", [])]}),
    "allergy_coding": ("AllergyIntolerance", {
        "code": lambda r: r.get("code", {}).get("coding", []),
        "reaction": lambda r: [c for x in r.get("reaction", []) for cc in x.get("manifestation", [])
                               for c in cc.get("coding", [])],
        "reaction_substance": lambda r: [c for x in r.get("reaction", [])
                                         for c in x.get("substance", {}).get("coding", [])]}),
    "encounter_coding": ("Encounter", {
        "class": lambda r: [r["class"]] if isinstance(r.get("class"), dict) else [],
        "type": lambda r: [c for cc in r.get("type", []) for c in cc.get("coding", [])],
        "reason": lambda r: [c for cc in r.get("reasonCode", []) for c in cc.get("coding", [])],
        "service_type": lambda r: r.get("serviceType", {}).get("coding", [])}),
}


def data_sets() -> dict[str, list[dict[str, Any]]]:
    sets = {"sandbox": data_set(run_today())["resources"], "unseen": unseen_data_set()["resources"],
            "epic-shaped": synthetic_resources()}
    return {**sets, **({"epic-real": real_resources()} if real_resources() else {})}


@pytest.fixture(scope="module")
def every_set() -> dict[str, list[dict[str, Any]]]:
    return data_sets()


@pytest.fixture(scope="module")
def flattened(every_set) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Per data set, per view: the rows as dicts."""
    views = shipped_views(AS_OF)
    return {name: {v.name: [dict(zip([c.name for c in v.columns], row, strict=True))
                            for r in resources for row in v.rows(r)] for v in views}
            for name, resources in every_set.items()}


@pytest.fixture(scope="module")
def resources() -> list[dict[str, Any]]:
    return data_set(run_today())["resources"]


def codes(concept: dict[str, Any] | None, systems: set[str]) -> list[str]:
    return list(dict.fromkeys(c["code"] for c in (concept or {}).get("coding", []) if c.get("system") in systems
                              and c.get("code")))


def test_shipped_views_flatten_the_sandbox_data_faithfully(resources: list[dict[str, Any]]) -> None:
    views = {v.name: v for v in shipped_views(AS_OF)}
    assert set(views) == {"patient", "observation", "observation_component", "condition", "medication_request",
                          "medication", "encounter", "immunization", "allergy", *CODED}
    rows = {name: [row for r in resources for row in v.rows(r)] for name, v in views.items()}
    counts = Counter(r["resourceType"] for r in resources)
    for name, v in views.items():
        if name != "observation_component" and name not in CODED:
            assert len(rows[name]) == counts[v.resource], f"{name}: one row per resource"
            assert {row[0] for row in rows[name]} == {r["id"] for r in resources if r["resourceType"] == v.resource}
    components = sum(len(r.get("component", [])) for r in resources if r["resourceType"] == "Observation")
    assert len(rows["observation_component"]) == components > 0

    by_id = {r["id"]: r for r in resources}
    columns = [c.name for c in views["observation"].columns]
    for row in rows["observation"]:
        record, source = dict(zip(columns, row, strict=True)), by_id[row[0]]
        assert record["patient_id"] == source["subject"]["reference"].split("/")[1]
        assert record["loinc"] == codes(source["code"], LOINC)
        assert record["effective"] == source.get("effectiveDateTime")
        quantity = source.get("valueQuantity", {}).get("value", source.get("valueInteger"))
        assert record["value"] == (float(quantity) if quantity is not None else None)


@pytest.mark.parametrize("table", sorted(CODED))
def test_every_coding_of_every_record_is_a_row_of_its_coding_table(table: str, every_set, flattened) -> None:
    resource_type, elements = CODED[table]
    key = f"{table.removesuffix('_coding')}_id"
    for name, resources in every_set.items():
        expected = Counter((r["id"], element, c.get("system"), c.get("code"), c.get("display"))
                           for r in resources if r["resourceType"] == resource_type
                           for element, codings in elements.items() for c in codings(r))
        found = Counter((row[key], row["element"], row["system"], row["code"], row["display"])
                        for row in flattened[name][table])
        assert found == expected, f"{name}: {table} differs from the records"


@pytest.mark.parametrize("view, column, concept, systems", [
    ("observation", "loinc", "code", LOINC), ("observation", "snomed", "code", SNOMED),
    ("condition", "icd10", "code", ICD10), ("condition", "snomed", "code", SNOMED),
    ("immunization", "cvx", "vaccineCode", {"http://hl7.org/fhir/sid/cvx", "urn:oid:2.16.840.1.113883.12.292"}),
    ("allergy", "snomed", "code", SNOMED),
    ("medication", "rxnorm", "code", RXNORM), ("medication_request", "rxnorm", "medicationCodeableConcept", RXNORM),
])
def test_code_columns_list_every_code_of_their_system_wherever_the_record_lists_it(
        view: str, column: str, concept: str, systems: set[str], every_set, flattened) -> None:
    resource_type = next(v.resource for v in shipped_views(AS_OF) if v.name == view)
    for name, resources in every_set.items():
        expected = {r["id"]: codes(r.get(concept), systems) for r in resources if r["resourceType"] == resource_type}
        assert {row["id"]: row[column] for row in flattened[name][view]} == expected, f"{name}: {view}.{column}"
    later = [r for rs in every_set.values() for r in rs if r["resourceType"] == resource_type
             and (codes(r.get(concept), systems) and r[concept]["coding"][0].get("system") not in systems)]
    assert later or (view, column) not in (("observation", "loinc"), ("condition", "icd10"), ("condition", "snomed")), \
        "the data sets hold records whose code of this system is not the first coding"


def fhir_code(concepts: list[dict[str, Any]], wanted: tuple[str, ...], aliases: dict[str, str]) -> str | None:
    """FHIR's code of a concept coded in any system, written here on its own."""
    codings = [c for concept in concepts for c in concept.get("coding", [])]
    for c in codings:
        if c.get("code") in wanted:
            return str(c["code"])
    for c in codings:
        if c.get("code") in aliases:
            return aliases[c["code"]]
    return next((str(c["code"]) for c in codings if c.get("code")), None)


OBSERVATION_CATEGORIES = ("social-history", "vital-signs", "imaging", "laboratory", "procedure", "survey", "exam",
                          "therapy", "activity")


@pytest.mark.parametrize("view, column, element, wanted, aliases", [
    ("observation", "category", "category", OBSERVATION_CATEGORIES, {"LAB": "laboratory", "Lab": "laboratory"}),
    ("condition", "category", "category", ("problem-list-item", "encounter-diagnosis", "health-concern"),
     {"visit-diagnosis": "encounter-diagnosis"}),
    ("condition", "clinical_status", "clinicalStatus",
     ("active", "recurrence", "relapse", "inactive", "remission", "resolved"), {}),
    ("condition", "verification_status", "verificationStatus",
     ("unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"), {}),
    ("allergy", "clinical_status", "clinicalStatus", ("active", "inactive", "resolved"), {}),
    ("medication_request", "category", "category", ("inpatient", "outpatient", "community", "discharge"), {}),
])
def test_categories_and_statuses_are_fhir_codes_whatever_system_coded_them(
        view: str, column: str, element: str, wanted: tuple[str, ...], aliases: dict[str, str], every_set,
        flattened) -> None:
    resource_type = next(v.resource for v in shipped_views(AS_OF) if v.name == view)
    for name, resources in every_set.items():
        expected = {r["id"]: fhir_code(r.get(element) if isinstance(r.get(element), list) else [r.get(element) or {}],
                                       wanted, aliases)
                    for r in resources if r["resourceType"] == resource_type}
        assert {row["id"]: row[column] for row in flattened[name][view]} == expected, f"{name}: {view}.{column}"


def test_jp_core_and_epic_categories_become_fhir_s(flattened) -> None:
    unseen = flattened["unseen"]["observation"]
    jp_labs = [row for row in unseen if row["id"].startswith("jp-") and row["category"] == "laboratory"]
    assert len(jp_labs) > 100, "JP Core's observation category is read as FHIR's"
    epic = {row["id"]: row["category"] for row in flattened["epic-shaped"]["observation"]}
    assert epic["eLab5"] == "laboratory", "Epic's own 'Lab' category alone"
    conditions = {row["id"]: row["category"] for row in flattened["epic-shaped"]["condition"]}
    assert conditions["eCon6"] == "encounter-diagnosis", "Epic's visit-diagnosis alone"


def age_on(born: str, day: date) -> int:
    birthday = date.fromisoformat(born)
    return day.year - birthday.year - ((day.month, day.day) < (birthday.month, birthday.day))


def test_the_patient_view_answers_a_panel_s_demographic_questions(every_set, flattened) -> None:
    for name in ("sandbox", "unseen", "epic-shaped"):
        patients = {r["id"]: r for r in every_set[name] if r["resourceType"] == "Patient"}
        for row in flattened[name]["patient"]:
            source = patients[row["id"]]
            died = source.get("deceasedDateTime")
            assert row["deceased"] is (bool(died) or source.get("deceasedBoolean") is True)
            assert row["age"] == age_on(source["birthDate"], date.fromisoformat(died[:10]) if died else AS_OF)
            assert row["country"] == source["address"][0].get("country")
            preferred = [c for c in source.get("communication", []) if c.get("preferred")] \
                or source.get("communication", [])
            assert row["language"] == (preferred[0]["language"]["coding"][0]["code"] if preferred else None)
            assert row["gender"] == source["gender"]
    unseen = flattened["unseen"]["patient"]
    assert Counter(row["country"] for row in unseen) == {"US": 6, "JP": 6}
    assert {row["language"] for row in unseen} == {"en-US", "ja-JP"}
    assert sum(row["deceased"] for row in unseen) == 1
    epic = {row["id"]: row for row in flattened["epic-shaped"]["patient"]}
    assert [(row["language"], row["birth_sex"]) for row in epic.values()][:2] == [("en", "F"), ("es", "M")], \
        "the preferred language, not the first listed"


def test_ages_are_counted_on_the_day_given_and_never_on_a_placeholder() -> None:
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "1960-03-01"}
    by_day = {day: next(v for v in shipped_views(day) if v.name == "patient") for day in
              (date(2026, 2, 28), date(2026, 3, 1))}
    ages = {day: dict(zip([c.name for c in v.columns], v.rows(patient)[0], strict=True))["age"]
            for day, v in by_day.items()}
    assert ages == {date(2026, 2, 28): 65, date(2026, 3, 1): 66}
    undated = View(next(d for d in shipped_definitions() if d["name"] == "patient"))
    with pytest.raises(ValueError, match="as_of"):
        undated.rows(patient)


def test_encounters_orders_and_conditions_carry_what_panels_ask(flattened) -> None:
    encounters = flattened["unseen"]["encounter"]
    assert {row["class_code"] for row in encounters} == {"AMB", "EMER", "IMP"}
    assert all(row["period_start"] for row in encounters)
    epic_encounter = flattened["epic-shaped"]["encounter"][0]
    assert (epic_encounter["class_code"], epic_encounter["class_display"]) == ("5", "Hospital Encounter")
    orders = flattened["unseen"]["medication_request"]
    assert {(row["status"], row["intent"]) for row in orders} >= {("active", "order"), ("completed", "order")}
    onsets = [row["onset"] for row in flattened["epic-shaped"]["condition"] if row["onset"]]
    assert onsets == ["2012-05-01"]


def test_views_spell_out_the_code_systems_and_fhir_codes_of_codesystems_py() -> None:
    """The JSON views repeat the system lists in FHIRPath (any SQL-on-FHIR engine can run them); they must say
    what codesystems.py (and describe_population_data) says."""
    for definition in shipped_definitions():
        for column in walk_columns(definition["select"]):
            name, path = column["name"], column["path"]
            if name in SYSTEMS:
                concept = path.split(".coding.where(")[0]
                assert column.get("collection") and path == codes_of(concept, name), f"{definition['name']}.{name}"
            if name == "system_name":
                assert path == system_name_path(), definition["name"]
    normalised = {("observation", "category"): ("category", OBSERVATION_CATEGORIES_PY, OBSERVATION_ALIASES),
                  ("condition", "category"): ("category", CONDITION_CATEGORIES, CONDITION_ALIASES),
                  ("condition", "clinical_status"): ("clinicalStatus", CONDITION_CLINICAL, {}),
                  ("condition", "verification_status"): ("verificationStatus", CONDITION_VERIFICATION, {}),
                  ("allergy", "clinical_status"): ("clinicalStatus", ALLERGY_CLINICAL, {}),
                  ("allergy", "verification_status"): ("verificationStatus", ALLERGY_VERIFICATION, {}),
                  ("medication_request", "category"): ("category", MEDICATION_REQUEST_CATEGORIES, {})}
    paths = {(d["name"], c["name"]): c["path"] for d in shipped_definitions() for c in walk_columns(d["select"])}
    for (view_name, column_name), (element, wanted, aliases) in normalised.items():
        assert paths[(view_name, column_name)] == normalised_path(element, wanted, aliases)


def walk_columns(select: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for node in select:
        found += node.get("column", [])
        found += walk_columns(node.get("select", []))
        found += walk_columns(node.get("unionAll", []))
    return found


def test_flatten_lines_is_what_spark_executors_run(resources: list[dict[str, Any]]) -> None:
    condition = next(v for v in shipped_views(AS_OF) if v.name == "condition")
    lines = [json.dumps(r) for r in resources if r["resourceType"] == "Condition"] + [""]
    assert list(flatten_lines(condition.definition, lines)) == [
        row for r in resources for row in condition.rows(r)]
