"""The minimum PHI mode's FHIR client (phi/client.py) on Epic's answers: errors that echo the real values sent lose
them and keep their kind and status, a next page is de-identified as its patient's, answers naming several patients
are de-identified for each, and attachments and links it did not issue, or that are not text, are withheld."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import respx

from epic_mcp.errors import FhirError, FhirErrorKind
from epic_mcp.phi.client import DeidentifyingClient, IdentityCache

from ..conftest import EPIC_BASE, outcome, searchset
from .test_phi import CODEC, PATIENT, PID, SUBJECT

pytestmark = pytest.mark.anyio
PSEUDONYM = CODEC.pseudonym("Patient", PID)
DAYS = CODEC.offset_days(PID)
OTHER = "eQ7nR2kL9mW4xT1vB8cZ5dH3"  # a second patient
OTHER_PATIENT: dict[str, Any] = {"resourceType": "Patient", "id": OTHER, "birthDate": "1950-02-03",
                                 "name": [{"family": "Okafor", "given": ["Nnamdi"]}]}
ELSEWHERE = EPIC_BASE.replace("fhir.epic.com", "elsewhere.example.org")


def moved(day: str, days: int = DAYS) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if "resource" in e]


def patient_reads(epic: respx.MockRouter) -> list[str]:
    return [c.request.url.path.rsplit("/", 1)[-1] for c in epic.calls if "/Patient/" in c.request.url.path]


# Errors that echo what was sent --------------------------------------------------------------------------------

LABS = f"{EPIC_BASE}/Observation?patient={PID}&category=laboratory"
LINK = f"{EPIC_BASE}/Observation?patient={PID}&sessionID=s9&page=2"


def _search(phi: DeidentifyingClient) -> Awaitable[Any]:
    return phi.search("Observation", [("patient", PSEUDONYM), ("category", "laboratory")], 20)


def _read_short_id(phi: DeidentifyingClient) -> Awaitable[Any]:
    return phi.read("Observation", CODEC.pseudonym("Observation", "eO1"))


def _next_page(phi: DeidentifyingClient) -> Awaitable[Any]:
    return phi.follow(httpx.URL(phi.deid.opaque_link(LINK)), "Observation", 20)


def _attachment(phi: DeidentifyingClient) -> Awaitable[Any]:
    return phi.fetch_binary(httpx.URL(f"{EPIC_BASE}/Binary/{CODEC.pseudonym('Binary', 'eBin7', PID)}"))


def _identity_of_a_record(phi: DeidentifyingClient) -> Awaitable[Any]:
    return phi.search("Condition", [("code", "44054006")], 20)


@pytest.mark.parametrize(("call", "url", "status", "code", "diagnostics", "message", "kind"), [
    (_search, f"{EPIC_BASE}/Observation?", 400, "invalid",
     f"Query {LABS} is not supported for patient {PID}",
     "the FHIR server rejected the request: Query [value] is not supported for patient [value]",
     FhirErrorKind.BAD_REQUEST),
    (_read_short_id, f"{EPIC_BASE}/Observation/eO1", 400, "invalid", "Observation eO1 is restricted",
     "the FHIR server rejected the request: Observation [value] is restricted", FhirErrorKind.BAD_REQUEST),
    (_next_page, LINK, 400, "invalid", f"the session of {LINK} expired",
     "the FHIR server rejected the request: the session of [value] expired", FhirErrorKind.BAD_REQUEST),
    (_attachment, f"{EPIC_BASE}/Binary/eBin7", 400, "invalid", "Binary eBin7 is being amended",
     "the FHIR server rejected the request: Binary [value] is being amended", FhirErrorKind.BAD_REQUEST),
    (_identity_of_a_record, f"{EPIC_BASE}/Patient/{OTHER}", 400, "invalid", f"Patient {OTHER} is merged",
     "PHI-minimising mode reads the patient's record to remove the patient's names and numbers from free text, "
     "and that failed: the FHIR server rejected the request: Patient [value] is merged", FhirErrorKind.BAD_REQUEST),
    (_search, f"{EPIC_BASE}/Observation?", 403, "forbidden", "no",
     "the app is not authorized for Observation (needs system/Observation.read on the app registration)",
     FhirErrorKind.FORBIDDEN),
])
async def test_an_error_keeps_its_kind_and_status_and_loses_the_real_values_epic_echoes(
        phi, epic, call: Callable[[DeidentifyingClient], Awaitable[Any]], url: str, status: int, code: str,
        diagnostics: str, message: str, kind: FhirErrorKind) -> None:
    """Epic's diagnostics may repeat the URL, ids and values it was sent: each real one is masked whole (the
    longest first, so a URL is not left with its id masked and the rest readable), even an id of 3 characters."""
    epic.get(url__startswith=url).respond(status, json=outcome("error", code, "4100", diagnostics))
    epic.get(url__startswith=f"{EPIC_BASE}/Condition?").respond(200, json=searchset([
        {"resourceType": "Condition", "id": "c1", "subject": {"reference": f"Patient/{OTHER}"}}]))
    with pytest.raises(FhirError) as failed:
        await call(phi)
    assert (str(failed.value), failed.value.kind, failed.value.status) == (message, kind, status)


# Paging --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("searched", [f"patient={PID}", f"subject=Patient%2F{PID}"])
async def test_a_next_page_whose_records_do_not_name_the_patient_is_de_identified_as_the_link_s_patient(
        phi, epic, searched: str) -> None:
    """Epic's next link names the searched patient; the page's records (here without a subject) are that
    patient's: dates move by its offset and its names leave the text."""
    second = f"{EPIC_BASE}/Observation?{searched}&sessionID=s1&page=2"
    epic.get(second).respond(200, json=searchset([{
        "resourceType": "Observation", "id": "eObs2", "status": "final", "effectiveDateTime": "2026-01-10",
        "note": [{"text": "Camila Lopez tolerated the draw"}]}]))
    page = await phi.follow(httpx.URL(phi.deid.opaque_link(second)), "Observation", 20)
    [observation] = resources(page.bundle)
    assert observation["effectiveDateTime"] == moved("2026-01-10")
    assert observation["note"] == [{"text": "[name] tolerated the draw"}]


