"""The question bank: MedAgentBench-style read questions about the seven sandbox patients, each with its known
answer, generated from the data set dated for the run's today (never from fixed calendar dates)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from . import truth
from .truth import Records

ANSWER_FORMATS = {
    "quantity": "Answer with the number and its unit.",
    "date": "Answer with the date as YYYY-MM-DD.",
    "id": "Answer with the FHIR id only.",
    "count": "Answer with a whole number.",
    "items": "List them separated by semicolons, naming each as the record does; answer none if there are none.",
    "contains": "Quote the note's text.",
    "datetime": "Answer with the date and time and its UTC offset (YYYY-MM-DDThh:mm:ss+hh:mm, or Z for UTC).",
    "range": "Answer with the lowest and the highest value, each with its unit.",
}
RECENT = 10  # results a range or trend question is about


@dataclass(frozen=True)
class Question:
    id: str
    kind: str
    patient_id: str
    text: str
    grader: str
    expected: Any
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Kind:
    name: str
    title: str
    make: Callable[[Records, dict[str, Any], date], Iterator[Question]]


def who(patient: dict[str, Any]) -> str:
    return f"{patient['name']} (patient id {patient['id']})"


def ask(kind: str, patient: dict[str, Any], key: str, text: str, grader: str, expected: Any, choices: str = "",
        **params: Any) -> Question:
    answer_format = ANSWER_FORMATS.get(grader, f"Answer {choices}.")
    return Question(id=f"{kind}/{patient['id']}/{key}", kind=kind, patient_id=patient["id"],
                    text=f"{text} {answer_format}", grader=grader, expected=expected, params=params)


def measured_codes(records: Records, patient_id: str, category: str, least: int) -> list[str]:
    """LOINC codes of the patient's dated quantities in one category with at least `least` results, the most
    frequent first (ties by code): a fixed order, so every run asks the same questions."""
    counted: Counter[str] = Counter()
    for observation in records.of(patient_id, "Observation"):
        in_category = category in {c for concept in observation.get("category", []) for c in truth.codes(concept)}
        code = truth.loinc(observation)
        if in_category and code and truth.quantity(observation) and truth.observation_time(observation):
            counted[code] += 1
    return [code for code, n in sorted(counted.items(), key=lambda kv: (-kv[1], kv[0])) if n >= least]


def named_test(records: Records, patient_id: str, code: str) -> str:
    return f"{truth.test_name(truth.results(records, patient_id, code)[0])} (LOINC {code})"


def quantity_of(observation: dict[str, Any]) -> dict[str, Any]:
    value, unit = truth.quantity(observation) or (0.0, "")
    return {"value": value, "unit": unit}


# Question kinds ---------------------------------------------------------------------------------------------

def latest_values(records: Records, patient: dict[str, Any], today: date) -> Iterator[Question]:
    labs = measured_codes(records, patient["id"], "laboratory", 1)
    vitals = measured_codes(records, patient["id"], "vital-signs", 1)
    for code in dict.fromkeys([*labs[:1], *labs[len(labs) // 2:][:1], *vitals[:1]]):
        newest = truth.results(records, patient["id"], code)[0]
        yield ask("latest_value", patient, code,
                  f"What is the most recent {named_test(records, patient['id'], code)} result of {who(patient)}?",
                  "quantity", quantity_of(newest), code=code)


def values_in_window(records: Records, patient: dict[str, Any], today: date) -> Iterator[Question]:
    """The one result of a test between the days after and before its neighbours."""
    codes = [*measured_codes(records, patient["id"], "laboratory", 3)[:1],
             *measured_codes(records, patient["id"], "vital-signs", 3)[:1]]
    for code in codes:
        found = truth.results(records, patient["id"], code)
        middle = len(found) // 2
        newer, target, older = found[middle - 1], found[middle], found[middle + 1]
        first = truth.day(truth.observation_time(older)) + timedelta(days=1)
        last = truth.day(truth.observation_time(newer)) - timedelta(days=1)
        if not first <= truth.day(truth.observation_time(target)) <= last:
            continue
        yield ask("value_in_window", patient, code,
                  f"What was the {named_test(records, patient['id'], code)} result of {who(patient)} between "
                  f"{first.isoformat()} and {last.isoformat()} (both included)? There is exactly one.",
                  "quantity", quantity_of(target), code=code, date_from=first.isoformat(), date_to=last.isoformat())


def encounter_counts(records: Records, patient: dict[str, Any], today: date) -> Iterator[Question]:
    starts = sorted(truth.day(e["period"]["start"]) for e in records.of(patient["id"], "Encounter"))
    windows = [(today - timedelta(days=365), today)]
    if len(starts) >= 4:
        windows.append((starts[len(starts) // 4], starts[3 * len(starts) // 4]))
    for first, last in windows:
        count = len(truth.encounters_between(records, patient["id"], first, last))
        yield ask("encounter_count", patient, f"{first}..{last}",
                  f"How many encounters did {who(patient)} have from {first.isoformat()} to {last.isoformat()} "
                  "(both included)?", "count", count, date_from=first.isoformat(), date_to=last.isoformat())


def immunization_counts(records: Records, patient: dict[str, Any], today: date) -> Iterator[Question]:
    yield ask("immunization_count", patient, "completed",
              f"How many vaccine doses has {who(patient)} been given (completed immunizations on record)?",
              "count", len(truth.given_immunizations(records, patient["id"])))


def mrn_lookups(records: Records, patient: dict[str, Any], today: date) -> Iterator[Question]:
    yield ask("mrn_lookup", patient, patient["mrn"],
              f"Which patient has the medical record number (MRN) {patient['mrn']}? Give the patient's FHIR id.",
              "id", patient["id"], mrn=patient["mrn"])


def names_of(concept: dict[str, Any]) -> list[str]:
    """Every name a concept goes by: its text, the displays and codes of its codings, and the text without a
    parenthesised abbreviation ("Hypertension (HTN)" is also "Hypertension")."""
    names = [concept.get("text", "")] + [c.get(k, "") for c in concept.get("coding", []) for k in ("display", "code")]
    names += [re.sub(r"\s*\([^)]*\)", "", n).strip() for n in names]
    return sorted({n for n in names if n})


def active_problems(records: Records, patient: dict[str, Any], today: date) -> Iterator[Question]:
    expected = [{"names": names_of(c["code"])} for c in truth.active_problems(records, patient["id"])]
    yield ask("active_problems", patient, "list", f"What are the active problems of {who(patient)}?", "items",
              expected)


def current_medications(records: Records, patient: dict[str, Any], today: date) -> Iterator[Question]:
    expected = []
    for order in truth.current_medications(records, patient["id"], today):
        concept = order.get("medicationCodeableConcept") or {"text": truth.medication_name(order)}
        expected.append({"names": names_of(concept)})
    yield ask("current_medications", patient, "list",
              f"Which medications is {who(patient)} currently taking (leave out orders that are likely stale)?",
              "items", expected)


def allergies(records: Records, patient: dict[str, Any], today: date) -> Iterator[Question]:
    expected = [{"names": names_of(a["code"]), "with": [a.get("criticality", "not recorded")]}
                for a in truth.active_allergies(records, patient["id"])]
    yield ask("allergies", patient, "list",
              f"What active allergies does {who(patient)} have, each with its criticality (e.g. Peanut (high))?",
              "items", expected)


def next_appointments(records: Records, patient: dict[str, Any], today: date) -> Iterator[Question]:
    upcoming = truth.next_appointment(records, patient["id"], today)
    if upcoming is not None:
        yield ask("next_appointment", patient, "date", f"When is the next appointment of {who(patient)}?", "date",
                  truth.day(upcoming["start"]).isoformat())


def latest_notes(records: Records, patient: dict[str, Any], today: date) -> Iterator[Question]:
    notes = truth.newest_notes(records, patient["id"])
    if not notes or (len(notes) > 1 and notes[0]["date"] == notes[1]["date"]):
        return
    phrase = truth.key_phrase(notes[0], notes[1:])
    if phrase is not None:
        yield ask("latest_note", patient, "text", f"What does the most recent clinical note of {who(patient)} say?",
                  "contains", phrase)


def trends(records: Records, patient: dict[str, Any], today: date) -> Iterator[Question]:
    labs = measured_codes(records, patient["id"], "laboratory", 2)
    vitals = measured_codes(records, patient["id"], "vital-signs", 2)
    for code in [*labs[2:3], *vitals[1:2]]:
        newest, before = (quantity_of(o)["value"] for o in truth.results(records, patient["id"], code)[:2])
        direction = "rising" if newest > before else "falling" if newest < before else "unchanged"
        yield ask("trend", patient, code,
                  f"Comparing the two most recent {named_test(records, patient['id'], code)} results of "
                  f"{who(patient)}, is it rising, falling or unchanged?", "choice", direction,
                  choices="rising, falling or unchanged", code=code)


def abnormal_values(records: Records, patient: dict[str, Any], today: date) -> Iterator[Question]:
    """One test whose newest result is abnormal and one whose newest is normal, where the patient has them."""
    candidates = [*measured_codes(records, patient["id"], "laboratory", 1),
                  *measured_codes(records, patient["id"], "vital-signs", 1)]
    picked: dict[bool, str] = {}
    for code in candidates:
        picked.setdefault(truth.is_abnormal(truth.results(records, patient["id"], code)[0]), code)
    for abnormal, code in sorted(picked.items()):
        yield ask("abnormal", patient, code,
                  f"Is the most recent {named_test(records, patient['id'], code)} result of {who(patient)} "
                  "abnormal (flagged, or outside its reference range)?", "choice", "yes" if abnormal else "no",
                  choices="yes or no", code=code)


# Issue 24's judgments: current drugs counted, newest first, times with their zone, honest trends, age and names.

def medication_counts(records: Records, patient: dict[str, Any], today: date) -> Iterator[Question]:
    count = len(truth.current_medications(records, patient["id"], today))
    yield ask("medication_count", patient, "current",
              f"How many different drugs is {who(patient)} currently taking (one per drug, whatever its number of "
              "orders; leave out orders that are likely stale)?", "count", count)


def newest_listed(records: Records, patient: dict[str, Any], today: date) -> Iterator[Question]:
    note = truth.newest_notes(records, patient["id"])[0]
    yield ask("newest_listed", patient, "note", f"On what date was the most recent clinical note of {who(patient)} "
              "written?", "date", truth.day(note["date"]).isoformat())
    encounter = truth.newest_encounter(records, patient["id"])
    if encounter is not None:
        yield ask("newest_listed", patient, "encounter", f"On what date did the most recent encounter of "
                  f"{who(patient)} begin?", "date", truth.day(encounter["period"]["start"]).isoformat())


def result_times(records: Records, patient: dict[str, Any], today: date) -> Iterator[Question]:
    code = measured_codes(records, patient["id"], "laboratory", 1)[0]
    newest = truth.results(records, patient["id"], code)[0]
    yield ask("result_time", patient, code, f"At what date and time was the most recent "
              f"{named_test(records, patient['id'], code)} of {who(patient)} taken?", "datetime",
              truth.observation_time(newest), code=code)


def value_ranges(records: Records, patient: dict[str, Any], today: date) -> Iterator[Question]:
    code = measured_codes(records, patient["id"], "vital-signs", 3)[0]
    recent = [quantity_of(o) for o in truth.results(records, patient["id"], code)[:RECENT]]
    low, high = min(recent, key=lambda q: q["value"]), max(recent, key=lambda q: q["value"])
    yield ask("value_range", patient, code, f"Among the {RECENT} most recent "
              f"{named_test(records, patient['id'], code)} results of {who(patient)} (fewer if there are fewer), "
              "what were the lowest and the highest?", "range", {"low": low, "high": high}, code=code)


def trend_shapes(records: Records, patient: dict[str, Any], today: date) -> Iterator[Question]:
    """The lab with the most results (at least four): rising, falling, unchanged or fluctuating."""
    code = measured_codes(records, patient["id"], "laboratory", 4)[0]
    values = [quantity_of(o)["value"] for o in truth.results(records, patient["id"], code)[:RECENT]][::-1]
    yield ask("trend_shape", patient, code, f"Over the {RECENT} most recent "
              f"{named_test(records, patient['id'], code)} results of {who(patient)} (fewer if there are fewer), "
              "is it rising, falling, unchanged or fluctuating (changing direction often)?", "choice",
              truth.shape(values), choices="rising, falling, unchanged or fluctuating", code=code)


def ages(records: Records, patient: dict[str, Any], today: date) -> Iterator[Question]:
    years = truth.age(records.patient(patient["id"]), today)
    if years is not None:
        yield ask("age", patient, "years", f"How old is {who(patient)}, in whole years?", "count", years)


def named_vitals(records: Records, patient: dict[str, Any], today: date) -> Iterator[Question]:
    """Asked by name ("blood pressure"), as a person asks: the record's codes say which results those are."""
    panels = [o for o in records.of(patient["id"], "Observation")
              if truth.loinc(o) == "85354-9" and truth.observation_time(o)]
    newest = max(panels, key=lambda o: truth.instant(truth.observation_time(o)), default=None)
    reading = truth.systolic(newest) if newest is not None else None
    if reading is not None:
        yield ask("named_vital", patient, "85354-9", f"What was the systolic pressure of the most recent blood "
                  f"pressure of {who(patient)}?", "quantity", {"value": reading[0], "unit": reading[1]},
                  name="blood pressure")


