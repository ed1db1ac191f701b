"""The minimum PHI mode's FHIR client (phi/client.py) between the tools and Epic: what the model sends (pseudonyms,
shifted dates) mapped back parameter by parameter, links and attachments it did not issue refused, and each
patient's identity read once and kept for a while."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from epic_mcp.errors import FhirError, FhirErrorKind
from epic_mcp.fhir.validation import InvalidInput
from epic_mcp.phi import PhiLayer
from epic_mcp.phi import client as phi_client
from epic_mcp.phi.client import IDENTITY_CACHE_SIZE, IDENTITY_TTL_SECONDS, IdentityCache

from ..conftest import EPIC_BASE, searchset
from .test_phi import CODEC, PID, SECRET, SUBJECT, TODAY

pytestmark = pytest.mark.anyio
PSEUDONYM = CODEC.pseudonym("Patient", PID)
DAYS = CODEC.offset_days(PID)


def sent(epic: respx.MockRouter, resource_type: str) -> list[tuple[str, str]]:
    """The query of the last search of this type that reached Epic."""
    calls = [c for c in epic.calls if c.request.url.path.endswith(f"/{resource_type}")]
    return parse_qsl(calls[-1].request.url.query.decode())


def back(day: date) -> str:
    return (day - timedelta(days=DAYS)).isoformat()


@pytest.mark.parametrize(("name", "value", "real"), [
    ("patient", PSEUDONYM, PID),
    ("subject", f"Patient/{PSEUDONYM}", f"Patient/{PID}"),
    ("subject:Patient", PSEUDONYM, PID),
    ("beneficiary", PSEUDONYM, PID),
])
async def test_a_patient_pseudonym_in_any_patient_parameter_reaches_epic_as_the_real_id(phi, epic, name, value,
                                                                                         real) -> None:
    epic.get(url__startswith=f"{EPIC_BASE}/Coverage").respond(200, json=searchset([]))
    await phi.search("Coverage", [(name, value), ("date", "ge2026-02-01")], 20)
    assert sent(epic, "Coverage") == [(name, real), ("date", f"ge{back(date(2026, 2, 1))}")], \
        "and the searched patient's dates move back by its offset"


async def test_ids_of_the_searched_type_and_of_clinicians_are_mapped_by_their_own_kind(phi, epic) -> None:
    epic.get(url__startswith=f"{EPIC_BASE}/Observation").respond(200, json=searchset([]))
    epic.get(url__startswith=f"{EPIC_BASE}/Patient?").respond(200, json=searchset([]))
    await phi.search("Observation", [("_id", CODEC.pseudonym("Observation", "o1")), ("practitioner", "eDoc1")], 20)
    assert sent(epic, "Observation") == [("_id", "o1"), ("practitioner", "eDoc1")], "clinicians keep real ids"
    await phi.search("Patient", [("_id", PSEUDONYM), ("birthdate", "1987")], 20)
    assert sent(epic, "Patient") == [("_id", PID), ("birthdate", "1987")], "a birth date is not moved"
    with pytest.raises(InvalidInput) as refused:
        await phi.search("Observation", [("_id", PSEUDONYM)], 20)
    assert str(refused.value) == ("_id is not a pseudonym this server issued (PHI-minimising mode: ids are "
                                  "pseudonyms); use an id from a search result")


async def test_an_identifier_pseudonym_is_sent_as_the_real_identifier_and_anything_else_as_given(phi, epic) -> None:
    epic.get(url__startswith=f"{EPIC_BASE}/Patient").respond(200, json=searchset([]))
    await phi.search("Patient", [("identifier", f"urn:oid:1.2|{CODEC.pseudonym('identifier', '203713')}")], 20)
    assert sent(epic, "Patient") == [("identifier", "urn:oid:1.2|203713")]
    await phi.search("Patient", [("identifier", CODEC.pseudonym("identifier", "203713"))], 20)
    assert sent(epic, "Patient") == [("identifier", "203713")]
    await phi.search("Patient", [("identifier", "MRN|203713")], 20)
    assert sent(epic, "Patient") == [("identifier", "MRN|203713")]


@pytest.mark.parametrize("name", ["date", "authoredon", "onset-date", "recorded-date", "period", "issued",
                                  "occurrence", "effective", "death-date", "date:missing"])
async def test_every_date_parameter_of_the_patient_s_records_moves_back(phi, epic, name: str) -> None:
    epic.get(url__startswith=f"{EPIC_BASE}/Condition").respond(200, json=searchset([]))
    await phi.search("Condition", [("patient", PSEUDONYM), (name, "le2026-03-10")], 20)
    assert sent(epic, "Condition")[1] == (name, f"le{back(date(2026, 3, 10))}")


@pytest.mark.parametrize("name", ["birthdate", "_lastUpdated", "code", "status"])
async def test_other_parameters_keep_their_value(phi, epic, name: str) -> None:
    epic.get(url__startswith=f"{EPIC_BASE}/Condition").respond(200, json=searchset([]))
    await phi.search("Condition", [("patient", PSEUDONYM), (name, "le2026-03-10")], 20)
    assert sent(epic, "Condition")[1] == (name, "le2026-03-10")


async def test_a_patient_searched_by_its_own_id_moves_its_dates_and_a_record_s_own_id_moves_none(phi, epic) -> None:
    """Patient?_id= names the searched patient (its death date moves back, its birth date does not); the _id of
    any other type is a record's, not a patient's, and no offset is taken from it."""
    epic.get(url__startswith=f"{EPIC_BASE}/Patient?").respond(200, json=searchset([]))
    await phi.search("Patient", [("_id", PSEUDONYM), ("death-date", "le2026-03-10"), ("birthdate", "1987-09-12")],
                     20)
    assert sent(epic, "Patient") == [("_id", PID), ("death-date", f"le{back(date(2026, 3, 10))}"),
                                     ("birthdate", "1987-09-12")]
    epic.get(url__startswith=f"{EPIC_BASE}/Observation").respond(200, json=searchset([]))
    await phi.search("Observation", [("_id", CODEC.pseudonym("Observation", "eObs1")), ("date", "le2026-03-10")], 20)
    assert sent(epic, "Observation") == [("_id", "eObs1"), ("date", "le2026-03-10")]


async def test_a_read_by_an_id_that_is_not_a_pseudonym_names_the_argument(phi, epic) -> None:
    with pytest.raises(InvalidInput) as refused:
        await phi.read("Observation", "eObs1")
    assert str(refused.value) == ("id is not a pseudonym this server issued (PHI-minimising mode: ids are "
                                  "pseudonyms); use an id from a search result")
    assert not [c for c in epic.calls if "/Observation" in c.request.url.path]


async def test_without_a_searched_patient_no_date_moves(phi, epic) -> None:
    epic.get(url__startswith=f"{EPIC_BASE}/Practitioner").respond(200, json=searchset([]))
    await phi.search("Practitioner", [("name", "Smith"), ("date", "2026-03-10")], 20)
    assert sent(epic, "Practitioner") == [("name", "Smith"), ("date", "2026-03-10")]


@pytest.mark.parametrize("name", ["patient", "subject", "beneficiary"])
async def test_a_paging_link_it_issued_leads_back_with_its_patient(phi, epic, name: str) -> None:
    second = f"{EPIC_BASE}/Coverage?{name}=Patient/{PID}&page=2"
    epic.get(second).respond(200, json=searchset([{"resourceType": "Coverage", "id": "c2", "beneficiary": SUBJECT,
                                                   "subscriberId": "W1"}]))
    page = await phi.follow(httpx.URL(phi.deid.opaque_link(second)), "Coverage", 20)
    entry = page.bundle["entry"][0]["resource"]
    assert entry["id"] == CODEC.pseudonym("Coverage", "c2") and entry["subscriberId"] != "W1"


async def test_links_and_attachments_it_did_not_issue_are_refused_before_any_request(phi, epic) -> None:
    with pytest.raises(FhirError, match="^this link was not issued by this server's PHI-minimising mode; run the "
                                        "search again$"):
        await phi.follow(httpx.URL(f"{EPIC_BASE}/Patient/{PID}/$everything"), "Observation", 20)
    refusal = ("^this attachment link was not issued by this server's PHI-minimising mode; read the document "
               "again$")
    for url in (f"{EPIC_BASE}/Binary/eBin7", f"{EPIC_BASE}/Binary/{CODEC.pseudonym('Binary', 'eBin7')}",
                f"{EPIC_BASE}/Other/{CODEC.pseudonym('Binary', 'eBin7', PID)}",
                f"https://elsewhere.example.org/Binary/{CODEC.pseudonym('Binary', 'eBin7', PID)}"):
        with pytest.raises(FhirError, match=refusal):
            await phi.fetch_binary(httpx.URL(url))
    assert not [c for c in epic.calls if "/Binary" in c.request.url.path or "$everything" in c.request.url.path]


async def test_an_attachment_it_issued_is_scrubbed_text_and_other_content_is_withheld(phi, epic) -> None:
    epic.get(f"{EPIC_BASE}/Binary/eBin7").respond(200, content=b"Camila Lopez called from 469-888-8888",
                                                  headers={"Content-Type": "text/plain"})
    epic.get(f"{EPIC_BASE}/Binary/eScan").respond(200, content=b"%PDF", headers={"Content-Type": "application/pdf"})
    text, kind = await phi.fetch_binary(httpx.URL(f"{EPIC_BASE}/Binary/{CODEC.pseudonym('Binary', 'eBin7', PID)}"))
    assert (text, kind) == (b"[name] called from [phone]", "text/plain; charset=utf-8")
    with pytest.raises(FhirError, match="^the attachment is application/pdf; PHI-minimising mode returns only text"):
        await phi.fetch_binary(httpx.URL(f"{EPIC_BASE}/Binary/{CODEC.pseudonym('Binary', 'eScan', PID)}"))


# The identities of recently seen patients ----------------------------------------------------------------------

class Reads:
    def __init__(self) -> None:
        self.ids: list[str] = []

    async def __call__(self, patient_id: str) -> dict:
        self.ids.append(patient_id)
        if patient_id == "missing":
            raise FhirError(FhirErrorKind.NOT_FOUND, "no Patient with that id")
        return {"resourceType": "Patient", "id": patient_id, "name": [{"family": f"F{patient_id}"}]}


async def test_an_identity_is_read_once_until_it_is_five_minutes_old(monkeypatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(phi_client, "time", SimpleNamespace(monotonic=lambda: clock[0]))  # the event loop keeps its own
    reads = Reads()
    cache = IdentityCache(reads)
    assert IDENTITY_TTL_SECONDS == 300
    assert (await cache.get("p1")).names == frozenset({"Fp1"})
    clock[0] += IDENTITY_TTL_SECONDS - 0.5
    await cache.get("p1")
    assert reads.ids == ["p1"]
    clock[0] += 0.5
    await cache.get("p1")
    assert reads.ids == ["p1", "p1"], "after five minutes the record is read again (a name may have changed)"


async def test_the_identities_of_the_most_recent_256_patients_are_kept() -> None:
    reads = Reads()
    cache = IdentityCache(reads)
    assert IDENTITY_CACHE_SIZE == 256
    for n in range(257):
        await cache.get(f"p{n}")
    await cache.get("p256")
    await cache.get("p1")
    assert reads.ids.count("p1") == 1 and reads.ids.count("p256") == 1
    await cache.get("p0")
    assert reads.ids.count("p0") == 2, "the least recently used was let go"


async def test_a_failed_read_is_not_kept_and_a_record_seen_in_an_answer_needs_no_read() -> None:
    reads = Reads()
    cache = IdentityCache(reads)
    for _ in range(2):
        with pytest.raises(FhirError):
            await cache.get("missing")
    assert reads.ids == ["missing", "missing"]
    cache.remember({"resourceType": "Patient", "id": "p9", "name": [{"family": "Seen"}]})
    assert (await cache.get("p9")).names == frozenset({"Seen"}) and "p9" not in reads.ids


def test_today_as_the_model_sees_it_for_one_patient(make_settings) -> None:
    layer = PhiLayer(make_settings(epic_phi_mode="minimum", epic_phi_secret=SECRET, epic_today=TODAY))
    assert layer.today_for(PSEUDONYM, TODAY) == TODAY + timedelta(days=DAYS)
    assert layer.today_for("not-a-pseudonym", TODAY) == TODAY
    assert layer.issued(PSEUDONYM) and not layer.issued("not-a-pseudonym")
