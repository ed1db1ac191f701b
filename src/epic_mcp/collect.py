"""Walking a search across pages within bounds, and picking latest values: for tools that answer whole
questions (patient_summary, get_latest_values) instead of returning one page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .guard import PatientGuard
from .results import FOREIGN_NEXT_LINK, bundle_parts

if TYPE_CHECKING:
    from .fhir_client import FhirClient

PAGE_SIZE = 100
MAX_PAGES = 5
ABNORMAL_FLAGS = {"H", "HH", "HU", "L", "LL", "LU", "A", "AA", ">", "<", "POS", "DET"}


@dataclass
class Collected:
    items: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = True
    warnings: list[str] = field(default_factory=list)


async def collect(fhir: FhirClient, resource_type: str, params: Sequence[tuple[str, str]], patient_id: str,
                  max_pages: int = MAX_PAGES) -> Collected:
    """Up to `max_pages` whole pages of one patient's search, through the patient guard; next links are followed
    only under the FHIR base. `complete` says whether every page was read."""
    guard = PatientGuard(fhir, patient_id)
    page = await fhir.search(resource_type, [*params, ("_count", str(PAGE_SIZE))], None)
    result = Collected()
    for number in range(max_pages):
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
        if number == max_pages - 1:
            result.complete = False
            break
        page = await fhir.follow(url, resource_type, None)
    result.warnings += guard.warnings(resource_type)
    return result


def effective_time(resource: dict[str, Any]) -> str:
    """When an observation (or event) happened, as an ISO string that sorts; '' when unknown."""
    for key in ("effectiveDateTime", "effectiveInstant", "occurrenceDateTime", "issued", "authoredOn",
                "recordedDate", "date", "start"):
        if isinstance(resource.get(key), str):
            return resource[key]
    for key in ("effectivePeriod", "period", "performedPeriod"):
        value = resource.get(key)
        if isinstance(value, dict) and isinstance(value.get("start"), str):
            return value["start"]
    return resource.get("performedDateTime") or ""


def newest_first(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(resources, key=effective_time, reverse=True)


def code_key(resource: dict[str, Any]) -> str:
    codings = (resource.get("code") or {}).get("coding") or [{}]
    first = codings[0] if isinstance(codings[0], dict) else {}
    return f"{first.get('system')}|{first.get('code')}" if first.get("code") else str(resource.get("code"))


def latest_per_code(observations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest observation of each code."""
    latest: dict[str, dict[str, Any]] = {}
    for observation in newest_first(observations):
        latest.setdefault(code_key(observation), observation)
    return list(latest.values())


def is_abnormal(observation: dict[str, Any]) -> bool:
    """Flagged by the lab (interpretation), or its value lies outside the first reference range."""
    flags = {c.get("code") for concept in observation.get("interpretation") or [] if isinstance(concept, dict)
             for c in concept.get("coding") or [] if isinstance(c, dict)}
    if flags & ABNORMAL_FLAGS:
        return True
    value = (observation.get("valueQuantity") or {}).get("value")
    ranges = observation.get("referenceRange") or []
    if not isinstance(value, (int, float)) or not ranges or not isinstance(ranges[0], dict):
        return False
    low, high = ((ranges[0].get(k) or {}).get("value") for k in ("low", "high"))
    return (isinstance(low, (int, float)) and value < low) or (isinstance(high, (int, float)) and value > high)
