"""The evaluation's graders and text reading: strict on substance (number, unit, day, id, every list item and
nothing more), lenient only on form."""

from __future__ import annotations

import pytest

from evals import reading
from evals.graders import grade

A1C = {"value": 6.2, "unit": "%"}
PROBLEMS = [{"names": ["COPD", "J44.9", "Chronic obstructive pulmonary disease, unspecified"]},
            {"names": ["Hypertension (HTN)", "Hypertension", "I10", "Essential (primary) hypertension"]}]
ALLERGIES = [{"names": ["Penicillin G", "7980"], "with": ["high"]}, {"names": ["Aspirin"], "with": ["low"]}]


@pytest.mark.parametrize("answer", ["6.2 %", "6.2%", "6.20 %", "ANSWER 6.2 % (High)", "6.2 percent"])
def test_a_quantity_matches_whatever_its_float_or_unit_spelling(answer) -> None:
    assert grade("quantity", A1C, answer)


@pytest.mark.parametrize("answer", ["6.3 %", "62 %", "6.2 mg/dL", "6.2", "high", "", "%6.2"])
def test_a_quantity_with_another_number_or_unit_is_wrong(answer) -> None:
    assert not grade("quantity", A1C, answer)


@pytest.mark.parametrize(("expected", "answer"), [
    ({"value": 36.5, "unit": "Cel"}, "36.5 °C"), ({"value": 167, "unit": "mm[Hg]"}, "167 mmHg"),
    ({"value": 76, "unit": "/min"}, "76 bpm"), ({"value": 250, "unit": "10*3/uL"}, "250 10^3/uL"),
    ({"value": 6072.0, "unit": "/uL"}, "6,072 /uL"), ({"value": 38.0, "unit": "kg/m2"}, "38 kg/m²"),
])
def test_trivial_unit_variants_are_the_same_unit(expected, answer) -> None:
    assert grade("quantity", expected, answer)


@pytest.mark.parametrize("answer", ["2027-06-17", "2027-06-17T16:00:00Z", "June 17, 2027", "Jun 17 2027 at 4 pm"])
def test_a_day_matches_a_datetime_on_it_or_the_day_written_out(answer) -> None:
    assert grade("date", "2027-06-17", answer)


@pytest.mark.parametrize("answer", ["2027-06-18", "2027-17-06", "next June", "2026-06-17T16:00:00Z"])
def test_another_day_is_wrong(answer) -> None:
    assert not grade("date", "2027-06-17", answer)


@pytest.mark.parametrize(("answer", "right"), [
    ("2024-10-21T03:07:00+09:00", True), ("2024-10-20T18:07:00Z", True), ("taken 2024-10-20T18:07:00+00:00", True),
    ("2024-10-20T18:07:00", False), ("2024-10-21T03:07:00", False), ("2024-10-21", False),
    ("2024-10-21T03:07:00Z", False), ("", False),
])
def test_a_time_is_right_only_with_its_zone_and_the_same_moment(answer: str, right: bool) -> None:
    assert grade("datetime", "2024-10-21T03:07:00+09:00", answer) is right


@pytest.mark.parametrize(("answer", "right"), [
    ("6.0 % to 9.2 %", True), ("lowest 6 %, highest 9.2 %", True), ("6 %; 9.2 %", True),
    ("9.2 % to 6.0 %", False), ("6.0 to 9.2", False), ("6.0 %", False), ("6.1 % to 9.2 %", False),
])
def test_a_range_is_its_lowest_then_its_highest_each_with_its_unit(answer: str, right: bool) -> None:
    assert grade("range", {"low": {"value": 6.0, "unit": "%"}, "high": {"value": 9.2, "unit": "%"}}, answer) is right


def test_fluctuating_is_a_choice_of_its_own() -> None:
    assert grade("choice", "fluctuating", "Fluctuating, it swings") and not grade("choice", "fluctuating", "rising")
    assert not grade("choice", "falling", "fluctuating")


def test_an_id_must_be_exactly_the_id() -> None:
    assert grade("id", "erXuFYUfucBZaryVksYEcMg3", "Patient/erXuFYUfucBZaryVksYEcMg3")
    assert grade("id", "erXuFYUfucBZaryVksYEcMg3", "`erXuFYUfucBZaryVksYEcMg3`.")
    assert not grade("id", "erXuFYUfucBZaryVksYEcMg3", "erxufyufucbzaryvksyecmg3")
    assert not grade("id", "erXuFYUfucBZaryVksYEcMg3", "erXuFYUfucBZaryVksYEcMg3 or eq081-VQEgP8drUUqCWzHfw3")


