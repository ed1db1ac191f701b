"""patient_summary: "tell me about this patient" in one call, or just the sections asked for.

Sections are fetched concurrently, each bounded; what failed or was not authorized is listed instead of failing
the whole summary. "Latest" is true whatever the server's order or volume (collect.scan); medications are split
into current and likely stale (medications.py); upcoming appointments are the live ones ahead, soonest first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from ..errors import EpicMcpError, FhirError, FhirErrorKind
from ..fhir.results import FOREIGN_NEXT_LINK
from ..render import compact, item_lines, record_line
from ..render.datatypes import concept_codes, concept_label
from ..render.text import fields
from .ages import age_phrase
from .collect import Collected, collect, effective_time, latest_per_code, newest_first, range_flag, scan
from .medications import Drug, medication_list

if TYPE_CHECKING:
    from ..fhir.client import FhirClient

DEADLINE_SECONDS = 25.0
WALK_PAGES = 10
# Bookkeeping a summary leaves out; the full record is one get_* call away by its id.
SUMMARY_OMITS = ("encounter", "requester", "recorder", "asserter", "recorded_date", "reason_reference", "validity",
                 "method", "refills", "dispense_quantity", "supply", "service_provider", "diagnosis", "lot_number",
                 "performers", "performer", "telecom", "address", "identifiers", "category", "intent", "issued",
                 "course_of_therapy")
# With chosen sections the patient is named, not described: the question was about those sections.
IDENTITY = ("resourceType", "id", "name", "gender", "birth_date", "deceased", "age")
LIVE_APPOINTMENTS = {"booked", "pending", "arrived", "checked-in", "proposed", "waitlist"}
SectionName = Literal["problems", "medications", "allergies", "vital_signs", "labs", "immunizations", "encounters",
                      "appointments", "coverage", "notes"]


class SummarySection(BaseModel):
    name: str
    title: str
    items: list[dict[str, Any]] = Field(description="Compact records without bookkeeping fields.")
    set_apart: list[dict[str, Any]] = Field(description="Records listed apart (stale medication orders with their "
                                                        "reason; cancelled appointments).")
    set_apart_title: str | None
    found: int = Field(description="How many records were read for this section.")
    complete: bool = Field(description="False when more records existed than the summary read or shows.")
    notes: list[str] = Field(description="What was withheld, not followed or not read, and how to get it.")


class PatientSummary(BaseModel):
    patient_id: str
    patient: dict[str, Any] | None = Field(description="Demographics (compact), or null if they were not readable.")
    sections: list[SummarySection]
    unavailable: list[str] = Field(description="Sections that failed or were not authorized, and why.")


@dataclass
class Context:
    """What one summary shares between sections: the patient, their encounters, and today."""

    fhir: FhirClient
    patient_id: str
    today: date
    patient: asyncio.Task[dict[str, Any]]
    _encounters: asyncio.Task[Collected] | None = field(default=None, repr=False)

    def params(self, *extra: tuple[str, str]) -> list[tuple[str, str]]:
        return [("patient", self.patient_id), *extra]

    async def encounters(self) -> Collected:
        if self._encounters is None:
            self._encounters = asyncio.ensure_future(
                collect(self.fhir, "Encounter", self.params(), self.patient_id, WALK_PAGES))
        return await self._encounters


@dataclass(frozen=True)
class Section:
    name: SectionName
    title: str
    build: Callable[[Context], Awaitable[SummarySection]]


def _record(resource: dict[str, Any], **extra: Any) -> dict[str, Any]:
    record = {k: v for k, v in compact(resource).items() if k not in SUMMARY_OMITS}
    return {**record, **{k: v for k, v in extra.items() if v is not None}}


def _section(name: str, title: str, items: list[dict[str, Any]], found: int, complete: bool, notes: list[str],
             limit: int, *, apart: list[dict[str, Any]] | None = None, apart_title: str | None = None,
             what: str = "records") -> SummarySection:
    shown = items[:limit]
    if len(items) > limit:
        notes = [*notes, f"{len(items) - limit} more {what} not shown: use the matching search tool for all"]
    return SummarySection(name=name, title=title, items=shown, set_apart=apart or [], set_apart_title=apart_title,
                          found=found, complete=complete and len(items) <= limit, notes=notes)


def _walk_notes(found: Collected) -> list[str]:
    """The walk's warnings and, when it stopped at its page limit, that it did."""
    if found.complete or FOREIGN_NEXT_LINK in found.warnings:
        return found.warnings
    return [*found.warnings, f"only the first {found.pages} pages ({len(found.items)} records) were read; more "
                             "exist: use the matching search tool for all"]