async def test_a_search_is_cut_to_the_results_asked_for_and_names_the_search_as_the_model_gave_it(
        phi, epic) -> None:
    records = [{"resourceType": "Observation", "id": f"eObs{n}", "status": "final", "subject": SUBJECT}
               for n in (1, 2, 3)]
    epic.get(url__startswith=f"{EPIC_BASE}/Observation?").respond(200, json=searchset(records, total=3))
    first = await phi.search("Observation", [("patient", PSEUDONYM), ("code", "4548-4")], 2)
    assert [r["id"] for r in resources(first.bundle)] == [CODEC.pseudonym("Observation", f"eObs{n}")
                                                            for n in (1, 2)]
    assert first.url == httpx.URL(f"{EPIC_BASE}/Observation?patient={PSEUDONYM}&code=4548-4"), \
        "the model's values, so that following it again maps them back the same way"
    assert (first.results, first.skip, first.remaining) == (3, 0, 1)
    rest = await phi.follow(first.url, "Observation", 2, skip=2)
    assert [r["id"] for r in resources(rest.bundle)] == [CODEC.pseudonym("Observation", "eObs3")]
    assert rest.url == first.url and (rest.skip, rest.remaining) == (2, 0)


async def test_an_issued_link_or_attachment_on_another_host_is_refused_before_any_request(phi, epic) -> None:
    """The same path on another host is not a link this server issued, even though its pseudonym is genuine."""
    link = phi.deid.opaque_link(f"{EPIC_BASE}/Observation?patient={PID}&page=2")
    with pytest.raises(FhirError) as refused:
        await phi.follow(httpx.URL(link.replace(EPIC_BASE, ELSEWHERE)), "Observation", 20)
    assert refused.value.kind == FhirErrorKind.REFUSED
    with pytest.raises(FhirError) as refused:
        await phi.fetch_binary(httpx.URL(f"{ELSEWHERE}/Binary/{CODEC.pseudonym('Binary', 'eBin7', PID)}"))
    assert refused.value.kind == FhirErrorKind.REFUSED
    with pytest.raises(FhirError) as refused:
        await phi.fetch_binary(httpx.URL(f"{EPIC_BASE}/Binary/{CODEC.pseudonym('Binary', 'eBin7')}"))
    assert refused.value.kind == FhirErrorKind.REFUSED
    assert [c.request.url.path for c in epic.calls if c.request.method == "GET"] == []


# Attachments ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("headers", "message"), [
    ({"Content-Type": "image/png"}, "the attachment is image/png; PHI-minimising mode returns only text it can "
                                    "de-identify"),
    ({}, "the attachment is not text; PHI-minimising mode returns only text it can de-identify"),
])
async def test_an_attachment_that_is_not_text_is_withheld_and_says_what_it_is(phi, epic, headers, message) -> None:
    epic.get(f"{EPIC_BASE}/Binary/eScan").respond(200, content=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\xff",
                                                  headers=headers)
    with pytest.raises(FhirError) as withheld:
        await phi.fetch_binary(httpx.URL(f"{EPIC_BASE}/Binary/{CODEC.pseudonym('Binary', 'eScan', PID)}"))
    assert (str(withheld.value), withheld.value.kind) == (message, FhirErrorKind.REFUSED)


