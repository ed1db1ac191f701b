"""The fast FHIRPath evaluator gives fhirpathpy's answers: for every shipped view column and forEach on every
resource (and every forEach item) of the sandbox data, a tenth of the unseen US + JP records, the Epic-shaped ones
and Epic's real bodies when present, and on edge cases; what it does not model goes to fhirpathpy."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from epic_mcp.population.fastpath import Fallback, compile_fast
from epic_mcp.population.viewdef import _convert, _path, shipped_views
from epic_mcp.sandbox import data_set

from ..conftest import run_today
from ..unseen_data import unseen_data_set
from .epic_shaped import real_resources, synthetic_resources


def both(expression: str, focus: Any) -> tuple[list[Any], list[Any]]:
    fast = compile_fast(expression)
    assert fast is not None, f"{expression} should be fast"
    return fast(focus), _path(expression)(focus, {})


def select_nodes(select: list[dict[str, Any]], each: str | None = None):
    """Every select node (nested, unionAll branches) with the forEach that gives its focus (None: the resource)."""
    for node in select:
        inner = node.get("forEach") or node.get("forEachOrNull") or each
        yield inner, node
        yield from select_nodes(node.get("select", []), inner)
        yield from select_nodes(node.get("unionAll", []), inner)


def distinct(items: list[Any]) -> list[Any]:
    """forEach items once each (codings repeat: the same LOINC coding on a thousand vital signs)."""
    seen: dict[str, Any] = {}
    for item in items:
        seen.setdefault(json.dumps(getattr(item, "data", item), sort_keys=True), item)
    return list(seen.values())


def sample() -> list[dict[str, Any]]:
    """The sandbox, every tenth unseen record (US and JP shapes), the Epic-shaped records and, when present, the
    first 200 of Epic's real bodies of each type."""
    real = real_resources()
    kinds = {r["resourceType"] for r in real}
    firsts = [r for kind in kinds for r in [x for x in real if x["resourceType"] == kind][:200]]
    return [*data_set(run_today())["resources"], *unseen_data_set()["resources"][::10],
            *synthetic_resources(), *firsts]


def test_every_fast_column_and_for_each_of_the_shipped_views_equals_fhirpathpy() -> None:
    resources = sample()
    checked = fast_paths = all_paths = 0
    for view in shipped_views(date(2026, 12, 6)):
        mine = [r for r in resources if r["resourceType"] == view.resource]
        for each, node in select_nodes(view.definition["select"]):
            iterate = _path(each, nodes=True) if each else None
            foci = distinct([item for r in mine for item in iterate(r, {})]) if iterate else mine
            if node.get("forEach"):
                fast_each = compile_fast(node["forEach"])
                all_paths += 1
                if fast_each is not None:
                    fast_paths += 1
                    slow_each = _path(node["forEach"], nodes=True)
                    for resource in mine:
                        assert fast_each(resource) == [getattr(i, "data", i) for i in slow_each(resource, {})]
            for column in node.get("column", []):
                all_paths += 1
                fast = compile_fast(column["path"])
                if fast is None:
                    continue
                fast_paths += 1
                kind = next(c.kind for c in view.columns if c.name == column["name"])
                slow = _path(column["path"])
                for focus in foci:
                    try:
                        quick = fast(focus)
                    except Fallback:
                        continue
                    expected = slow(focus, view.constants)
                    assert [_convert(v, kind) for v in quick] == [_convert(v, kind) for v in expected], \
                        f"{view.name}.{column['name']} on {getattr(focus, 'data', focus).get('id')}"
                    checked += 1
    assert fast_paths >= 0.95 * all_paths, "the shipped views' FHIRPath is the fast subset"
    assert checked > 40_000


@pytest.mark.parametrize("expression, focus", [
    ("name.given.join(' ')", {"name": [{"given": ["A", "B"]}, {"given": ["C"]}]}),
    ("name.given.join(' ')", {"name": [{"family": "X"}]}),
    ("name.family.first()", {"name": []}),
    ("telecom.where(system = 'email').value", {"telecom": [{"system": "email", "value": "a"},
                                                           {"system": "phone", "value": "b"}]}),
    ("iif(code.text.exists(), code.text, code.coding.display.first())", {"code": {"coding": [{"display": "D"}]}}),
    ("iif(code.text.exists(), code.text, code.coding.display.first())", {"code": {"text": "T"}}),
    ("value.ofType(Quantity).value", {"valueString": "x"}),
    ("subject.getReferenceKey(Patient)", {"subject": {"reference": "Group/g1"}}),
    ("subject.getReferenceKey()", {"subject": {"display": "no reference"}}),
    ("component.count()", {"component": [{}, {}]}),
    ("note.exists()", {}),
    ("code.coding.where(system in ('a' | 'b')).code.distinct()", {"code": {"coding": [
        {"system": "b", "code": "1"}, {"system": "c", "code": "2"}, {"system": "a", "code": "1"}]}}),
    ("code.coding.where(system.startsWith('urn:oid:1.2.840.114350.') or code = 'x').code",
     {"code": {"coding": [{"system": "urn:oid:1.2.840.114350.1.13", "code": "8"}, {"code": "x"}, {"code": "y"}]}}),
    ("iif(status = 'final' and issued.exists().not(), 'yes', 'no')", {"status": "final"}),
    ("iif(status = 'final' and issued.exists(), 'yes', 'no')", {"status": "final"}),
    ("iif(status != 'final', 'other')", {"status": "final"}),
    ("iif(status != 'final', 'other')", {}),
    ("iif(category.coding.where(code = 'Lab').exists(), 'laboratory', {})",
     {"category": [{"coding": [{"code": "Lab"}]}]}),
    ("communication.where(preferred = true).language.coding.code.first()",
     {"communication": [{"language": {"coding": [{"code": "en"}]}}, {"preferred": True,
                                                                     "language": {"coding": [{"code": "es"}]}}]}),
    ("iif(deceased.ofType(boolean) = true or deceased.ofType(dateTime).exists(), true, false)", {}),
    ("iif(deceased.ofType(boolean) = true or deceased.ofType(dateTime).exists(), true, false)",
     {"resourceType": "Patient", "deceasedDateTime": "2020-01-01"}),
    ("code.coding.select(iif(system = 'a', 'A', {}))", {"code": {"coding": [{"system": "a"}, {"system": "b"}]}}),
    ("code.text.lower() = 'lab' or code.text.empty()", {"code": {"text": "LAB"}}),
    ("code.exists(text = 'T')", {"code": {"text": "T"}}),
])
def test_edge_cases_agree_with_fhirpathpy(expression: str, focus: dict[str, Any]) -> None:
    resource = {"resourceType": "Observation", "id": "o1", **focus}
    quick, expected = both(expression, resource)
    assert quick == expected


@pytest.mark.parametrize("expression", [
    "Patient.name.family", "gender = %wanted", "name[0]", "birthDate.toString()", "value + 1",
    "code.coding.code.first().substring(0, 3)", "(code).ofType(string)",
])
def test_what_it_does_not_model_goes_to_fhirpathpy(expression: str) -> None:
    assert compile_fast(expression) is None