def test_a_count_is_the_first_whole_number() -> None:
    assert grade("count", 3, "3") and grade("count", 3, "3 encounters")
    assert grade("count", 0, "none")
    assert not grade("count", 3, "4") and not grade("count", 3, "13") and not grade("count", 3, "")


def test_a_choice_is_one_word_or_its_synonym() -> None:
    assert grade("choice", "rising", "Rising") and grade("choice", "rising", "increased.")
    assert grade("choice", "no", "No, it is within range")
    assert not grade("choice", "rising", "falling") and not grade("choice", "yes", "no")
    assert not grade("choice", "rising", "it depends")


def test_a_note_is_read_when_its_key_phrase_is_quoted() -> None:
    phrase = "Seen on 2026-10-15 for follow-up of COPD."
    assert grade("contains", phrase, "Progress note\nSeen on 2026-10-15   for follow-up of copd.\nPlan: ...")
    assert not grade("contains", phrase, "Seen on 2026-09-15 for follow-up of COPD.")


@pytest.mark.parametrize("answer", [
    "COPD; Hypertension", "Hypertension (HTN) (Essential (primary) hypertension [ICD-10-CM I10]); COPD (Chronic "
    "obstructive pulmonary disease, unspecified [ICD-10-CM J44.9])", "- J44.9\n- I10", "copd;  hypertension;",
])
def test_a_list_matches_in_any_order_and_by_any_name(answer) -> None:
    assert grade("items", PROBLEMS, answer)


@pytest.mark.parametrize("answer", [
    "COPD", "COPD; Hypertension; Asthma", "COPD; COPD", "Hypertension; I10", "none", "COPD, Hypertension",
])
def test_a_list_missing_an_item_or_with_an_extra_one_is_wrong(answer) -> None:
    assert not grade("items", PROBLEMS, answer)


def test_allergies_need_their_criticality() -> None:
    assert grade("items", ALLERGIES, "Aspirin (low); Penicillin G (high)")
    assert not grade("items", ALLERGIES, "Aspirin (high); Penicillin G (low)")
    assert not grade("items", ALLERGIES, "Aspirin; Penicillin G")


@pytest.mark.parametrize("answer", ["none", "None.", "", "n/a"])
def test_an_empty_list_is_answered_none(answer) -> None:
    assert grade("items", [], answer)


def test_no_answer_is_wrong() -> None:
    assert not grade("items", [], None) and not grade("count", 0, None)


COMPACT_PAGE = """Observation search: 2 on this page, total 3; more with next_page(cursor='abc.def')
every item: status: final | code: Creatinine [LOINC 2160-0] | reference_range: 0.59-1.04 mg/dL
- lab-1 | effective: 2026-02-07T10:54:00Z | value: 0.63 mg/dL | components: A: 1 (interpretation High)
- lab-2 | effective: 2026-05-27T10:21:00Z | value: 0.73 mg/dL"""


def test_compact_lines_are_read_with_the_fields_every_item_shares() -> None:
    items = reading.items(COMPACT_PAGE)
    assert [i["_ref"] for i in items] == ["lab-1", "lab-2"]
    assert items[0]["value"] == "0.63 mg/dL" and items[1]["status"] == "final"
    assert items[0]["components"] == "A: 1 (interpretation High)"
    assert reading.next_cursor(COMPACT_PAGE) == "abc.def"


def test_summary_sections_and_the_latest_values_table_are_read() -> None:
    summary = "Patient summary\n## Active problems: 1 shown\n- Condition/c1 | code: COPD\n## Allergies: 0\n- none"
    assert reading.section(summary, "problem") == "- Condition/c1 | code: COPD"
    assert reading.section(summary, "medication") is None
    table = "A1c for Patient/x: 2 newest\ndate | value | flag | reference range | id\n2026-10-17 | 6.2 % | High | " \
            "4.0-5.6 % | lab-1\n2026-09-27 | 8.7 % | High | 4.0-5.6 % | lab-2"
    assert [row["value"] for row in reading.table(table)] == ["6.2 %", "8.7 %"]
    assert reading.patient_text("head\n<patient-text>\nthe note\n</patient-text>") == "the note"
