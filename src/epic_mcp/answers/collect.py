"""Reading a patient's records for tools that answer whole questions (patient_summary, get_latest_values,
get_latest_notes, list_patient_codes) instead of returning one page.

`collect` walks one search across pages within a bound. `scan` finds what is newest whatever the server's order or
volume: it reads date windows newest first (anything dated after today, the last 90 days, the year before, and
so on back), each window whole, and stops when the answer is known or its page budget is spent, saying how far
back it read.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..fhir.guard import PatientGuard
from ..fhir.results import FOREIGN_NEXT_LINK, bundle_parts
from ..render.terminology import system_label

if TYPE_CHECKING:
    from ..fhir.client import FhirClient

PAGE_SIZE = 100
MAX_PAGES = 5
SCAN_BUDGET_PAGES = 40
# How far back each window reaches, in days before today; the last window is everything older.
WINDOW_EDGES = (90, 365, 3 * 365, 10 * 365)
ABNORMAL_FLAGS = {"H", "HH", "HU", "L", "LL", "LU", "A", "AA", ">", "<", "POS", "DET"}


@dataclass
class Collected:
    items: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = True
    warnings: list[str] = field(default_factory=list)
    pages: int = 0


async def collect(fhir: FhirClient, resource_type: str, params: Sequence[tuple[str, str]], patient_id: str,
                  max_pages: int = MAX_PAGES) -> Collected:
    """Up to `max_pages` whole pages of one patient's search, through the patient guard; next links are followed
    only under the FHIR base. `complete` says whether every page was read."""
    guard = PatientGuard(fhir, patient_id)
    page = await fhir.search(resource_type, [*params, ("_count", str(PAGE_SIZE))], None)
    result = Collected(pages=1)
    while True:
        items, _, _, next_link = bundle_parts(page.bundle)
        result.items += await guard.keep(items, resource_type)
        if next_link is None:
            break
        import httpx  # first use after start (see paging.CursorCodec)

        url = httpx.URL(next_link)
        if not fhir.contains(url):
            result.complete = False
            result.warnings.append(FOREIGN_NEXT_LINK)
            break
        if result.pages >= max_pages:
            result.complete = False
            break
        page = await fhir.follow(url, resource_type, None)
        result.pages += 1
    result.warnings += guard.warnings(resource_type)
    return result


@dataclass
class Scanned:
    """What a scan read, newest windows first, and how far back it is complete."""

    items: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = True
    read_back_to: date | None = None  # when incomplete: the scan read everything on or after this day
    read_back_days: int | None = None  # the same as days before today (-1: only what is dated after today)
    stopped_by: str = "the page budget was spent"
    warnings: list[str] = field(default_factory=list)

    def limit_note(self, what: str) -> str | None:
        if self.complete:
            return None
        since = _since(self.read_back_days)
        return (f"only {what} {since} were read ({self.stopped_by}); older ones are not shown: ask with "
                "date_from/date_to for an earlier period")


def _since(days: int | None) -> str:
    """How far back a scan read, relative to today: never a date, which in the PHI-minimising mode would be
    today moved by the patient's secret offset, and so give the offset away."""
    if days is None:
        return "in the newest pages"
    if days < 0:
        return "dated after today"
    years = days // 365
    if years and days % 365 == 0:
        return f"from the last {'year' if years == 1 else f'{years} years'}"
    return f"from the last {days} days"


Window = tuple[date | None, date | None]  # [start, end): None is open


def windows(today: date) -> list[Window]:
    """Newest first: anything dated after today, the last 90 days, the year before, ..., everything older."""
    tomorrow = today + timedelta(days=1)
    edges = [today - timedelta(days=days) for days in WINDOW_EDGES]
    spans: list[Window] = [(tomorrow, None), (edges[0], tomorrow)]
    spans += [(older, newer) for newer, older in itertools.pairwise(edges)]
    return [*spans, (None, edges[-1])]


def _date_params(window: Window, name: str) -> list[tuple[str, str]]:
    start, end = window
    return ([(name, f"ge{start.isoformat()}")] if start else []) + ([(name, f"lt{end.isoformat()}")] if end else [])


async def scan(fhir: FhirClient, resource_type: str, params: Sequence[tuple[str, str]], patient_id: str,
               today: date, *, done: Callable[[list[dict[str, Any]]], bool] = lambda _: False,
               date_param: str = "date", budget: int | None = None) -> Scanned:
    """A patient's records window by window, newest first, until `done(items so far)` is true or the page budget
    is spent. Every window is read whole, so what is newest among the items is truly newest on the server,
    whatever order the server pages in; a window the budget cannot finish ends the scan, and says so."""
    result = Scanned()
    budget = SCAN_BUDGET_PAGES if budget is None else budget
    spent = 0
    for window in windows(today):
        if spent >= budget:
            result.complete, result.read_back_to = False, window[1]
            break
        found = await collect(fhir, resource_type, [*params, *_date_params(window, date_param)], patient_id,
                              max_pages=budget - spent)
        spent += found.pages
        result.warnings += [w for w in found.warnings if w not in result.warnings]
        if not found.complete:
            result.complete, result.read_back_to = False, window[1]
            if FOREIGN_NEXT_LINK in found.warnings:
                result.stopped_by = "the server's next link left the FHIR server"
            break
        seen = {(item.get("resourceType"), item.get("id")) for item in result.items}
        result.items += [item for item in found.items if (item.get("resourceType"), item.get("id")) not in seen]
        if done(result.items):
            break
    if result.read_back_to is not None:
        result.read_back_days = (today - result.read_back_to).days
    return result


