"""Ground truth for population questions: what the exported NDJSON says, in plain Python.

Deliberately independent of epic_mcp.population (the views, their code-system table, the database): the files
are read line by line as `epic-mcp export` wrote them, and every rule (which systems are LOINC, what counts as a
lab result, what "active" and "latest" mean) is written here on its own. A mistake in the views must show up as a
wrong answer, not be copied into the expected one (tests/test_evals_population.py checks the imports).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

LOINC = frozenset({"http://loinc.org", "urn:oid:2.16.840.1.113883.6.1", "urn:oid:1.2.246.537.6.96"})
ICD10 = frozenset({"http://hl7.org/fhir/sid/icd-10-cm", "urn:oid:2.16.840.1.113883.6.90",
                   "http://hl7.org/fhir/sid/icd-10", "urn:oid:2.16.840.1.113883.6.3",
                   "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full"})
RXNORM = frozenset({"http://www.nlm.nih.gov/research/umls/rxnorm", "urn:oid:2.16.840.1.113883.6.88"})
CVX = frozenset({"http://hl7.org/fhir/sid/cvx", "urn:oid:2.16.840.1.113883.12.292"})
JLAC10 = frozenset({"urn:oid:1.2.392.200119.4.1005", "urn:oid:1.2.392.200119.4.504"})
YJ = frozenset({"http://capstandard.jp/iyaku.info/CodeSystem/YJ-code", "urn:oid:1.2.392.100495.20.2.74"})
NOT_A_RESULT = frozenset({"entered-in-error", "cancelled"})
ORDER_INTENTS = frozenset({"order", "original-order", "reflex-order", "filler-order", "instance-order"})
ACTIVE_CONDITION = frozenset({"active", "recurrence", "relapse"})


class Export:
    """One export's NDJSON folder (one {Type}.ndjson per resource type), read as the files hold it."""

    def __init__(self, folder: Path, as_of: date) -> None:
        self.as_of = as_of
        self.by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for path in sorted(folder.glob("*.ndjson")):
            with path.open(encoding="utf-8") as lines:
                for line in lines:
                    if line.strip():
                        resource = json.loads(line)
                        self.by_type[resource["resourceType"]].append(resource)
        self.medications = {m["id"]: m for m in self.by_type["Medication"]}

    def of(self, resource_type: str) -> list[dict[str, Any]]:
        return self.by_type[resource_type]

    def patient_ids(self) -> set[str]:
        return {p["id"] for p in self.of("Patient")}


def owner(resource: dict[str, Any]) -> str | None:
    for name in ("subject", "patient"):
        reference = (resource.get(name) or {}).get("reference", "")
        if isinstance(reference, str) and "Patient/" in reference:
            return reference.rsplit("Patient/", 1)[1].split("/")[0]
    return None


def codings(concepts: Any) -> list[dict[str, Any]]:
    """The codings of a CodeableConcept, a list of them, or a bare Coding."""
    items = concepts if isinstance(concepts, list) else [concepts] if isinstance(concepts, dict) else []
    found: list[dict[str, Any]] = []
    for item in items:
        found += item.get("coding", []) if "coding" in item else [item] if "code" in item else []
    return found


def codes_in(concepts: Any, systems: frozenset[str]) -> set[str]:
    return {c["code"] for c in codings(concepts) if c.get("system") in systems and c.get("code")}


def any_code(concepts: Any, wanted: set[str]) -> bool:
    return any(c.get("code") in wanted for c in codings(concepts))


def instant(value: str) -> datetime:
    """A FHIR date or dateTime as an aware datetime; a bare date is midnight UTC."""
    if len(value) == 10:
        value += "T00:00:00+00:00"
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def effective(observation: dict[str, Any]) -> str | None:
    return (observation.get("effectiveDateTime") or observation.get("effectiveInstant")
            or (observation.get("effectivePeriod") or {}).get("start"))


def number(observation_or_component: dict[str, Any]) -> float | None:
    quantity = observation_or_component.get("valueQuantity")
    if isinstance(quantity, dict) and isinstance(quantity.get("value"), (int, float)):
        return float(quantity["value"])
    integer = observation_or_component.get("valueInteger")
    return float(integer) if isinstance(integer, int) and not isinstance(integer, bool) else None


# Patients -----------------------------------------------------------------------------------------------------

def is_deceased(patient: dict[str, Any]) -> bool:
    return patient.get("deceasedBoolean") is True or bool(patient.get("deceasedDateTime"))


def age(patient: dict[str, Any], as_of: date) -> int | None:
    """Whole years from birth to the export's day, or to death."""
    born = patient.get("birthDate")
    if not born or len(born) != 10:
        return None
    end = date.fromisoformat(patient["deceasedDateTime"][:10]) if patient.get("deceasedDateTime") else as_of
    birthday = date.fromisoformat(born)
    return end.year - birthday.year - ((end.month, end.day) < (birthday.month, birthday.day))


