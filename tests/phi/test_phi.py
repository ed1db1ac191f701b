"""The minimum PHI mode, piece by piece (pseudonyms, dates, scrubbing, resources) and through the MCP server
against Epic-shaped respx fixtures. The end-to-end leakage evaluation is test_phi_leakage.py."""

from __future__ import annotations

import base64
import gc
import itertools
import json
import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import anyio
import httpx
import pytest
import respx
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from mcp import Client

from epic_mcp.errors import ConfigError
from epic_mcp.fhir.paging import CursorCodec, Position
from epic_mcp.fhir.validation import InvalidInput, check_id
from epic_mcp.phi import PhiLayer
from epic_mcp.phi.dates import shift_fhir, shift_search_value, shift_text
from epic_mcp.phi.pseudonyms import PseudonymCodec
from epic_mcp.phi.resources import Deidentifier, Policy
from epic_mcp.phi.scrub import Identity, Scrubber
from epic_mcp.serve.server import build_server

from ..conftest import EPIC_BASE, EPIC_TOKEN_URL, outcome, searchset, token_body
from ..render.test_render import LOINC, cc, qty

pytestmark = pytest.mark.anyio

SECRET = "unit-test-phi-secret-0123456789abcdef0123"
PID = "erXuFYUfucBZaryVksYEcMg3"
ROOT = Path(__file__).resolve().parents[2]
EPIC_REAL = next((p / "shared" / "epic-real" for p in (ROOT.parent, ROOT.parent.parent)
                  if (p / "shared" / "epic-real").is_dir()), ROOT / "missing")
CODEC = PseudonymCodec(SECRET)
TODAY = date(2026, 4, 15)

