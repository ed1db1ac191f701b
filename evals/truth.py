"""Ground truth: what the raw FHIR resources of the data set say, in plain Python.

Deliberately independent of epic_mcp's renderer, summary and collect modules: a mistake there must show up as a
wrong answer, not be copied into the expected one. "Current medications" follow docs/medication-currency.md and
"upcoming appointments" issue 12's definition, each written here on its own.
"""

from __future__ import annotations

import base64
import html
import itertools
import re
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

NO_KNOWN_ALLERGY = "716186003"
ABNORMAL_FLAGS = {"H", "HH", "HU", "L", "LL", "LU", "A", "AA", "<", ">", "POS", "DET", "IND", "W", "R", "I"}
NORMAL_FLAGS = {"N", "NEG", "ND", "S"}
UPCOMING_STATUSES = {"booked", "pending", "arrived", "checked-in", "proposed", "waitlist"}
NOT_A_DIAGNOSIS = {"entered-in-error", "refuted"}


class Records:
    """One data set's resources, by patient and by type."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.patients: list[dict[str, Any]] = data["patients"]
        self.by_id: dict[tuple[str, str], dict[str, Any]] = {}
        self._of: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for resource in data["resources"]:
            self.by_id[(resource["resourceType"], resource["id"])] = resource
            owner = patient_of(resource)
            if owner:
                self._of[(owner, resource["resourceType"])].append(resource)

    def of(self, patient_id: str, resource_type: str) -> list[dict[str, Any]]:
        return list(self._of[(patient_id, resource_type)])

    def patient(self, patient_id: str) -> dict[str, Any]:
        return self.by_id[("Patient", patient_id)]


def patient_of(resource: dict[str, Any]) -> str | None:
    """The patient a resource is about: subject, patient, beneficiary, or an appointment's patient participant."""
    links = [resource.get(name) for name in ("subject", "patient", "beneficiary")]
    if resource.get("resourceType") == "Appointment":
        links += [p.get("actor") for p in resource.get("participant", [])]
    for link in links:
        reference = link.get("reference", "") if isinstance(link, dict) else ""
        if reference.startswith("Patient/"):
            return reference.removeprefix("Patient/")
    return None


def codes(concept: dict[str, Any] | None) -> list[str]:
    return [c["code"] for c in (concept or {}).get("coding", []) if c.get("code")]


def status_code(concept: dict[str, Any] | None) -> str | None:
    found = codes(concept)
    return found[0] if found else None


def instant(value: str) -> datetime:
    """A FHIR date or dateTime as an aware datetime (a bare date is midnight UTC), for ordering."""
    if len(value) == 10:
        value += "T00:00:00+00:00"
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def day(value: str) -> date:
    """The calendar day a FHIR date or dateTime names, as written."""
    return date.fromisoformat(value[:10])


# Observations ---------------------------------------------------------------------------------------------

def observation_time(observation: dict[str, Any]) -> str:
    return (observation.get("effectiveDateTime") or observation.get("effectiveInstant")
            or (observation.get("effectivePeriod") or {}).get("start") or "")


def loinc(observation: dict[str, Any]) -> str | None:
    return next((c["code"] for c in observation["code"].get("coding", []) if c.get("system") == "http://loinc.org"),
                None)


def test_name(observation: dict[str, Any]) -> str:
    coding = observation["code"].get("coding", [{}])[0]
    return coding.get("display") or observation["code"].get("text") or coding.get("code", "?")


def quantity(observation: dict[str, Any]) -> tuple[float, str] | None:
    value = observation.get("valueQuantity")
    if not isinstance(value, dict) or not isinstance(value.get("value"), (int, float)):
        return None
    return float(value["value"]), str(value.get("unit") or value.get("code") or "")


def results(records: Records, patient_id: str, code: str) -> list[dict[str, Any]]:
    """A patient's results of one LOINC code with a dated quantity, newest first."""
    found = [o for o in records.of(patient_id, "Observation")
             if loinc(o) == code and quantity(o) is not None and observation_time(o)]
    return sorted(found, key=lambda o: instant(observation_time(o)), reverse=True)


