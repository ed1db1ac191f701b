"""The PHI leakage evaluation's two halves: what identifies each patient, taken from the raw data set with code
of its own (nothing from epic_mcp.phi), and a driver that calls every tool, resource and prompt over stdio for
every patient and keeps every output (text, structured content, and base64 attachments decoded)."""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from mcp import Client

from epic_mcp.fhir.catalog import CATALOG

DATA = Path(__file__).resolve().parents[1] / "data" / "phi-eval.json.gz"
DIRECTORY = {"Practitioner", "PractitionerRole", "Organization", "Location", "Medication", "Questionnaire"}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
SEARCH_OPS = [op for op in CATALOG if op.interaction == "search" and op.params and op.params[0].arg == "patient_id"]
READ_OPS = {op.resource: op for op in CATALOG if op.interaction == "read"}
OBSERVATION_CATEGORIES = ("laboratory", "vital-signs", "social-history", "survey", "exam")


def eval_data_set() -> dict[str, Any]:
    return json.loads(gzip.decompress(DATA.read_bytes()))


# What identifies each patient -----------------------------------------------------------------------------

def cjk(text: str) -> bool:
    return any(unicodedata.name(ch, "").startswith(("CJK", "HIRAGANA", "KATAKANA")) for ch in text)


def patient_links(resource: dict[str, Any]) -> set[str]:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            ref = value.get("reference")
            if isinstance(ref, str) and ref.startswith("Patient/"):
                found.add(ref.split("/", 1)[1])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(resource)
    return found


def records_of(resources: list[dict[str, Any]], patient_id: str) -> list[dict[str, Any]]:
    """The patient's resources: those that point at the patient, the Patient itself, and Binaries its notes use."""
    own = _by_patient(resources).get(patient_id, [])
    binaries = {a["attachment"]["url"].split("/")[-1] for r in own for a in r.get("content", [])
                if "url" in a.get("attachment", {})}
    return own + [r for r in resources if r["resourceType"] == "Binary" and r["id"] in binaries]


_BY_PATIENT: dict[int, tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]] = {}


