"""patient_summary: the original app's "comprehensive" view in one call, fetched concurrently, each section
bounded, and what failed or was not authorized listed instead of failing the whole summary."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from .collect import collect, effective_time, is_abnormal, latest_per_code, newest_first
from .errors import EpicMcpError, FhirError, FhirErrorKind
from .render import compact, inline, item_lines, record_line

if TYPE_CHECKING:
    from .fhir_client import FhirClient

DEADLINE_SECONDS = 25.0
# Bookkeeping a summary leaves out; the full record is one get_* call away by its id.
SUMMARY_OMITS = ("encounter", "requester", "recorder", "recorded_date", "reason_reference", "validity", "method",
                 "refills", "dispense_quantity", "service_provider", "diagnosis", "lot_number", "performers",
                 "telecom", "address")


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    resource_type: str
    params: Callable[[date], list[tuple[str, str]]]
    select: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
    limit: int


def _as_is(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return items


def _soonest_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=effective_time)


def _drug(order: dict[str, Any]) -> str:
    medication = str(compact(order).get("medication", ""))
    rxnorm = re.search(r"\[RxNorm (\w+)\]", medication)
    return f"rxnorm:{rxnorm.group(1)}" if rxnorm else medication.lower()


def _distinct_medications(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per drug: its newest active order, with how many active orders there are for it."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for order in newest_first(items):
        groups.setdefault(_drug(order), []).append(order)
    return [{**group[0], "_active_orders": len(group)} for group in groups.values()]


SECTIONS = (
    Section("problems", "Active problems", "Condition", lambda _: [("clinical-status", "active")], _as_is, 30),
    Section("medications", "Active medications (distinct)", "MedicationRequest", lambda _: [("status", "active")],
            _distinct_medications, 30),
    Section("allergies", "Allergies and intolerances", "AllergyIntolerance", lambda _: [], _as_is, 20),
    Section("vital_signs", "Latest vital signs (one per kind)", "Observation",
            lambda _: [("category", "vital-signs")], latest_per_code, 15),
    Section("labs", "Recent labs (latest per test)", "Observation", lambda _: [("category", "laboratory")],
            latest_per_code, 25),
    Section("immunizations", "Immunizations (newest first)", "Immunization", lambda _: [], newest_first, 15),
    Section("encounters", "Recent encounters", "Encounter", lambda _: [], newest_first, 5),
    Section("appointments", "Upcoming appointments", "Appointment",
            lambda today: [("date", f"ge{today.isoformat()}")], _soonest_first, 5),
    Section("coverage", "Coverage", "Coverage", lambda _: [], _as_is, 5),
)


class SummarySection(BaseModel):
    name: str
    title: str
    items: list[dict[str, Any]] = Field(description="Compact records without bookkeeping fields; labs carry "
                                                    "abnormal=true when flagged, repeated medication orders "
                                                    "active_orders.")
    found: int = Field(description="How many records the server returned for this section before selection.")
    complete: bool = Field(description="False when more records existed than the summary reads.")
    warnings: list[str] = Field(description="What was withheld or not followed, and why.")


class PatientSummary(BaseModel):
    patient_id: str
    patient: dict[str, Any] | None = Field(description="Demographics (compact), or null if they were not readable.")
    sections: list[SummarySection]
    unavailable: list[str] = Field(description="Sections that failed or were not authorized, and why.")


async def _section(fhir: FhirClient, section: Section, patient_id: str, today: date) -> SummarySection:
    found = await collect(fhir, section.resource_type, [("patient", patient_id), *section.params(today)], patient_id)
    chosen = section.select(found.items)[:section.limit]
    records = []
    for resource in chosen:
        record = {k: v for k, v in compact(resource).items() if k not in SUMMARY_OMITS}
        if section.name == "labs" and is_abnormal(resource):
            record["abnormal"] = True
        if resource.get("_active_orders", 1) > 1:
            record["active_orders"] = resource["_active_orders"]
        records.append(record)
    return SummarySection(name=section.name, title=section.title, items=records, found=len(found.items),
                          complete=found.complete and len(found.items) <= section.limit, warnings=found.warnings)


async def patient_summary(fhir: FhirClient, patient_id: str, today: date) -> PatientSummary:
    deadline = DEADLINE_SECONDS
    tasks = {asyncio.ensure_future(_section(fhir, s, patient_id, today)): s for s in SECTIONS}
    patient_task = asyncio.ensure_future(fhir.read("Patient", patient_id))
    done, pending = await asyncio.wait([patient_task, *tasks], timeout=deadline)
    for task in pending:
        task.cancel()
    unavailable = []
    patient = None
    if patient_task in done:
        try:
            patient = {k: v for k, v in compact(patient_task.result()).items() if k not in SUMMARY_OMITS}
        except FhirError as exc:
            if exc.kind is FhirErrorKind.NOT_FOUND:
                for task in tasks:
                    task.cancel()
                raise
            unavailable.append(f"demographics: {exc}")
    else:
        unavailable.append(f"demographics: no answer within {deadline:g} s")
    sections = []
    for task, section in tasks.items():
        if task in pending:
            unavailable.append(f"{section.name}: no answer within {deadline:g} s")
        elif isinstance(task.exception(), EpicMcpError):
            unavailable.append(f"{section.name}: {task.exception()}")
        elif task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
        else:
            sections.append(task.result())
    return PatientSummary(patient_id=patient_id, patient=patient, sections=sections, unavailable=unavailable)


def summary_text(summary: PatientSummary) -> str:
    lines = [f"Patient summary for Patient/{summary.patient_id}"]
    if summary.patient:
        lines.append(record_line(summary.patient))
    for section in summary.sections:
        more = "" if section.complete else f"; more on file than shown, {section.found} read"
        lines.append(f"## {section.title}: {len(section.items)} shown{more}")
        lines += [f"warning: {w}" for w in section.warnings]
        lines += item_lines("", section.items) if section.items else ["- none on file"]
    if summary.unavailable:
        lines.append("## Not available")
        lines += [f"- {reason}" for reason in summary.unavailable]
    return "\n".join(lines)


class LatestValue(BaseModel):
    id: str
    date: str | None
    value: Any = Field(description="The value with its unit, or the components (e.g. systolic and diastolic).")
    interpretation: list[str] | None = None
    reference_range: list[str] | None = None
    abnormal: bool


class LatestValues(BaseModel):
    patient_id: str
    code: str
    name: str | None = Field(description="What was measured, from the newest result.")
    values: list[LatestValue] = Field(description="Newest first.")
    found: int = Field(description="How many results of this code were read.")
    complete: bool = Field(description="False when more results existed than were read.")
    warnings: list[str] = Field(description="What was withheld or not followed, and why.")


async def latest_values(fhir: FhirClient, patient_id: str, code: str, limit: int) -> LatestValues:
    """The newest `limit` results of one code (a lab or vital trend) with dates, newest first."""
    found = await collect(fhir, "Observation", [("patient", patient_id), ("code", code)], patient_id)
    rows = []
    newest = newest_first(found.items)
    for observation in newest[:limit]:
        record = compact(observation)
        rows.append(LatestValue(
            id=record["id"], date=effective_time(observation) or None,
            value=record.get("value", record.get("components", record.get("data_absent"))),
            interpretation=record.get("interpretation"), reference_range=record.get("reference_range"),
            abnormal=is_abnormal(observation),
        ))
    name = compact(newest[0]).get("code") if newest else None
    return LatestValues(patient_id=patient_id, code=code, name=name, values=rows, found=len(found.items),
                        complete=found.complete, warnings=found.warnings)


def latest_values_text(result: LatestValues) -> str:
    head = f"{result.name or result.code} for Patient/{result.patient_id}: {len(result.values)} newest of " \
           f"{result.found}{'' if result.complete else '+'} results"
    lines = [head, *(f"warning: {w}" for w in result.warnings), "date | value | flag | reference range | id"]
    for row in result.values:
        flag = ", ".join(row.interpretation or []) or ("abnormal" if row.abnormal else "")
        lines.append(f"{row.date or '?'} | {_value_text(row.value)} | {flag} | "
                     f"{'; '.join(row.reference_range or [])} | {row.id}")
    return "\n".join(lines) if result.values else "\n".join([head, *(f"warning: {w}" for w in result.warnings),
                                                             f"no results of {result.code} on file"])


def _value_text(value: Any) -> str:
    """A value, or components as 'Systolic blood pressure: 148 mm[Hg] High; Diastolic ...'."""
    if isinstance(value, list) and all(isinstance(c, dict) and "code" in c for c in value):
        return "; ".join(f"{str(c['code']).split(' [')[0]}: {inline(c.get('value', '-'))}"
                         + (f" {', '.join(c['interpretation'])}" if c.get("interpretation") else "") for c in value)
    return inline(value) if value is not None else "-"
