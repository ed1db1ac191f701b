#!/usr/bin/env python3
"""Answers, not pages (issue 12): the issue's five patient questions, each asked over stdio against the local
sandbox data (plus the tests' heavy inpatient) by every plan epic-mcp's tools offer; the smallest plan whose text
holds every expected fact is kept, and its cl100k_base tokens are set beside the best complete peer answer the issue
measured (WSO2 fhir-mcp-server 0.10.0, fhir-mcp 0.2.2, mcp-fhir 1.1.1 on the same sandbox data).

Expected facts come from the raw FHIR through evals/truth.py, which does not use epic-mcp's renderer or summary:
the newest result of each vital-sign kind and of each lab test of the last six months (its record id, day and
value), each active problem (id and onset day), each current medication (its order's id, in the current part of
the list, not among the likely stale), each active allergy and the next appointment. A plan is complete when its
text holds all of them. Also measured: the model-visible part of tools/list (name, description, input schema) per
profile, against WSO2's 9,272 bytes (the issue's figure).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from harness import loaded_server, write_results
from mcp import Client
from tokens import TOKENIZER, count_tokens

from epic_mcp.access.profiles import PROFILES
from epic_mcp.sandbox import data_set
from evals import truth
from tests.conftest import run_today
from tests.heavy_patient import PATIENT_ID as HEAVY_PATIENT
from tests.heavy_patient import heavy_patient

COMPARED_PATIENT = "erXuFYUfucBZaryVksYEcMg3"  # Camila Lopez, the sandbox patient with the longest history
WSO2_TOOLS_LIST_BYTES = 9_272
TOOLS_LIST_BARS = {"core": 2 * WSO2_TOOLS_LIST_BYTES, "all": 30_000}
RECENT_LABS = timedelta(days=183)
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Fact:
    """Something a complete answer must hold: a record's id, on a line that also has its day and values."""

    ref: str
    day: str | None = None
    values: tuple[str, ...] = ()
    before: str | None = None  # the fact must appear before this heading (current, not likely stale, medications)

    def found_in(self, text: str) -> bool:
        scope = text.split(self.before, 1)[0] if self.before else text
        lines = [line for line in scope.splitlines() if _names(line, self.ref)]
        return any((self.day is None or self.day in line) and all(_holds(line, v) for v in self.values)
                   for line in lines)


def _names(line: str, ref: str) -> bool:
    kind, _, rid = ref.partition("/")
    return re.search(rf"(?:^- |{kind}/){re.escape(rid)}\b", line) is not None


def _holds(line: str, value: str) -> bool:
    """A number is found as a number (72 matches 72.0); a word as written."""
    if NUMBER.fullmatch(value):
        return any(float(n) == float(value) for n in NUMBER.findall(line))
    return value.lower() in line.lower()


@dataclass(frozen=True)
class Question:
    name: str
    peer_tokens: int
    peer: str
    plans: tuple[dict[str, Any], ...]
    facts: Callable[[truth.Records, str, date], list[Fact]]


def _observation_fact(observation: dict[str, Any]) -> Fact:
    values = []
    for part in [observation, *observation.get("component", [])]:
        if (measured := truth.quantity(part)) is not None:
            values.append(f"{measured[0]:g}")
        elif isinstance(part.get("valueCodeableConcept"), dict):
            concept = part["valueCodeableConcept"]
            label = concept.get("text") or next((c.get("display") for c in concept.get("coding", [])), None)
            values += [label] if label else []
    return Fact(f"Observation/{observation['id']}", truth.observation_time(observation)[:10], tuple(values))


def vital_facts(records: truth.Records, patient_id: str, today: date) -> list[Fact]:
    return [_observation_fact(o) for o in truth.newest_per_kind(records, patient_id, "vital-signs")]


def lab_facts(records: truth.Records, patient_id: str, today: date) -> list[Fact]:
    return [_observation_fact(o) for o in truth.newest_per_kind(records, patient_id, "laboratory", today - RECENT_LABS)]


def problem_facts(records: truth.Records, patient_id: str, today: date) -> list[Fact]:
    return [Fact(f"Condition/{c['id']}", (c.get("onsetDateTime") or "")[:10] or None)
            for c in truth.active_problems(records, patient_id)]


def medication_facts(records: truth.Records, patient_id: str, today: date) -> list[Fact]:
    return [Fact(f"MedicationRequest/{o['id']}", before="likely stale")
            for o in truth.current_medications(records, patient_id, today)]


def whole_patient_facts(records: truth.Records, patient_id: str, today: date) -> list[Fact]:
    patient = records.patient(patient_id)
    appointment = truth.next_appointment(records, patient_id, today)
    return [Fact(f"Patient/{patient_id}", patient.get("birthDate")),
            *vital_facts(records, patient_id, today), *lab_facts(records, patient_id, today),
            *problem_facts(records, patient_id, today), *medication_facts(records, patient_id, today),
            *[Fact(f"AllergyIntolerance/{a['id']}") for a in truth.active_allergies(records, patient_id)],
            *([Fact(f"Appointment/{appointment['id']}", appointment["start"][:10])] if appointment else [])]


def _sections(*names: str) -> dict[str, Any]:
    return {"sections": list(names)}


