#!/usr/bin/env python3
"""Fact retention: what the compact text the model reads keeps of the raw FHIR, fact by fact, on synthetic data the
project was not developed against (tests/data/unseen.json.gz), and whether every total is exact. Writes
docs/bench-fact-retention.md; tests/render/test_fact_retention.py asserts the bars with the same code.

The data is loaded into sekmet-fhir on loopback; the real epic-mcp runs over stdio; every patient-scoped search
tool is called for every patient (every category the tool offers where Epic requires one, then by code for what
no category reaches), every page read with count 100 and next_page, and get_patient read for every patient. Each
record is compared with the raw resource the data set holds. It is found in the first text content by its line
('- id | ...'), read together with the page's 'every item:' line (the values every item on the page shares).

The fact set, the same for every resource type. A resource is walked element by element; its facts are:
- code: every code of every Coding whose system is not HL7's own vocabulary. HL7's own: terminology.hl7.org,
  hl7.org/fhir/ (but not hl7.org/fhir/sid/, which names ICD, CVX, NDC, ...), the HL7 OIDs 2.16.840.1.113883.5,
  .18 and .4.642; language (BCP 47) and country (ISO 3166) codes count with them. Kept when the code appears as a
  whole token (in any case).
- term: a Coding of HL7's own vocabularies (a status, a category, an encounter class) is one fact, kept when its
  display or its code appears.
- display: the display of every other Coding (the name that goes with the code).
- text: every other string: concept texts, notes, descriptions, conclusions, dosage texts, statuses and other
  codes, units, names on references, attachment titles, extension values. Kept when it appears, ignoring case,
  white space, line breaks and hyphens or underscores between words. A concept's text that repeats one of its
  codings' displays or codes is the same fact as that coding, not a second one.
- number: every number (values, ranges, doses, rates, timing, ranks, counts). Kept when the same number stands
  alone in the record's line, outside any date, time, id or word.
- date: every date, dateTime and instant. Kept when it appears, or when its date and its time of day both appear
  (a period's same-day end and a result released the same day are written as a time).
- flag: every boolean. Kept when the element's name (or its parent's) appears with yes/no (true/false); a true
  one also when its name appears in brackets ('(preferred)').
- reference: every reference, as the referenced 'Type/id' (encounter, performer, author, recorder, requester,
  reason, result, order, specimen, ...). Kept when 'Type/id' appears. The ones the issue found missing (the
  encounter; who performed, authored or recorded) are also reported on their own.
- identifier: every Identifier's value (and type). Reported, not in the bars (see below).
A timing is written in words: its unit codes count as kept when their word appears ('wk' as week), a period of 1
when 'per' does.

Not facts (bookkeeping): meta; the narrative (text.div); the resource's own id and type (the line is found by
them); element ids; extension URLs (their values are facts); Identifier.system and .use; Coding.system, .version
and .userSelected (a code is shown with a short name of its system instead); Quantity.system, and Quantity.code
when a unit is given (the same unit in UCUM's spelling); Reference.type; Attachment.data and .hash (a document's
content is read with get_document_text, not listed in a search); references to the patient searched for (subject,
patient, beneficiary, subscriber: the search is hers).

Left out besides bookkeeping, and why:
- Identifiers: business identifiers (order and accession numbers, clinosim's internal keys) are not clinical
  content, and most of Epic's are internal numbers a model cannot use. Counted and reported, not in the bars.
- A reference range's type 'normal' (HL7 referencerange-meaning): FHIR assumes the normal range when the type is
  absent; the compact form names every other type.
- Encounter.length when it is the time between the period's start and end (checked, within 1%): the period is
  shown.
- Encounter.statusHistory: the workflow's status changes; when the patient was there is the period.
- DocumentReference.content.format: an IHE code telling exchange systems how to parse the attachment; the content
  type is shown (tests/render/test_epic_real.py leaves format codes out as bookkeeping too).

What the matching cannot see: a value that also appears elsewhere in the same line counts as kept (two fields
naming the same practitioner, a small number such as 1). Free text is matched whole, so a shortened note counts as
lost.

Totals: every page's 'total N' must equal the number of the patient's records the search matches, worked out from
the raw data (type, patient, category or code); 'at least N' and 'unknown' are honest but not exact.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from harness import loaded_server, write_results
from mcp import Client
from patient_searches import Page, Search, all_pages, owner, searches

from epic_mcp.sandbox import data_set
from tests.conftest import run_today
from tests.unseen_data import unseen_data_set

BARS = {"overall": 0.98, "per_type": 0.95}
COMMAND = "python bench/fact_retention.py"

HL7_PREFIXES = ("http://terminology.hl7.org/", "urn:oid:2.16.840.1.113883.5.", "urn:oid:2.16.840.1.113883.18.",
                "urn:oid:2.16.840.1.113883.4.642.")
# Language and country codes: a display ('Japanese (Japan)') names the code ('ja-JP') exactly.
NAMED_BY_DISPLAY = ("urn:ietf:bcp:47", "urn:iso:std:iso:3166")
# Elements left out of the fact set beyond bookkeeping (the module docstring says why).
LEFT_OUT = {"Encounter.statusHistory", "DocumentReference.content.format"}
ASSUMED_RANGE = ("http://terminology.hl7.org/CodeSystem/referencerange-meaning", "normal")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:T(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?))?")
TIME = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?")
SEPARATORS = re.compile(r"[\s|;,()\[\]{}<>=]+")
CODING_KEYS = {"system", "version", "code", "display", "userSelected", "id", "extension"}
REFERENCE_KEYS = {"reference", "display", "type", "identifier", "id", "extension"}
QUANTITY_KEYS = {"value", "unit", "system", "code", "comparator", "id", "extension"}
CLASSES = ("code", "term", "display", "text", "number", "date", "flag", "reference")
# The references the issue found missing (20.9% kept): the encounter a record belongs to, and who performed,
# authored or recorded it. Reported on their own as well.
CITED = (".encounter", ".context.encounter", ".performer", ".performer.actor", ".author", ".recorder")


def is_hl7(system: str) -> bool:
    """HL7's own vocabularies (and language and country codes): one fact, their display or their code."""
    return system.startswith(HL7_PREFIXES + NAMED_BY_DISPLAY) or (
        system.startswith("http://hl7.org/fhir/") and not system.startswith("http://hl7.org/fhir/sid/"))