def country(patient: dict[str, Any]) -> str | None:
    addresses = patient.get("address") or []
    return addresses[0].get("country") if addresses else None


def language(patient: dict[str, Any]) -> str | None:
    """The preferred language's code (else the first listed), as BCP 47 writes it."""
    spoken = patient.get("communication") or []
    chosen = [c for c in spoken if c.get("preferred") is True] or spoken
    for entry in chosen[:1]:
        for coding in (entry.get("language") or {}).get("coding", []):
            if coding.get("code"):
                return str(coding["code"])
    return None


# Observations -------------------------------------------------------------------------------------------------

def is_lab(observation: dict[str, Any]) -> bool:
    """A laboratory result: category laboratory in any system (HL7's, JP Core's), or v2/Epic's LAB."""
    return any_code(observation.get("category"), {"laboratory", "LAB", "Lab"})


def results(export: Export, loinc: str) -> dict[str, list[tuple[datetime, float]]]:
    """Per patient, the dated numeric results carrying this LOINC code anywhere in their code."""
    found: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for observation in export.of("Observation"):
        when, value, who = effective(observation), number(observation), owner(observation)
        if observation.get("status") in NOT_A_RESULT or not when or value is None or who is None:
            continue
        if loinc in codes_in(observation.get("code"), LOINC):
            found[who].append((instant(when), value))
    return found


def component_results(export: Export, loinc: str) -> dict[str, list[tuple[datetime, float]]]:
    """Per patient, dated numeric values of this LOINC code, whether an observation or a component of one."""
    found = results(export, loinc)
    for observation in export.of("Observation"):
        when, who = effective(observation), owner(observation)
        if observation.get("status") in NOT_A_RESULT or not when or who is None:
            continue
        for component in observation.get("component", []):
            value = number(component)
            if value is not None and loinc in codes_in(component.get("code"), LOINC):
                found[who].append((instant(when), value))
    return found


def latest(values: dict[str, list[tuple[datetime, float]]]) -> dict[str, float]:
    return {who: max(items)[1] for who, items in values.items() if items}


def tied(values: dict[str, list[tuple[datetime, float]]]) -> bool:
    """Whether any patient has two different values at their newest time (then "latest" is not one value)."""
    for items in values.values():
        newest = max(when for when, _ in items)
        if len({value for when, value in items if when == newest}) > 1:
            return True
    return False


# Conditions, medications, encounters, immunizations, allergies ----------------------------------------------------

def active_condition_patients(export: Export, icd10_prefix: str) -> set[str]:
    found = set()
    for condition in export.of("Condition"):
        status = {c.get("code") for c in codings(condition.get("clinicalStatus"))}
        verified = {c.get("code") for c in codings(condition.get("verificationStatus"))}
        if not status & ACTIVE_CONDITION or verified & {"refuted", "entered-in-error"}:
            continue
        if any(code.startswith(icd10_prefix) for code in codes_in(condition.get("code"), ICD10)):
            who = owner(condition)
            if who:
                found.add(who)
    return found


def drug_codes(export: Export, order: dict[str, Any], systems: frozenset[str]) -> set[str]:
    """A medication order's drug codes: inline, or of the Medication it references."""
    codes = codes_in(order.get("medicationCodeableConcept"), systems)
    reference = (order.get("medicationReference") or {}).get("reference", "")
    if isinstance(reference, str) and reference.startswith("Medication/"):
        medication = export.medications.get(reference.removeprefix("Medication/"))
        codes |= codes_in((medication or {}).get("code"), systems)
    return codes


def is_active_order(order: dict[str, Any]) -> bool:
    return order.get("status") == "active" and order.get("intent") in ORDER_INTENTS


def encounter_class(encounter: dict[str, Any]) -> str | None:
    kind = encounter.get("class")
    return kind.get("code") if isinstance(kind, dict) else None


def start_day(encounter: dict[str, Any]) -> str | None:
    start = (encounter.get("period") or {}).get("start")
    return start[:10] if isinstance(start, str) else None


def stay_days(encounter: dict[str, Any]) -> int | None:
    period = encounter.get("period") or {}
    if not period.get("start") or not period.get("end"):
        return None
    return (date.fromisoformat(period["end"][:10]) - date.fromisoformat(period["start"][:10])).days


def completed_vaccine_patients(export: Export, cvx: str) -> set[str]:
    return {who for immunization in export.of("Immunization")
            if immunization.get("status") == "completed" and cvx in codes_in(immunization.get("vaccineCode"), CVX)
            and (who := owner(immunization))}


def active_allergy_patients(export: Export, criticality: str) -> set[str]:
    return {who for allergy in export.of("AllergyIntolerance")
            if any_code(allergy.get("clinicalStatus"), {"active"}) and allergy.get("criticality") == criticality
            and (who := owner(allergy))}
