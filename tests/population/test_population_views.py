"""SQL-on-FHIR ViewDefinitions: the runner's semantics (forEach, forEachOrNull, unionAll, where, constants, the key
functions) and the shipped views against the sandbox data set."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from epic_mcp.population.viewdef import View, ViewError, flatten_lines, shipped_views
from epic_mcp.sandbox import data_set

from ..conftest import run_today

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
    """where() over a repeating element is FHIRPath's collection equality: the fast path hands it over."""
    v = view({"column": [{"name": "family", "path": "name.where(given = 'Camila').family"}]})
    assert v.rows(PATIENT) == [("Lopez",)]


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


@pytest.mark.parametrize("definition, message", [
    ({"name": "bad name", "resource": "Patient", "select": [{"column": [{"name": "id", "path": "id"}]}]}, "name"),
    ({"name": "v", "resource": "Patient", "select": [{"column": [{"name": "x", "path": "id", "collection": True}]}]},
     "collection"),
    ({"name": "v", "resource": "Patient", "select": [{"repeat": ["item"], "column": []}]}, "unsupported"),
    ({"name": "v", "resource": "Patient", "select": [{"column": [{"name": "x", "path": "id", "type": "Quantity"}]}]},
     "type"),
    ({"name": "v", "resource": "Patient", "select": [{"column": [{"name": "x", "path": "name.("}]}]}, "FHIRPath"),
])
def test_definitions_outside_the_supported_subset_are_refused(definition: dict[str, Any], message: str) -> None:
    with pytest.raises(ViewError, match=message):
        View({"resourceType": "ViewDefinition", **definition})


@pytest.fixture(scope="module")
def resources() -> list[dict[str, Any]]:
    return data_set(run_today())["resources"]


def test_shipped_views_flatten_the_sandbox_data_faithfully(resources: list[dict[str, Any]]) -> None:
    views = {v.name: v for v in shipped_views()}
    assert set(views) == {"patient", "observation", "observation_component", "condition", "medication_request",
                          "encounter", "immunization", "allergy"}
    rows = {name: [row for r in resources for row in v.rows(r)] for name, v in views.items()}
    counts = Counter(r["resourceType"] for r in resources)
    for name, v in views.items():
        if name != "observation_component":
            assert len(rows[name]) == counts[v.resource], f"{name}: one row per resource"
            assert {row[0] for row in rows[name]} == {r["id"] for r in resources if r["resourceType"] == v.resource}
    components = sum(len(r.get("component", [])) for r in resources if r["resourceType"] == "Observation")
    assert len(rows["observation_component"]) == components > 0

    by_id = {r["id"]: r for r in resources}
    columns = [c.name for c in views["observation"].columns]
    for row in rows["observation"]:
        record, source = dict(zip(columns, row, strict=True)), by_id[row[0]]
        assert record["patient_id"] == source["subject"]["reference"].split("/")[1]
        assert record["code"] == source["code"]["coding"][0]["code"]
        assert record["effective"] == source.get("effectiveDateTime")
        quantity = source.get("valueQuantity", {}).get("value", source.get("valueInteger"))
        assert record["value"] == (float(quantity) if quantity is not None else None)


def test_flatten_lines_is_what_spark_executors_run(resources: list[dict[str, Any]]) -> None:
    condition = next(v for v in shipped_views() if v.name == "condition")
    lines = [json.dumps(r) for r in resources if r["resourceType"] == "Condition"] + [""]
    assert list(flatten_lines(condition.definition, lines)) == [
        row for r in resources for row in condition.rows(r)]