PATIENT: dict[str, Any] = {
    "resourceType": "Patient", "id": PID,
    "text": {"status": "generated", "div": "<div>Camila Maria Lopez, 3268 West Johnson St.</div>"},
    "identifier": [{"type": {"text": "EPI"}, "system": "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14",
                    "value": "203713"},
                   {"type": {"text": "INTERNAL"}, "system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.698084",
                    "value": "     Z6129"}],
    "name": [{"use": "official", "text": "Camila Maria Lopez", "family": "Lopez", "given": ["Camila", "Maria"]}],
    "telecom": [{"system": "phone", "value": "+1 469-888-8888", "use": "work"},
                {"system": "email", "value": "knixontestemail@epic.com"}],
    "gender": "female", "birthDate": "1987-09-12", "_birthDate": {"extension": [
        {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1987-09-12T04:12:00Z"}]},
    "address": [{"use": "home", "line": ["3268 West Johnson St.", "Apt 117"], "city": "GARLAND",
                 "district": "DALLAS", "state": "TX", "postalCode": "75043", "country": "US"}],
    "photo": [{"contentType": "image/jpeg", "data": "/9j/4AAQSkZJRg=="}],
    "contact": [{"name": {"text": "Luna Carter"}, "telecom": [{"system": "phone", "value": "(508) 947-8624"}]}],
    "extension": [{"url": "http://open.epic.com/FHIR/StructureDefinition/extension/legal-sex",
                   "valueCodeableConcept": {"coding": [{"code": "female", "display": "female"}]}},
                  {"url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
                   "valueString": "Hernandez"}],
    "generalPractitioner": [{"reference": "Practitioner/eM5CWtq15N0WJeuCet5bJlQ3", "display": "Dr Ann Smith"}],
}
SUBJECT = {"reference": f"Patient/{PID}", "display": "Camila Maria Lopez"}


def deidentifier(**policy: bool) -> Deidentifier:
    return Deidentifier(CODEC, Policy(**policy), EPIC_BASE, lambda: TODAY)


def shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# Pseudonyms ---------------------------------------------------------------------------------------------

def test_pseudonyms_are_stable_reversible_and_bound_to_their_kind() -> None:
    pseudonym = CODEC.pseudonym("Patient", PID)
    assert pseudonym == PseudonymCodec(SECRET).pseudonym("Patient", PID), "stable across processes"
    assert CODEC.real("Patient", pseudonym) == PID
    assert CODEC.real("Observation", pseudonym) is None, "a Patient pseudonym is not an Observation id"
    assert PseudonymCodec("another-deployment-secret-0123456789abcd").real("Patient", pseudonym) is None
    altered = pseudonym[:-1] + ("A" if pseudonym[-1] != "A" else "B")
    assert CODEC.real("Patient", altered) is None
    assert pseudonym.isalnum() and len(pseudonym) <= 64 and PID not in pseudonym, "a valid FHIR id for Epic's ids"


def test_pseudonyms_hold_any_value() -> None:
    for value in ("O.kP2.jn3CPARNu6.n.drnNncHOgDtYU02U6td4wmbEujWrdMRBadAKLU6.bP1KN", "CMS-MEDICARE:6440", "伊藤",
                  "a"):
        assert CODEC.real("identifier", CODEC.pseudonym("identifier", value)) == value


def test_check_id_takes_long_pseudonyms_only_while_a_phi_layer_issued_them(make_settings) -> None:
    # A secret of this test alone: the PHI layers other tests made may live on (until garbage collection), and
    # each accepts the pseudonyms of its own secret.
    secret = "check-id-test-phi-secret-0123456789abcdefgh"
    long_id = "O.kP2.jn3CPARNu6.n.drnNncHOgDtYU02U6td4wmbEujWrdMRBadAKLU6.bP1KN"
    pseudonym = PseudonymCodec(secret).pseudonym("Observation", long_id)
    assert len(pseudonym) > 64
    with pytest.raises(InvalidInput):
        check_id("id", pseudonym)
    layer = PhiLayer(make_settings(epic_phi_mode="minimum", epic_phi_secret=secret))
    assert check_id("id", pseudonym) == pseudonym
    with pytest.raises(InvalidInput):
        check_id("id", "x" * 70)
    del layer
    gc.collect()
    with pytest.raises(InvalidInput):
        check_id("id", pseudonym)


def test_offsets_are_30_days_to_a_year_either_way_and_differ_between_patients() -> None:
    offsets = [CODEC.offset_days(f"patient-{n}") for n in range(2000)]
    assert all(30 <= abs(offset) <= 365 for offset in offsets)
    assert {-365, -30, 30, 365} <= set(offsets) or (min(offsets) < -355 and max(offsets) > 355)
    assert len(set(offsets)) > 500 and min(abs(o) for o in offsets) < 35


# Dates ---------------------------------------------------------------------------------------------------

@given(days=st.lists(st.dates(date(1950, 1, 1), date(2040, 12, 31)), min_size=2, max_size=6),
       offset=st.integers(-365, 365))
def test_property_shifted_dates_keep_order_and_intervals(days: list[date], offset: int) -> None:
    moved = [date.fromisoformat(shift_fhir(d.isoformat(), offset) or "") for d in days]
    assert [b - a for a, b in itertools.pairwise(days)] == \
        [b - a for a, b in itertools.pairwise(moved)]
    text = " and ".join(f"{d.month:02d}/{d.day:02d}/{d.year}" for d in days)
    assert shift_text(text, offset) == " and ".join(f"{d.month:02d}/{d.day:02d}/{d.year}" for d in moved)


def test_dates_in_text_move_in_every_format_and_keep_their_format() -> None:
    text = ("Seen 2025-07-05T16:24:00Z, 07/05/2025, 5.7.2025, Jan 2, 2026, 2 January 2026, March 2026, 2025年6月14日, "
            "2025-07; BP 110/73, 1/2 tab, in 2019.")
    assert shift_text(text, 30) == ("Seen 2025-08-04T16:24:00Z, 08/04/2025, 4.8.2025, Feb 1, 2026, 1 February 2026, "
                                    "April 2026, 2025年7月14日, 2025-08; BP 110/73, 1/2 tab, in 2019.")


def test_fhir_values_keep_precision_and_time() -> None:
    assert shift_fhir("2025-12-31T23:30:00-05:00", 1) == "2026-01-01T23:30:00-05:00"
    assert shift_fhir("2025-07", -20) == "2025-06"
    assert shift_fhir("2025", 200) == "2026"
    assert shift_fhir("not a date", 5) is None


def test_search_dates_move_back_and_partial_dates_widen_first() -> None:
    assert shift_search_value("ge2026-02-10", -40) == "ge2026-01-01"
    assert shift_search_value("ge2025", 10) == "ge2025-01-11", "ge2025 means from 1 January"
    assert shift_search_value("le2025-02", -10) == "le2025-02-18", "le2025-02 means until 28 February"


# Free text -----------------------------------------------------------------------------------------------

def test_free_text_loses_the_patients_own_names_numbers_and_contacts() -> None:
    scrubber = Scrubber(Identity.of(PATIENT), 0, {"203713": "P-MRN"})
    text = ("Camila Lopez (LOPEZ, CAMILA) MRN 203713 called from 469.888.8888; wife of Luna Carter (508-947-8624), "
            "knixontestemail@epic.com, lives at 3268 West Johnson St. Apt 117, Garland 75043. Ref Z6129.")
    out = scrubber.text(text)
    for real in ("Camila", "Lopez", "LOPEZ", "203713", "469", "Luna", "Carter", "947-8624", "knixon", "Johnson",
                 "Garland", "75043", "Z6129"):
        assert real.lower() not in out.lower(), (real, out)
    assert "P-MRN" in out and "[phone]" in out and "[email]" in out and "[address]" in out


def test_names_in_scripts_without_spaces_are_found_inside_words() -> None:
    patient = {"id": "pt-1", "name": [{"text": "伊藤 道子", "family": "伊藤", "given": ["道子"]},
                                      {"text": "イトウ ミチコ", "family": "イトウ", "given": ["ミチコ"]}],
               "telecom": [{"system": "phone", "value": "090-7875-7297"}],
               "address": [{"text": "千葉県船橋市栄3丁目4-12", "city": "船橋市", "postalCode": "273-0001"}]}
    out = Scrubber(Identity.of(patient), 0).text("伊藤道子様（イトウ ミチコ）、電話 +81 90 7875 7297、"
                                                 "住所 千葉県船橋市栄3丁目4-12")
    assert not any(term in out for term in ("伊藤", "道子", "イトウ", "ミチコ", "7875", "船橋市")), out


def test_patterns_catch_identifiers_the_record_does_not_hold() -> None:
    text = ("SSN 123-45-6789, cell (617) 555-0199, +44 20 7946 0958, 03-1234-5678, mail a.b@example.org, "
            "see https://portal.example.org/x?id=1 from 10.1.2.3, Member ID ABC-12345, acct 99887766, "
            "order 1000 units, 12 Oak Street")
    out = Scrubber(None, 0).text(text)
    for real in ("123-45-6789", "555-0199", "7946", "1234-5678", "example.org", "10.1.2.3", "ABC-12345", "99887766",
                 "Oak Street"):
        assert real not in out, (real, out)
    assert "order 1000 units" in out, "a dose is not an identifier"


def test_ages_over_89_and_the_birth_date_in_text() -> None:
    scrubber = Scrubber(Identity.of(PATIENT), 10, birth="1987")
    out = scrubber.text("A 92-year-old, aged 95, 88 years old; born 09/12/1987; seen 2026-01-01; 93歳")
    assert out == "A 90+-year-old, aged 90+, 88 years old; born 1987; seen 2026-01-11; 90+歳"


# Resources ---------------------------------------------------------------------------------------------

def test_a_patient_keeps_no_name_contact_address_or_exact_birth_date() -> None:
    out = deidentifier().resource(PATIENT, {PID: Identity.of(PATIENT)})
    text = shown(out)
    for real in ("Camila", "Lopez", "469", "knixon", "Johnson", "GARLAND", "DALLAS", "75043", "1987-09-12",
                 "Luna", "Hernandez", "203713", "Z6129", PID, "/9j/"):
        assert real not in text, real
    assert out["id"] == CODEC.pseudonym("Patient", PID)
    assert out["birthDate"] == "1987" and out["address"] == [{"use": "home", "state": "TX", "country": "US"}]
    assert not {"name", "telecom", "photo", "contact", "text", "_birthDate"} & set(out)
    assert [i["value"] for i in out["identifier"]] == [CODEC.pseudonym("identifier", "203713"),
                                                       CODEC.pseudonym("identifier", "Z6129")]
    assert [e["url"] for e in out["extension"]] == \
        ["http://open.epic.com/FHIR/StructureDefinition/extension/legal-sex", "urn:epic-mcp:age"]
    assert out["extension"][1]["valueAge"]["value"] == 38, "born 1987-09-12, today 2026-04-15: stated, not moved"
    assert out["generalPractitioner"][0]["display"] == "Dr Ann Smith", "clinicians stay unless asked"


def test_a_patient_of_90_or_more_shows_90_plus() -> None:
    old = {**PATIENT, "birthDate": "1935-06-01"}
    assert deidentifier().resource(old, {PID: Identity.of(old)})["birthDate"] == "90+"
    died = {**PATIENT, "birthDate": "1930-06-01", "deceasedDateTime": "2015-01-01"}
    assert deidentifier().resource(died, {PID: Identity.of(died)})["birthDate"] == "1930", "84 at death"


def test_records_point_at_pseudonyms_and_move_by_the_patients_offset() -> None:
    observation = {"resourceType": "Observation", "id": "eObs1", "status": "final", "subject": SUBJECT,
                   "encounter": {"reference": f"{EPIC_BASE}/Encounter/eEnc9"},
                   "performer": [{"reference": "Practitioner/eDoc1", "display": "Dr Ann Smith"}],
                   "identifier": [{"system": "urn:oid:1.2.3", "value": "ACC-55501"}],
                   "code": cc(LOINC, "4548-4", "Hemoglobin A1c"), "valueQuantity": qty(7.9, "%"),
                   "effectiveDateTime": "2025-01-10T09:00:00Z", "issued": "2025-01-11",
                   "note": [{"text": "Camila reports ACC-55501 was redrawn on 01/09/2025."}]}
    out = deidentifier().resource(observation, {PID: Identity.of(PATIENT)})
    days = CODEC.offset_days(PID)
    assert out["subject"] == {"reference": f"Patient/{CODEC.pseudonym('Patient', PID)}"}, "no display of a person"
    assert out["encounter"]["reference"] == f"{EPIC_BASE}/Encounter/{CODEC.pseudonym('Encounter', 'eEnc9')}"
    assert out["performer"] == observation["performer"]
    assert out["effectiveDateTime"] == f"{date(2025, 1, 10) + timedelta(days=days)}T09:00:00Z"
    assert out["issued"] == (date(2025, 1, 11) + timedelta(days=days)).isoformat()
    moved = date(2025, 1, 9) + timedelta(days=days)
    acc = CODEC.pseudonym("identifier", "ACC-55501")
    assert out["note"][0]["text"] == f"[name] reports {acc} was redrawn on {moved:%m/%d/%Y}."
    assert out["code"] == observation["code"] and out["valueQuantity"] == observation["valueQuantity"]


def test_clinicians_are_replaced_by_labels_only_when_asked() -> None:
    practitioner = {"resourceType": "Practitioner", "id": "eDoc1", "name": [{"text": "Ann Smith"}],
                    "telecom": [{"system": "phone", "value": "608-555-0100"}],
                    "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567890"}]}
    assert deidentifier().resource(practitioner, {}) == practitioner
    out = deidentifier(practitioners=True).resource(practitioner, {})
    label = out["name"][0]["text"]
    assert label.startswith("Clinician ") and "Smith" not in shown(out) and "telecom" not in out
    assert out["id"] == CODEC.pseudonym("Practitioner", "eDoc1") and "1234567890" not in shown(out)
    note = {"resourceType": "DocumentReference", "id": "d1", "subject": SUBJECT,
            "author": [{"reference": "Practitioner/eDoc1", "display": "Ann Smith"}], "description": "by Ann Smith"}
    written = deidentifier(practitioners=True).resource(note, {PID: Identity.of(PATIENT)})
    assert written["author"][0]["display"] == label and written["description"] == f"by {label}"


def test_inline_notes_become_scrubbed_text_and_other_content_is_withheld() -> None:
    html = "<html><body><p>Camila&nbsp;Lopez seen 2025-01-10, call 469-888-8888.</p></body></html>"
    note = {"resourceType": "DocumentReference", "id": "d1", "subject": SUBJECT, "content": [
        {"attachment": {"contentType": "text/html", "data": base64.b64encode(html.encode()).decode(), "hash": "x"}},
        {"attachment": {"contentType": "application/pdf", "data": "JVBERi0xLjQ=", "title": "Scan"}},
        {"attachment": {"contentType": "text/rtf", "url": "Binary/eBin7"}},
        {"attachment": {"contentType": "text/plain", "url": "https://elsewhere.example.org/Binary/x"}}]}
    out = deidentifier().resource(note, {PID: Identity.of(PATIENT)})
    first, pdf, binary, foreign = (c["attachment"] for c in out["content"])
    text = base64.b64decode(first["data"]).decode()
    moved = date(2025, 1, 10) + timedelta(days=CODEC.offset_days(PID))
    assert text == f"[name] seen {moved.isoformat()}, call [phone]." and first["contentType"].startswith("text/plain")
    assert "hash" not in first and first["size"] == len(text.encode())
    assert pdf == {"contentType": "application/pdf", "title": "Scan"}
    assert CODEC.reveal("Binary", binary["url"].removeprefix("Binary/")) == ["eBin7", PID]
    assert "url" not in foreign


def test_a_narrative_anywhere_is_dropped() -> None:
    composition = {"resourceType": "Composition", "id": "c1", "subject": SUBJECT,
                   "section": [{"title": "Plan", "text": {"status": "generated", "div": "<div>Camila</div>"}}]}
    out = deidentifier().resource(composition, {PID: Identity.of(PATIENT)})
    assert out["section"] == [{"title": "Plan"}]


# Through the MCP server ----------------------------------------------------------------------------------

@pytest.fixture
def phi_settings(make_settings):
    return make_settings(epic_phi_mode="minimum", epic_phi_secret=SECRET, epic_today=TODAY)


@pytest.fixture(autouse=True)
def token_route(epic: respx.MockRouter) -> respx.Route:
    return epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())