@dataclass(frozen=True)
class Fact:
    kind: str  # one of CLASSES, or "identifier"
    path: str  # 'Observation.component.valueQuantity.value'
    value: str
    alternative: str | None = None  # a term's code, when its display is the value


def facts_of(resource: dict[str, Any]) -> set[Fact]:
    """The facts of one resource, as the module docstring defines them."""
    found: set[Fact] = set()
    patient = owner(resource) or (resource.get("id") if resource.get("resourceType") == "Patient" else None)

    def walk(value: Any, path: str, kind: str | None = None) -> None:
        if isinstance(value, list):
            for item in value:
                walk(item, path, kind)
        elif isinstance(value, dict):
            element(value, path, kind)
        elif isinstance(value, bool):
            found.add(Fact(kind or "flag", path, f"{path.rsplit('.', 1)[-1]}={'yes' if value else 'no'}"))
        elif isinstance(value, (int, float)):
            found.add(Fact(kind or "number", path, repr(value)))
        elif isinstance(value, str) and value.strip():
            found.add(Fact(kind or ("date" if DATE.fullmatch(value) else "text"), path, value))

    def element(value: dict[str, Any], path: str, kind: str | None) -> None:
        keys = set(value)
        if "div" in keys:  # a narrative
            return
        if isinstance(value.get("code"), str) and keys <= CODING_KEYS:  # a Coding
            system = str(value.get("system") or "")
            if (system, value["code"]) == ASSUMED_RANGE and path.endswith("referenceRange.type.coding"):
                return
            if is_hl7(system):
                display = value.get("display")
                found.add(Fact(kind or "term", path, str(display or value["code"]),
                               str(value["code"]) if display else None))
            else:
                found.add(Fact(kind or "code", path + ".code", value["code"]))
                walk(value.get("display"), path + ".display", kind or "display")
            return
        if isinstance(value.get("reference"), str) and keys <= REFERENCE_KEYS:  # a Reference
            target = value["reference"]
            if target != f"Patient/{patient}" and not target.startswith("#"):
                found.add(Fact(kind or "reference", path, "/".join(target.split("/")[-2:])))
                walk(value.get("display"), path + ".display", kind)
            walk(value.get("identifier"), path + ".identifier", "identifier")
            return
        if "url" in keys and ("extension" in keys or any(k.startswith("value") for k in keys)):  # an extension
            keys.discard("url")
        if isinstance(value.get("value"), (int, float)) and keys <= QUANTITY_KEYS:  # a Quantity
            keys -= {"system", "code"} if value.get("unit") else {"system"}
        if "contentType" in keys or "data" in keys:  # an Attachment
            keys -= {"data", "hash"}
        if isinstance(value.get("text"), str) and isinstance(value.get("coding"), list):  # a CodeableConcept
            names = {normal(str(c.get(k))) for c in value["coding"] if isinstance(c, dict) for k in ("display", "code")}
            if normal(value["text"]) in names:  # the name of one of its codings: the same fact
                keys.discard("text")
        if path == "Encounter" and length_of_period(value):
            keys.discard("length")
        for name in sorted(keys - {"id", "meta"}):
            if f"{path}.{name}" in LEFT_OUT:
                continue
            if name in ("identifier", "masterIdentifier", "valueIdentifier"):
                for identifier in value[name] if isinstance(value[name], list) else [value[name]]:
                    if isinstance(identifier, dict):
                        walk(identifier.get("value"), f"{path}.{name}", "identifier")
                        walk(identifier.get("type"), f"{path}.{name}.type", "identifier")
                continue
            walk(value[name], f"{path}.{name}", kind)

    element({k: v for k, v in resource.items() if k not in ("resourceType", "text")}, resource["resourceType"], None)
    return found


