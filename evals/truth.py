"""Ground truth: what the raw FHIR resources of the data set say, in plain Python.

Deliberately independent of epic_mcp's renderer, summary and collect modules: a mistake there must show up as a
wrong answer, not be copied into the expected one. "Current medications" and "upcoming appointments" follow the
definitions of issue 12, written here on their own.
"""

from __future__ import annotations

import base64
import html
import re
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

NO_KNOWN_ALLERGY = "716186003"
ABNORMAL_FLAGS = {"H", "HH", "HU", "L", "LL", "LU", "A", "AA", "<", ">", "POS", "DET", "IND", "W", "R", "I"}
NORMAL_FLAGS = {"N", "NEG", "ND", "S"}
UPCOMING_STATUSES = {"booked", "pending", "arrived", "checked-in", "proposed", "waitlist"}
INPATIENT_CLASSES = {"IMP", "EMER", "ACUTE", "inpatient"}
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


def drug_key(order: dict[str, Any]) -> str:
    code = rxnorm(order)
    return f"rxnorm:{code}" if code else medication_name(order).lower()


def stale_reason(records: Records, order: dict[str, Any], today: date) -> str | None:
    """Why an active order is likely no longer taken (issue 12's rules), or None when it is current."""
    patient = records.patient(patient_of(order) or "")
    if patient.get("deceasedBoolean") or patient.get("deceasedDateTime"):
        return "the patient is deceased"
    encounter = records.by_id.get(("Encounter", (order.get("encounter") or {}).get("reference", "")
                                   .removeprefix("Encounter/")))
    categories = {code for concept in order.get("category", []) for code in codes(concept)}
    inpatient = "inpatient" in categories or (encounter is not None
                                              and (encounter.get("class") or {}).get("code") in INPATIENT_CLASSES)
    ended = (encounter or {}).get("period", {}).get("end")
    if inpatient and ended and day(ended) < today:
        return "an inpatient or emergency order whose encounter has ended"
    if "acute" in codes(order.get("courseOfTherapyType")):
        for dosage in order.get("dosageInstruction", []):
            repeat = (dosage.get("timing") or {}).get("repeat") or {}
            bound_end = (repeat.get("boundsPeriod") or {}).get("end")
            duration = repeat.get("boundsDuration") or {}
            if bound_end and day(bound_end) < today:
                return "an acute course whose dosage period is over"
            if duration.get("unit") in ("d", "day", "days") and order.get("authoredOn") \
                    and day(order["authoredOn"]) + timedelta(days=duration["value"]) < today:
                return "an acute course whose duration is over"
    dispense = order.get("dispenseRequest") or {}
    validity = dispense.get("validityPeriod") or {}
    if validity.get("end") and day(validity["end"]) < today:
        return "its validity period has ended"
    supply = dispense.get("expectedSupplyDuration") or {}
    start = validity.get("start") or order.get("authoredOn")
    if isinstance(supply.get("value"), (int, float)) and start:
        days = supply["value"] * (1 + (dispense.get("numberOfRepeatsAllowed") or 0))
        if day(start) + timedelta(days=days) < today:
            return "its supply has run out"
    return None


def current_medications(records: Records, patient_id: str, today: date) -> list[dict[str, Any]]:
    """One order per drug (the newest) for each drug with an active order that is not likely stale."""
    by_drug: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for order in records.of(patient_id, "MedicationRequest"):
        if order.get("status") == "active":
            by_drug[drug_key(order)].append(order)
    current = []
    for orders in by_drug.values():
        orders.sort(key=lambda o: instant(o.get("authoredOn") or "1900-01-01"), reverse=True)
        if any(stale_reason(records, order, today) is None for order in orders):
            current.append(orders[0])
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
