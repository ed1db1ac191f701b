"""The oracle's plans: for each kind of question, the tool calls a well-behaved agent makes and how it reads the
answer off the text it gets back. One small function per kind; each uses issue 12's tools and arguments when the
server offers them (patient_summary's sections, get_latest_notes) and the best older tool otherwise.

An answer is a string in the form the question asks for, graded like a model's answer. None means the text did
not hold an answer.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from . import reading
from .bank import Question
from .session import Session

Plan = Callable[[Session, Question], Awaitable[str | None]]
PAGE = 100
UPCOMING_STATUSES = ("booked", "pending", "arrived", "checked-in", "proposed", "waitlist")


async def summary_section(s: Session, patient_id: str, name: str, word: str) -> str | None:
    """One section of patient_summary: only that section is asked for when the tool takes `sections`."""
    arguments: dict[str, Any] = {"patient_id": patient_id}
    if s.has("patient_summary", "sections"):
        arguments["sections"] = [name]
    return reading.section(await s.call("patient_summary", **arguments), word, unless="stale")


async def every_item(s: Session, tool: str, **arguments: Any) -> list[dict[str, Any]]:
    """All items of a search, following next_page: compact records, or FHIR resources with format raw."""
    text = await s.call(tool, count=PAGE, **arguments)
    found: list[dict[str, Any]] = []
    while True:
        found += reading.raw_items(text) if s.fmt == "raw" else reading.items(text)
        cursor = reading.next_cursor(text)
        if cursor is None:
            return found
        text = await s.call("next_page", cursor=cursor)


async def latest_rows(s: Session, q: Question, limit: int) -> list[dict[str, str]]:
    return reading.table(await s.call("get_latest_values", patient_id=q.patient_id, code=q.params["code"],
                                      limit=limit))


def number(text: str) -> float | None:
    match = re.search(r"[-+]?\d+(?:\.\d+)?", text)
    return float(match.group()) if match else None


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value \
        else datetime.fromisoformat(value + "T00:00:00+00:00")


# Plans --------------------------------------------------------------------------------------------------------

async def latest_value(s: Session, q: Question) -> str | None:
    rows = await latest_rows(s, q, 1)
    return rows[0]["value"] if rows else None


async def value_in_window(s: Session, q: Question) -> str | None:
    found = await every_item(s, "search_observations", patient_id=q.patient_id, code=q.params["code"],
                             date_from=q.params["date_from"], date_to=q.params["date_to"])
    if len(found) != 1:
        return None
    return reading.raw_quantity(found[0]) if s.fmt == "raw" else found[0].get("value")


async def encounter_count(s: Session, q: Question) -> str | None:
    text = await s.call("search_encounters", patient_id=q.patient_id, date_from=q.params["date_from"],
                        date_to=q.params["date_to"], count_only=True)
    match = re.search(r"count: (\d+)\b", text)
    return match.group(1) if match else None


async def immunization_count(s: Session, q: Question) -> str | None:
    found = await every_item(s, "search_immunizations", patient_id=q.patient_id)
    return str(sum(1 for item in found if item.get("status") == "completed"))


async def mrn_lookup(s: Session, q: Question) -> str | None:
    found = await every_item(s, "search_patients", identifier=q.params["mrn"])
    if len(found) != 1:
        return None
    return str(found[0]["id"]) if s.fmt == "raw" else found[0]["_ref"].removeprefix("Patient/")


async def active_problems(s: Session, q: Question) -> str | None:
    """Each listed problem's name: 'code: COPD' in a record line, or the second part of a brief problem line
    ('- cond-1 | COPD [J44.9] | onset 2014-09-26')."""
    body = await summary_section(s, q.patient_id, "problems", "problem")
    if body is None:
        return None
    names = [reading.fields(line[2:]).get("code") or line.split(" | ")[1]
             for line in body.splitlines() if line.startswith("- ") and " | " in line]
    return "; ".join(names) or "none"


async def current_medications(s: Session, q: Question) -> str | None:
    """The drugs listed as current: not those marked likely stale, nor any listed after a 'stale' heading."""
    body = await summary_section(s, q.patient_id, "medications", "medication")
    if body is None:
        return None
    current = []
    for line in body.splitlines():
        if "stale" in line.lower():
            if line.startswith("- "):
                continue
            break
        current.append(line)
    return "; ".join(item.get("medication", "?") for item in reading.items("\n".join(current))) or "none"


async def allergies(s: Session, q: Question) -> str | None:
    body = await summary_section(s, q.patient_id, "allergies", "allerg")
    if body is None:
        return None
    active = [item for item in reading.items(body) if item.get("clinical_status", "active") == "active"
              and "no known allerg" not in item.get("code", "").lower()]
    return "; ".join(f"{item.get('code', '?')} ({item.get('criticality', 'not recorded')})"
                     for item in active) or "none"


async def next_appointment(s: Session, q: Question) -> str | None:
    body = await summary_section(s, q.patient_id, "appointments", "appointment")
    if body is None:
        return None
    upcoming = [item for item in reading.items(body) if item.get("status") in UPCOMING_STATUSES
                and item.get("start")]
    return min((item["start"] for item in upcoming), key=when, default=None)


async def latest_note(s: Session, q: Question) -> str | None:
    if s.has("get_latest_notes"):
        return reading.patient_text(await s.call("get_latest_notes", patient_id=q.patient_id, count=1))
    found = await every_item(s, "search_documents", patient_id=q.patient_id)
    dated = [(when(str(item["date"])), item) for item in found if item.get("date")]
    if not dated:
        return None
    newest = max(dated, key=lambda pair: pair[0])[1]
    document_id = newest["id"] if s.fmt == "raw" else newest["_ref"].removeprefix("DocumentReference/")
    return reading.patient_text(await s.call("get_document_text", document_id=document_id))


async def trend(s: Session, q: Question) -> str | None:
    rows = await latest_rows(s, q, 2)
    if len(rows) < 2:
        return None
    newest, before = number(rows[0]["value"]), number(rows[1]["value"])
    if newest is None or before is None:
        return None
    return "rising" if newest > before else "falling" if newest < before else "unchanged"


async def abnormal(s: Session, q: Question) -> str | None:
    """The flag column; with no flag, the value against the reference range."""
    rows = await latest_rows(s, q, 1)
    if not rows:
        return None
    flag = rows[0]["flag"].lower()
    if any(word in flag for word in ("high", "low", "abnormal", "critical")):
        return "yes"
    if "normal" in flag:
        return "no"
    bounds = re.match(r"\s*([\d.]+)\s*-\s*([\d.]+)", rows[0]["reference range"])
    value = number(rows[0]["value"])
    if not bounds or value is None:
        return None
    return "yes" if not float(bounds[1]) <= value <= float(bounds[2]) else "no"


# Issue 24's judgments ------------------------------------------------------------------------------------------

async def medication_count(s: Session, q: Question) -> str | None:
    text = await s.call("search_medication_requests", patient_id=q.patient_id, current_only=True, count_only=True)
    match = re.search(r"count: (\d+)", text)
    return match.group(1) if match else None


def covers_all(text: str) -> bool:
    """Whether a search answer says its order holds for the whole result, not only for the results shown."""
    order = str(reading.raw(text).get("order") or "") if text.startswith("{") else next(
        (line.removeprefix("order: ") for line in text.splitlines() if line.startswith("order: ")), "")
    return order.startswith("newest first") and ("across all pages" in order or "the whole result" in order)


async def newest_listed(s: Session, q: Question) -> str | None:
    """The first record listed, when the answer says the order covers every result; else every page is read and
    the newest taken (what a careful agent must do when a page is sorted on its own)."""
    tool, field = ("search_documents", "date") if q.id.endswith("/note") else ("search_encounters", "period")
    text = await s.call(tool, patient_id=q.patient_id, count=5)
    found: list[dict[str, Any]] = (reading.raw_items(text) if s.fmt == "raw" else reading.items(text)) \
        if covers_all(text) else await every_item(s, tool, patient_id=q.patient_id)
    period_start = s.fmt == "raw" and field == "period"  # FHIR's period.start, not the compact 'a to b'
    days = [str((item.get("period") or {}).get("start") or "") if period_start else str(item.get(field) or "")
            for item in found]
    dated = [day.split(" to ")[0].removeprefix("from ") for day in days if day]
    if not dated:
        return None
    return dated[0] if covers_all(text) else max(dated, key=when)


async def result_time(s: Session, q: Question) -> str | None:
    rows = await latest_rows(s, q, 1)
    return rows[0]["date"] if rows else None


def trend_line(text: str) -> str | None:
    return next((line for line in text.splitlines() if line.startswith("trend ")), None)


async def value_range(s: Session, q: Question) -> str | None:
    line = trend_line(await s.call("get_latest_values", patient_id=q.patient_id, code=q.params["code"], limit=10))
    match = re.search(r"lowest (\S+ \S+) on .*?, highest (\S+ \S+) on ", line or "")
    return f"{match.group(1)} to {match.group(2)}" if match else None


async def trend_shape(s: Session, q: Question) -> str | None:
    line = trend_line(await s.call("get_latest_values", patient_id=q.patient_id, code=q.params["code"], limit=10))
    match = re.match(r"trend [^:]+: (\w+)", line or "")
    return match.group(1) if match else None


async def age(s: Session, q: Question) -> str | None:
    arguments: dict[str, Any] = {"patient_id": q.patient_id}
    if s.has("patient_summary", "sections"):
        arguments["sections"] = ["allergies"]
    first = (await s.call("patient_summary", **arguments)).splitlines()
    match = re.search(r"\bage:? (\d+)", "\n".join(first[:2]))
    return match.group(1) if match else None


async def named_vital(s: Session, q: Question) -> str | None:
    rows = reading.table(await s.call("get_latest_values", patient_id=q.patient_id, name=q.params["name"], limit=1))
    match = re.search(r"[Ss]ystolic[^:]*: ([\d.]+ \S+)", rows[0]["value"]) if rows else None
    return match.group(1) if match else None


PLANS: dict[str, Plan] = {
    "latest_value": latest_value, "value_in_window": value_in_window, "encounter_count": encounter_count,
    "immunization_count": immunization_count, "mrn_lookup": mrn_lookup, "active_problems": active_problems,
    "current_medications": current_medications, "allergies": allergies, "next_appointment": next_appointment,
    "latest_note": latest_note, "trend": trend, "abnormal": abnormal, "medication_count": medication_count,
    "newest_listed": newest_listed, "result_time": result_time, "value_range": value_range,
    "trend_shape": trend_shape, "age": age, "named_vital": named_vital,
}