async def call(settings, tool: str, args: dict[str, Any]):
    async with Client(build_server(settings)) as client:
        return await client.call_tool(tool, args)


def queries(epic: respx.MockRouter, resource_type: str) -> list[dict[str, str]]:
    return [dict(parse_qsl(c.request.url.query.decode())) for c in epic.calls
            if c.request.url.path.endswith(f"/{resource_type}")]


def serve_patient(epic: respx.MockRouter) -> respx.Route:
    return epic.get(f"{EPIC_BASE}/Patient/{PID}").respond(200, json=PATIENT)


async def test_tools_take_pseudonyms_and_send_real_ids_and_dates(phi_settings, epic) -> None:
    patient_reads = serve_patient(epic)
    observation = {"resourceType": "Observation", "id": "eObs1", "status": "final", "subject": SUBJECT,
                   "category": [cc("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory",
                                   "Laboratory")], "code": cc(LOINC, "4548-4", "Hemoglobin A1c"),
                   "effectiveDateTime": "2026-01-10", "valueQuantity": qty(7.9, "%")}
    epic.get(url__startswith=f"{EPIC_BASE}/Observation?").respond(200, json=searchset([observation], total=1))
    pseudonym = CODEC.pseudonym("Patient", PID)
    days = CODEC.offset_days(PID)
    result = await call(phi_settings, "search_observations", {
        "patient_id": pseudonym, "category": "laboratory", "date_from": "2026-02-01"})
    assert not result.is_error, result.content[0].text
    sent = queries(epic, "Observation")[0]
    assert sent["patient"] == PID and sent["date"] == f"ge{date(2026, 2, 1) - timedelta(days=days)}"
    item = result.structured_content["items"][0]
    assert item["id"] == CODEC.pseudonym("Observation", "eObs1")
    assert item["effective"] == (date(2026, 1, 10) + timedelta(days=days)).isoformat()
    assert PID not in result.content[0].text and patient_reads.call_count == 1