def _by_patient(resources: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each patient's own resources (not the directory's), in the data set's order: every resource's references
    are walked once per data set, not once per patient (the list is kept with its index: its id stays its own)."""
    if id(resources) not in _BY_PATIENT:
        index: dict[str, list[dict[str, Any]]] = {}
        for resource in resources:
            if resource["resourceType"] in DIRECTORY:
                continue
            owners = patient_links(resource) | ({resource["id"]} if resource["resourceType"] == "Patient" else set())
            for owner in owners:
                index.setdefault(owner, []).append(resource)
        _BY_PATIENT[id(resources)] = (resources, index)
    return _BY_PATIENT[id(resources)][1]


@dataclass(frozen=True)
class Needle:
    category: str
    patient: str
    pattern: str
    shown: str


def _bounded(text: str) -> str:
    """A term matched whole: not inside a longer run of letters and digits (which pseudonyms are)."""
    escaped = re.escape(text).replace(r"\ ", r"\s*")
    return escaped if cjk(text) else rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])"


def _phone_pattern(number: str) -> str | None:
    """The last 8 significant digits, with any separators between them (whatever country code or trunk prefix
    is written before them); not inside a run of letters (pseudonyms)."""
    digits = re.sub(r"\D", "", number).lstrip("0")
    if len(digits) < 6:
        return None
    return r"(?<![A-Za-z])" + r"[\s().\-]*".join(digits[-8:]) + r"(?!\d)"


def _postcode_pattern(code: str) -> str | None:
    digits = re.sub(r"\D", "", code)
    if len(digits) < 5:
        return None
    return r"(?<![A-Za-z0-9])" + r"[\s\-]?".join(digits) + r"(?![A-Za-z0-9])"


def date_forms(day: date) -> list[str]:
    """A date as notes and renderings write it."""
    month = MONTHS[day.month - 1][:3]
    return [re.escape(day.isoformat()), rf"(?<!\d)0?{day.month}/0?{day.day}/{day.year}",
            rf"(?<!\d)0?{day.day}\.0?{day.month}\.{day.year}", rf"{month}\w*\.?\s+{day.day},?\s+{day.year}",
            rf"(?<!\d){day.day}\s+{month}\w*\.?,?\s+{day.year}",
            rf"{day.year}\s*年\s*{day.month}\s*月\s*{day.day}\s*日"]


def _strings(value: Any) -> Iterable[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                yield key, item
            else:
                yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def real_dates(records: list[dict[str, Any]]) -> set[date]:
    """Every day-precision date in the patient's records: structured values, and dates written in text and
    attachments (ISO, US, dotted, kanji, 'Month d, yyyy')."""
    texts = [text for _, text in _strings(records)]
    texts += [decoded for r in records for decoded in _attachments(r)]
    found: set[date] = set()
    for text in texts:
        if not re.search(r"\d{4}", text):  # every form below has the year's four digits
            continue
        for y, m, d in re.findall(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)", text):
            found.add(_day(int(y), int(m), int(d)))
        for m, d, y in re.findall(r"(?<![\d/])(\d{1,2})/(\d{1,2})/(\d{4})", text):
            found.add(_day(int(y), int(m), int(d)))
        for d, m, y in re.findall(r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.(\d{4})", text):
            found.add(_day(int(y), int(m), int(d)))
        for y, m, d in re.findall(r"(\d{4})年(\d{1,2})月(\d{1,2})日", text):
            found.add(_day(int(y), int(m), int(d)))
        for month, d, y in re.findall(r"(" + "|".join(MONTHS) + r") (\d{1,2}), (\d{4})", text):
            found.add(_day(int(y), MONTHS.index(month) + 1, int(d)))
    found.discard(date.min)
    return found


def _day(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        return date.min


def _attachments(resource: dict[str, Any]) -> list[str]:
    blobs = [resource["data"]] if resource["resourceType"] == "Binary" else []
    blobs += [a["attachment"]["data"] for a in resource.get("content", []) if "data" in a.get("attachment", {})]
    blobs += [f["data"] for f in resource.get("presentedForm", []) if "data" in f]
    return [base64.b64decode(b).decode("utf-8", "replace") for b in blobs]


def identifiers_of(records: list[dict[str, Any]]) -> set[str]:
    """Every identifier value of the patient's records (MRN, encounter, order, accession, member numbers)."""
    found: set[str] = set()
    for resource in records:
        for key, value in _strings({k: v for k, v in resource.items() if k in ("identifier", "masterIdentifier")}):
            if key == "value" and len(value) >= 6:
                found.add(value)
        if isinstance(resource.get("subscriberId"), str):
            found.add(resource["subscriberId"])
    return found


def needles_of(patient: dict[str, Any], records: list[dict[str, Any]], label: str) -> list[Needle]:
    """Names (the patient's and contacts'), identifiers, real FHIR ids, phones, e-mail, address, birth date."""
    needles: list[Needle] = []

    def add(category: str, pattern: str | None, shown: str) -> None:
        if pattern:
            needles.append(Needle(category, label, pattern, shown))

    people = [patient, *patient.get("contact", [])]
    for person in people:
        names = person.get("name")
        for name in names if isinstance(names, list) else [names] if names else []:
            parts = [*name.get("given", []), *([name["family"]] if name.get("family") else [])]
            parts += name.get("text", "").split()
            for part in {p for p in parts if len(p) >= 2}:
                add("name", _bounded(part), part)
            if name.get("text"):
                add("name", _bounded(name["text"]), name["text"])
        for telecom in person.get("telecom", []):
            if telecom.get("system") == "email":
                add("email", re.escape(telecom["value"]), telecom["value"])
            else:
                add("phone", _phone_pattern(telecom["value"]), telecom["value"])
        for address in person.get("address", []):
            for line in [*address.get("line", []), address.get("text"), address.get("city"), address.get("district")]:
                if line and len(line) >= 3:
                    add("address", _bounded(line), line)
            if address.get("postalCode"):
                add("address", _postcode_pattern(address["postalCode"]), address["postalCode"])
    for value in identifiers_of(records):
        add("identifier", _bounded(value), value)
    for resource in records:
        if resource["resourceType"] != "Binary" and len(resource["id"]) >= 4:
            add("fhir id", rf"(?<![A-Za-z0-9.\-]){re.escape(resource['id'])}(?![A-Za-z0-9.\-])", resource["id"])
    born = date.fromisoformat(patient["birthDate"])
    for form in date_forms(born):
        add("birth date", form, born.isoformat())
    return needles