QUESTIONS = (
    Question("latest value of every vital-sign kind", 9_266, "WSO2 with `_elements`",
             (_sections("vital_signs"), {}), vital_facts),
    Question("active problems", 662, "fhir-mcp", (_sections("problems"), {}), problem_facts),
    Question("active medications", 5_645, "fhir-mcp", (_sections("medications"), {}), medication_facts),
    Question("latest result per lab test, last 6 months", 18_640, "best peer", (_sections("labs"), {}),
             lab_facts),
    Question("tell me about this patient", 82_752, "best peer", ({},), whole_patient_facts),
)


@dataclass
class Answer:
    question: Question
    patient_id: str
    plan: dict[str, Any] | None
    tokens: int | None
    facts: int
    missing: list[str]


def _plan_name(plan: dict[str, Any] | None) -> str:
    if plan is None:
        return "none complete"
    return "patient_summary " + (f"sections={plan['sections']}" if plan else "(whole)")


async def answer(client: Client, records: truth.Records, question: Question, patient_id: str, today: date
                 ) -> Answer:
    facts = question.facts(records, patient_id, today)
    best: Answer | None = None
    missing: list[str] = []
    for plan in question.plans:
        result = await client.call_tool("patient_summary", {"patient_id": patient_id, **plan})
        text = result.content[0].text
        missing = [f.ref for f in facts if not f.found_in(text)]
        if not result.is_error and not missing:
            tokens = count_tokens(text)
            if best is None or tokens < (best.tokens or 0):
                best = Answer(question, patient_id, plan, tokens, len(facts), [])
    return best or Answer(question, patient_id, None, None, len(facts), missing)


async def tools_list(server: Any) -> dict[str, tuple[int, int, int]]:
    found = {}
    for profile in PROFILES:
        async with Client(server.params("--tools", profile)) as client:
            tools = (await client.list_tools()).tools
        visible = json.dumps([{"name": t.name, "description": t.description, "inputSchema": t.input_schema}
                              for t in tools])
        found[profile] = (len(tools), len(visible.encode()), count_tokens(visible))
    return found


async def measure() -> tuple[list[Answer], dict[str, tuple[int, int, int]]]:
    today = run_today()
    data = data_set(today)
    heavy = heavy_patient(today)
    records = truth.Records({"patients": [*data["patients"], next(r for r in heavy if r["resourceType"] == "Patient")],
                             "resources": [*data["resources"], *heavy]})
    answers = []
    with loaded_server(data["resources"] + heavy) as server:
        async with Client(server.params()) as client:
            for patient_id in (COMPARED_PATIENT, HEAVY_PATIENT):
                for question in QUESTIONS:
                    answers.append(await answer(client, records, question, patient_id, today))
        profiles = await tools_list(server)
    return answers, profiles


def report(answers: list[Answer], profiles: dict[str, tuple[int, int, int]]) -> str:
    rows = ["| question | patient | smallest complete plan | facts checked | tokens | best complete peer | ratio |",
            "|---|---|---|---:|---:|---:|---:|"]
    for a in answers:
        who = "Camila Lopez (sandbox)" if a.patient_id == COMPARED_PATIENT else "heavy inpatient (tests' data)"
        tokens = f"{a.tokens:,}" if a.tokens is not None else "incomplete: " + ", ".join(a.missing[:3])
        compared = a.patient_id == COMPARED_PATIENT and a.tokens is not None
        peer = f"{a.question.peer_tokens:,} ({a.question.peer})" if compared else "-"
        ratio = f"{a.tokens / a.question.peer_tokens:.2f}x" if compared and a.tokens else "-"
        rows.append(f"| {a.question.name} | {who} | {_plan_name(a.plan)} | {a.facts} | {tokens} | {peer} | {ratio} |")
    listing = ["| profile | tools | bytes | tokens | bar |", "|---|---:|---:|---:|---|"]
    for profile, (tools, size, tokens) in profiles.items():
        bar = TOOLS_LIST_BARS.get(profile)
        verdict = f"<= {bar:,} bytes: {'met' if size <= bar else 'MISSED'}" if bar else "-"
        listing.append(f"| {profile} | {tools} | {size:,} | {tokens:,} | {verdict} |")
    return "\n".join([
        f"Tokens: {TOKENIZER}; the text content of each answer, as the model reads it. Target: at most 0.5x the "
        "best complete peer answer of issue 12 (the peers' figures are the issue's, measured with the same "
        "definitions on the same sandbox data; they were not re-run here). A plan is complete when its text holds "
        "every expected fact, computed from the raw FHIR by evals/truth.py: the newest result of each vital-sign "
        "kind and of each lab test of the last six months with its day and value, each active problem with its "
        "onset, each current medication's order (among the current, not the likely stale), each active allergy "
        "and the next appointment.", "", *rows, "",
        "## tools/list, the model-visible part (name, description, input schema as JSON)", "",
        f"WSO2 fhir-mcp-server: {WSO2_TOOLS_LIST_BYTES:,} bytes (the issue's figure). Output schemas are sent too "
        "but are not shown to the model by the usual clients.", "", *listing])


def main() -> None:
    answers, profiles = asyncio.run(measure())
    body = report(answers, profiles)
    print(body)
    write_results("bench-answers", "Answers, not pages: tokens for a complete answer", "python bench/answers.py",
                  body)


if __name__ == "__main__":
    main()
