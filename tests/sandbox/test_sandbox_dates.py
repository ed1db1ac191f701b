"""The sandbox data never expires: loaded on any day, its newest past event is a few days old, booked appointments
are ahead, and every interval, time of day, zone offset and note date agrees with what was built."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from epic_mcp.sandbox import bundled_data, data_set
from epic_mcp.sandbox.timeshift import DAYS_BEFORE_TODAY, shift_for, shift_text, shift_value

from ..conftest import run_today

RUN_TODAY = run_today()
LATER_DAYS = [date(2028, 2, 29), date(2030, 11, 28), RUN_TODAY, RUN_TODAY + timedelta(days=731)]
VITALS_AND_LABS = ("vital-signs", "laboratory")


def as_built() -> dict[str, Any]:
    return json.loads(gzip.decompress(bundled_data()))


def subject(resource: dict[str, Any]) -> str | None:
    for link in [resource.get("subject"), resource.get("patient"),
                 *(p.get("actor") for p in resource.get("participant", []))]:
        if isinstance(link, dict) and str(link.get("reference", "")).startswith("Patient/"):
            return link["reference"].removeprefix("Patient/")
    return None


def day_of(value: str) -> date:
    return date.fromisoformat(value[:10])


def categories(resource: dict[str, Any]) -> set[str]:
    return {c.get("code") for concept in resource.get("category", []) for c in concept.get("coding", [])}


def note_text(document: dict[str, Any]) -> str:
    return base64.b64decode(document["content"][0]["attachment"]["data"]).decode()


@pytest.fixture(scope="module", params=LATER_DAYS, ids=str)
def dated(request: pytest.FixtureRequest) -> tuple[date, dict[str, Any]]:
    return request.param, data_set(request.param)


def test_every_patient_has_booked_appointments_ahead(dated) -> None:
    today, data = dated
    patients = {p["id"] for p in data["patients"]}
    ahead = {subject(r) for r in data["resources"] if r["resourceType"] == "Appointment"
             and r["status"] == "booked" and day_of(r["start"]) > today}
    assert ahead == patients


def test_every_patient_has_vitals_and_labs_from_the_last_90_days(dated) -> None:
    today, data = dated
    recent = {(subject(r), kind) for r in data["resources"] if r["resourceType"] == "Observation"
              for kind in categories(r) & set(VITALS_AND_LABS)
              if today - timedelta(days=90) <= day_of(r["effectiveDateTime"]) < today}
    assert recent == {(p["id"], kind) for p in data["patients"] for kind in VITALS_AND_LABS}


def test_the_newest_past_event_is_a_few_days_old_and_nothing_happened_after_today(dated) -> None:
    today, data = dated
    results = [day_of(r["effectiveDateTime"]) for r in data["resources"] if r["resourceType"] == "Observation"]
    visits = [day_of(r["period"]["start"]) for r in data["resources"] if r["resourceType"] == "Encounter"]
    assert max(results + visits) == today - timedelta(days=DAYS_BEFORE_TODAY)
    assert data["dates"] == {"reference_date": "2026-06-21",
                             "shift_days": (today - timedelta(DAYS_BEFORE_TODAY) - date(2026, 6, 21)).days}


def test_note_texts_name_the_dates_of_their_resources(dated) -> None:
    today, data = dated
    booked = {subject(r): day_of(r["start"]) for r in data["resources"]
              if r["resourceType"] == "Appointment" and r["status"] == "booked"}
    notes = [r for r in data["resources"] if r["resourceType"] == "DocumentReference" and r["id"].startswith("note-")]
    assert len(notes) == len(data["patients"])
    for note in notes:
        text = note_text(note)
        seen_on = re.search(r"Seen on (\d{4}-\d{2}-\d{2})", text)
        next_visit = re.search(r"Next visit booked for (\w+ \d+, \d{4})", text)
        assert seen_on and next_visit, text
        assert date.fromisoformat(seen_on.group(1)) == day_of(note["date"]) < today
        assert datetime.strptime(next_visit.group(1), "%B %d, %Y").date() == booked[subject(note)] > today
        attachment = note["content"][0]["attachment"]
        assert attachment["creation"] == note["date"][:10]


def test_every_date_moves_by_the_same_days_keeping_time_of_day_and_zone() -> None:
    built, today = as_built(), date(2030, 11, 28)
    data = data_set(today)
    days = data["dates"]["shift_days"]
    moved: list[tuple[str, str]] = []

    def walk(before: Any, after: Any, name: str = "") -> None:
        if isinstance(before, dict):
            assert before.keys() == after.keys()
            for key in before:
                walk(before[key], after[key], key)
        elif isinstance(before, list):
            assert len(before) == len(after)
            for b, a in zip(before, after, strict=True):
                walk(b, a, name)
        elif before != after:
            moved.append((before, after))
            if name not in ("data", "hash", "size"):
                assert re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", before), f"{name}: {before!r} is no date"

    walk(built["resources"], data["resources"])
    dates = [(b, a) for b, a in moved if re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", str(b))]
    assert len(dates) > 3000
    for before, after in dates:
        assert (day_of(after) - day_of(before)).days == days
        assert after[10:] == before[10:], "time of day and offset kept"
    # Codes that look like years (RxNorm 2025, say) are not dates.
    codes = [c["code"] for r in data["resources"] if r["resourceType"] == "MedicationRequest"
             for c in r.get("medicationCodeableConcept", {}).get("coding", [])]
    assert codes == [c["code"] for r in built["resources"] if r["resourceType"] == "MedicationRequest"
                     for c in r.get("medicationCodeableConcept", {}).get("coding", [])]


def test_birth_dates_move_so_ages_stay_as_written() -> None:
    built = {r["id"]: r for r in as_built()["resources"] if r["resourceType"] == "Patient"}
    data = data_set(date(2030, 11, 28))
    days = data["dates"]["shift_days"]
    for patient in (r for r in data["resources"] if r["resourceType"] == "Patient"):
        assert day_of(patient["birthDate"]) - day_of(built[patient["id"]]["birthDate"]) == timedelta(days)


def test_text_attachments_keep_their_size_and_hash_true() -> None:
    data = data_set(date(2029, 1, 1))
    for resource in data["resources"]:
        for content in resource.get("content", []):
            attachment = content["attachment"]
            raw = base64.b64decode(attachment["data"])
            if "size" in attachment:
                assert attachment["size"] == len(raw)
            if "hash" in attachment:
                assert attachment["hash"] == base64.b64encode(hashlib.sha1(raw).digest()).decode()


@pytest.mark.parametrize(("value", "days", "expected"), [
    ("2026-05-11", 10, "2026-05-21"),
    ("2026-05-11T15:30:00Z", -400, "2025-04-06T15:30:00Z"),
    ("2026-05-11T23:59:59.377784+05:30", 1, "2026-05-12T23:59:59.377784+05:30"),
    ("2028-02-28T08:00:00-05:00", 1, "2028-02-29T08:00:00-05:00"),
    ("2026-05", 20, "2026-06"),
    ("2026", 200, "2027"),
    ("2026", 100, "2026"),
    ("not a date", 5, "not a date"),
    ("2026-02-30", 5, "2026-02-30"),
])
def test_fhir_dates_move_by_whole_days(value: str, days: int, expected: str) -> None:
    assert shift_value(value, days) == expected


def test_dates_written_in_text_move_in_the_form_they_were_written() -> None:
    text = ("Seen 2026-05-11 (05/11/2026, 5/11/2026); next on January 11, 2027, or Jan. 11, 2027; "
            "call 555-2026-11; ref 2026-13-45; the 12/31 batch")
    assert shift_text(text, 31) == (
        "Seen 2026-06-11 (06/11/2026, 6/11/2026); next on February 11, 2027, or Feb. 11, 2027; "
        "call 555-2026-11; ref 2026-13-45; the 12/31 batch")


def test_the_shift_puts_the_reference_a_few_days_before_today() -> None:
    assert shift_for(date(2026, 6, 21), date(2026, 6, 24)) == 0
    assert shift_for(date(2026, 6, 21), date(2028, 6, 24)) == 731
    assert shift_for(date(2026, 6, 21), date(2026, 1, 1)) < 0
