"""The patient allowlist on what the FHIR server sends back (AllowlistGuard), unit by unit against Epic-shaped
respx answers: which records pass, what is refused before a request, what is withheld, when a total may be
shown, and that paging through the guard is the same paging as without it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from epic_mcp.access.patient_scope import AllowlistGuard
from epic_mcp.errors import FhirError, FhirErrorKind
from epic_mcp.fhir.connection import EpicConnection

from ..conftest import EPIC_BASE, EPIC_TOKEN_URL, searchset, token_body

pytestmark = pytest.mark.anyio
ALLOWED, SECOND, OTHER = "erXuFYUfucBZaryVksYEcMg3", "eAB3mDIBBcyUKviyzrxsnAw3", "eq081-VQEgP8drUUqCWzHfw3"
REFUSED_PATIENT = ("this MCP client may only see the records of the patients it is allowed; that patient is not one "
                   "of them (ask the server's operator to add the patient to this client's allowlist)")
REFUSED_SEARCH = ("this MCP client may only see the records of the patients it is allowed; the search names another "
                  "patient (ask the server's operator to add the patient to this client's allowlist)")
WITHHELD = {"resource": {"resourceType": "OperationOutcome", "issue": [{
    "severity": "warning", "code": "suppressed", "details": {"text": "1 record(s) of patients this MCP client is not "
                                                                     "allowed to see were withheld; the total is not "
                                                                     "shown"}}]}, "search": {"mode": "outcome"}}


SERVER_WARNING = {"resourceType": "OperationOutcome", "issue": [{"severity": "warning", "code": "informational",
                                                                  "diagnostics": "Results may be incomplete"}]}


def patient(pid: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid}


def observation(oid: str, pid: str, link: str = "subject") -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final", link: {"reference": f"Patient/{pid}"}}


def ids(page: Any) -> list[str]:
    return [e["resource"]["id"] for e in page.bundle["entry"]
            if isinstance(e, dict) and e.get("resource", {}).get("resourceType") != "OperationOutcome"]


@pytest.fixture
async def guard(settings, epic):
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    connection = EpicConnection.open(settings)
    yield AllowlistGuard(connection.fhir, frozenset({ALLOWED, SECOND}))
    await connection.aclose()


# Which records pass -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("resource_type", ["Practitioner", "PractitionerRole", "Organization", "Location",
                                           "Medication", "Questionnaire"])
async def test_records_about_no_patient_pass_with_their_total(guard, epic, resource_type: str) -> None:
    record = {"resourceType": resource_type, "id": "d1"}
    epic.get(f"{EPIC_BASE}/{resource_type}/d1").respond(200, json=record)
    epic.get(f"{EPIC_BASE}/{resource_type}").respond(200, json=searchset([record], total=57))
    assert (await guard.read(resource_type, "d1"))["id"] == "d1"
    page = await guard.search(resource_type, [("name", "Smith")], 20)
    assert ids(page) == ["d1"] and page.bundle["total"] == 57 and page.countable


@pytest.mark.parametrize("link", ["subject", "patient", "beneficiary"])
async def test_a_record_passes_when_every_patient_it_names_is_allowed(guard, epic, link: str) -> None:
    epic.get(f"{EPIC_BASE}/Coverage/c1").respond(200, json=observation("c1", SECOND, link))
    epic.get(f"{EPIC_BASE}/Coverage/c2").respond(200, json=observation("c2", OTHER, link))
    assert (await guard.read("Coverage", "c1"))["id"] == "c1"
    with pytest.raises(FhirError, match="belongs to another patient, or to none"):
        await guard.read("Coverage", "c2")


async def test_a_patient_record_that_names_no_patient_is_withheld(guard, epic) -> None:
    epic.get(f"{EPIC_BASE}/Observation/o9").respond(200, json={"resourceType": "Observation", "id": "o9"})
    with pytest.raises(FhirError) as refused:
        await guard.read("Observation", "o9")
    assert refused.value.kind is FhirErrorKind.REFUSED


async def test_another_patient_is_refused_before_any_request_in_the_allowlist_s_words(guard, epic) -> None:
    route = epic.get(f"{EPIC_BASE}/Patient/{OTHER}").respond(200, json=patient(OTHER))
    with pytest.raises(FhirError) as refused:
        await guard.read("Patient", OTHER)
    assert str(refused.value) == REFUSED_PATIENT and refused.value.kind is FhirErrorKind.REFUSED
    assert not route.called


# Searches naming a patient ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("resource_type", "params"), [
    ("Observation", [("patient", OTHER)]),
    ("Observation", [("subject", f"Patient/{OTHER}")]),
    ("Coverage", [("beneficiary", OTHER)]),
    ("Observation", [("subject:Patient", OTHER)]),
    ("Observation", [("patient", f"{ALLOWED},{OTHER}")]),
    ("Patient", [("_id", OTHER)]),
    ("Patient", [("_id", f"{ALLOWED}, {OTHER}")]),
])
async def test_a_search_naming_another_patient_is_refused_before_it_is_sent(guard, epic, resource_type,
                                                                            params) -> None:
    route = epic.get(url__startswith=f"{EPIC_BASE}/{resource_type}").respond(200, json=searchset([]))
    with pytest.raises(FhirError) as refused:
        await guard.search(resource_type, params, 20)
    assert str(refused.value) == REFUSED_SEARCH and refused.value.kind is FhirErrorKind.REFUSED
    url = httpx.URL(f"{EPIC_BASE}/{resource_type}").copy_merge_params(params)
    with pytest.raises(FhirError):
        await guard.follow(url, resource_type, 20)
    assert not route.called


@pytest.mark.parametrize(("resource_type", "params"), [
    ("Observation", [("subject", f"Patient/{ALLOWED}")]),
    ("Observation", [("patient", f"{ALLOWED},{SECOND}")]),
    ("Patient", [("_id", f"{ALLOWED},{SECOND}")]),
    ("Observation", [("_id", "o1")]),
])
async def test_a_search_naming_only_allowed_patients_keeps_its_total(guard, epic, resource_type, params) -> None:
    found = [patient(ALLOWED)] if resource_type == "Patient" else [observation("o1", ALLOWED)]
    epic.get(url__startswith=f"{EPIC_BASE}/{resource_type}").respond(200, json=searchset(found, total=40))
    page = await guard.search(resource_type, params, 20)
    expected = 40 if params[0][0] != "_id" or resource_type == "Patient" else None
    assert page.bundle.get("total") == expected and page.countable is (expected is not None)


# What is withheld, and when a total may be shown ------------------------------------------------------------

async def test_what_is_withheld_is_said_in_an_outcome_entry_and_the_total_goes(guard, epic) -> None:
    epic.get(f"{EPIC_BASE}/Patient").respond(200, json=searchset([patient(ALLOWED), patient(OTHER)], total=2))
    page = await guard.search("Patient", [("identifier", "203713")], 20)
    assert page.bundle["entry"][-1] == WITHHELD, "the model sees it in raw answers too"
    assert ids(page) == [ALLOWED] and "total" not in page.bundle and not page.countable


async def test_without_a_total_something_withheld_is_still_said(guard, epic) -> None:
    epic.get(f"{EPIC_BASE}/Patient").respond(200, json=searchset([patient(OTHER)]))
    page = await guard.search("Patient", [("identifier", "203713")], 20)
    assert page.bundle["entry"] == [WITHHELD] and not page.countable


async def test_a_search_of_allowed_patients_only_keeps_a_total_no_larger_than_its_matches(guard, epic) -> None:
    epic.get(f"{EPIC_BASE}/Patient", params={"identifier": "1"}).respond(200, json=searchset([patient(ALLOWED)],
                                                                                               total=1))
    epic.get(f"{EPIC_BASE}/Patient", params={"identifier": "2"}).respond(200, json=searchset(
        [patient(ALLOWED)], total=2, warnings=[SERVER_WARNING]))
    whole = await guard.search("Patient", [("identifier", "1")], 20)
    assert whole.bundle["total"] == 1 and whole.countable, "every match is here and allowed"
    partial = await guard.search("Patient", [("identifier", "2")], 20)
    assert "total" not in partial.bundle and not partial.countable, "a match not on this page may be another's"
    assert [e["resource"] for e in partial.bundle["entry"]] == [patient(ALLOWED), SERVER_WARNING], \
        "the server's own warning is no patient's record: it stays, and nothing is said withheld"


async def test_odd_entries_pass_through_and_a_bundle_without_entries_is_read_as_empty(guard, epic) -> None:
    odd = {**searchset([observation("o1", ALLOWED)]), "entry": [
        {"fullUrl": "x"}, "junk", {"resource": observation("o1", ALLOWED)}]}
    epic.get(f"{EPIC_BASE}/Observation", params={"code": "1"}).respond(200, json=odd)
    epic.get(f"{EPIC_BASE}/Observation", params={"code": "2"}).respond(200, json={
        "resourceType": "Bundle", "type": "searchset", "entry": {"not": "a list"}})
    page = await guard.search("Observation", [("code", "1")], None)
    assert page.bundle["entry"] == odd["entry"]
    empty = await guard.search("Observation", [("code", "2")], None)
    assert empty.bundle["entry"] == []


# Paging through the guard -----------------------------------------------------------------------------------

async def test_paging_through_the_guard_cuts_and_skips_as_the_client_does(guard, epic) -> None:
    second = f"{EPIC_BASE}/Observation?patient={ALLOWED}&sessionID=s1&page=2"
    epic.get(second).respond(200, json=searchset([observation("o3", ALLOWED), observation("o4", ALLOWED)], total=4))
    epic.get(f"{EPIC_BASE}/Observation?patient={ALLOWED}").respond(200, json=searchset(
        [observation("o1", ALLOWED), observation("o2", ALLOWED)], total=4, next_url=second))
    first = await guard.search("Observation", [("patient", ALLOWED)], 1)
    assert ids(first) == ["o1"] and first.remaining == 1 and first.bundle["total"] == 4
    rest = await guard.follow(first.url, "Observation", 1, skip=1)
    assert ids(rest) == ["o2"] and rest.skip == 1
    whole = await guard.follow(httpx.URL(second), "Observation", None)
    assert ids(whole) == ["o3", "o4"], "a page walked to the end (as summaries do) starts at its first result"
    assert whole.bundle["total"] == 4 and whole.countable, "the next link names the allowed patient"


async def test_an_error_on_a_next_page_names_what_was_searched(guard, epic) -> None:
    second = f"{EPIC_BASE}/Observation?sessionID=s1&page=2"
    epic.get(second).respond(403)
    with pytest.raises(FhirError) as failed:
        await guard.follow(httpx.URL(second), "Observation", 20)
    assert str(failed.value) == ("the app is not authorized for Observation (needs system/Observation.read on the app "
                                 "registration)")


async def test_the_guard_offers_the_client_s_other_methods_as_they_are(guard, settings) -> None:
    url = guard.url_for("Observation", "o1")
    assert str(url) == f"{EPIC_BASE}/Observation/o1" and guard.contains(url)
    assert not guard.contains(httpx.URL("https://evil.example.org/R4/Observation"))
    assert guard.masked_path(url) == "Observation/*"