async def test_a_real_id_is_refused_before_any_request(phi_settings, epic) -> None:
    result = await call(phi_settings, "get_patient", {"id": PID})
    assert result.is_error and "not a pseudonym this server issued" in result.content[0].text
    assert PID not in result.content[0].text
    assert not [c for c in epic.calls if "/Patient" in str(c.request.url)]


async def test_paging_links_are_followed_only_as_issued(phi_settings, epic) -> None:
    serve_patient(epic)
    observation = {"resourceType": "Observation", "id": "eObs1", "status": "final", "subject": SUBJECT}
    real_next = f"{EPIC_BASE}/Observation?patient={PID}&category=laboratory&sessionID=s1&page=2"
    first = searchset([observation], total=2, next_url=real_next)
    epic.get(url__regex=rf"{EPIC_BASE}/Observation\?patient=.*&category=laboratory&_count=20$").respond(200,
                                                                                                      json=first)
    second = epic.get(real_next).respond(200, json=searchset([{**observation, "id": "eObs2"}], total=2))
    async with Client(build_server(phi_settings)) as client:
        page = (await client.call_tool("search_observations", {"patient_id": CODEC.pseudonym("Patient", PID),
                                                               "category": "laboratory"})).structured_content
        cursor = page["next_cursor"]
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        assert PID.encode() not in decoded and b"Observation" not in decoded, "the cursor is encrypted"
        more = await client.call_tool("next_page", {"cursor": cursor})
    assert second.called and more.structured_content["items"][0]["id"] == CODEC.pseudonym("Observation", "eObs2")


