"""Whose record it is, in the minimum PHI mode: the patient a record belongs to (named by subject, patient,
beneficiary, a participant or a target before any other patient it mentions; else the first it names; else the
patient searched) decides the offset its dates move by and the identity its text is scrubbed with. Then the
patient's own id and birth date where a record repeats them, and a person's age at the edges of 90."""

from __future__ import annotations

from typing import Any

import pytest

from epic_mcp.phi.dates import shift_fhir
from epic_mcp.phi.scrub import Identity

from .test_phi import CODEC, PATIENT, PID, SUBJECT, deidentifier

IDENTITIES = {PID: Identity.of(PATIENT)}
DAYS = CODEC.offset_days(PID)
# Another patient a record may mention (a newborn's mother): her identity was not read, so a record taken for hers
# cannot be de-identified (MissingIdentity), and one taken for no one's keeps its dates where they were.
MOTHER = {"reference": "Patient/eMother0", "display": "Rosa Lopez"}
SEEN = "2025-01-10T09:30:00Z"


def moved(value: str) -> str:
    return shift_fhir(value, DAYS) or value


@pytest.mark.parametrize(("record", "dated"), [
    pytest.param({"resourceType": "Observation", "id": "o1", "status": "final", "focus": [MOTHER],
                  "subject": SUBJECT, "effectiveDateTime": SEEN}, "effectiveDateTime", id="subject-beside-a-focus"),
    pytest.param({"resourceType": "AllergyIntolerance", "id": "a1", "asserter": MOTHER, "patient": SUBJECT,
                  "recordedDate": SEEN}, "recordedDate", id="patient-beside-the-asserter"),
    pytest.param({"resourceType": "Coverage", "id": "c1", "subscriber": MOTHER, "beneficiary": SUBJECT,
                  "period": {"start": SEEN}}, "period", id="beneficiary-beside-the-subscriber"),
    pytest.param({"resourceType": "Appointment", "id": "ap1", "supportingInformation": [MOTHER],
                  "participant": [{"actor": {"reference": "Practitioner/eDoc1"}}, {"actor": SUBJECT}],
                  "start": SEEN}, "start", id="participant-beside-supporting-information"),
    pytest.param({"resourceType": "Provenance", "id": "pv1", "agent": [{"who": MOTHER}], "target": [SUBJECT],
                  "recorded": SEEN}, "recorded", id="target-beside-an-agent"),
    pytest.param({"resourceType": "Task", "id": "t1", "identifier": [{"system": "urn:oid:1.2.3", "value": "T-100"}],
                  "for": SUBJECT, "authoredOn": SEEN}, "authoredOn", id="named-only-further-in"),
    pytest.param({**PATIENT, "link": [{"other": MOTHER, "type": "seealso"}], "deceasedDateTime": SEEN},
                 "deceasedDateTime", id="a-patient-is-its-own"),
])
def test_a_record_belongs_to_the_patient_it_is_about_not_another_it_mentions(record: dict[str, Any],
                                                                            dated: str) -> None:
    out = deidentifier().resource(record, IDENTITIES)
    written = record[dated]
    assert out[dated] == ({"start": moved(SEEN)} if isinstance(written, dict) else moved(written))


def test_a_record_that_names_no_patient_is_the_searched_patient_s() -> None:
    document = {"resourceType": "DocumentReference", "id": "d1", "date": SEEN, "description": "Camila seen",
                "content": [{"attachment": {"contentType": "text/rtf", "url": "Binary/eBin7"}}]}
    out = deidentifier().resource(document, IDENTITIES, default_patient=PID)
    assert out["date"] == moved(SEEN) and out["description"] == "[name] seen"
    assert CODEC.reveal("Binary", out["content"][0]["attachment"]["url"].removeprefix("Binary/")) == ["eBin7", PID]


def test_a_record_of_no_patient_keeps_its_dates_and_its_binary_carries_no_patient() -> None:
    document = {"resourceType": "DocumentReference", "id": "d1", "date": SEEN,
                "content": [{"attachment": {"contentType": "text/rtf", "url": "Binary/eBin7"}}]}
    out = deidentifier().resource(document, {})
    assert out["date"] == SEEN
    assert CODEC.reveal("Binary", out["content"][0]["attachment"]["url"].removeprefix("Binary/")) == ["eBin7", ""]


