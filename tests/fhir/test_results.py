"""What a search page says: its items and warnings, whose records they are, the total and whether it is a count."""

from __future__ import annotations

from typing import Any

import pytest

from epic_mcp.fhir.results import bundle_parts, ignored_parameters, linked_patients, reported_total, software_of

from ..conftest import EPIC_BASE, outcome


def ref(text: Any) -> dict[str, Any]:
    return {"reference": text}


@pytest.mark.parametrize(("resource", "patients"), [
    ({"resourceType": "Observation", "subject": ref("Patient/e1")}, {"e1"}),
    ({"resourceType": "Observation", "subject": ref(f"{EPIC_BASE}/Patient/e1")}, {"e1"}),
    ({"resourceType": "Observation", "subject": ref("Patient/e1/_history/3")}, {"e1"}),
    ({"resourceType": "Observation", "subject": ref("https://ehr.example.org/Patient/fhir/Patient/e1/_history/2")},
     {"e1"}),  # the last Patient/ segment names her, whatever the server's base path holds
    ({"resourceType": "AllergyIntolerance", "patient": ref("Patient/e2")}, {"e2"}),
    ({"resourceType": "Coverage", "beneficiary": ref("Patient/e3")}, {"e3"}),
    ({"resourceType": "Observation", "subject": ref("Group/g1")}, set()),
    ({"resourceType": "Observation", "subject": ref(42)}, set()),
    ({"resourceType": "Observation", "subject": "Patient/e1"}, set()),
    ({"resourceType": "Observation", "subject": ref("Patient/")}, set()),
    ({"resourceType": "Observation"}, set()),
    ({"resourceType": "Appointment", "participant": [{"actor": ref("Patient/e1")},
                                                     {"actor": ref("Practitioner/d1")}, "junk"]}, {"e1"}),
    ({"resourceType": "Encounter", "participant": [{"actor": ref("Patient/e9")}], "subject": ref("Patient/e1")},
     {"e1"}),
    ({"resourceType": "Appointment", "participant": {"actor": ref("Patient/e1")}}, set()),
    ({"resourceType": "Coverage", "patient": ref("Patient/e1"), "beneficiary": ref("Patient/e4")}, {"e1", "e4"}),
])
def test_the_patients_a_record_belongs_to(resource: dict[str, Any], patients: set[str]) -> None:
    assert linked_patients(resource) == patients


def bundle(self_url: Any) -> dict[str, Any]:
    return {"resourceType": "Bundle", "link": [{"relation": "next", "url": "x?a=1"}, "junk",
                                               {"relation": "self", "url": self_url}]}


def test_parameters_missing_from_the_self_link_were_ignored_by_the_server() -> None:
    sent = [("patient", "e1"), ("code", "4548-4"), ("date", "ge2024"), ("_count", "20"), ("_summary", "count")]
    assert ignored_parameters(bundle(f"{EPIC_BASE}/Observation?patient=e1&_count=20"), sent) == {"code", "date"}
    assert ignored_parameters(bundle(f"{EPIC_BASE}/Observation?patient=e1&code:text=x&date=ge2024"), sent) == set()
    assert ignored_parameters(bundle(f"{EPIC_BASE}/Observation"), sent) == set(), "a self link without a query"
    odd_values = f"{EPIC_BASE}/Observation?code=a?b=c&patient=e1&date=ge2024"
    assert ignored_parameters(bundle(odd_values), sent) == set(), "'?' and '=' inside values are values"
    assert ignored_parameters(bundle(None), sent) == set()
    assert ignored_parameters({"link": "junk"}, sent) == set()
    assert ignored_parameters({}, sent) == set()


@pytest.mark.parametrize(("server_total", "seen", "results", "more", "said"), [
    (1000, 0, 1000, True, (None, 1000)),  # Epic's page size in Bundle.total: at least, not a count
    (2500, 0, 1000, True, (2500, None)),  # a real total larger than what was shown
    (None, 0, 20, True, (None, 20)),
    (None, 40, 20, True, (None, 60)),
    (60, 40, 20, True, (None, 60)),
    (61, 40, 20, True, (61, None)),
    (None, 40, 7, False, (47, None)),  # the last page: the count is exact
    (20, 40, 7, False, (47, None)),  # a page size on the last page is not the count
    (47, 40, 7, False, (47, None)),
    (40, 40, 7, False, (47, None)),  # less than were shown: not a count
    (46, 40, 7, False, (47, None)),
    (50, 40, 7, False, (50, None)),
    (0, 0, 0, False, (0, None)),
])
def test_a_total_is_a_count_only_when_it_can_be(server_total, seen, results, more, said) -> None:
    assert reported_total(server_total, seen, results, more) == said


def test_a_bundle_gives_its_items_warnings_total_and_next_link() -> None:
    notice = outcome("warning", "informational", "4101", "Resource request returns no results.")
    found = {
        "resourceType": "Bundle", "total": 2,
        "entry": [
            {"resource": {"resourceType": "Observation", "id": "o1"}, "search": {"mode": "match"}},
            {"resource": notice, "search": {"mode": "outcome"}},
            {"resource": notice},
            {"resource": {"resourceType": "Observation", "id": "o2"}, "search": "junk"},
            {"resource": {"resourceType": "Condition", "id": "c1"}, "search": {"mode": "outcome"}},
            {"resource": "junk"}, "junk", {"fullUrl": "no resource"},
        ],
        "link": [{"relation": "self", "url": "s"}, {"relation": "next", "url": 7}, "junk",
                 {"relation": "next", "url": f"{EPIC_BASE}/Observation?page=2"}],
    }
    items, warnings, total, next_link = bundle_parts(found)
    assert [i["id"] for i in items] == ["o1", "o2"]
    assert len(warnings) == 1 and "no results" in warnings[0].lower()
    assert (total, next_link) == (2, f"{EPIC_BASE}/Observation?page=2")
    assert bundle_parts({"resourceType": "Bundle", "total": "2", "entry": "junk", "link": "junk"}) == ([], [], None,
                                                                                                         None)
    assert bundle_parts({"resourceType": "Bundle", "total": 0}) == ([], [], 0, None), "an empty search has no entry"
    gap = {"resourceType": "Bundle", "entry": ["junk", {"search": {"mode": "match"}},
                                              {"resource": {"resourceType": "Condition", "id": "c1"}}]}
    assert bundle_parts(gap)[0] == [{"resourceType": "Condition", "id": "c1"}], "an odd entry does not end the page"


def test_the_server_software_is_named_when_the_capability_statement_says() -> None:
    assert software_of({"software": {"name": "Epic", "version": "November 2026"}}) == "Epic November 2026"
    assert software_of({"software": {"name": "Epic"}}) == "Epic"
    assert software_of({"software": {"version": "1.0"}}) == "1.0"
    assert software_of({"software": {}}) is None
    assert software_of({"software": "Epic"}) is None
    assert software_of(None) is None
