"""Dates in the minimum PHI mode: every date of a patient moves by the patient's offset, in structured elements
(whatever their precision, year-only included) and in free text (each format a note may use, written back the
same way), and a search date moves back by it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from epic_mcp.phi.dates import shift_fhir, shift_search_value, shift_text
from epic_mcp.phi.resources import DATE_KEY
from epic_mcp.phi.scrub import Identity, Scrubber

from .test_phi import CODEC, PATIENT, PID, SUBJECT, deidentifier

DAYS = CODEC.offset_days(PID)


def moved(day: date) -> date:
    return day + timedelta(days=DAYS)


def year_moved(year: int) -> str:
    """A year moves by its middle day (2 July), so it moves at most as far as its neighbours."""
    return str(moved(date(year, 7, 2)).year)


def month_moved(year: int, month: int) -> str:
    return moved(date(year, month, 15)).isoformat()[:7]


def deidentified(resource: dict[str, Any]) -> dict[str, Any]:
    return deidentifier().resource(resource, {PID: Identity.of(PATIENT)})


def test_the_patients_offset_moves_a_year_to_another_year() -> None:
    """The tests below can tell a moved year from one left alone only if the offset crosses a year's middle."""
    assert abs(DAYS) > 183 and year_moved(2019) != "2019"


def test_year_only_dates_in_date_elements_move_by_the_patients_offset() -> None:
    condition = {"resourceType": "Condition", "id": "c1", "subject": SUBJECT, "onsetDateTime": "2019",
                 "abatementDateTime": "2021-03", "recordedDate": "2020", "note": [{"text": "since 2019"}]}
    procedure = {"resourceType": "Procedure", "id": "p1", "subject": SUBJECT,
                 "performedPeriod": {"start": "2015", "end": "2016-11"}}
    request = {"resourceType": "MedicationRequest", "id": "m1", "subject": SUBJECT, "authoredOn": "2018",
               "dispenseRequest": {"validityPeriod": {"start": "2018", "end": "2019"}}}
    immunization = {"resourceType": "Immunization", "id": "i1", "patient": SUBJECT, "occurrenceDateTime": "2017",
                    "recorded": "2017"}
    allergy = {"resourceType": "AllergyIntolerance", "id": "a1", "patient": SUBJECT, "lastOccurrence": "2012",
               "onsetDateTime": "2010"}
    observation = {"resourceType": "Observation", "id": "o1", "subject": SUBJECT, "status": "final",
                   "effectivePeriod": {"start": "2014"}, "valueDateTime": "2013", "issued": "2014",
                   "note": [{"time": "2016", "text": "repeat"}]}
    statement = {"resourceType": "MedicationStatement", "id": "s1", "subject": SUBJECT, "dateAsserted": "2019"}

    out = deidentified(condition)
    assert (out["onsetDateTime"], out["abatementDateTime"], out["recordedDate"]) == (
        year_moved(2019), month_moved(2021, 3), year_moved(2020))
    assert out["note"] == [{"text": "since 2019"}], "a bare year in text stays (Safe Harbor keeps years)"
    assert deidentified(procedure)["performedPeriod"] == {"start": year_moved(2015), "end": month_moved(2016, 11)}
    out = deidentified(request)
    assert out["authoredOn"] == year_moved(2018)
    assert out["dispenseRequest"]["validityPeriod"] == {"start": year_moved(2018), "end": year_moved(2019)}
    out = deidentified(immunization)
    assert (out["occurrenceDateTime"], out["recorded"]) == (year_moved(2017), year_moved(2017))
    out = deidentified(allergy)
    assert (out["lastOccurrence"], out["onsetDateTime"]) == (year_moved(2012), year_moved(2010))
    out = deidentified(observation)
    assert (out["effectivePeriod"], out["valueDateTime"], out["issued"]) == (
        {"start": year_moved(2014)}, year_moved(2013), year_moved(2014))
    assert out["note"] == [{"time": year_moved(2016), "text": "repeat"}]
    assert deidentified(statement)["dateAsserted"] == year_moved(2019)


