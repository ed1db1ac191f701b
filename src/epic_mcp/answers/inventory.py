"""A patient's code inventory: the distinct lab, vital-sign, condition and medication codes in the record, with
their names, how often they occur and when last, so a model can learn which code this record uses for "A1c"
instead of guessing one, and get_latest_values can resolve a name to the record's own codes: by the words of the
record's names, by the LOINC codes of what the name means (so "blood pressure" finds a panel whose only name is
Japanese), and by the record's own text in any script ("血圧")."""

from __future__ import annotations

import asyncio
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from ..render import compact
from .collect import code_key, collect, scan, written_time
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
# What people name, with the LOINC codes records file it under (a panel, its parts): a record may name it in
# another language, or not at all, but its codes say what it is.
NAMED_CODES: dict[str, frozenset[str]] = {
    "blood pressure": frozenset({"85354-9", "55284-4", "8480-6", "8462-4", "8478-0"}),
    "systolic blood pressure": frozenset({"8480-6", "85354-9", "55284-4"}),
    "diastolic blood pressure": frozenset({"8462-4", "85354-9", "55284-4"}),
    "heart rate": frozenset({"8867-4"}),
    "respiratory rate": frozenset({"9279-1"}),
    "body temperature": frozenset({"8310-5", "8331-1"}),
    "oxygen saturation": frozenset({"2708-6", "59408-5"}),
    "body weight": frozenset({"29463-7", "3141-9"}),
    "body height": frozenset({"8302-2", "8306-3"}),
    "body mass index": frozenset({"39156-5"}),
    "hemoglobin a1c": frozenset({"4548-4", "17856-6"}),
    "glucose": frozenset({"2339-0", "2345-7", "41653-7"}),
    "creatinine": frozenset({"2160-0"}),
    "potassium": frozenset({"2823-3", "6298-4"}),
    "sodium": frozenset({"2951-2", "2947-0"}),
    "hemoglobin": frozenset({"718-7"}),
    "leukocytes": frozenset({"6690-2", "26464-8"}),
    "platelets": frozenset({"777-3", "26515-7"}),
    "glomerular filtration": frozenset({"33914-3", "48642-3", "48643-1", "62238-1", "98979-8"}),
    "urea nitrogen": frozenset({"3094-0", "6299-2"}),
    "c reactive protein": frozenset({"1988-5"}),
}
LOINC_CODE = re.compile(r"(?<![\w.-])(\d{1,7}-\d)(?![\w.-])")


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
            tally.add(written_time(observation)[:10])

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
            tally.add(written_time(resource)[:10])

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
    """The entries a name means. First those coded with the LOINC codes of what it names ("blood pressure": the
    panel 85354-9 and its parts 8480-6, 8462-4, whatever language the record names them in) and, for a name in a
    script other than Latin ("血圧"), those whose own text contains it; failing both, those whose name holds
    every word of it (synonyms such as HbA1c or BP understood). Codes come first because words mislead: "blood
    pressure" is also in "Carbon dioxide [Partial pressure] in Arterial blood"."""
    asked = {word for token in re.findall(r"[a-z0-9]+", name.lower())
             for word in re.findall(r"[a-z0-9]+", SYNONYMS.get(token, token))}
    codes = set().union(*(codes for named, codes in NAMED_CODES.items() if asked and asked <= set(named.split())))
    own_text = _folded(name) if any(not char.isascii() for char in name) else None
    precise = [e for e in entries if (codes & _loinc_codes(e)) or (own_text and own_text in _folded(e.name))]
    return precise or [e for e in entries if asked and asked <= words(e.name)]


def _loinc_codes(entry: CodeEntry) -> set[str]:
    """The LOINC codes an entry names: the code to pass, and the codes its name lists."""
    listed = {m.group(1) for m in LOINC_CODE.finditer(entry.name)}
    return listed | {entry.code.split("|")[-1]} if entry.code.startswith("http://loinc.org|") else listed


def _folded(text: str) -> str:
    """Text compared across widths and cases, without spaces ('血圧', 'ＢＭＩ' and 'bmi' as written)."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def inventory_text(result: CodeInventory) -> str:
    lines = [f"Codes in the record of Patient/{result.patient_id}: {len(result.codes)}"
             + ("" if result.complete else " (not every record was read; see the notes)")]
    lines += [f"note: {n}" for n in result.notes]
    lines.append("kind | name | code to pass | count | last")
    lines += [f"{e.kind} | {e.name} | {e.code} | {e.count} | {e.last or '?'}" for e in result.codes]
    return "\n".join(lines)