async def test_a_link_the_layer_did_not_issue_is_refused(phi_settings) -> None:
    layer = PhiLayer(phi_settings)
    client = layer.client(httpx_client_stub := _ClientStub())
    with pytest.raises(Exception, match="not a pseudonym this server issued"):
        await client.follow(httpx.URL(f"{EPIC_BASE}/Observation?patient={PID}"), "Observation", 20)
    with pytest.raises(Exception, match="not issued by this server"):
        await client.follow(httpx.URL(f"{EPIC_BASE}/Patient/{PID}/$everything"), "Observation", 20)
    assert not httpx_client_stub.calls


class _ClientStub:
    """Just enough of FhirClient for the layer's own checks; any request it would send is recorded."""

    base_url = EPIC_BASE
    timeout = 30.0

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def contains(self, url: httpx.URL) -> bool:
        return str(url).startswith(EPIC_BASE + "/")

    def url_for(self, *segments: str) -> httpx.URL:
        return httpx.URL(f"{EPIC_BASE}/{'/'.join(segments)}")

    async def follow(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(args)
        raise AssertionError("nothing may be sent")


async def test_upcoming_appointments_are_measured_from_the_real_today(phi_settings, epic) -> None:
    serve_patient(epic)
    epic.get(url__regex=rf"{EPIC_BASE}/\w+\?.*").respond(200, json=searchset([], total=0))
    result = await call(phi_settings, "patient_summary", {"patient_id": CODEC.pseudonym("Patient", PID)})
    assert not result.is_error, result.content[0].text
    assert queries(epic, "Appointment")[0]["date"] == f"ge{TODAY.isoformat()}", "the server is asked with real dates"
    assert "Lopez" not in result.content[0].text and "203713" not in result.content[0].text


async def test_a_note_from_a_binary_is_scrubbed_text(phi_settings, epic) -> None:
    serve_patient(epic)
    note = {"resourceType": "DocumentReference", "id": "eDoc1", "subject": SUBJECT, "date": "2026-01-10",
            "content": [{"attachment": {"contentType": "text/html", "url": "Binary/eBin7"}}]}
    epic.get(f"{EPIC_BASE}/DocumentReference/eDoc1").respond(200, json=note)
    html = "<html><body><p>Ms. L&oacute;pez (Camila Lopez), DOB 09/12/1987, seen 01/10/2026.</p></body></html>"
    epic.get(f"{EPIC_BASE}/Binary/eBin7").respond(200, content=html.encode(), headers={"Content-Type": "text/html"})
    result = await call(phi_settings, "get_document_text",
                        {"document_id": CODEC.pseudonym("DocumentReference", "eDoc1")})
    text = result.structured_content["text"]["patient_text"]
    moved = date(2026, 1, 10) + timedelta(days=CODEC.offset_days(PID))
    assert text == f"Ms. [name] ([name]), DOB 1987, seen {moved:%m/%d/%Y}.", "López is found for Lopez"


async def test_server_error_messages_lose_the_real_values_they_echo(phi_settings, epic) -> None:
    epic.get(url__startswith=f"{EPIC_BASE}/Observation?").respond(
        400, json=outcome("error", "invalid", "4100", f"The patient {PID} has no data for 2025-12-01"))
    result = await call(phi_settings, "search_observations", {"patient_id": CODEC.pseudonym("Patient", PID),
                                                              "code": "4548-4"})
    assert result.is_error and PID not in result.content[0].text


async def test_without_access_to_the_patient_answers_fail_closed(phi_settings, epic) -> None:
    epic.get(f"{EPIC_BASE}/Patient/{PID}").respond(403, json=outcome("error", "forbidden", "4118", "no"))
    epic.get(url__startswith=f"{EPIC_BASE}/Condition?").respond(
        200, json=searchset([{"resourceType": "Condition", "id": "c1", "subject": SUBJECT,
                              "note": [{"text": "Camila Lopez"}]}], total=1))
    result = await call(phi_settings, "search_conditions", {"patient_id": CODEC.pseudonym("Patient", PID)})
    assert result.is_error and "PHI-minimising mode reads the patient's record" in result.content[0].text
    assert "Camila" not in result.content[0].text


async def test_the_patient_is_read_once_for_a_whole_summary(phi_settings, epic) -> None:
    reads = serve_patient(epic)
    condition = {"resourceType": "Condition", "id": "c1", "subject": SUBJECT, "note": [{"text": "Camila"}]}
    epic.get(url__regex=rf"{EPIC_BASE}/\w+\?.*").respond(200, json=searchset([condition], total=1))
    result = await call(phi_settings, "patient_summary", {"patient_id": CODEC.pseudonym("Patient", PID)})
    assert not result.is_error
    assert reads.call_count <= 2, "the demographics, and at most one read of the identity the sections share"


async def test_the_model_is_told_how_to_read_shifted_dates(phi_settings, settings) -> None:
    async with Client(build_server(phi_settings)) as client:
        assert "compare them with each other" in (client.instructions or "")
    async with Client(build_server(settings)) as client:
        assert "PHI-minimising" not in (client.instructions or "")


async def test_the_fhir_resource_is_deidentified(phi_settings, epic) -> None:
    serve_patient(epic)
    async with Client(build_server(phi_settings)) as client:
        text = (await client.read_resource(f"fhir://Patient/{CODEC.pseudonym('Patient', PID)}")).contents[0].text
    assert "Lopez" not in text and PID not in text and '"birthDate":"1987"' in text


async def test_find_test_patients_names_no_one(make_settings, key_file) -> None:
    settings = make_settings(epic_phi_mode="minimum", epic_phi_secret=SECRET)  # Epic's sandbox has them too
    base = settings.fhir_base_url
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as local:
        local.post(settings.configured_token_url).respond(200, json=token_body())
        local.get(url__startswith=f"{base}/Patient/").mock(
            side_effect=lambda request: httpx.Response(200, json={**PATIENT, "id": request.url.path.split("/")[-1]}))
        result = await call(settings, "find_test_patients", {})
    patients = result.structured_content["patients"]
    assert len(patients) == 7 and all(p["name"].startswith("test patient") for p in patients)
    assert CODEC.pseudonym("Patient", PID) in {p["id"] for p in patients} and PID not in shown(patients)


# Settings and cursors ------------------------------------------------------------------------------------

def test_the_minimum_mode_needs_a_long_secret_that_config_never_shows(make_settings) -> None:
    with pytest.raises(ConfigError, match="EPIC_PHI_SECRET"):
        make_settings(epic_phi_mode="minimum")
    with pytest.raises(ConfigError, match="at least 32"):
        make_settings(epic_phi_mode="minimum", epic_phi_secret="short")
    settings = make_settings(epic_phi_mode="MINIMUM", epic_phi_secret=SECRET)
    summary = settings.public_summary()
    assert summary["phi_mode"] == "minimum" and SECRET not in shown(summary)


def test_cursors_reveal_nothing_and_refuse_tampering() -> None:
    codec = CursorCodec(EPIC_BASE)
    cursor = codec.encode(Position("Observation", httpx.URL(f"{EPIC_BASE}/Observation?patient={PID}&page=2"), PID,
                                   20))
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert PID.encode() not in raw and b"page" not in raw
    assert codec.decode(cursor).patient_id == PID
    tampered = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    with pytest.raises(ValueError):
        codec.decode(tampered)


@pytest.mark.skipif(not EPIC_REAL.exists(), reason="Epic's real sandbox responses are not present")
def test_epics_own_patient_record_keeps_none_of_its_identifiers() -> None:
    patient = json.loads((EPIC_REAL / "patient-read-camila-lopez.json").read_text())
    out = shown(deidentifier().resource(patient, {patient["id"]: Identity.of(patient)}))
    for identifier in patient["identifier"]:
        assert identifier["value"].strip() not in out
    for real in ("Camila", "Lopez", "469", "knixon", "Johnson", "GARLAND", "75043", patient["birthDate"],
                 patient["id"]):
        assert real not in out, real


# Re-identification ---------------------------------------------------------------------------------------

def test_reidentify_maps_values_back_and_audits_without_real_values(tmp_path: Path, capsys) -> None:
    from epic_mcp.cli import main

    audit = tmp_path / "audit.jsonl"
    (tmp_path / ".env").write_text(f"EPIC_PHI_SECRET={SECRET}\nEPIC_AUDIT_LOG={audit}\n"
                                   f"EPIC_AUDIT_HMAC_KEY={'k' * 40}\n")
    patient = CODEC.pseudonym("Patient", PID)
    shifted = date(2026, 1, 1) + timedelta(days=CODEC.offset_days(PID))
    values = [patient, CODEC.pseudonym("Observation", "eObs1"), CODEC.pseudonym("identifier", "203713"),
              shifted.isoformat(), "made-up-value"]
    assert main(["reidentify", *values, "--patient", patient, "--reason", "ticket 4711"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{values[0]}: Patient/{PID}", f"{values[1]}: Observation/eObs1", f"{values[2]}: identifier 203713",
                   f"{values[3]}: 2026-01-01", "made-up-value: not a pseudonym of this deployment"]
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [line["value"] for line in lines] == values and {line["reason"] for line in lines} == {"ticket 4711"}
    assert all(line["event"] == "reidentify" and line["operator"] for line in lines)
    assert not any(real in audit.read_text() for real in (PID, "eObs1", "203713", "2026-01-01"))


def test_reidentify_refuses_without_an_audit_log(tmp_path: Path, capsys) -> None:
    from epic_mcp.cli import main

    (tmp_path / ".env").write_text(f"EPIC_PHI_SECRET={SECRET}\n")
    assert main(["reidentify", CODEC.pseudonym("Patient", PID), "--reason", "x"]) == 2
    assert "always audited" in capsys.readouterr().err


def test_contained_resources_keep_their_local_ids_and_lose_their_identifiers() -> None:
    request = {"resourceType": "MedicationRequest", "id": "eMed1", "subject": SUBJECT,
               "contained": [{"resourceType": "Patient", "id": "p1", "name": [{"text": "Camila Lopez"}]},
                             {"resourceType": "Observation", "id": "o1", "status": "final"}],
               "supportingInformation": [{"reference": "#o1"}]}
    out = deidentifier().resource(request, {PID: Identity.of(PATIENT)})
    assert [c["id"] for c in out["contained"]] == ["p1", "o1"] and out["supportingInformation"] == [
        {"reference": "#o1"}]
    assert "Camila" not in shown(out) and out["id"] == CODEC.pseudonym("MedicationRequest", "eMed1")


PATIENT_PSEUDONYM = CODEC.pseudonym("Patient", PID)
HOSTILE = st.one_of(st.text(max_size=120), st.sampled_from([
    "../../Patient", "Patient/123", "x&_id=1", "a=b", "%2F..%2F", "", "x" * 200, "ge2025-01-01", "2025-13-45",
    PATIENT_PSEUDONYM, CODEC.pseudonym("Observation", "e" * 64), CODEC.pseudonym("identifier", "1"),
    PATIENT_PSEUDONYM[:-1] + "0", "urn:oid:1.2|" + CODEC.pseudonym("identifier", "203713")]))
# Search parameters and path segments that carry ids: a pseudonym the model gives there is mapped back to the real
# id before anything is sent. Other arguments (a code, a name, an identifier that is no pseudonym of one) are sent
# as the model gave them, pseudonym-shaped or not: Epic then finds nothing, and learns nothing it could reverse.
ID_PARAMETERS = ("patient", "subject", "beneficiary", "_id", "practitioner")


def ids_sent(url: httpx.URL) -> list[str]:
    return [*url.path.split("/"), *(value.rpartition("/")[2] for name, value in url.params.multi_items()
                                    if name.split(":")[0] in ID_PARAMETERS)]


@hypothesis_settings(max_examples=int(os.environ.get("EPIC_MCP_PROPERTY_EXAMPLES", "40")), deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tool=st.sampled_from(["get_patient", "search_observations", "search_patients", "get_document_text",
                             "patient_summary", "get_latest_values", "next_page", "search_encounters",
                             "search_practitioner_roles"]),
       values=st.dictionaries(st.sampled_from(["id", "patient_id", "code", "category", "identifier", "document_id",
                                               "date_from", "date_to", "cursor", "practitioner_id", "family"]),
                              HOSTILE, max_size=4))
# The inputs that once made this test fail about once in 15 runs: the patient's pseudonym given as a code or an
# identifier (sent as given, rightly) beside a valid patient_id; checked on every run, whatever is drawn.
@example(tool="search_observations", values={"patient_id": PATIENT_PSEUDONYM, "code": PATIENT_PSEUDONYM})
@example(tool="get_latest_values", values={"patient_id": PATIENT_PSEUDONYM, "code": PATIENT_PSEUDONYM})
@example(tool="search_patients", values={"identifier": PATIENT_PSEUDONYM})
@example(tool="search_encounters", values={"patient_id": PATIENT_PSEUDONYM, "date_from": "ge2025-01-01"})
@example(tool="get_patient", values={"id": PATIENT_PSEUDONYM})
@example(tool="search_practitioner_roles", values={"practitioner_id": PATIENT_PSEUDONYM})
def test_property_in_the_minimum_mode_every_failure_is_a_tool_error_and_nothing_leaves_the_base(
    phi_settings, tool: str, values: dict[str, Any]
) -> None:
    sent: list[httpx.URL] = []

    async def scenario() -> None:
        with respx.mock(assert_all_called=False, assert_all_mocked=False) as router:
            router.post(EPIC_TOKEN_URL).respond(200, json=token_body())

            def answer(request: httpx.Request) -> httpx.Response:
                sent.append(request.url)
                if request.url.path.endswith(f"/Patient/{PID}"):
                    return httpx.Response(200, json=PATIENT)
                return httpx.Response(200, json=searchset([], total=0))

            router.route(url__startswith=EPIC_BASE + "/").mock(side_effect=answer)
            router.route().mock(side_effect=lambda request: sent.append(request.url) or httpx.Response(599))
            async with Client(build_server(phi_settings)) as client:
                result = await client.call_tool(tool, values)
        if result.is_error:
            text = result.content[0].text
            assert text.startswith(f"Error executing tool {tool}: "), f"crashed: {text!r}"
            assert PID not in text

    anyio.run(scenario)
    assert all(str(url).startswith(EPIC_BASE + "/") for url in sent), sent
    assert not [url for url in sent if PATIENT_PSEUDONYM in ids_sent(url)], "pseudonyms given as ids reach Epic"
    if values.get("patient_id") == PATIENT_PSEUDONYM and tool in ("search_observations", "search_encounters"):
        assert all(PID in ids_sent(url) for url in sent if not url.path.endswith(f"/Patient/{PID}")), sent


@pytest.mark.parametrize(("tool", "values", "arg"), [
    ("search_practitioner_roles", {"practitioner_id": PATIENT_PSEUDONYM}, "practitioner"),
    ("get_practitioner", {"id": PATIENT_PSEUDONYM}, "id"),
])
def test_a_patients_pseudonym_given_as_a_clinicians_id_is_refused_and_never_sent(
        phi_settings, tool: str, values: dict[str, Any], arg: str) -> None:
    """Clinicians' ids pass as Epic's own; a patient's pseudonym in their place is the model's mistake, named as
    such (hypothesis found it sent on to Epic, where it found nothing and said nothing of why)."""
    sent: list[httpx.URL] = []

    async def scenario() -> str:
        with respx.mock(assert_all_called=False) as router:
            router.post(EPIC_TOKEN_URL).respond(200, json=token_body())
            router.route(url__startswith=EPIC_BASE + "/").mock(side_effect=lambda request: sent.append(
                request.url) or httpx.Response(200, json=searchset([], total=0)))
            async with Client(build_server(phi_settings)) as client:
                result = await client.call_tool(tool, values)
        assert result.is_error
        return result.content[0].text

    text = anyio.run(scenario)
    assert text == (f"Error executing tool {tool}: {arg} is a patient's pseudonym, not the id of a Practitioner "
                    "(PHI-minimising mode: Practitioner ids are Epic's own); use a Practitioner id from a search "
                    "result")
    assert sent == []


# Ages: stated from the real dates, over 89 as 90 or older, and no day that gives the offset away ---------------

@pytest.mark.parametrize(("born", "died", "line"), [
    ("1987-09-12", None, "age: 38"),
    ("1930-01-01", None, "age: 90 or older"),
    ("1925-06-01", "2019-03-01T10:00:00Z", "age: deceased at 90 or older"),
    ("1950-06-01", "2019-03-01T10:00:00Z", "age: deceased at 68"),
])
async def test_the_summary_states_the_age_from_the_real_dates_and_over_89_as_90_or_older(
        phi_settings, epic, born: str, died: str | None, line: str) -> None:
    epic.get(f"{EPIC_BASE}/Patient/{PID}").respond(200, json={
        **PATIENT, "birthDate": born, **({"deceasedDateTime": died} if died else {})})
    epic.get(url__regex=rf"{EPIC_BASE}/\w+\?.*").respond(200, json=searchset([], total=0))
    result = await call(phi_settings, "patient_summary", {"patient_id": CODEC.pseudonym("Patient", PID)})
    patient_line = result.content[0].text.splitlines()[1]
    assert line in patient_line.split(" | "), patient_line
    assert born not in patient_line and (born[:4] in patient_line) == (line != "age: 90 or older" and
                                                                       "90 or older" not in line)


async def test_no_summary_section_prints_today_moved_into_the_patients_frame(phi_settings, epic) -> None:
    """A medication's verdict and a walk's limit are told by the record's own (moved) dates, never by today in
    the moved frame, which beside the real today would give the offset away."""
    serve_patient(epic)
    moved_today = TODAY + timedelta(days=CODEC.offset_days(PID))
    overdue = {"resourceType": "MedicationRequest", "id": "eMed1", "status": "active", "subject": SUBJECT,
               "medicationCodeableConcept": {"text": "amlodipine 5 MG Oral Tablet"}, "authoredOn": "2026-03-01",
               "courseOfTherapyType": {"coding": [{"code": "continuous"}]},
               "dispenseRequest": {"expectedSupplyDuration": {"value": 30, "code": "d"}}}
    epic.get(url__regex=rf"{EPIC_BASE}/MedicationRequest\?.*").respond(200, json=searchset([overdue], total=1))
    epic.get(url__regex=rf"{EPIC_BASE}/\w+\?.*").respond(200, json=searchset([], total=0))
    sections = ["medications", "labs", "vital_signs", "notes", "encounters", "immunizations"]
    result = await call(phi_settings, "patient_summary", {"patient_id": CODEC.pseudonym("Patient", PID),
                                                          "sections": sections})
    text = result.content[0].text
    assert "refill overdue" in text and "age 38" in text
    assert moved_today.isoformat() not in text and TODAY.isoformat() not in text