def r4_elements() -> dict[str, set[str]]:
    """Every element name of FHIR R4 as it is written in JSON (choices expanded: onsetDateTime), with its types."""
    model = pytest.importorskip("fhirpathpy.models").models["r4"]
    names: dict[str, set[str]] = {}
    for path, kind in model["path2Type"].items():
        if path not in model["choiceTypePaths"]:
            names.setdefault(path.rsplit(".", 1)[-1], set()).add(kind)
    for path, kinds in model["choiceTypePaths"].items():
        for kind in kinds:
            names.setdefault(path.rsplit(".", 1)[-1] + kind[0].upper() + kind[1:], set()).add(kind)
    return names


DATE_TYPES = {"date", "dateTime", "instant", "Date", "DateTime", "Instant"}
TEXT_TYPES = {"string", "String", "System.String", "code", "Code", "id", "Id", "uri", "Uri", "url", "Url",
              "markdown", "Markdown", "canonical", "Canonical", "oid", "Oid", "uuid", "Uuid", "time", "Time"}


def test_every_fhir_r4_element_that_holds_a_date_is_known_by_its_name() -> None:
    """So a year-only or month-only value moves wherever FHIR puts a date (a full date moves anywhere). 'value' is
    a date only in ImmunizationRecommendation's dateCriterion, and many other things elsewhere: there only full
    dates move."""
    names = r4_elements()
    unknown = sorted(name for name, kinds in names.items() if kinds & DATE_TYPES and not DATE_KEY.search(name))
    assert unknown == ["value"]


def test_no_fhir_r4_text_element_is_taken_for_a_date_by_its_name() -> None:
    """Immunization.occurrenceString is the date of the vaccination written as text: a year there is a date too."""
    names = r4_elements()
    taken = sorted(name for name, kinds in names.items()
                   if DATE_KEY.search(name) and kinds & TEXT_TYPES and not kinds & DATE_TYPES)
    assert taken == ["occurrenceString"]


def test_a_year_like_value_that_is_no_date_stays() -> None:
    observation = {"resourceType": "Observation", "id": "o1", "subject": SUBJECT, "status": "final",
                   "code": {"coding": [{"system": "http://loinc.org", "code": "2019"}], "text": "2019"},
                   "valueString": "2019", "component": [{"valueString": "1999"}],
                   "extension": [{"url": "http://example.org/steps", "valueString": "2000"}]}
    out = deidentified(observation)
    assert out["code"] == observation["code"] and out["valueString"] == "2019"
    assert out["component"] == [{"valueString": "1999"}] and out["extension"][0]["valueString"] == "2000"


def test_a_full_date_moves_in_any_element_and_keeps_its_time() -> None:
    note = {"resourceType": "Observation", "id": "o1", "subject": SUBJECT, "status": "final",
            "valueString": "2025-01-10", "effectiveInstant": "2025-01-10T09:30:00.250Z"}
    out = deidentified(note)
    assert out["valueString"] == moved(date(2025, 1, 10)).isoformat()
    assert out["effectiveInstant"] == f"{moved(date(2025, 1, 10)).isoformat()}T09:30:00.250Z"


@pytest.mark.parametrize(("written", "expected"), [
    ("2025-07-05", "2025-08-04"),
    ("2025-07-05T16:24:00Z", "2025-08-04T16:24:00Z"),
    ("2025-07-05T16:24:00.5+02:00", "2025-08-04T16:24:00.5+02:00"),
    ("2025-07", "2025-08"),
    ("07/05/2025", "08/04/2025"),
    ("7/5/2025", "8/4/2025"),
    ("31/12/2025", "30/01/2026"),
    ("5.7.2025", "4.8.2025"),
    ("05.07.2025", "04.08.2025"),
    ("Jan 2, 2026", "Feb 1, 2026"),
    ("Jan. 2, 2026", "Feb. 1, 2026"),
    ("January 2nd, 2026", "February 1st, 2026"),
    ("Sept 3, 2025", "Oct 3, 2025"),
    ("SEPTEMBER 3 2025", "OCTOBER 3 2025"),
    ("2 January 2026", "1 February 2026"),
    ("3rd of March, 2025", "2nd of April, 2025"),
    ("4 dec. 2025", "3 jan. 2026"),
    ("March 2026", "April 2026"),
    ("mar, 2026", "apr, 2026"),
    ("2025年6月14日", "2025年7月14日"),
    ("2025年12月", "2026年1月"),
])
def test_a_date_in_text_moves_and_is_written_as_it_was(written: str, expected: str) -> None:
    assert shift_text(f"Seen {written}; BP 110/73.", 30) == f"Seen {expected}; BP 110/73."


