"""A page of search results in the minimum PHI mode: what a searchset keeps of itself and of each entry, its self
link stripped to the names of the parameters, its other links and the Binary links of attachments made opaque
(under the deployment's base, whatever way its URL was written), and links it did not issue refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from epic_mcp.phi.dates import shift_fhir
from epic_mcp.phi.resources import FOREIGN_LINK, Deidentifier, Policy
from epic_mcp.phi.scrub import Identity

from ..conftest import EPIC_BASE
from .test_phi import CODEC, PATIENT, PID, SUBJECT, TODAY, deidentifier

IDENTITIES = {PID: Identity.of(PATIENT)}
DAYS = CODEC.offset_days(PID)
SEEN = "2025-01-10T09:30:00Z"


def searchset(*entries: Any, links: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"resourceType": "Bundle", "id": "b1", "type": "searchset", "total": len(entries),
            "meta": {"lastUpdated": SEEN}, "link": links or [], "entry": list(entries)}


def test_a_page_keeps_its_type_total_and_each_entry_s_search_mode_and_score_and_nothing_else() -> None:
    observation = {"resourceType": "Observation", "id": "o1", "status": "final", "subject": SUBJECT,
                   "effectiveDateTime": SEEN}
    unnamed = {"resourceType": "Observation", "id": "o2", "status": "final", "effectiveDateTime": SEEN}
    page = searchset("not an entry",
                     {"fullUrl": f"{EPIC_BASE}/Observation/o1", "resource": observation,
                      "search": {"mode": "match", "score": 1, "extension": [{"url": "x", "valueString": PID}]}},
                     {"fullUrl": f"{EPIC_BASE}/Observation/o2", "resource": unnamed, "search": {"mode": "include"}},
                     {"fullUrl": "Observation?identifier=203713", "search": {"mode": "outcome"}})
    out = deidentifier().bundle(page, IDENTITIES, default_patient=PID)
    moved = shift_fhir(SEEN, DAYS)
    assert out == {"resourceType": "Bundle", "type": "searchset", "total": 4, "entry": [
        {"search": {"mode": "match", "score": 1},
         "fullUrl": f"{EPIC_BASE}/Observation/{CODEC.pseudonym('Observation', 'o1')}",
         "resource": {**observation, "id": CODEC.pseudonym("Observation", "o1"), "effectiveDateTime": moved,
                      "subject": {"reference": f"Patient/{CODEC.pseudonym('Patient', PID)}"}}},
        {"search": {"mode": "include"}, "fullUrl": f"{EPIC_BASE}/Observation/{CODEC.pseudonym('Observation', 'o2')}",
         "resource": {**unnamed, "id": CODEC.pseudonym("Observation", "o2"), "effectiveDateTime": moved}},
        {"search": {"mode": "outcome"}}]}, "an entry naming no patient is the searched patient's"


def test_the_directory_on_a_page_of_a_patient_s_search_needs_no_identity() -> None:
    """A page of clinicians (or places) found for one patient: no patient's record, so no identity is read."""
    practitioner = {"resourceType": "Practitioner", "id": "eDoc1", "name": [{"text": "Ann Smith"}]}
    out = deidentifier().bundle(searchset({"resource": practitioner}), {}, default_patient=PID)
    assert out["entry"] == [{"resource": practitioner}]


BASE = f"{EPIC_BASE}/"


@pytest.mark.parametrize(("url", "shown"), [
    pytest.param(f"{EPIC_BASE}/Observation?patient={PID}&category=laboratory&date=ge2025-01-01",
                 f"{BASE}Observation?patient=-&category=-&date=-", id="every-value-withheld"),
    pytest.param(f"{EPIC_BASE}/Observation?code=8480-6=x&_text=seen?yes&patient={PID}",
                 f"{BASE}Observation?code=-&_text=-&patient=-", id="values-holding-=-and-?"),
    pytest.param(f"{EPIC_BASE}/Observation/?patient={PID}", f"{BASE}Observation?patient=-", id="a-trailing-slash"),
    pytest.param(f"Observation?patient={PID}", f"{BASE}Observation?patient=-", id="relative"),
    pytest.param(f"{EPIC_BASE}/Observation/_search?patient={PID}", f"{BASE}?patient=-", id="no-type-at-its-end"),
    pytest.param(f"{EPIC_BASE}/Observation", f"{BASE}Observation?", id="no-parameters"),
])
def test_the_self_link_keeps_only_the_searched_type_and_the_names_of_its_parameters(url: str, shown: str) -> None:
    out = deidentifier().bundle(searchset(links=[{"relation": "self", "url": url}]), IDENTITIES)
    assert out["link"] == [{"relation": "self", "url": shown}]