async def _problems(ctx: Context) -> SummarySection:
    found = await collect(ctx.fhir, "Condition", ctx.params(("clinical-status", "active")), ctx.patient_id,
                          WALK_PAGES)
    items = [_problem(c) for c in newest_first(found.items)]
    return _section("problems", "Active problems", items, len(found.items), found.complete, _walk_notes(found), 40)


def _problem(condition: dict[str, Any]) -> dict[str, Any]:
    """A problem in brief: its name and codes, since when, how severe, its stage and site; the status only when it
    is not the active, confirmed one the section stands for. get_condition gives the whole record."""
    record = _record(condition)
    brief = {"code": concept_label(condition.get("code")),
             "codes": [{"system": system, "code": code} for system, code in concept_codes(condition.get("code"))],
             "severity": concept_label(condition.get("severity")),
             "stage": [label for stage in condition.get("stage") or [] if isinstance(stage, dict)
                       if (label := concept_label(stage.get("summary")))],
             "body_site": [label for site in condition.get("bodySite") or [] if (label := concept_label(site))]}
    record.update(brief)
    usual = {"clinical_status": ["active"], "verification_status": ["confirmed"], "evidence": record.get("evidence")}
    return {k: v for k, v in record.items() if v not in (None, []) and usual.get(k, object()) != v}


def _problem_lines(items: list[dict[str, Any]]) -> list[str]:
    """'- cond-1 | COPD [J44.9] | onset 2014-09-26 | Mild | stage GOLD 3 | site Lung structure': a problem list
    reads as one, with the code system named once above the list when every code shares it."""
    systems = {code["system"] for item in items for code in item.get("codes", [])}
    shared = systems.pop() if len(systems) == 1 else None
    lines = [f"codes: {shared}"] if shared else []
    for item in items:
        codes = "; ".join(code["code"] if shared else f"{code['system']} {code['code']}"
                          for code in item.get("codes", []))
        parts = [str(item.get("id")), f"{item.get('code', '?')} [{codes}]" if codes else str(item.get("code", "?"))]
        parts += [f"onset {item['onset']}"] if "onset" in item else []
        parts += [str(item["severity"])] if "severity" in item else []
        parts += [f"stage {stage}" for stage in item.get("stage", [])]
        parts += [f"site {site}" for site in item.get("body_site", [])]
        rest = {k: v for k, v in item.items() if k not in ("resourceType", "id", "code", "codes", "onset", "severity",
                                                              "stage", "body_site")}
        lines.append("- " + " | ".join(parts + fields(rest)))
    return lines


async def _medications(ctx: Context) -> SummarySection:
    judged = await medication_list(ctx.fhir, ctx.patient_id, ctx.today, encounters=ctx.encounters(),
                                   patient=ctx.patient, pages=WALK_PAGES)
    current = [_current_drug(d) for d in judged.current]
    stale = [_record(d.order, active_orders=_orders(d), likely_stale=d.verdict.reason) for d in judged.stale]
    return _section("medications", "Current medications (one line per drug, its newest current order; rules: "
                    "docs/medication-currency.md)", current, len(judged.orders.items), judged.orders.complete,
                    _walk_notes(judged.orders), 40, apart=stale,
                    apart_title="Active orders that are likely stale (not current), with the reason")


def _current_drug(drug: Drug) -> dict[str, Any]:
    """The drug's newest current order, how many active orders it has, and what a clinician should know of it
    (an overdue refill still within its grace period)."""
    return _record(drug.order, active_orders=_orders(drug), caveat=drug.verdict.reason or None)


def _orders(drug: Drug) -> int | None:
    return len(drug.orders) if len(drug.orders) > 1 else None