@pytest.mark.parametrize("text", [
    "BP 110/73, 1/2 tab, in 2019", "2025-02-30 is no day", "07/05/1799 and 07/05/2201 are out of range",
    "2025-13", "12-05-2025", "13/13/2025", "2025年13月", "no date at all",
])
def test_what_is_not_a_date_in_range_stays(text: str) -> None:
    assert shift_text(text, 30) == text


def test_a_date_is_moved_once_even_where_two_rules_could_read_it() -> None:
    assert shift_text("2 January 2026 and January 2026", 31) == "2 February 2026 and February 2026"
    assert shift_text("2025-07-05 and 2025-07", 30) == "2025-08-04 and 2025-08"


def test_a_date_joined_to_a_word_or_to_another_date_by_a_hyphen_moves() -> None:
    """A file name (ECG-2026-01-02.pdf) or a stay written with a hyphen between its dates kept them unmoved."""
    assert shift_text("ECG-2026-01-02.pdf, MRI-2026-01.pdf", 30) == "ECG-2026-02-01.pdf, MRI-2026-02.pdf"
    assert shift_text("admitted 2026-01-02-2026-01-05", 30) == "admitted 2026-02-01-2026-02-04"
    assert shift_text("accession 77-2026-01-02", 30) == "accession 77-2026-02-01", "as 2026-01-02-77 moves"


@pytest.mark.parametrize(("written", "expected"), [
    pytest.param("2026-01-02T10:00", "2026-02-01T10:00", id="ISO with hours and minutes only"),
    pytest.param("2026-01-02T10:00:00.123456-05:00", "2026-02-01T10:00:00.123456-05:00",
                 id="ISO with microseconds and a zone behind UTC"),
    pytest.param("2026-01-02T10:00:00+05:30", "2026-02-01T10:00:00+05:30", id="ISO with a zone ahead of UTC"),
    pytest.param("12/25/2026", "01/24/2027", id="US month first, two digits each"),
    pytest.param("25/12/2026", "24/01/2027", id="day first as the first number cannot be a month"),
    pytest.param("13/01/2026", "12/02/2026", id="day first from 13 on"),
    pytest.param("2025-11-20", "2025-12-20", id="ISO with a two-digit month"),
    pytest.param("Jan 1st 2026", "Jan 31st 2026", id="1st without a comma"),
    pytest.param("Jan 3rd, 2026", "Feb 2nd, 2026", id="3rd"),
    pytest.param("Jan 4th, 2026", "Feb 3rd, 2026", id="4th"),
    pytest.param("March 21st, 2026", "April 20th, 2026", id="21st"),
    pytest.param("June 22nd, 2026", "July 22nd, 2026", id="22nd"),
    pytest.param("Dec 12th, 2025", "Jan 11th, 2026", id="to 11th, not 11st"),
    pytest.param("14th of Jan 2026", "13th of Feb 2026", id="to 13th, not 13rd"),
    pytest.param("Sept. 3, 2025", "Oct. 3, 2025", id="Sept with a dot"),
    pytest.param("Dec. 5th, 2025", "Jan. 4th, 2026", id="abbreviation with a dot and an ordinal"),
    pytest.param("May  3,  2026", "Jun 2,  2026", id="month first with doubled spaces"),
    pytest.param("1st March 2026", "31st March 2026", id="day first with 1st"),
    pytest.param("5th Dec. 2025", "4th Jan. 2026", id="day first with 5th and an abbreviation with a dot"),
    pytest.param("the 22nd of  March 2026", "the 21st of  April 2026", id="22nd of, doubled space"),
    pytest.param("12th of June 2026", "12th of July 2026", id="12th of"),
    pytest.param("2nd  of  Jan 2026", "1st  of  Feb 2026", id="2nd of with doubled spaces"),
    pytest.param("2 January  2026", "1 February  2026", id="day first, doubled space before the year"),
    pytest.param("3RD OF MARCH 2026", "2ND OF APRIL 2026", id="uppercase"),
    pytest.param("March  2026", "April  2026", id="month and year, doubled space"),
    pytest.param("Mar. 2026", "Apr. 2026", id="abbreviated month with a dot and year"),
    pytest.param("Sept 2025", "Oct 2025", id="Sept and year"),
    pytest.param("seen May 2026 ref 12345", "seen Jun 2026 ref 12345", id="a number after a month and year"),
    pytest.param("lot 123 March 2026", "lot 123 April 2026", id="a long number before a month and year"),
    pytest.param("2025年12月24日", "2026年1月23日", id="kanji, two-digit month"),
    pytest.param("2025年6月4日", "2025年7月4日", id="kanji, one-digit day"),
    pytest.param("2025年 6月 14日", "2025年7月14日", id="kanji with spaces"),
    pytest.param("2025 年 6 月 14 日", "2025年7月14日", id="kanji with spaces on both sides"),
    pytest.param("2025年 6月", "2025年7月", id="kanji month with a space"),
])
def test_a_date_written_any_usual_way_moves_and_keeps_its_writing(written: str, expected: str) -> None:
    assert shift_text(f"Note: {written}.", 30) == f"Note: {expected}."