def newest_per_kind(records: Records, patient_id: str, category: str, since: date | None = None
                    ) -> list[dict[str, Any]]:
    """The newest observation of each kind (LOINC code, else first code) in one category, optionally since a day;
    entered-in-error ones are not results."""
    newest: dict[str, dict[str, Any]] = {}
    for observation in records.of(patient_id, "Observation"):
        categories = {c for concept in observation.get("category", []) for c in codes(concept)}
        when = observation_time(observation)
        kind = loinc(observation) or next(iter(codes(observation.get("code"))), None)
        if category not in categories or not when or kind is None or observation.get("status") == "entered-in-error":
            continue
        if since is not None and day(when) < since:
            continue
        if kind not in newest or instant(when) > instant(observation_time(newest[kind])):
            newest[kind] = observation
    return list(newest.values())


def is_abnormal(observation: dict[str, Any]) -> bool:
    """Flagged abnormal by the lab, or, with no flag, outside the (first) reference range."""
    flags = {code for concept in observation.get("interpretation", []) for code in codes(concept)}
    if flags & ABNORMAL_FLAGS:
        return True
    if flags & NORMAL_FLAGS:
        return False
    measured = quantity(observation)
    ranges = observation.get("referenceRange") or [{}]
    if measured is None:
        return False
    low, high = ((ranges[0].get(edge) or {}).get("value") for edge in ("low", "high"))
    return (low is not None and measured[0] < low) or (high is not None and measured[0] > high)


# Problems, allergies, medications, appointments --------------------------------------------------------------

def active_problems(records: Records, patient_id: str) -> list[dict[str, Any]]:
    return [c for c in records.of(patient_id, "Condition")
            if status_code(c.get("clinicalStatus")) == "active"
            and status_code(c.get("verificationStatus")) not in NOT_A_DIAGNOSIS]


def active_allergies(records: Records, patient_id: str) -> list[dict[str, Any]]:
    """Active allergies and intolerances; a "no known allergy" entry is not one."""
    return [a for a in records.of(patient_id, "AllergyIntolerance")
            if status_code(a.get("clinicalStatus")) in ("active", None)
            and status_code(a.get("verificationStatus")) not in NOT_A_DIAGNOSIS
            and NO_KNOWN_ALLERGY not in codes(a.get("code"))]


def medication_name(order: dict[str, Any]) -> str:
    concept = order.get("medicationCodeableConcept")
    if concept:
        return concept.get("text") or concept.get("coding", [{}])[0].get("display", "?")
    return (order.get("medicationReference") or {}).get("display", "?")


def rxnorm(order: dict[str, Any]) -> str | None:
    concept = order.get("medicationCodeableConcept") or {}
    return next((c["code"] for c in concept.get("coding", []) if "rxnorm" in c.get("system", "")), None)


# Medication currency, as docs/medication-currency.md writes it (its own code: epic_mcp.medications is not used).

GRACE_DAYS = 90
STAY_CLASSES = {"IMP", "EMER", "ACUTE", "NONAC", "OBSENC", "SS", "inpatient", "emergency"}
TAKE_HOME = {"community", "discharge", "outpatient"}
DAYS_PER = {"d": 1, "day": 1, "days": 1, "wk": 7, "week": 7, "weeks": 7, "mo": 30, "month": 30, "months": 30,
            "a": 365, "year": 365, "years": 365}
NOT_A_NAME = {"hydrochloride", "hcl", "sodium", "potassium", "calcium", "besylate", "maleate", "succinate",
              "tartrate", "citrate", "sulfate", "oral", "tablet", "tablets", "capsule", "capsules", "injection",
              "solution", "inhaler", "er", "xr", "xl", "sr", "extended", "release", "mg", "mcg", "ml"}


def ingredient_name(name: str) -> str:
    """'Metformin (Glucophage)', 'metformin 500 MG Oral Tablet' -> 'metformin'; combinations keep every part."""
    plain = re.sub(r"\([^)]*\)", " ", name.lower())
    parts = set()
    for part in re.split(r"[/+,-]| and ", plain):
        before_strength = re.split(r"\b\d", part)[0]
        kept = [w for w in re.findall(r"[^\W\d_]+", before_strength) if w not in NOT_A_NAME]
        if kept:
            parts.add(" ".join(kept))
    return "+".join(sorted(parts)) or plain.strip()