async def test_an_attachment_of_no_patient_is_scrubbed_by_pattern_and_reads_no_patient(phi, epic) -> None:
    """A document that names no patient has its attachment links issued for no one: nobody's record is read."""
    epic.get(f"{EPIC_BASE}/Binary/eMemo").respond(200, content=b"Call 469-555-0134 about the rota",
                                                  headers={"Content-Type": "text/plain"})
    text, kind = await phi.fetch_binary(httpx.URL(f"{EPIC_BASE}/Binary/{CODEC.pseudonym('Binary', 'eMemo', '')}"))
    assert (text, kind) == (b"Call [phone] about the rota", "text/plain; charset=utf-8")
    assert patient_reads(epic) == []


# Answers that name several patients, or none ---------------------------------------------------------------------

async def test_an_answer_holding_two_patients_records_is_de_identified_for_each(phi, epic) -> None:
    """A search across patients: each record moves by its own patient's offset and loses its own patient's name,
    whichever patient comes first."""
    epic.get(f"{EPIC_BASE}/Patient/{OTHER}").respond(200, json=OTHER_PATIENT)
    epic.get(url__startswith=f"{EPIC_BASE}/Condition?").respond(200, json=searchset([
        {"resourceType": "Condition", "id": "c1", "subject": SUBJECT, "onsetDateTime": "2026-01-10",
         "note": [{"text": "Camila reports pain"}]},
        {"resourceType": "Condition", "id": "c2", "subject": {"reference": f"Patient/{OTHER}"},
         "onsetDateTime": "2026-01-10", "note": [{"text": "Nnamdi reports pain"}]}]))
    page = await phi.search("Condition", [("code", "44054006")], 20)
    mine, theirs = resources(page.bundle)
    assert (mine["onsetDateTime"], mine["note"]) == (moved("2026-01-10"), [{"text": "[name] reports pain"}])
    assert (theirs["onsetDateTime"], theirs["note"]) == (moved("2026-01-10", CODEC.offset_days(OTHER)),
                                                         [{"text": "[name] reports pain"}])
    assert sorted(patient_reads(epic)) == sorted([PID, OTHER])


async def test_a_patient_in_the_answer_is_not_read_again_and_serves_the_records_beside_it(phi, epic) -> None:
    """A Patient search with records included, hers and another patient's: the patient in the answer is used as it
    is for her records (one read fewer), the other patient is read, and every record is de-identified."""
    epic.get(f"{EPIC_BASE}/Patient/{OTHER}").respond(200, json=OTHER_PATIENT)
    epic.get(url__startswith=f"{EPIC_BASE}/Patient?").respond(200, json=searchset([
        PATIENT, {"resourceType": "Condition", "id": "c1", "subject": SUBJECT,
                  "note": [{"text": "Camila Lopez reports pain"}]},
        {"resourceType": "Condition", "id": "c2", "subject": {"reference": f"Patient/{OTHER}"},
         "note": [{"text": "Nnamdi reports pain"}]}]))
    page = await phi.search("Patient", [("identifier", "MRN|203713")], 20)
    patient, hers, theirs = resources(page.bundle)
    assert patient["id"] == PSEUDONYM and patient["birthDate"] == "1987" and "name" not in patient
    assert hers["note"] == theirs["note"] == [{"text": "[name] reports pain"}]
    assert patient_reads(epic) == [OTHER]


async def test_a_search_answered_with_a_bare_record_is_still_the_searched_patient_s(phi, epic) -> None:
    """A server may answer a search with one resource instead of a Bundle: when it names no patient it is the
    searched patient's, its dates moved and her names gone, as in a Bundle."""
    epic.get(url__startswith=f"{EPIC_BASE}/Observation?").respond(200, json={
        "resourceType": "Observation", "id": "eObs1", "status": "final", "effectiveDateTime": "2026-01-10",
        "note": [{"text": "Camila Lopez tolerated the draw"}]})
    page = await phi.search("Observation", [("patient", PSEUDONYM)], 20)
    assert page.bundle["effectiveDateTime"] == moved("2026-01-10")
    assert page.bundle["note"] == [{"text": "[name] tolerated the draw"}]


