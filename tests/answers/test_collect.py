"""The page walker behind the whole-question tools (collect, scan) and the facts they order records by: when a
record happened, what kind of thing it is, and whether a lab value is out of range. Expected values are written
out here (dates, keys, flags), not computed by the code under test."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import respx

from epic_mcp.answers.collect import (
    Scanned,
    clinical_date,
    code_key,
    collect,
    effective_time,
    is_abnormal,
    latest_per_code,
    newest_first,
    range_flag,
    scan,
    windows,
    written_time,
)
from epic_mcp.errors import FhirError
from epic_mcp.fhir.client import FhirClient
from epic_mcp.fhir.connection import EpicConnection
from epic_mcp.fhir.guard import OTHER_PATIENTS, OTHER_TYPES
from epic_mcp.fhir.results import FOREIGN_NEXT_LINK

from ..conftest import EPIC_BASE, EPIC_TOKEN_URL, outcome, searchset, token_body
from ..fake_fhir import FakeFhir

pytestmark = pytest.mark.anyio
PID = "eCamila3"
SUBJECT = {"reference": f"Patient/{PID}"}
TODAY = date(2026, 6, 1)
LOINC = "http://loinc.org"


@pytest.fixture
async def fhir(settings, epic: respx.MockRouter) -> AsyncIterator[FhirClient]:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    connection = EpicConnection.open(settings)
    yield connection.fhir
    await connection.aclose()


def obs(oid: str, when: str, code: str = "4548-4", patient: str = PID) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "subject": {"reference": f"Patient/{patient}"},
            "code": {"coding": [{"system": LOINC, "code": code}]}, "effectiveDateTime": when}


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def dates_asked(fake: FakeFhir) -> list[list[str]]:
    return [[value for name, value in search if name == "date"] for search in fake.searches if
            ("_offset" not in dict(search))]


# collect: one search across pages -------------------------------------------------------------------------------

async def test_collect_follows_next_links_to_the_last_page(fhir, epic) -> None:
    records = [obs(f"o{i}", f"2026-05-0{i}") for i in range(1, 8)]
    fake = FakeFhir(epic, records, page_size=3)
    found = await collect(fhir, "Observation", [("patient", PID)], PID)
    assert ids(found.items) == ["o1", "o2", "o3", "o4", "o5", "o6", "o7"]
    assert (found.complete, found.pages, found.warnings) == (True, 3, [])
    assert ("_count", "100") in fake.searches[0] and ("patient", PID) in fake.searches[0]


async def test_collect_stops_at_its_page_limit_and_says_the_walk_is_incomplete(fhir, epic) -> None:
    fake = FakeFhir(epic, [obs(f"o{i}", "2026-05-01") for i in range(7)], page_size=2)
    found = await collect(fhir, "Observation", [("patient", PID)], PID, max_pages=2)
    assert ids(found.items) == ["o0", "o1", "o2", "o3"] and len(fake.searches) == 2
    assert (found.complete, found.pages) == (False, 2)


async def test_collect_reads_to_the_end_when_the_last_page_is_the_page_limit(fhir, epic) -> None:
    FakeFhir(epic, [obs(f"o{i}", "2026-05-01") for i in range(4)], page_size=2)
    found = await collect(fhir, "Observation", [("patient", PID)], PID, max_pages=2)
    assert (len(found.items), found.complete, found.pages) == (4, True, 2)


async def test_collect_reads_five_pages_unless_told(fhir, epic) -> None:
    fake = FakeFhir(epic, [obs(f"o{i}", "2026-05-01") for i in range(20)], page_size=2)
    found = await collect(fhir, "Observation", [("patient", PID)], PID)
    assert (len(found.items), found.complete, len(fake.searches)) == (10, False, 5)


async def test_collect_does_not_follow_a_next_link_off_the_fhir_server_and_says_so(fhir, epic) -> None:
    epic.get(url__regex=rf"{EPIC_BASE}/Observation\?.*").respond(200, json=searchset(
        [obs("o1", "2026-05-01")], next_url="https://evil.example.org/R4/Observation?page=2"))
    evil = epic.get(url__regex=r"https://evil\.example\.org/.*").respond(200, json=searchset([]))
    found = await collect(fhir, "Observation", [("patient", PID)], PID)
    assert ids(found.items) == ["o1"] and evil.call_count == 0
    assert (found.complete, found.pages, found.warnings) == (False, 1, [FOREIGN_NEXT_LINK])


async def test_collect_withholds_other_patients_records_on_every_page_and_counts_them(fhir, epic) -> None:
    mine, theirs = obs("mine", "2026-05-01"), obs("theirs", "2026-05-02", patient="eOther9")
    epic.get(url__regex=rf"{EPIC_BASE}/Patient/{PID}$").respond(200, json={"resourceType": "Patient", "id": PID})
    epic.get(url__regex=rf"{EPIC_BASE}/Observation\?.*page=2.*").respond(200, json=searchset([theirs]))
    epic.get(url__regex=rf"{EPIC_BASE}/Observation\?.*").respond(200, json=searchset(
        [mine, theirs], next_url=f"{EPIC_BASE}/Observation?patient={PID}&page=2"))
    found = await collect(fhir, "Observation", [("patient", PID)], PID)
    assert ids(found.items) == ["mine"] and found.complete is True and found.pages == 2
    assert found.warnings == [OTHER_PATIENTS.format(n=2)]


async def test_collect_withholds_records_of_another_type_and_names_the_type_it_asked_for(fhir, epic) -> None:
    stray = {"resourceType": "Patient", "id": PID}
    epic.get(url__regex=rf"{EPIC_BASE}/Observation\?.*").respond(200, json=searchset([obs("o1", "2026-05-01"), stray]))
    found = await collect(fhir, "Observation", [("patient", PID)], PID)
    assert ids(found.items) == ["o1"] and found.warnings == [OTHER_TYPES.format(n=1, type="Observation")]
    assert found.warnings == ["the server returned 1 record(s) that are not Observation; they were withheld"]


async def test_a_next_page_refused_by_the_server_names_the_resource_type_searched(fhir, epic) -> None:
    epic.get(url__regex=rf"{EPIC_BASE}/Observation\?.*page=2.*").respond(403, json=outcome(
        "error", "forbidden", "4118", "not authorized"))
    epic.get(url__regex=rf"{EPIC_BASE}/Observation\?.*").respond(200, json=searchset(
        [obs("o1", "2026-05-01")], next_url=f"{EPIC_BASE}/Observation?patient={PID}&page=2"))
    with pytest.raises(FhirError, match="the app is not authorized for Observation"):
        await collect(fhir, "Observation", [("patient", PID)], PID)


# scan: date windows, newest first --------------------------------------------------------------------------------

def test_windows_are_the_future_90_days_a_year_3_years_10_years_then_everything_older() -> None:
    assert windows(TODAY) == [
        (date(2026, 6, 2), None), (date(2026, 3, 3), date(2026, 6, 2)), (date(2025, 6, 1), date(2026, 3, 3)),
        (date(2023, 6, 2), date(2025, 6, 1)), (date(2016, 6, 3), date(2023, 6, 2)), (None, date(2016, 6, 3))]


async def test_scan_asks_each_window_by_date_newest_first_and_keeps_every_record(fhir, epic) -> None:
    records = [obs("old", "2001-02-03"), obs("last-year", "2025-09-01"), obs("recent", "2026-05-20"),
               obs("ahead", "2026-07-01")]
    fake = FakeFhir(epic, records)
    scanned = await scan(fhir, "Observation", [("patient", PID)], PID, TODAY)
    assert dates_asked(fake) == [["ge2026-06-02"], ["ge2026-03-03", "lt2026-06-02"], ["ge2025-06-01", "lt2026-03-03"],
                                 ["ge2023-06-02", "lt2025-06-01"], ["ge2016-06-03", "lt2023-06-02"], ["lt2016-06-03"]]
    assert ids(scanned.items) == ["ahead", "recent", "last-year", "old"]
    assert (scanned.complete, scanned.warnings, scanned.limit_note("labs")) == (True, [], None)


async def test_scan_uses_the_date_parameter_it_is_given(fhir, epic) -> None:
    fake = FakeFhir(epic, [])
    await scan(fhir, "Observation", [("patient", PID)], PID, TODAY, date_param="period")
    assert [value for name, value in fake.searches[1] if name == "period"] == ["ge2026-03-03", "lt2026-06-02"]


async def test_scan_stops_at_the_first_window_where_the_answer_is_known(fhir, epic) -> None:
    fake = FakeFhir(epic, [obs("old", "2001-02-03"), obs("last-year", "2025-09-01")])
    scanned = await scan(fhir, "Observation", [("patient", PID)], PID, TODAY, done=lambda items: len(items) >= 1)
    assert ids(scanned.items) == ["last-year"] and len(fake.searches) == 3 and scanned.complete is True


async def test_scan_keeps_one_copy_of_a_record_a_server_returns_in_every_window(fhir, epic) -> None:
    route = epic.get(url__regex=rf"{EPIC_BASE}/Observation\?.*").respond(200, json=searchset(
        [obs("a", "2026-05-01"), obs("b", "2020-01-01")]))
    scanned = await scan(fhir, "Observation", [("patient", PID)], PID, TODAY)
    assert ids(scanned.items) == ["a", "b"] and route.call_count == 6 and scanned.complete is True


async def test_scan_says_a_warning_once_however_many_windows_repeat_it(fhir, epic) -> None:
    epic.get(url__regex=rf"{EPIC_BASE}/Patient/{PID}$").respond(200, json={"resourceType": "Patient", "id": PID})
    epic.get(url__regex=rf"{EPIC_BASE}/Observation\?.*").respond(200, json=searchset(
        [obs("theirs", "2026-05-01", patient="eOther9")]))
    scanned = await scan(fhir, "Observation", [("patient", PID)], PID, TODAY)
    assert scanned.items == [] and scanned.warnings == [OTHER_PATIENTS.format(n=1)]


async def test_a_window_the_budget_cannot_finish_ends_the_scan_and_says_how_far_back_it_read(fhir, epic) -> None:
    fake = FakeFhir(epic, [obs("ahead", "2026-07-01"), *(obs(f"r{i}", f"2026-05-1{i}") for i in range(4)),
                           obs("old", "2001-02-03")], page_size=2)
    scanned = await scan(fhir, "Observation", [("patient", PID)], PID, TODAY, budget=2)
    assert len(fake.searches) == 2 and ids(scanned.items) == ["ahead"]
    assert (scanned.complete, scanned.read_back_to, scanned.read_back_days) == (False, date(2026, 6, 2), -1)
    assert scanned.limit_note("lab results") == (
        "only lab results dated after today were read (the page budget was spent); older ones are not shown: "
        "ask with date_from/date_to for an earlier period")


async def test_a_budget_spent_between_windows_reads_back_to_the_end_of_the_next_one(fhir, epic) -> None:
    fake = FakeFhir(epic, [obs("recent", "2026-05-10"), obs("last-year", "2025-09-01")])
    scanned = await scan(fhir, "Observation", [("patient", PID)], PID, TODAY, budget=3)
    assert len(fake.searches) == 3 and ids(scanned.items) == ["recent", "last-year"]
    assert (scanned.complete, scanned.read_back_to, scanned.read_back_days) == (False, date(2025, 6, 1), 365)
    assert str(scanned.limit_note("labs")).startswith("only labs from the last year were read")


async def test_a_scan_whose_newest_window_is_unfinished_says_it_read_only_the_newest_pages(fhir, epic) -> None:
    FakeFhir(epic, [obs(f"f{i}", "2026-07-01") for i in range(3)], page_size=2)
    scanned = await scan(fhir, "Observation", [("patient", PID)], PID, TODAY, budget=1)
    assert (scanned.complete, scanned.read_back_to) == (False, None)
    assert scanned.limit_note("records") == (
        "only records in the newest pages were read (the page budget was spent); older ones are not shown: ask "
        "with date_from/date_to for an earlier period")


async def test_a_scan_stopped_by_a_foreign_next_link_says_that_stopped_it(fhir, epic) -> None:
    epic.get(url__regex=rf"{EPIC_BASE}/Observation\?.*").respond(200, json=searchset(
        [obs("o1", "2026-05-01")], next_url="https://evil.example.org/R4/Observation?page=2"))
    scanned = await scan(fhir, "Observation", [("patient", PID)], PID, TODAY)
    assert scanned.complete is False and scanned.warnings == [FOREIGN_NEXT_LINK]
    assert scanned.stopped_by == "the server's next link left the FHIR server"
    assert "(the server's next link left the FHIR server)" in str(scanned.limit_note("records"))


@pytest.mark.parametrize(("days", "since"), [(-1, "dated after today"), (90, "from the last 90 days"),
                                             (365, "from the last year"), (1095, "from the last 3 years"),
                                             (3650, "from the last 10 years"), (400, "from the last 400 days"),
                                             (730, "from the last 2 years")])
def test_how_far_back_a_scan_read_is_said_relative_to_today_never_as_a_date(days: int, since: str) -> None:
    """In the PHI-minimising mode a window's edge is today moved by the patient's secret offset: printed as a
    date, it would give the offset away."""
    note = Scanned(complete=False, read_back_to=TODAY - timedelta(days=days), read_back_days=days).limit_note("labs")
    assert note is not None and note.startswith(f"only labs {since} were read")
    assert not re.search(r"\d{4}-\d{2}", note)


def test_a_complete_scan_has_no_limit_note() -> None:
    assert Scanned().limit_note("records") is None


# When a record happened ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("element", ["effectiveDateTime", "effectiveInstant", "occurrenceDateTime",
                                     "performedDateTime", "issued", "authoredOn", "onsetDateTime", "recordedDate",
                                     "date", "start", "created"])
def test_the_time_of_a_record_is_read_from_each_of_its_date_elements(element: str) -> None:
    assert effective_time({element: "2024-03-05"}) == "2024-03-05"


@pytest.mark.parametrize("element", ["effectivePeriod", "period", "performedPeriod", "occurrencePeriod"])
def test_the_time_of_a_record_with_a_period_is_its_start(element: str) -> None:
    assert effective_time({element: {"start": "2024-03-05", "end": "2024-04-01"}}) == "2024-03-05"


def test_the_time_of_a_note_may_be_its_context_period() -> None:
    assert effective_time({"context": {"period": {"start": "2024-03-05T10:00:00Z"}}}) == "2024-03-05T10:00:00"
    assert clinical_date({"context": {"period": {"start": "2024-03-05T10:00:00Z"}}}) == (
        "context.period.start", "2024-03-05T10:00:00Z"), "the element is named where the order is stated"
    for unusable in ({}, {"start": ""}, {"start": 20240305}, "2024"):
        assert clinical_date({"context": {"period": unusable}}) is None
        assert effective_time({"context": {"period": unusable}}) == written_time({"context": {"period": unusable}}) \
            == ""
    assert clinical_date({"context": "2024"}) is None


def test_when_a_record_has_several_dates_the_first_in_order_of_meaning_wins() -> None:
    record = {"issued": "2024-03-09T00:00:00Z", "effectiveDateTime": "2024-03-05", "effectivePeriod": {
        "start": "2024-01-01"}, "context": {"period": {"start": "2023-01-01"}}}
    assert effective_time(record) == "2024-03-05"
    assert effective_time({"effectiveDateTime": {"start": "x"}, "issued": "2024-03-09"}) == "2024-03-09"
    assert effective_time({"effectivePeriod": {"end": "2024-03-01"}, "period": {"start": "2024-02-01"}}) == \
        "2024-02-01"
    assert effective_time({"period": "2024"}) == ""
    assert effective_time({"context": {"period": {"start": "2023-01-01"}}, "created": "2024-05-05"}) == "2024-05-05"


@pytest.mark.parametrize(("written", "sortable"), [
    ("2026-01-10T23:30:00-05:00", "2026-01-11T04:30:00"),  # an evening in New York is the next day in UTC
    ("2026-01-10T04:30:00Z", "2026-01-10T04:30:00"),
    ("2026-01-10T04:30:00.123+00:00", "2026-01-10T04:30:00"),
    ("2026-01-10T04:30:00", "2026-01-10T04:30:00"),  # no zone: kept as written
    ("2026-01-10", "2026-01-10"), ("2026-01", "2026-01"), ("2026", "2026"),
    ("early January 2026", "early January 2026"),  # unreadable: kept, not dropped
])
def test_datetimes_sort_in_utc_and_dates_keep_their_precision(written: str, sortable: str) -> None:
    assert effective_time({"effectiveDateTime": written}) == sortable


@pytest.fixture
def clock_five_hours_behind_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "XST+05")  # a POSIX zone: no time zone database needed
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_times_sort_in_utc_whatever_the_machines_time_zone(clock_five_hours_behind_utc) -> None:
    assert effective_time({"effectiveDateTime": "2026-01-10T04:30:00+01:00"}) == "2026-01-10T03:30:00"
    assert effective_time({"effectiveDateTime": "2026-01-10T04:30:00"}) == "2026-01-10T04:30:00", "no zone: as written"


def test_a_record_without_a_date_has_no_time() -> None:
    assert effective_time({"resourceType": "Observation", "effectiveDateTime": 20240305}) == ""


def test_newest_first_orders_by_the_time_in_utc_not_by_the_text() -> None:
    new_york_evening = obs("ny", "2026-01-10T23:30:00-05:00")  # 04:30 UTC on the 11th
    utc_morning = obs("utc", "2026-01-11T01:00:00Z")
    undated = {"resourceType": "Observation", "id": "undated"}
    assert ids(newest_first([undated, utc_morning, new_york_evening])) == ["ny", "utc", "undated"]


# What kind of thing a record is ----------------------------------------------------------------------------------

def test_the_kind_of_a_result_is_its_loinc_code_even_when_epic_lists_its_own_code_first() -> None:
    epic_first = {"code": {"coding": [{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.67", "code": "1558"},
                                      {"system": LOINC, "code": "4548-4"}]}}
    assert code_key(epic_first) == "LOINC 4548-4"


def test_the_kind_without_a_loinc_code_is_the_first_code_with_a_value() -> None:
    assert code_key({"code": {"coding": [{"system": LOINC}, {"system": "http://snomed.info/sct", "code": "271649006"},
                                         {"system": "urn:oid:1.2.3", "code": "9"}]}}) == "SNOMED 271649006"
    assert code_key({"code": {"coding": ["odd", {"system": "urn:oid:1.2.3", "code": "9"}]}}) == "OID 1.2.3 9"
    hl7 = "http://terminology.hl7.org/CodeSystem/observation-category"
    assert code_key({"code": {"coding": [{"system": hl7, "code": "vital-signs"}]}}) == f"{hl7} vital-signs"
    assert code_key({"code": {"coding": [{"code": "GLU", "display": "Glucose"}]}}) == "GLU", "no system, no 'None'"


def test_the_kind_without_codes_is_the_text_else_unknown() -> None:
    assert code_key({"code": {"coding": [{"display": "A1c"}], "text": "Hemoglobin A1c"}}) == "Hemoglobin A1c"
    assert code_key({"code": {"text": ""}}) == "?"
    assert code_key({"code": "4548-4"}) == "?"
    assert code_key({}) == "?"


def test_the_kind_may_be_read_from_another_element() -> None:
    vaccine = {"vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}]}}
    assert code_key(vaccine, "vaccineCode") == "CVX 140" and code_key(vaccine) == "?"


def test_latest_per_code_keeps_the_newest_of_each_kind_whatever_the_order() -> None:
    records = [obs("a1c-old", "2025-01-10", "4548-4"), obs("glu", "2026-01-01", "2345-7"),
               obs("a1c-new", "2026-01-10", "4548-4"), obs("a1c-mid", "2025-06-10", "4548-4")]
    assert ids(latest_per_code(records)) == ["a1c-new", "glu"]


# Whether a lab value is out of range -----------------------------------------------------------------------------

def lab(value: Any, low: Any = 4.0, high: Any = 5.6, *flags: str) -> dict[str, Any]:
    bounds = {k: {"value": v, "unit": "%"} for k, v in (("low", low), ("high", high)) if v is not None}
    record: dict[str, Any] = {"valueQuantity": {"value": value, "unit": "%"}, "referenceRange": [bounds]}
    if flags:
        record["interpretation"] = [{"coding": [{"code": flag} for flag in flags]}]
    return record


@pytest.mark.parametrize(("record", "flag"), [
    (lab(7.9, 4.0, 5.6, "H"), "H"),
    (lab(3.0, 4.0, 5.6, "LL"), "LL"),
    (lab(5.0, 4.0, 5.6, "N", "A"), "A"),  # the first abnormal code, past a normal one
    (lab(6.9), "above range"),  # no interpretation: the range decides
    (lab(3.9), "below range"),
    (lab(4.0), None), (lab(5.6), None), (lab(5.0), None),  # the bounds are in range
    (lab(6.9, 4.0, 5.6, "N"), "above range"),  # a normal code does not hide a value out of range
    (lab(3.0, None, 5.6), None), (lab(9.0, None, 5.6), "above range"),
    (lab(3.0, 4.0, None), "below range"), (lab(9.0, 4.0, None), None),
    (lab(3.0, "4.0", "5.6"), None),  # bounds that are not numbers are no bounds
    (lab("6.9"), None),  # nor is a value
    ({"valueQuantity": {"value": 9}, "referenceRange": []}, None),
    ({"valueQuantity": {"value": 9}, "referenceRange": ["4-5.6"]}, None),
    ({"valueQuantity": {"value": 9}, "referenceRange": [{"text": "4-5.6"}]}, None),
    ({"valueString": "positive"}, None),
    ({"valueQuantity": {"value": 9}, "referenceRange": [{"high": {"value": 5.6}}, {"high": {"value": 10}}]},
     "above range"),  # the first range is the one that counts
    ({"interpretation": ["H", {"coding": ["H", {"display": "High"}, {"code": "H"}]}]}, "H"),
])
def test_a_lab_is_flagged_by_its_interpretation_else_by_its_first_reference_range(record, flag) -> None:
    assert range_flag(record) == flag
    assert is_abnormal(record) is (flag is not None)


def test_an_integer_value_is_compared_with_its_range() -> None:
    assert range_flag(lab(7, 4, 5)) == "above range" and range_flag(lab(3, 4, 5)) == "below range"