def drug_groups(orders: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Orders of one drug together: sharing an RxNorm code or an ingredient name, transitively."""
    groups: list[tuple[set[str], list[dict[str, Any]]]] = []
    for order in orders:
        code = rxnorm(order)
        keys = {f"name:{ingredient_name(medication_name(order))}", *([f"rx:{code}"] if code else [])}
        joined = [g for g in groups if g[0] & keys]
        merged = (keys.union(*(g[0] for g in joined)), [o for g in joined for o in g[1]] + [order])
        groups = [g for g in groups if g not in joined] + [merged]
    return [members for _, members in groups]


def _days_of(duration: dict[str, Any] | None) -> float | None:
    duration = duration or {}
    factor = DAYS_PER.get(str(duration.get("code") or duration.get("unit") or "").lower())
    return duration["value"] * factor if factor and isinstance(duration.get("value"), (int, float)) else None


def is_current(records: Records, order: dict[str, Any], today: date) -> bool:
    """Whether an active order is one the patient is taking (the rules of docs/medication-currency.md, in order)."""
    patient = records.patient(patient_of(order) or "")
    if patient.get("deceasedBoolean") or patient.get("deceasedDateTime"):
        return False
    categories = {code for concept in order.get("category", []) for code in codes(concept)}
    encounter = records.by_id.get(("Encounter", (order.get("encounter") or {}).get("reference", "")
                                   .rsplit("/", 1)[-1]))
    if encounter is not None and not categories & TAKE_HOME and (
            "inpatient" in categories or (encounter.get("class") or {}).get("code") in STAY_CLASSES):
        ended = (encounter.get("period") or {}).get("end")
        return not (encounter.get("status") in ("finished", "cancelled", "entered-in-error")
                    or (ended and day(ended) < today))
    dispense = order.get("dispenseRequest") or {}
    validity = dispense.get("validityPeriod") or {}
    written = day(validity["start"]) if validity.get("start") else day(order["authoredOn"]) \
        if order.get("authoredOn") else None
    dosages = order.get("dosageInstruction", [])
    repeats = dispense.get("numberOfRepeatsAllowed") or 0
    repeat = ((dosages[0].get("timing") or {}).get("repeat") or {}) if dosages else {}
    if any(((d.get("timing") or {}).get("repeat") or {}).get("count") == 1
           or str(((d.get("timing") or {}).get("code") or {}).get("text", "")).lower() == "once"
           for d in dosages) and not repeats:
        when = day(repeat["boundsPeriod"]["start"]) if (repeat.get("boundsPeriod") or {}).get("start") else written
        return when is None or when >= today
    course = status_code(order.get("courseOfTherapyType"))
    validity_end = day(validity["end"]) if validity.get("end") else None
    if any(d.get("asNeededBoolean") or d.get("asNeededCodeableConcept") for d in dosages) or course == "seasonal":
        last = validity_end or (written + timedelta(days=365) if written else None)
        return last is None or today <= last
    supply = _days_of(dispense.get("expectedSupplyDuration"))
    long_term = course == "continuous" or (course is None and (repeats > 0 or (supply or 0) >= 28))
    stop = day(repeat["boundsPeriod"]["end"]) if (repeat.get("boundsPeriod") or {}).get("end") else None
    length = _days_of(repeat.get("boundsDuration"))
    if stop is None and length is not None and order.get("authoredOn"):
        began = day(repeat["boundsPeriod"]["start"]) if (repeat.get("boundsPeriod") or {}).get("start") \
            else day(order["authoredOn"])
        stop = began + timedelta(days=length)
    if stop is not None:
        last = stop
    elif supply is not None and written is not None:
        last = written + timedelta(days=supply * (1 + repeats))
    elif validity_end is not None:
        last = validity_end
    elif written is not None:
        last = written + timedelta(days=365)
    else:
        return True
    grace = max(GRACE_DAYS, round(supply or 0)) if long_term else 0
    return today <= last + timedelta(days=grace)


def current_medications(records: Records, patient_id: str, today: date) -> list[dict[str, Any]]:
    """For each drug with a current active order, its newest current order."""
    active = [o for o in records.of(patient_id, "MedicationRequest") if o.get("status") == "active"]
    current = []
    for group in drug_groups(active):
        taken = [o for o in group if is_current(records, o, today)]
        if taken:
            current.append(max(taken, key=lambda o: instant(o.get("authoredOn") or "1900-01-01")))
    return current


def next_appointment(records: Records, patient_id: str, today: date) -> dict[str, Any] | None:
    upcoming = [a for a in records.of(patient_id, "Appointment")
                if a.get("status") in UPCOMING_STATUSES and a.get("start") and day(a["start"]) >= today]
    return min(upcoming, key=lambda a: instant(a["start"]), default=None)


# Encounters, immunizations, notes ----------------------------------------------------------------------------

def encounters_between(records: Records, patient_id: str, first: date, last: date) -> list[dict[str, Any]]:
    """Encounters that took place (in part) on a day from `first` to `last`, both included."""
    found = []
    for encounter in records.of(patient_id, "Encounter"):
        period = encounter.get("period") or {}
        if not period.get("start"):
            continue
        began, ended = day(period["start"]), day(period.get("end") or period["start"])
        if began <= last and ended >= first:
            found.append(encounter)
    return found


def given_immunizations(records: Records, patient_id: str) -> list[dict[str, Any]]:
    return [i for i in records.of(patient_id, "Immunization") if i.get("status") == "completed"]


def note_text(document: dict[str, Any]) -> str:
    """A note's inline text as plain text: HTML tags become line breaks, entities are decoded."""
    attachment = document["content"][0]["attachment"]
    raw = base64.b64decode(attachment["data"]).decode("utf-8")
    if "html" in str(attachment.get("contentType", "")):
        raw = html.unescape(re.sub(r"<[^>]+>", "\n", raw))
    return "\n".join(line.strip() for line in raw.splitlines() if line.strip())


def newest_encounter(records: Records, patient_id: str) -> dict[str, Any] | None:
    encounters = [e for e in records.of(patient_id, "Encounter") if (e.get("period") or {}).get("start")]
    return max(encounters, key=lambda e: instant(e["period"]["start"]), default=None)


def age(patient: dict[str, Any], today: date) -> int | None:
    """Whole years from the birth date to today (or to the day of death)."""
    if not patient.get("birthDate") or len(patient["birthDate"]) != 10:
        return None
    born = day(patient["birthDate"])
    until = day(patient["deceasedDateTime"]) if patient.get("deceasedDateTime") else today
    return until.year - born.year - (1 if (until.month, until.day) < (born.month, born.day) else 0)


def systolic(panel: dict[str, Any]) -> tuple[float, str] | None:
    """The systolic blood pressure (LOINC 8480-6) of a blood-pressure panel."""
    for part in panel.get("component", []):
        if "8480-6" in codes(part.get("code")) and isinstance((part.get("valueQuantity") or {}).get("value"),
                                                                (int, float)):
            return float(part["valueQuantity"]["value"]), str(part["valueQuantity"].get("unit") or "")
    return None


def shape(values: list[float]) -> str:
    """A series (oldest first) as docs/evals.md's trend questions read it: fluctuating when, not counting moves
    smaller than 5% of its median size, it changes direction at least twice and on more than half the steps
    where it could; else rising, falling or unchanged by its first and last values (within 5% of the first is
    unchanged)."""
    middle = sorted(abs(v) for v in values)[len(values) // 2]
    steps = [later - earlier for earlier, later in itertools.pairwise(values) if abs(later - earlier) > 0.05 * middle]
    reversals = sum(1 for one, two in itertools.pairwise(steps) if (one > 0) != (two > 0))
    if reversals >= 2 and 2 * reversals > len(values) - 2:
        return "fluctuating"
    change = values[-1] - values[0]
    return "unchanged" if abs(change) <= 0.05 * abs(values[0]) else "rising" if change > 0 else "falling"


def newest_notes(records: Records, patient_id: str) -> list[dict[str, Any]]:
    documents = [d for d in records.of(patient_id, "DocumentReference")
                 if d.get("status") == "current" and d.get("date")]
    return sorted(documents, key=lambda d: instant(d["date"]), reverse=True)


def key_phrase(note: dict[str, Any], others: list[dict[str, Any]]) -> str | None:
    """The first line of a note (of at least three words) that no other note of the patient contains: reading
    that phrase back shows the right note was read."""
    other_texts = [" ".join(note_text(o).split()).lower() for o in others]
    for line in note_text(note).splitlines():
        phrase = " ".join(line.split())
        if len(phrase.split()) >= 3 and not any(phrase.lower() in text for text in other_texts):
            return phrase
    return None