async def test_a_search_of_no_patient_whose_records_name_none_is_scrubbed_by_pattern(phi, epic) -> None:
    """Without a searched patient and without a subject, a record belongs to no one known: it is answered with
    the patterns scrubbed and no date moved, and no patient's record is read."""
    epic.get(url__startswith=f"{EPIC_BASE}/Observation?").respond(200, json=searchset([{
        "resourceType": "Observation", "id": "eObs1", "status": "final", "effectiveDateTime": "2026-01-10",
        "note": [{"text": "call 469-555-0134 with results"}]}]))
    page = await phi.search("Observation", [("code", "4548-4")], 20)
    [observation] = resources(page.bundle)
    assert observation["effectiveDateTime"] == "2026-01-10"
    assert observation["note"] == [{"text": "call [phone] with results"}]
    assert patient_reads(epic) == []


async def test_a_clinicians_record_needs_no_patient_identity_even_when_it_points_at_a_patient(phi, epic) -> None:
    """Directory records are no patient's data: a reference to a patient inside one reads no record (which could
    fail and take the clinician's answer with it)."""
    epic.get(f"{EPIC_BASE}/Patient/{OTHER}").respond(403, json=outcome("error", "forbidden", "4118", "no"))
    epic.get(url__startswith=f"{EPIC_BASE}/Practitioner?").respond(200, json=searchset([{
        "resourceType": "Practitioner", "id": "eDoc1", "name": [{"text": "Ann Smith"}],
        "extension": [{"url": "http://example.org/last-patient", "valueReference": {
            "reference": f"Patient/{OTHER}"}}]}]))
    page = await phi.search("Practitioner", [("name", "Smith")], 20)
    assert [r["id"] for r in resources(page.bundle)] == ["eDoc1"] and patient_reads(epic) == []


async def test_a_searchset_without_entries_or_with_an_entry_holding_no_resource_is_answered(phi, epic) -> None:
    """Epic leaves `entry` out of an empty searchset; an entry may hold only an outcome's search mode."""
    empty = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    epic.get(url__startswith=f"{EPIC_BASE}/Condition?").respond(200, json=empty)
    page = await phi.search("Condition", [("patient", PSEUDONYM)], 20)
    assert page.bundle == {"resourceType": "Bundle", "type": "searchset", "total": 0}
    odd = searchset([{"resourceType": "Condition", "id": "c1", "subject": SUBJECT}])
    odd["entry"].append({"search": {"mode": "outcome"}})
    epic.get(url__startswith=f"{EPIC_BASE}/Encounter?").respond(200, json=odd)
    page = await phi.search("Encounter", [("patient", PSEUDONYM)], 20)
    assert page.bundle["entry"][1] == {"search": {"mode": "outcome"}}


async def test_a_record_of_a_patient_epic_answers_under_another_id_is_refused_not_shown(phi, epic) -> None:
    """A merged patient: Epic answers the read of the old id with the surviving record. The old id's records
    cannot be de-identified with an identity that is not theirs, so the answer is refused."""
    epic.get(f"{EPIC_BASE}/Patient/{OTHER}").respond(200, json={**OTHER_PATIENT, "id": "eSurvivor1"})
    epic.get(url__startswith=f"{EPIC_BASE}/Condition?").respond(200, json=searchset([
        {"resourceType": "Condition", "id": "c2", "subject": {"reference": f"Patient/{OTHER}"},
         "note": [{"text": "Nnamdi reports pain"}]}]))
    with pytest.raises(FhirError) as refused:
        await phi.search("Condition", [("code", "44054006")], 20)
    assert (str(refused.value), refused.value.kind) == (
        "an answer held records of a patient it did not name clearly, so they could not be de-identified; narrow "
        "the search", FhirErrorKind.INVALID_RESPONSE)


# FhirClient's interface and the identity cache ------------------------------------------------------------------

async def test_it_keeps_the_real_clients_timeout_and_masks_ids_in_logged_paths(phi) -> None:
    assert phi.timeout == phi.inner.timeout and phi.timeout > 0
    assert phi.masked_path(httpx.URL(f"{EPIC_BASE}/Patient/{PID}")) == "Patient/*"


async def test_a_read_that_fails_after_its_caller_gave_up_is_not_reported_as_unhandled() -> None:
    """The read goes on for other callers when one gives up; if it then fails, its error is taken, not left for
    asyncio to log as 'Task exception was never retrieved'."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context))
    release = asyncio.Event()

    async def read(patient_id: str) -> dict[str, Any]:
        await release.wait()
        raise FhirError(FhirErrorKind.NOT_FOUND, "no Patient with that id")

    try:
        cache = IdentityCache(read)
        caller = asyncio.ensure_future(cache.get("p1"))
        await asyncio.sleep(0)
        caller.cancel()
        with suppress(asyncio.CancelledError):
            await caller
        release.set()
        for _ in range(5):
            await asyncio.sleep(0)
        del cache, caller
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
    assert reported == []