# Time and kind ------------------------------------------------------------------------------------------------

DATE_ELEMENTS = ("effectiveDateTime", "effectiveInstant", "occurrenceDateTime", "performedDateTime", "issued",
                 "authoredOn", "onsetDateTime", "recordedDate", "date", "start", "created")
PERIOD_ELEMENTS = ("effectivePeriod", "period", "performedPeriod", "occurrencePeriod")


def clinical_date(resource: dict[str, Any]) -> tuple[str, str] | None:
    """When a record happened, as (the element it comes from, its value as the record writes it, with the
    record's own offset): the effective or occurrence time, else when it was issued, written or recorded, else
    the start of its period. None when the record has none."""
    for key in DATE_ELEMENTS:
        if isinstance(resource.get(key), str) and resource[key]:
            return key, resource[key]
    for key in PERIOD_ELEMENTS:
        value = resource.get(key)
        if isinstance(value, dict) and isinstance(value.get("start"), str) and value["start"]:
            return f"{key}.start", value["start"]
    context = resource.get("context")
    period = context.get("period") if isinstance(context, dict) else None
    start = period.get("start") if isinstance(period, dict) else None
    return ("context.period.start", start) if isinstance(start, str) and start else None


def written_time(resource: dict[str, Any]) -> str:
    """The record's clinical date as it writes it (to show; '' when unknown)."""
    found = clinical_date(resource)
    return found[1] if found else ""


def effective_time(resource: dict[str, Any]) -> str:
    """The record's clinical date as an ISO string that sorts (datetimes in UTC, to order moments written in
    different zones); '' when unknown. For ordering only: show written_time, which keeps the record's zone."""
    found = clinical_date(resource)
    return _sortable(found[1]) if found else ""


def _sortable(value: str) -> str:
    if len(value) <= 10:
        return value
    try:
        moment = datetime.fromisoformat(value)  # Python 3.11 reads 'Z' itself
    except ValueError:
        return value
    return (moment.astimezone(UTC) if moment.tzinfo else moment).strftime("%Y-%m-%dT%H:%M:%S")


def newest_first(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(resources, key=effective_time, reverse=True)


def code_key(resource: dict[str, Any], element: str = "code") -> str:
    """What kind of thing a record is: its LOINC code when it has one (Epic lists its own codes first), else its
    first code, else its text."""
    concept = resource.get(element)
    codings = [c for c in concept.get("coding") or [] if isinstance(c, dict) and c.get("code")] \
        if isinstance(concept, dict) else []
    loinc = next((c for c in codings if system_label(c.get("system")) == "LOINC"), None)
    chosen = loinc or (codings[0] if codings else None)
    if chosen:
        system = system_label(chosen.get("system")) or chosen.get("system")
        return f"{system} {chosen['code']}" if system else str(chosen["code"])
    return str(concept.get("text")) if isinstance(concept, dict) and concept.get("text") else "?"


def latest_per_code(observations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest observation of each code."""
    latest: dict[str, dict[str, Any]] = {}
    for observation in newest_first(observations):
        latest.setdefault(code_key(observation), observation)
    return list(latest.values())


def range_flag(observation: dict[str, Any]) -> str | None:
    """'H'/'L' style flag: the lab's interpretation when it set one, else 'above range'/'below range' when the value
    lies outside the first reference range, else None."""
    flags = [c.get("code") for concept in observation.get("interpretation") or [] if isinstance(concept, dict)
             for c in concept.get("coding") or [] if isinstance(c, dict) and c.get("code")]
    abnormal = [flag for flag in flags if flag in ABNORMAL_FLAGS]
    if abnormal:
        return str(abnormal[0])
    value = (observation.get("valueQuantity") or {}).get("value")
    ranges = observation.get("referenceRange") or []
    if not isinstance(value, (int, float)) or not ranges or not isinstance(ranges[0], dict):
        return None
    low, high = ((ranges[0].get(k) or {}).get("value") for k in ("low", "high"))
    if isinstance(low, (int, float)) and value < low:
        return "below range"
    if isinstance(high, (int, float)) and value > high:
        return "above range"
    return None


def is_abnormal(observation: dict[str, Any]) -> bool:
    """Flagged by the lab (interpretation), or its value lies outside the first reference range."""
    return range_flag(observation) is not None