KINDS = (
    Kind("latest_value", "Latest value of a test", latest_values),
    Kind("value_in_window", "Value within a time window", values_in_window),
    Kind("encounter_count", "Encounters in a date range", encounter_counts),
    Kind("immunization_count", "Vaccine doses given", immunization_counts),
    Kind("mrn_lookup", "Patient by MRN", mrn_lookups),
    Kind("active_problems", "Active problems", active_problems),
    Kind("current_medications", "Current medications", current_medications),
    Kind("allergies", "Allergies with criticality", allergies),
    Kind("next_appointment", "Next appointment", next_appointments),
    Kind("latest_note", "What the latest note says", latest_notes),
    Kind("trend", "Trend direction", trends),
    Kind("abnormal", "Is this value abnormal", abnormal_values),
    Kind("medication_count", "Current drugs, counted", medication_counts),
    Kind("newest_listed", "Newest first: the first listed is the newest", newest_listed),
    Kind("result_time", "A result's time with its zone", result_times),
    Kind("value_range", "Lowest and highest of recent results", value_ranges),
    Kind("trend_shape", "Rising, falling, unchanged or fluctuating", trend_shapes),
    Kind("age", "The patient's age", ages),
    Kind("named_vital", "Blood pressure asked by name", named_vitals),
)
TITLES = {kind.name: kind.title for kind in KINDS}


def question_bank(data: dict[str, Any], today: date) -> list[Question]:
    """Every question for every patient of the data set (dated for `today`), in a fixed order."""
    records = Records(data)
    return [question for kind in KINDS for patient in sorted(data["patients"], key=lambda p: p["id"])
            for question in kind.make(records, patient, today)]