def dates_to_scan(real: set[date], offset: int) -> tuple[set[date], int]:
    """The patient's real dates (`real_dates` of the records) that are not also a real date moved by the offset
    (those cannot be told apart from a correctly moved one), and how many were set aside for that reason."""
    moved = {day + timedelta(days=offset) for day in real}
    return real - moved, len(real & moved)


def clinician_names(resources: list[dict[str, Any]]) -> list[str]:
    """Clinicians' full names as outputs show them; masked before names are scanned, because a clinician may
    share a family name with a patient (the eval counts how often a patient's whole name equals one)."""
    found: set[str] = set()
    for resource in resources:
        if resource["resourceType"] == "Practitioner":
            for name in resource.get("name", []):
                given, family = " ".join(name.get("given", [])), name.get("family", "")
                found |= {f"{given} {family}".strip(), f"{family} {given}".strip(), f"{family}{given}".strip()}
                if name.get("prefix"):
                    found.add(f"{' '.join(name['prefix'])} {given} {family}".strip())
    found |= {display for resource in resources for _, display in _reference_displays(resource)}
    return sorted((n for n in found if n), key=len, reverse=True)


def _reference_displays(value: Any) -> Iterable[tuple[str, str]]:
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str) and ref.startswith(("Practitioner/", "PractitionerRole/")) and \
                isinstance(value.get("display"), str):
            yield ref, value["display"]
        for item in value.values():
            yield from _reference_displays(item)
    elif isinstance(value, list):
        for item in value:
            yield from _reference_displays(item)


# Driving the server ---------------------------------------------------------------------------------------

@dataclass
class Output:
    call: str
    patient: str | None
    text: str


@dataclass
class Run:
    outputs: list[Output] = field(default_factory=list)
    tools: set[str] = field(default_factory=set)
    resources: set[str] = field(default_factory=set)
    prompts: set[str] = field(default_factory=set)

    def keep(self, call: str, patient: str | None, result: Any) -> Any:
        self.outputs.append(Output(call, patient, rendered(result)))
        return result


def rendered(result: Any) -> str:
    """Everything a client receives: every text, the structured content, base64 data decoded."""
    parts: list[str] = []
    for content in getattr(result, "content", None) or getattr(result, "contents", None) or \
            getattr(result, "messages", None) or []:
        inner = getattr(content, "content", content)
        if getattr(inner, "text", None):
            parts.append(inner.text)
    structured = getattr(result, "structured_content", None)
    if structured is not None:
        parts.append(json.dumps(structured, ensure_ascii=False))
    for text in list(parts):
        parts += _decoded(text)
    return "\n".join(parts)


def _decoded(text: str) -> list[str]:
    """Base64 attachment data found in an output, decoded (a leak must not hide in it)."""
    found = []
    for blob in re.findall(r'"data":\s*"([A-Za-z0-9+/=]{8,})"', text):
        try:
            found.append(base64.b64decode(blob, validate=True).decode("utf-8", "replace"))
        except (binascii.Error, ValueError):
            continue
    return found


async def call(run: Run, client: Client, tool: str, arguments: dict[str, Any], patient: str | None) -> Any:
    run.tools.add(tool)
    return run.keep(f"{tool}", patient, await client.call_tool(tool, arguments))


async def walk_search(run: Run, client: Client, tool: str, arguments: dict[str, Any], patient: str) -> list[dict]:
    """Every page of a search in raw form (each via next_page), and its first page in compact form."""
    await call(run, client, tool, {**arguments, "count": 20}, patient)
    result = await call(run, client, tool, {**arguments, "count": 20, "format": "raw"}, patient)
    assert not result.is_error, f"{tool}: {result.content[0].text}"
    page = result.structured_content
    items = list(page["items"])
    while page["next_cursor"]:
        result = await call(run, client, "next_page", {"cursor": page["next_cursor"], "format": "raw"}, patient)
        assert not result.is_error, result.content[0].text
        page = result.structured_content
        items += page["items"]
    return items


def search_arguments(op_tool: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if op_tool == "search_observations":
        codes = {c["code"] for r in records if r["resourceType"] == "Observation"
                 for c in r.get("category", [{}])[0].get("coding", [])}
        return [{"category": c} for c in OBSERVATION_CATEGORIES if c in codes] or [{"category": "laboratory"}]
    if op_tool == "search_care_plans":
        return [{"category": "longitudinal"}]
    return [{}]