@pytest.mark.parametrize("text", [
    pytest.param("call 555-1234", id="a phone number"),
    pytest.param("version 10.1.2.2026", id="a four-part version"),
    pytest.param("ref 4/1/2/2026", id="four numbers between slashes"),
    pytest.param("dose 1/2/20", id="a dose with a two-digit year"),
    pytest.param("moved here in 2024", id="a bare year"),
    pytest.param("to her dismay, 2024 ended", id="a month name ending a word, then a year"),
    pytest.param("grammar 3, 2026", id="a month abbreviation ending a word, then a day and year"),
    pytest.param("order 12026-01-02", id="ISO date after a digit"),
    pytest.param("order 2026-01-023", id="ISO date before a digit"),
    pytest.param("order 12026-01", id="ISO month after a digit"),
    pytest.param("order 2026-011", id="ISO month before a digit"),
    pytest.param("order 1/2/20261", id="numeric date before a digit"),
    pytest.param("order 112/2/2026", id="numeric date after a digit"),
    pytest.param("Jan 2, 20261", id="month first before a digit"),
    pytest.param("12 May 20261", id="day first before a digit"),
    pytest.param("March 20261", id="month and year before a digit"),
    pytest.param("2025年2月30日", id="kanji date of no day"),
])
def test_what_only_looks_like_a_date_stays(text: str) -> None:
    assert shift_text(text, 30) == text


@pytest.mark.parametrize("written", [
    "1987-09-12T04:12", "1987-09-12T04:12:00Z", "1987-09-12T04:12:00.5+02:00", "1987-09-12T04:12:00-05:00",
    "1987-09-12T04:12:00.123Z",
])
def test_the_birth_date_written_with_its_time_in_a_note_leaves_no_time_behind(written: str) -> None:
    """The birth date in text becomes the year the record shows; the time of birth goes with it."""
    note = {"resourceType": "Observation", "id": "o1", "subject": SUBJECT, "status": "final",
            "note": [{"text": f"Born {written} at home."}]}
    assert deidentified(note)["note"] == [{"text": "Born 1987 at home."}]


def test_the_first_and_last_years_read_as_dates_move() -> None:
    assert shift_text("1/15/1800 and 11/15/2200", 30) == "2/14/1800 and 12/15/2200"


@pytest.mark.parametrize(("days", "expected"), [(16, "2026-01, January 2026, 2026年1月"),
                                                 (17, "2026-02, February 2026, 2026年2月")])
def test_a_month_in_text_moves_as_its_15th_does(days: int, expected: str) -> None:
    assert shift_text("2026-01, January 2026, 2026年1月", days) == expected


def test_no_shift_leaves_each_date_as_it_was_written() -> None:
    """The sandbox's data shifted by 0 days keeps its text (and its attachments' hashes), spacing included."""
    assert shift_text("2025年 6月 14日, 2025 年 6 月", 0) == "2025年 6月 14日, 2025 年 6 月"