async def _allergies(ctx: Context) -> SummarySection:
    found = await collect(ctx.fhir, "AllergyIntolerance", ctx.params(), ctx.patient_id, WALK_PAGES)
    items = [_record(a) for a in found.items]
    return _section("allergies", "Allergies and intolerances", items, len(found.items), found.complete,
                    _walk_notes(found), 40)


async def _newest_per_kind(ctx: Context, name: SectionName, title: str, category: str, limit: int
                           ) -> SummarySection:
    scanned = await scan(ctx.fhir, "Observation", ctx.params(("category", category)), ctx.patient_id, ctx.today)
    latest = latest_per_code(scanned.items)
    items = [_record(o, flag=range_flag(o) if name == "labs" else None) for o in newest_first(latest)]
    note = scanned.limit_note(f"{category} results")
    return _section(name, title, items, len(scanned.items), scanned.complete,
                    [*scanned.warnings, *([note] if note else [])], limit, what="kinds")


async def _vital_signs(ctx: Context) -> SummarySection:
    return await _newest_per_kind(ctx, "vital_signs", "Latest vital signs (the newest of each kind)", "vital-signs",
                                  30)


async def _labs(ctx: Context) -> SummarySection:
    return await _newest_per_kind(ctx, "labs", "Latest labs (the newest of each test; flag: H/L or out of range)",
                                  "laboratory", 50)


async def _newest(ctx: Context, name: SectionName, title: str, resource_type: str, limit: int,
                  *extra: tuple[str, str]) -> SummarySection:
    scanned = await scan(ctx.fhir, resource_type, ctx.params(*extra), ctx.patient_id, ctx.today,
                         done=lambda items: len(items) > limit)
    items = [_record(r) for r in newest_first(scanned.items)]
    note = scanned.limit_note("records")
    return _section(name, title, items, len(scanned.items), scanned.complete or len(items) > limit,
                    [*scanned.warnings, *([note] if note else [])], limit)


async def _immunizations(ctx: Context) -> SummarySection:
    return await _newest(ctx, "immunizations", "Immunizations (newest first)", "Immunization", 15)


async def _notes(ctx: Context) -> SummarySection:
    return await _newest(ctx, "notes", "Latest notes (newest first; read one with get_document_text or "
                         "get_latest_notes)", "DocumentReference", 5)


async def _encounters(ctx: Context) -> SummarySection:
    found = await ctx.encounters()
    return _section("encounters", "Recent encounters (newest first)", [_record(e) for e in newest_first(found.items)],
                    len(found.items), found.complete, _walk_notes(found), 5)


async def _appointments(ctx: Context) -> SummarySection:
    found = await collect(ctx.fhir, "Appointment", ctx.params(("date", f"ge{ctx.today.isoformat()}")),
                          ctx.patient_id, WALK_PAGES)
    ahead = sorted(found.items, key=effective_time)
    live = [_record(a) for a in ahead if a.get("status") in LIVE_APPOINTMENTS]
    other = [_record(a) for a in ahead if a.get("status") not in LIVE_APPOINTMENTS]
    return _section("appointments", "Upcoming appointments (from today, soonest first)", live,
                    len(found.items), found.complete, _walk_notes(found), 5, apart=other,
                    apart_title="Cancelled, missed or not booked (not upcoming)")


async def _coverage(ctx: Context) -> SummarySection:
    found = await collect(ctx.fhir, "Coverage", ctx.params(), ctx.patient_id, WALK_PAGES)
    active = sorted(found.items, key=lambda c: c.get("status") != "active")
    return _section("coverage", "Coverage (active first)", [_record(c) for c in active],
                    len(found.items), found.complete, _walk_notes(found), 5)


SECTIONS: tuple[Section, ...] = (
    Section("problems", "Active problems", _problems),
    Section("medications", "Medications", _medications),
    Section("allergies", "Allergies", _allergies),
    Section("vital_signs", "Vital signs", _vital_signs),
    Section("labs", "Labs", _labs),
    Section("immunizations", "Immunizations", _immunizations),
    Section("encounters", "Encounters", _encounters),
    Section("appointments", "Appointments", _appointments),
    Section("coverage", "Coverage", _coverage),
    Section("notes", "Notes", _notes),
)
SECTION_NAMES: tuple[str, ...] = tuple(s.name for s in SECTIONS)