def length_of_period(encounter: dict[str, Any]) -> bool:
    """Whether Encounter.length is the time between the period's start and end, within 1% (clinosim rounds it)."""
    length, span = encounter.get("length") or {}, encounter.get("period") or {}
    minutes = {"min": 1, "h": 60, "d": 1440, "wk": 10080}.get(str(length.get("code") or length.get("unit")))
    if not minutes or not isinstance(length.get("value"), (int, float)) or not (span.get("start") and span.get("end")):
        return False
    took = (datetime.fromisoformat(span["end"]) - datetime.fromisoformat(span["start"])).total_seconds() / 60
    return abs(took / minutes - length["value"]) <= 0.01 * max(1.0, length["value"])


# Matching ------------------------------------------------------------------------------------------------

def normal(text: str) -> str:
    """Case, white space, line breaks (written '\\n' in a line) and hyphens or underscores between words ignored."""
    return " ".join(re.sub(r"(?<=\w)[-_](?=\w)", " ", text.replace("\\n", " ")).split()).lower()


def numbers_in(text: str) -> set[float]:
    """Numbers that stand alone in a line: not inside dates, times, ids or words."""
    text = TIME.sub(" ", DATE.sub(" ", text))
    found = set()
    for token in SEPARATORS.split(text):
        if not token or any(ch.isalpha() for ch in token) or ":" in token:
            continue
        for part in re.split(r"(?<=\d)[-/](?=\d)", token.strip(".:")):
            try:
                found.add(float(part))
            except ValueError:
                continue
    return found


@dataclass
class Shown:
    """What the model read for one record: its line and the 'every item' line of its page."""

    text: str
    normal: str = ""
    numbers: set[float] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.normal = normal(self.text)
        self.numbers = numbers_in(self.text)


def token_in(token: str, text: str) -> bool:
    """A whole token, in any case ('retired' is kept by 'Retired')."""
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(token)}(?![A-Za-z0-9])", text, re.IGNORECASE) is not None


TIME_UNITS = {"s": "second", "min": "minute", "h": "hour", "d": "day", "wk": "week", "mo": "month", "a": "year"}