def test_a_month_in_text_is_no_birth_date_even_for_one_born_on_the_15th() -> None:
    """Only a whole day can be the birth date (which becomes the year); a month moves as any other."""
    born_15th = {**PATIENT, "birthDate": "1987-09-15"}
    scrubber = Scrubber(Identity.of(born_15th), 30, birth="1987")
    assert scrubber.text("born 1987-09-15; since September 1987, 1987-09 and 1987年9月") == (
        "born 1987; since October 1987, 1987-10 and 1987年10月")


@pytest.mark.parametrize(("value", "days", "expected"), [
    ("2025-12-31T23:30:00-05:00", 1, "2026-01-01T23:30:00-05:00"),
    ("2025-07-05T16:24:00.250+02:00", 1, "2025-07-06T16:24:00.250+02:00"),
    ("2025-07", -20, "2025-06"),
    ("2025-07", 16, "2025-07"),
    ("2025-07", 17, "2025-08"),
    ("2025", 182, "2025"),
    ("2025", 183, "2026"),
    ("2025", 200, "2026"),
    ("2025", 170, "2025"),
    ("2024-02-29", 365, "2025-02-28"),
    ("not a date", 5, None),
    ("2025-02-30", 5, None),
    ("0001-01-01", -40, None),
    ("0001", -400, None),
    ("9999-12-31T23:59:59Z", 40, None),
])
def test_fhir_values_move_with_their_precision(value: str, days: int, expected: str | None) -> None:
    assert shift_fhir(value, days) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("ge2026-02-10", "ge2026-01-01"),
    ("2026-02-10", "2026-01-01"),
    ("le2025", "le2025-11-21"),
    ("lt2025-02", "lt2025-01-19"),
    ("eb2025-02", "eb2025-01-19"),
    ("gt2025", "gt2024-11-22"),
    ("ge2025-03", "ge2025-01-20"),
    ("sa2026-02-10T08:00:00Z", "sa2026-01-01T08:00:00Z"),
    ("ge2026-02-10T08:00:00.5+02:00", "ge2026-01-01T08:00:00.5+02:00"),
    ("le2026-02-10T08:00:00", "le2026-01-01T08:00:00"),
    ("ge-today", "ge-today"),
    ("ge0001", "ge0001"),
    ("ge0001-01-01", "ge0001-01-01"),
])
def test_search_dates_move_back_and_partial_dates_widen_first(value: str, expected: str) -> None:
    assert shift_search_value(value, -40) == expected


def test_a_placeholder_date_at_the_calendars_edge_stays_as_written_instead_of_failing_the_answer() -> None:
    """Systems write 0001-01-01 for "unknown"; moved back past year 1 it raised OverflowError, and the whole
    answer failed. It is no day of the patient's life: it stays as written, the real dates beside it move."""
    early, late = ("0001-01-01", "9999-12-31") if DAYS < 0 else ("9999-12-31", "0001-01-01")
    condition = {"resourceType": "Condition", "id": "c1", "subject": SUBJECT, "onsetDateTime": early,
                 "abatementDateTime": late, "recordedDate": "2025-01-10"}
    out = deidentified(condition)
    assert out["onsetDateTime"] == early
    assert out["recordedDate"] == moved(date(2025, 1, 10)).isoformat()


@pytest.mark.parametrize("text", [
    "a\x00b\x00 seen 2026-01-02",  # NULs around a letter: the dates set aside were looked up by that letter
    "x\x00\ue000\x00y seen 2026-01-02",  # what a date set aside looked like: it became the date
    "seen 2026-01-02 \x00\ue001\x00 and \U000f0000\x00",
    "None?None seen 2026-01-02",  # a bracket of any other text is as much the note's own
])
def test_a_note_holding_nul_or_other_odd_characters_keeps_them_and_its_dates_move(text: str) -> None:
    """Hostile or garbled text with NUL characters failed the whole answer (IndexError) or had a piece of it
    replaced by a date."""
    assert shift_text(text, 30) == text.replace("2026-01-02", "2026-02-01")
    assert shift_text(text + " 1 Jan 2026", 30) == text.replace("2026-01-02", "2026-02-01") + " 31 Jan 2026"
