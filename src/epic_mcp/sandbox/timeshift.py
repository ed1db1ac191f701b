"""Keeps the synthetic data set current: every date moves by the same whole number of days, so the newest past
clinical event sits a few days before today and booked appointments stay ahead, whatever year the sandbox runs in.

What moves: every FHIR date, dateTime and instant (Period start/end included), found by element name, and the
dates written in note text (inline text attachments and narratives). Only the calendar date changes: time of day
and zone offset stay as written, so every interval, the order of events and each event's local time are kept.
Birth dates move too: the record then reads as it was written (a vaccine at 14 months, a diagnosis at 58), and no
patient's age drifts year by year across the decade boundaries their conditions were simulated for.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

DAYS_BEFORE_TODAY = 3

# Elements whose value is a FHIR date, dateTime or instant (besides names ending in Date, DateTime or Instant).
DATE_ELEMENTS = frozenset({"date", "issued", "recorded", "authoredOn", "created", "authored", "creation",
                           "lastUpdated", "start", "end", "event", "when", "time"})
DATE_SUFFIXES = ("Date", "DateTime", "Instant")
# The clinical events that have happened: the newest of them is the data set's reference date.
PAST_EVENTS = {"Observation": ("effectiveDateTime", "effectiveInstant", "effectivePeriod.start"),
               "Encounter": ("period.start",), "DiagnosticReport": ("effectiveDateTime", "effectivePeriod.start"),
               "Procedure": ("performedDateTime", "performedPeriod.start"), "Immunization": ("occurrenceDateTime",),
               "DocumentReference": ("date",)}
TEXT_TYPES = ("text/", "application/rtf", "application/xhtml+xml")

FHIR_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?)?)?")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
TEXT_DATES = re.compile(
    r"\b(?P<iso>(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2}))\b"
    r"|\b(?P<us>(?P<um>\d{1,2})/(?P<ud>\d{1,2})/(?P<uy>\d{4}))\b"
    r"|\b(?P<long>(?P<lm>" + "|".join(f"{m[:3]}(?:{m[3:]})?" for m in MONTHS)
    + r")\.? (?P<ld>\d{1,2}), (?P<ly>\d{4}))\b")


def is_date_element(name: str) -> bool:
    return name in DATE_ELEMENTS or name.endswith(DATE_SUFFIXES)


def shift_value(value: str, days: int) -> str:
    """A FHIR date, dateTime or instant moved by whole days; time and offset kept. Partial dates (YYYY, YYYY-MM)
    move by the month or year nearest to that many days. Anything else comes back unchanged."""
    match = FHIR_DATE.fullmatch(value)
    if not match or days == 0:
        return value
    year, month, day, rest = match.groups()
    try:
        if day:
            return (date(int(year), int(month), int(day)) + timedelta(days)).isoformat() + (rest or "")
        if month:
            moved = date(int(year), int(month), 15) + timedelta(days)
            return f"{moved.year:04d}-{moved.month:02d}"
        return f"{(date(int(year), 7, 2) + timedelta(days)).year:04d}"
    except (ValueError, OverflowError):
        return value


def _like(first: str, second: str, number: int) -> str:
    """`number` zero-padded when the date it replaces was written zero-padded."""
    return f"{number:02d}" if first.startswith("0") or second.startswith("0") else str(number)


def shift_text(text: str, days: int) -> str:
    """Dates written in free text (2026-05-11, 5/11/2026, May 11, 2026, May 11, 2026) moved by whole days, each in
    the form it was written in; strings that are not real dates stay."""
    def moved(match: re.Match[str]) -> str:
        found = match.group(0)
        try:
            if match["iso"]:
                return shift_value(found, days)
            if match["us"]:
                new = date(int(match["uy"]), int(match["um"]), int(match["ud"])) + timedelta(days)
                month, day = (_like(match["um"], match["ud"], n) for n in (new.month, new.day))
                return f"{month}/{day}/{new.year}"
            number = next(i for i, name in enumerate(MONTHS, 1) if name.startswith(match["lm"][:3]))
            new = date(int(match["ly"]), number, int(match["ld"])) + timedelta(days)
            name = MONTHS[new.month - 1] if match["lm"] in MONTHS else MONTHS[new.month - 1][:3]
            dot = "." if found[len(match["lm"])] == "." else ""
            return f"{name}{dot} {_like(match['ld'], match['ld'], new.day)}, {new.year}"
        except (ValueError, OverflowError):
            return found

    return TEXT_DATES.sub(moved, text) if days else text


def _shift_attachment(attachment: dict[str, Any], days: int) -> dict[str, Any]:
    """An inline text attachment with the dates in its text moved; size and hash (SHA-1) follow the new bytes."""
    if not str(attachment.get("contentType", "")).startswith(TEXT_TYPES) or "data" not in attachment:
        return attachment
    raw = base64.b64decode(attachment["data"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return attachment
    data = shift_text(text, days).encode("utf-8")
    out = {**attachment, "data": base64.b64encode(data).decode()}
    if "size" in out:
        out["size"] = len(data)
    if "hash" in out:
        out["hash"] = base64.b64encode(hashlib.sha1(data).digest()).decode()
    return out


def shift_resource(value: Any, days: int) -> Any:
    """A resource (or any part of one) with every date moved by `days`; the input is left as it was."""
    if isinstance(value, list):
        return [shift_resource(item, days) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for name, item in value.items():
        if isinstance(item, str) and is_date_element(name):
            out[name] = shift_value(item, days)
        elif isinstance(item, list) and is_date_element(name):  # Timing.event: a list of dateTimes
            out[name] = [shift_value(v, days) if isinstance(v, str) else shift_resource(v, days) for v in item]
        elif name == "div" and isinstance(item, str):
            out[name] = shift_text(item, days)
        else:
            out[name] = shift_resource(item, days)
    return _shift_attachment(out, days) if "data" in out and "contentType" in out else out


def _path(resource: dict[str, Any], dotted: str) -> Any:
    value: Any = resource
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def reference_date(resources: Iterable[dict[str, Any]]) -> date:
    """The day of the newest clinical event that has happened (a result, a visit, a procedure, a note), in the
    event's own time zone."""
    days = [date.fromisoformat(value[:10]) for r in resources for dotted in PAST_EVENTS.get(r["resourceType"], ())
            if isinstance(value := _path(r, dotted), str) and len(value) >= 10]
    if not days:
        raise ValueError("the data set has no dated clinical event to anchor its dates on")
    return max(days)


def shift_for(reference: date, today: date) -> int:
    """Days to add so that `reference` falls DAYS_BEFORE_TODAY days before `today`."""
    return (today - timedelta(DAYS_BEFORE_TODAY) - reference).days
