"""A patient's code inventory: the distinct lab, vital-sign, condition and medication codes in the record, with
their names, how often they occur and when last, so a model can learn which code this record uses for "A1c"
instead of guessing one, and get_latest_values can resolve a name to the record's own codes."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from ..render import compact
from .collect import code_key, collect, effective_time, scan
from .medications import drug_key

if TYPE_CHECKING:
    from ..fhir.client import FhirClient

Kind = Literal["lab", "vital", "condition", "medication"]
KINDS: tuple[Kind, ...] = ("lab", "vital", "condition", "medication")
WALK_PAGES = 10
# Words people use for a test, and the words the record's names use.
SYNONYMS = {"hba1c": "a1c", "glycated": "a1c", "bp": "blood pressure", "hr": "heart rate", "pulse": "heart rate",
            "temp": "temperature", "spo2": "oxygen saturation", "o2": "oxygen", "sats": "oxygen saturation",
            "bmi": "body mass index", "egfr": "glomerular filtration", "gfr": "glomerular filtration",
            "wbc": "leukocytes", "rbc": "erythrocytes", "hgb": "hemoglobin", "hb": "hemoglobin",
            "plt": "platelets", "k": "potassium", "na": "sodium", "cr": "creatinine", "bun": "urea nitrogen",
            "chol": "cholesterol", "trigs": "triglyceride", "tsh": "thyrotropin", "rr": "respiratory rate",
            "weight": "body weight", "height": "body height"}


class CodeEntry(BaseModel):
    kind: Kind
    name: str = Field(description="What the record calls it, with its codes ('Hemoglobin A1c [LOINC 4548-4]').")
    code: str = Field(description="The code to pass on: system|code for observations, else the code.")
    count: int
    last: str | None = Field(description="Date of the newest record of this code.")


class CodeInventory(BaseModel):
    patient_id: str
    codes: list[CodeEntry]
    complete: bool = Field(description="False when the record held more than was read.")
    notes: list[str]


@dataclass
class _Tally:
    kind: Kind
    name: str
    code: str
    count: int = 0
    last: str = ""

    def add(self, when: str) -> None:
        self.count += 1
        self.last = max(self.last, when)


def _coding_param(resource: dict[str, Any], element: str = "code") -> str:
    """The record's code as a search value: the LOINC (else first) coding as system|code."""
    concept = resource.get(element)
    codings = [c for c in concept.get("coding") or [] if isinstance(c, dict) and c.get("code")] \
        if isinstance(concept, dict) else []
    key = code_key(resource, element)
    chosen = next((c for c in codings if key.endswith(f" {c['code']}")), None)
    if chosen is None:
        return key
    return f"{chosen['system']}|{chosen['code']}" if chosen.get("system") else str(chosen["code"])


async def inventory(fhir: FhirClient, patient_id: str, today: date, kinds: list[Kind] | None = None
                    ) -> CodeInventory:
    wanted = kinds or list(KINDS)
    tallies: dict[tuple[Kind, str], _Tally] = {}
    notes: list[str] = []
    complete = True

    async def observations(kind: Kind, category: str) -> None:
        nonlocal complete
        scanned = await scan(fhir, "Observation", [("patient", patient_id), ("category", category)], patient_id,
                             today)
        complete = complete and scanned.complete
        note = scanned.limit_note(f"{category} results")
        notes.extend([*scanned.warnings, *([note] if note else [])])
        for observation in scanned.items:
            key = code_key(observation)
            tally = tallies.setdefault((kind, key), _Tally(kind, str(compact(observation).get("code") or key),
                                                           _coding_param(observation)))
            tally.add(effective_time(observation)[:10])

    async def walked(kind: Kind, resource_type: str, element: str) -> None:
        nonlocal complete
        found = await collect(fhir, resource_type, [("patient", patient_id)], patient_id, WALK_PAGES)
        complete = complete and found.complete
        notes.extend(found.warnings)
        for resource in found.items:
            key = drug_key(resource) if kind == "medication" else code_key(resource, element)
            record = compact(resource)
            name = str(record.get("medication" if kind == "medication" else "code") or key)
            tally = tallies.setdefault((kind, key), _Tally(kind, name, _coding_param(resource, element)))
            tally.add(effective_time(resource)[:10])

    jobs = {"lab": lambda: observations("lab", "laboratory"), "vital": lambda: observations("vital", "vital-signs"),
            "condition": lambda: walked("condition", "Condition", "code"),
            "medication": lambda: walked("medication", "MedicationRequest", "medicationCodeableConcept")}
    await asyncio.gather(*(jobs[kind]() for kind in wanted))
    entries = sorted(tallies.values(), key=lambda t: (KINDS.index(t.kind), t.name.lower()))
    return CodeInventory(patient_id=patient_id, complete=complete, notes=list(dict.fromkeys(notes)), codes=[
        CodeEntry(kind=t.kind, name=t.name, code=t.code, count=t.count, last=t.last or None) for t in entries])


def words(text: str) -> set[str]:
    found = set(re.findall(r"[a-z0-9]+", text.lower()))
    expanded = {word for token in found for word in re.findall(r"[a-z0-9]+", SYNONYMS.get(token, token))}
    return found | expanded


def matching(entries: list[CodeEntry], name: str) -> list[CodeEntry]:
    """The entries whose name holds every word of `name` (synonyms such as HbA1c or BP understood)."""
    asked = {word for token in re.findall(r"[a-z0-9]+", name.lower())
             for word in re.findall(r"[a-z0-9]+", SYNONYMS.get(token, token))}
    return [e for e in entries if asked and asked <= words(e.name)]


def inventory_text(result: CodeInventory) -> str:
    lines = [f"Codes in the record of Patient/{result.patient_id}: {len(result.codes)}"
             + ("" if result.complete else " (not every record was read; see the notes)")]
    lines += [f"note: {n}" for n in result.notes]
    lines.append("kind | name | code to pass | count | last")
    lines += [f"{e.kind} | {e.name} | {e.code} | {e.count} | {e.last or '?'}" for e in result.codes]
    return "\n".join(lines)