async def patient_summary(fhir: FhirClient, patient_id: str, today: date,
                          wanted: list[str] | None = None, calendar_today: date | None = None) -> PatientSummary:
    """`today` is in the frame of the patient's dates (moved in the minimum PHI mode); `calendar_today`, the real
    day, is used only for an age the record does not state (never in the moved frame: that would reveal the
    patient's date offset)."""
    chosen = [s for s in SECTIONS if not wanted or s.name in wanted]
    ctx = Context(fhir, patient_id, today, asyncio.ensure_future(fhir.read("Patient", patient_id)))
    tasks = {asyncio.ensure_future(section.build(ctx)): section for section in chosen}
    done, pending = await asyncio.wait([ctx.patient, *tasks], timeout=DEADLINE_SECONDS)
    for task in pending:
        task.cancel()
    unavailable = []
    patient = None
    if ctx.patient in done:
        try:
            patient = _with_age(_record(ctx.patient.result()), ctx.patient.result(), calendar_today or today)
            if wanted:
                patient = {k: v for k, v in patient.items() if k in IDENTITY}
        except FhirError as exc:
            if exc.kind is FhirErrorKind.NOT_FOUND:
                for task in tasks:
                    task.cancel()
                raise
            unavailable.append(f"demographics: {exc}")
    else:
        unavailable.append(f"demographics: no answer within {DEADLINE_SECONDS:g} s")
    sections = []
    for task, section in tasks.items():
        if task in pending:
            unavailable.append(f"{section.name}: no answer within {DEADLINE_SECONDS:g} s")
        elif isinstance(task.exception(), EpicMcpError):
            unavailable.append(f"{section.name}: {task.exception()}")
        elif task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
        else:
            sections.append(task.result())
    return PatientSummary(patient_id=patient_id, patient=patient, sections=sections, unavailable=unavailable)


def _with_age(record: dict[str, Any], patient: dict[str, Any], today: date) -> dict[str, Any]:
    """The compact patient with its age in words next to the birth date ('age 80', 'deceased at 79')."""
    phrase = age_phrase(patient, today)
    out = {k: v for k, v in record.items() if k != "age"}
    if phrase in (None, "deceased"):
        return out
    keys = list(out)
    at = keys.index("deceased") + 1 if "deceased" in keys else keys.index("birth_date") + 1 \
        if "birth_date" in keys else len(keys)
    return {**dict(list(out.items())[:at]), "age": phrase.removeprefix("age "), **dict(list(out.items())[at:])}


def summary_text(summary: PatientSummary, sections_chosen: bool = False) -> str:
    """The whole summary opens with the demographics; a summary of chosen sections only names the patient."""
    if sections_chosen:
        lines = [_patient_named(summary)]
    else:
        lines = [f"Patient summary for Patient/{summary.patient_id}"]
        lines += [record_line(summary.patient)] if summary.patient else []
    for section in summary.sections:
        lines.append(f"## {section.title}: {len(section.items)}")
        lines += [f"note: {n}" for n in section.notes]
        if not section.items:
            lines.append("- none on file")
        elif section.name == "problems":
            lines += _problem_lines(section.items)
        else:
            lines += item_lines("", section.items)
        if section.set_apart:
            lines.append(f"### {section.set_apart_title}: {len(section.set_apart)}")
            lines += item_lines("", section.set_apart)
    if summary.unavailable:
        lines.append("## Not available")
        lines += [f"- {reason}" for reason in summary.unavailable]
    return "\n".join(lines)


def _patient_named(summary: PatientSummary) -> str:
    """'Summary of Camila Maria Lopez, female, born 1946-04-28, age 80' (or 'deceased 2025-03-01 at 78'): the
    caller already holds her id."""
    patient = summary.patient or {}
    words = [str(patient[k]) for k in ("name", "gender") if patient.get(k)]
    words += [f"born {patient['birth_date']}"] if patient.get("birth_date") else []
    deceased, age = patient.get("deceased"), str(patient.get("age") or "")
    if deceased not in (None, False):
        words.append(" ".join(w for w in ("deceased", "" if deceased is True else str(deceased),
                                          age.removeprefix("deceased ")) if w))
    elif age:
        words.append(f"age {age}")
    return "Summary of " + (", ".join(words) if words else f"Patient/{summary.patient_id}")