def kept(fact: Fact, shown: Shown) -> bool:
    if fact.path.endswith(("repeat.periodUnit", "repeat.durationUnit")) and fact.value in TIME_UNITS:
        return TIME_UNITS[fact.value] in shown.normal or fact.value in shown.normal.split()
    if fact.path.endswith("repeat.period") and float(fact.value) == 1 and re.search(r"\bper \w", shown.normal):
        return True
    if fact.kind in ("code", "identifier", "reference"):
        return token_in(fact.value, shown.text)
    if fact.kind == "term":
        return normal(fact.value) in shown.normal or (fact.alternative is not None
                                                      and token_in(fact.alternative, shown.text))
    if fact.kind == "number":
        return float(fact.value) in shown.numbers
    if fact.kind == "date":
        if fact.value in shown.text:
            return True
        match = DATE.fullmatch(fact.value)
        time_of_day = match.group(1) if match else None
        return bool(time_of_day) and fact.value[:10] in shown.text and time_of_day in shown.text
    if fact.kind == "flag":
        name, answer = fact.value.split("=")
        words = {"yes": ("yes", "true"), "no": ("no", "false")}[answer]
        names = {normal(snake(n)) for n in (name, fact.path.split(".")[-2] if fact.path.count(".") > 1 else name)}
        return any(re.search(rf"{re.escape(n)}[^|]*\b({'|'.join(words)})\b", shown.normal)
                   or (answer == "yes" and f"({n})" in shown.normal) for n in names)
    return normal(fact.value) in shown.normal


def snake(name: str) -> str:
    """'primarySource' -> 'primary_source'; a choice type's suffix dropped ('asNeededBoolean' -> 'as_needed')."""
    name = re.sub(r"(Boolean|String|Integer|DateTime|CodeableConcept)$", "", name) or name
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


# Reading what the model reads ----------------------------------------------------------------------------------

HEADER = re.compile(r"^\w+ search: (\d+) on this page, total (at least \d+|unknown|\d+)")


def page_lines(page: Page, resource_type: str) -> tuple[str | None, dict[str, str]]:
    """The page's total as written, and each record's line (with the 'every item' line) by id."""
    lines = page.text.splitlines()
    header = HEADER.match(lines[0]) if lines else None
    shared = next((line for line in lines if line.startswith("every item: ")), "")
    records = {}
    for line in lines:
        if line.startswith("- "):
            head = line[2:].split(" | ", 1)[0]
            rid = head.removeprefix(f"{resource_type}/")
            records[rid] = f"{line}\n{shared}"
    return (header.group(2) if header else None), records


@dataclass
class Retention:
    facts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, class) -> facts
    kept: Counter[tuple[str, str]] = field(default_factory=Counter)
    missed_paths: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, path) -> missed
    examples: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # (type, path) -> (id, value)
    records: Counter[str] = field(default_factory=Counter)
    reached: Counter[str] = field(default_factory=Counter)
    totals: list[tuple[Search, str | None, int]] = field(default_factory=list)  # search, shown total, expected
    foreign: int = 0

    def score(self, resource: dict[str, Any], shown: Shown | None) -> None:
        resource_type = resource["resourceType"]
        self.records[resource_type] += 1
        self.reached[resource_type] += shown is not None
        for fact in facts_of(resource):
            kinds = [fact.kind, "cited"] if fact.kind == "reference" and fact.path.endswith(CITED) else [fact.kind]
            found = shown is not None and kept(fact, shown)
            for kind in kinds:
                self.facts[resource_type, kind] += 1
                self.kept[resource_type, kind] += found
            if not found and fact.kind in CLASSES:
                self.missed_paths[resource_type, fact.path] += 1
                self.examples.setdefault((resource_type, fact.path), (resource["id"], fact.value))

    def share(self, types: Iterable[str] | None = None, classes: Iterable[str] = CLASSES) -> tuple[int, int]:
        wanted = set(classes)
        keys = [k for k in self.facts if k[1] in wanted and (types is None or k[0] in set(types))]
        return sum(self.kept[k] for k in keys), sum(self.facts[k] for k in keys)

    def exact_totals(self) -> tuple[int, int]:
        return sum(shown == str(expected) for _, shown, expected in self.totals), len(self.totals)