def test_without_date_shifting_a_patient_s_dates_stay() -> None:
    observation = {"resourceType": "Observation", "id": "o1", "subject": SUBJECT, "effectiveDateTime": SEEN}
    assert deidentifier(shift_dates=False).resource(observation, IDENTITIES)["effectiveDateTime"] == SEEN


def test_the_directory_found_in_a_patient_s_search_needs_no_identity() -> None:
    """A clinician or a place is no patient's record, even on a page of one patient's search: it is returned as
    written, and no patient's identity has to be read for it."""
    location = {"resourceType": "Location", "id": "l1", "name": "Garland Clinic",
                "managingOrganization": {"reference": "Organization/o1", "display": "Garland Health"}}
    assert deidentifier().resource(location, {}, default_patient=PID) == location


# The patient's own id and birth date where a record repeats them ------------------------------------------------

def test_the_patient_s_own_id_in_the_text_of_a_record_becomes_its_pseudonym() -> None:
    note = {"resourceType": "Observation", "id": "o1", "subject": SUBJECT,
            "note": [{"text": f"Result filed to chart {PID} by the lab."}]}
    out = deidentifier().resource(note, IDENTITIES)
    assert out["note"] == [{"text": f"Result filed to chart {CODEC.pseudonym('Patient', PID)} by the lab."}]


@pytest.mark.parametrize(("answer", "shown"), [
    pytest.param({"valueDate": "1987-09-12"}, {"valueDate": "1987"}, id="a-date"),
    pytest.param({"valueDateTime": "1987-09-12T04:12:00Z"}, {"valueDateTime": "1987"}, id="a-date-and-time"),
    pytest.param({"valueString": "born 09/12/1987 in Garland"}, {"valueString": "born 1987 in [address]"},
                 id="in-words"),
    pytest.param({"valueDate": "1987-09-13"}, {"valueDate": moved("1987-09-13")}, id="the-next-day-moves"),
])
def test_the_patient_s_birth_date_in_a_record_shows_only_its_year(answer: dict[str, str],
                                                                  shown: dict[str, str]) -> None:
    """A form asking for the date of birth: its answer is shown as the birth date is (not moved, which would
    give the offset away beside the year of birth)."""
    form = {"resourceType": "QuestionnaireResponse", "id": "q1", "subject": SUBJECT,
            "item": [{"linkId": "dob", "answer": [answer]}]}
    assert deidentifier().resource(form, IDENTITIES)["item"] == [{"linkId": "dob", "answer": [shown]}]


# A person's age at the edges of 90 (today is 2026-04-15) -------------------------------------------------------

@pytest.mark.parametrize(("born", "died", "shown"), [
    pytest.param("1936-04-16", None, "1936", id="89-until-tomorrow"),
    pytest.param("1936-04-15", None, "90+", id="90-today"),
    pytest.param("1936-04-20", None, "1936", id="its-day-counts"),
    pytest.param("1936-06", None, "1936", id="to-the-month-from-its-first-day"),
    pytest.param("1936-04", "2026-04-01T10:00:00Z", "90+", id="to-the-month-90-at-death-on-its-first-day"),
    pytest.param("1936", "2026-01-15T10:00:00Z", "90+", id="to-the-year-from-1-january"),
    pytest.param("1936", None, "90+", id="to-the-year-today"),
    pytest.param("1987-9-12", None, None, id="not-a-date-is-left-out"),
])
def test_a_patient_s_birth_date_shows_its_year_until_90_and_90_plus_from_then(born: str, died: str | None,
                                                                              shown: str | None) -> None:
    patient = {**PATIENT, "birthDate": born, **({"deceasedDateTime": died} if died else {})}
    out = deidentifier().resource(patient, {PID: Identity.of(patient)})
    assert out.get("birthDate") == shown


@pytest.mark.parametrize(("born", "shown"), [
    pytest.param("1936-04-16", "1936", id="89"),
    pytest.param("1936-04-15", "90+", id="90"),
])
def test_a_birth_date_in_a_record_shows_as_the_patient_s_does(born: str, shown: str) -> None:
    patient = {**PATIENT, "birthDate": born}
    written = f"{born[5:7]}/{born[8:]}/{born[:4]}"
    form = {"resourceType": "QuestionnaireResponse", "id": "q1", "subject": SUBJECT,
            "item": [{"linkId": "dob", "answer": [{"valueDate": born}, {"valueString": f"born {written}"}]}]}
    out = deidentifier().resource(form, {PID: Identity.of(patient)})
    assert out["item"][0]["answer"] == [{"valueDate": shown}, {"valueString": f"born {shown}"}]
