"""The fast FHIRPath evaluator gives fhirpathpy's answers: for every shipped view column on every resource (and
every forEach item) of the sandbox data, and on edge cases; what it does not model goes to fhirpathpy."""

from __future__ import annotations

from typing import Any

import pytest

from epic_mcp.population.fastpath import Fallback, compile_fast
from epic_mcp.population.viewdef import _convert, _path, shipped_views
from epic_mcp.sandbox import data_set

from ..conftest import run_today


def both(expression: str, focus: Any) -> tuple[list[Any], list[Any]]:
    fast = compile_fast(expression)
    assert fast is not None, f"{expression} should be fast"
    return fast(focus), _path(expression)(focus, {})


def columns_of(select: list[dict[str, Any]], each: str | None = None):
    for node in select:
        inner = node.get("forEach") or node.get("forEachOrNull") or each
        for column in node.get("column", []):
            yield inner if (node.get("forEach") or node.get("forEachOrNull")) else each, column
        yield from columns_of(node.get("select", []), inner)


def test_every_fast_column_of_the_shipped_views_equals_fhirpathpy_on_the_sandbox_data() -> None:
    resources = data_set(run_today())["resources"]
    checked = fast_columns = all_columns = 0
    for view in shipped_views():
        mine = [r for r in resources if r["resourceType"] == view.resource]
        for each, column in columns_of(view.definition["select"]):
            all_columns += 1
            fast = compile_fast(column["path"])
            if fast is None:
                continue
            fast_columns += 1
            kind = next(c.kind for c in view.columns if c.name == column["name"])
            slow = _path(column["path"])
            foci = [node for r in mine for node in _path(each, nodes=True)(r, {})] if each else mine
            for focus in foci:
                try:
                    quick = fast(focus)
                except Fallback:
                    continue
                expected = slow(focus, {})
                assert [_convert(v, kind) for v in quick] == [_convert(v, kind) for v in expected], \
                    f"{view.name}.{column['name']} on {getattr(focus, 'data', focus).get('id')}"
                checked += 1
    assert fast_columns >= 0.6 * all_columns, "most columns are plain navigation"
    assert checked > 20_000


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
])
def test_edge_cases_agree_with_fhirpathpy(expression: str, focus: dict[str, Any]) -> None:
    resource = {"resourceType": "Observation", "id": "o1", **focus}
    quick, expected = both(expression, resource)
    assert quick == expected


@pytest.mark.parametrize("expression", [
    "Patient.name.family", "gender = %wanted", "deceased.ofType(boolean) or deceased.exists()",
    "reaction.manifestation.select(text)", "identifier.where(type.coding.code = 'MR').value", "name[0]",
])
def test_what_it_does_not_model_goes_to_fhirpathpy(expression: str) -> None:
    assert compile_fast(expression) is None