async def measure(data: dict[str, Any]) -> Retention:
    resources = data["resources"]
    by_id = {(r["resourceType"], r["id"]): r for r in resources}
    patient_ids = [p["id"] for p in data["patients"]]
    plans = searches(resources, patient_ids)
    result = Retention()
    with loaded_server(resources) as server:
        async with Client(server.params()) as client:
            shown: dict[tuple[str, str], Shown] = {}
            for plan in plans:
                pages = await all_pages(client, plan)
                for page in pages:
                    total, lines = page_lines(page, plan.op.resource)
                    result.totals.append((plan, total, len(plan.expected)))
                    for rid, text in lines.items():
                        if rid not in plan.expected:
                            result.foreign += 1
                        shown.setdefault((plan.op.resource, rid), Shown(text))
            for pid in patient_ids:
                read = await client.call_tool("get_patient", {"id": pid})
                shown[("Patient", pid)] = Shown(read.content[0].text)
    searched = {plan.op.resource for plan in plans}
    for key, resource in sorted(by_id.items()):
        if (key[0] in searched and owner(resource) in patient_ids) or (key[0] == "Patient" and key[1] in patient_ids):
            result.score(resource, shown.get(key))
    return result


# Report ---------------------------------------------------------------------------------------------------

def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "-"


FACT_SET = """\
## The fact set

Every resource is walked element by element, the same way for every type (bench/fact_retention.py says it
precisely). Facts: every code of every coding outside HL7's own vocabularies (kept when the code appears); a coding
of HL7's own vocabularies (a status, a category, a class) as its display or its code; the display of every other
coding; every other string (concept texts, notes, descriptions, statuses, units, names on references); every
number; every date and time; every boolean (with its element's name); every reference as 'Type/id'. A record is
looked up by its line in the text the model reads (with the page's 'every item' line).

Not facts (bookkeeping): meta, the narrative (text.div), the resource's own id, element ids, extension URLs,
Identifier.system and .use, Coding.system, .version and .userSelected, Quantity.system (and Quantity.code when a
unit is given), Reference.type, attachment data and hashes, and references to the patient searched for.

Left out besides bookkeeping, and why:
- Business identifiers (order and accession numbers, clinosim's internal keys): not clinical content; counted
  and reported below, not in the bars.
- A reference range's type 'normal': FHIR says the normal range is assumed when the type is absent, and the
  compact form shows other types by name.
- Encounter.length when it is the time between the period's start and end (checked, within 1%): the period is
  shown.
- Encounter.statusHistory: the workflow's status changes (planned, in progress, finished); when the patient was
  there is the period.
- DocumentReference.content.format: an IHE code telling exchange systems how to parse the attachment (here
  'MIME type sufficient'); the content type is shown. The replay of real Epic bodies (tests/render/test_epic_real.py)
  leaves format codes out too.
- Language and country codes (BCP 47, ISO 3166) count like HL7's: their display names the code exactly.
- A concept's text that repeats one of its codings' displays or codes is the same fact as that coding.
- Matching is lenient where the compact form writes a value in words: case, white space and hyphens are ignored;
  a timing's unit codes may appear as words ('wk' as week) and a period of 1 as 'per'; a boolean that is true may
  appear as its name in brackets ('(preferred)').

What the matching cannot see: a value that also appears elsewhere in the same line counts as kept (two fields
naming the same practitioner, a small number such as 1). Free text is matched whole, so a shortened note counts
as lost.
"""


KNOWN_GAPS = """\
Known gaps (counted as lost above, not excluded):
- Observation.basedOn and .specimen (the order a result answers, the specimen it was measured on) are not shown:
  the order is reachable from the report (DiagnosticReport based_on) and the order search, and no tool reads a
  Specimen; both would add about 75 bytes to every lab result.
- Japan's eCS extensions (department, diagnosis type 'principal', institution number) on Condition,
  MedicationRequest, AllergyIntolerance and Patient: the renderer knows Epic's and US Core's extensions, and Epic
  does not send Japan's.
- The use ('official') of the name shown as a patient's name.
"""