def test_other_links_become_opaque_and_a_link_without_a_relation_or_url_is_left_out() -> None:
    deid = deidentifier()
    page = searchset(links=[{"relation": "next"}, {"url": f"{EPIC_BASE}/Observation?patient={PID}"},
                            {"relation": "next", "url": f"{EPIC_BASE}/Observation?patient={PID}&page=2"},
                            {"relation": "previous", "url": "https://elsewhere.example.org/R4/Observation?page=1"}])
    out = deid.bundle(page, IDENTITIES)
    (following, foreign) = out["link"]
    assert following["relation"] == "next" and PID not in following["url"]
    assert str(deid.real_link(httpx.URL(following["url"]))) == f"{EPIC_BASE}/Observation?patient={PID}&page=2"
    assert foreign == {"relation": "previous", "url": FOREIGN_LINK}


def test_a_paging_link_altered_or_not_issued_leads_nowhere() -> None:
    deid = deidentifier()
    opaque = deid.opaque_link(f"{EPIC_BASE}/Observation?patient={PID}&page=2")
    altered = opaque[:-1] + ("A" if opaque[-1] != "A" else "B")
    assert deid.real_link(httpx.URL(altered)) is None
    assert deid.real_link(httpx.URL(f"{EPIC_BASE}/_phi/{CODEC.pseudonym('Observation', 'o1')}")) is None


# Binary links of attachments ----------------------------------------------------------------------------------

def attachment_url(deid: Deidentifier, url: str) -> str | None:
    note = {"resourceType": "DocumentReference", "id": "d1", "subject": SUBJECT,
            "content": [{"attachment": {"contentType": "text/rtf", "url": url, "title": "Progress note"}}]}
    return deid.resource(note, IDENTITIES)["content"][0]["attachment"].get("url")


SANDBOX = "http://localhost:8080/fhir/R4"


@pytest.mark.parametrize(("base", "url", "shown"), [
    pytest.param(EPIC_BASE, "Binary/eBin7", "Binary/", id="relative"),
    pytest.param(EPIC_BASE, f"{EPIC_BASE}/Binary/eBin7", f"{EPIC_BASE}/Binary/", id="absolute"),
    pytest.param(EPIC_BASE + "/", f"{EPIC_BASE}/Binary/eBin7", f"{EPIC_BASE}/Binary/", id="a-base-ending-in-/"),
    pytest.param(SANDBOX, f"{SANDBOX}/Binary/eBin7", f"{SANDBOX}/Binary/", id="a-base-over-plain-http"),
    pytest.param("https://fhir.example.org/FHIR/STU3X", "https://fhir.example.org/FHIR/STU3X/Binary/eBin7",
                 "https://fhir.example.org/FHIR/STU3X/Binary/", id="a-base-ending-in-X"),
])
def test_a_binary_link_under_the_base_becomes_one_to_a_pseudonym_carrying_the_patient(base: str, url: str,
                                                                                     shown: str) -> None:
    deid = Deidentifier(CODEC, Policy(), base, lambda: TODAY)
    opaque = attachment_url(deid, url)
    assert opaque is not None and opaque.startswith(shown)
    assert CODEC.reveal("Binary", opaque.removeprefix(shown)) == ["eBin7", PID]


@pytest.mark.parametrize("url", [
    pytest.param("https://elsewhere.example.org/R4/Binary/eBin7", id="another-server"),
    pytest.param("http://fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4/Binary/eBin7", id="the-base-over-http"),
    pytest.param(f"{EPIC_BASE}/DocumentReference/d1", id="not-a-binary"),
    pytest.param("Binary/eBin7/_history/2", id="not-a-binary-s-id"),
])
def test_any_other_attachment_link_is_left_out(url: str) -> None:
    assert attachment_url(deidentifier(), url) is None