def report(result: Retention, data: dict[str, Any], source: str, bars: bool = True) -> str:
    """The measurement as Markdown; with `bars`, each line says its target and whether it is met."""
    kept_all, all_facts = result.share()
    types = sorted(result.records, key=lambda t: -result.share([t])[1])
    exact, searched_pages = result.exact_totals()
    worst_type = min((t for t in types if result.share([t])[1]), key=lambda t: result.share([t])[0]
                     / result.share([t])[1])
    worst = result.share([worst_type])
    cited = result.share(classes=["cited"])
    def row(name: str, target: str, measured: str, met: bool | None) -> str:
        if not bars:
            return f"| {name} | {measured} |"
        return f"| {name} | {target} | {measured} | {'-' if met is None else 'yes' if met else 'NO'} |"

    lines = [
        f"Data: {data['description']} {len(data['patients'])} patients, {len(data['resources']):,} resources "
        f"({source}).", "",
        "| bar | target | measured | met |" if bars else "| measure | measured |",
        "|---|---|---:|---|" if bars else "|---|---:|",
        row("facts kept, all types", ">= 98%", f"{pct(kept_all, all_facts)} ({kept_all:,} of {all_facts:,})",
            kept_all >= BARS["overall"] * all_facts),
        row("facts kept, worst type", ">= 95%", f"{pct(*worst)} ({worst_type})",
            worst[0] >= BARS["per_type"] * worst[1]),
        row("totals exact (every page of every search)", "all", f"{exact} of {searched_pages}",
            exact == searched_pages),
        row("records of other searches or patients shown", "0", str(result.foreign), not result.foreign),
        row("references the issue found missing (the encounter; who performed, authored, recorded)", "-",
            f"{pct(*cited)} ({cited[0]:,} of {cited[1]:,})", None),
        "", "Per resource type:", "",
        "| resource type | records | reached | facts | kept | " + " | ".join(CLASSES) + " |",
        "|---|---:|---:|---:|---:|" + "---:|" * len(CLASSES)]
    for t in types:
        kept_t, facts_t = result.share([t])
        cells = [pct(result.kept[t, c], result.facts[t, c]) for c in CLASSES]
        lines.append(f"| {t} | {result.records[t]:,} | {result.reached[t]:,} | {facts_t:,} | "
                     f"**{pct(kept_t, facts_t)}** | " + " | ".join(cells) + " |")
    per_class = [pct(*result.share(classes=[c])) for c in CLASSES]
    lines.append(f"| **all** | {sum(result.records.values()):,} | {sum(result.reached.values()):,} | "
                 f"{all_facts:,} | **{pct(kept_all, all_facts)}** | " + " | ".join(per_class) + " |")
    ids_kept, ids = result.share(classes=["identifier"])
    lines += ["", f"Identifiers (not in the bars): {ids:,}, of which {ids_kept:,} ({pct(ids_kept, ids)}) appear in "
              "the text.", "", "Element paths with facts missing from the text, most first (one example each):", "",
              "| resource type | element | missed | example |", "|---|---|---:|---|"]
    for (t, path), missed in result.missed_paths.most_common():
        rid, value = result.examples[t, path]
        lines.append(f"| {t} | {path.split('.', 1)[-1]} | {missed:,} | {rid}: `{value[:60]}` |")
    wrong = [(plan, shown, expected) for plan, shown, expected in result.totals if shown != str(expected)]
    lines += ["", "Totals that were not exact:", ""]
    lines += [f"- {plan.op.tool} {plan.arguments} for {plan.patient_id}: text says {shown!r}, the patient has "
              f"{expected}" for plan, shown, expected in wrong[:30]] or ["None."]
    return "\n".join(lines)


def main() -> None:
    unseen = unseen_data_set()
    sandbox = data_set(run_today())
    body = "\n".join([
        "## Unseen data (the bars)", "",
        report(asyncio.run(measure(unseen)), unseen, "tests/data/unseen.json.gz, scripts/build-unseen-data"), "",
        KNOWN_GAPS,
        "## Sandbox data (seen during development; it has the eight catalog types clinosim does not make)", "",
        report(asyncio.run(measure(sandbox)), sandbox, "src/epic_mcp/sandbox/data.json.gz, dated for today",
               bars=False), "",
        FACT_SET])
    print(body)
    path = write_results("bench-fact-retention", "Fact retention: raw FHIR vs the compact text the model reads",
                         COMMAND, body)
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
