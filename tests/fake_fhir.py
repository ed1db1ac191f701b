"""A small FHIR search server behind respx, for unit tests of tools that read many pages: it filters by the
parameters epic-mcp sends (patient, category, code, status, clinical-status, type, date with ge/gt/le/lt), pages
with next links, and answers in the order it is given (so tests can give it the worst order), optionally
ignoring _count as some servers do. It reads dates itself, not through epic_mcp.answers.collect, so a bug planted there
cannot change what the fake server answers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
import respx

from epic_mcp.fhir.results import linked_patients

from .conftest import EPIC_BASE


def _codes(value: Any) -> set[str]:
    concepts = value if isinstance(value, list) else [value]
    found = set()
    for concept in concepts:
        for coding in (concept or {}).get("coding") or [] if isinstance(concept, dict) else []:
            if coding.get("code"):
                found |= {coding["code"], f"{coding.get('system')}|{coding['code']}"}
    return found


DATE_ELEMENTS = ("effectiveDateTime", "occurrenceDateTime", "issued", "authoredOn", "onsetDateTime", "date",
                 "start", "created")


def _when(resource: dict[str, Any]) -> str:
    """The resource's date as the server indexes it: datetimes in UTC, dates as written."""
    value = next((resource[k] for k in DATE_ELEMENTS if isinstance(resource.get(k), str)), None)
    if value is None:
        period = resource.get("effectivePeriod") or resource.get("period") or {}
        value = period.get("start") if isinstance(period, dict) else None
    if not isinstance(value, str) or len(value) <= 10:
        return value or ""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment.astimezone(UTC) if moment.tzinfo else moment).strftime("%Y-%m-%dT%H:%M:%S")


def _date_matches(resource: dict[str, Any], condition: str) -> bool:
    prefix, value = condition[:2], condition[2:]
    when = _when(resource)[:len(value)]
    if not when:
        return False
    return {"ge": when >= value, "gt": when > value, "le": when <= value, "lt": when < value,
            "eq": when == value}.get(prefix, when.startswith(condition))


def matches(resource: dict[str, Any], params: list[tuple[str, str]], ignores_patient: bool = False) -> bool:
    for name, value in params:
        if name.startswith("_"):
            continue
        if name in ("patient", "subject") and not ignores_patient and \
                value.rsplit("/", 1)[-1] not in linked_patients(resource):
            return False
        if name == "category" and not set(value.split(",")) & _codes(resource.get("category")):
            return False
        if name in ("code", "type") and not set(value.split(",")) & _codes(resource.get(name)):
            return False
        if name == "clinical-status" and value not in _codes(resource.get("clinicalStatus")):
            return False
        if name == "status" and resource.get("status") not in value.split(","):
            return False
        if name == "date" and not _date_matches(resource, value):
            return False
    return True


class FakeFhir:
    """Serves `resources` for searches and reads under EPIC_BASE; `page_size` None honours _count;
    `ignores_patient` answers every patient's records, as a server that ignores the patient filter would."""

    def __init__(self, router: respx.MockRouter, resources: Iterable[dict[str, Any]], *,
                 page_size: int | None = None, ignores_patient: bool = False) -> None:
        self.resources = list(resources)
        self.page_size = page_size
        self.ignores_patient = ignores_patient
        self.searches: list[list[tuple[str, str]]] = []
        router.get(url__regex=rf"^{EPIC_BASE}/[A-Za-z]+(\?.*)?$").mock(side_effect=self._search)
        router.get(url__regex=rf"^{EPIC_BASE}/[A-Za-z]+/[^/?]+$").mock(side_effect=self._read)

    def _read(self, request: httpx.Request) -> httpx.Response:
        resource_type, resource_id = request.url.path.rsplit("/", 2)[-2:]
        found = next((r for r in self.resources if (r["resourceType"], r["id"]) == (resource_type, resource_id)),
                     None)
        if found is None:
            return httpx.Response(404, json={"resourceType": "OperationOutcome", "issue": [
                {"severity": "fatal", "code": "not-found", "diagnostics": "Invalid FHIR ID provided"}]})
        return httpx.Response(200, json=found)

    def _search(self, request: httpx.Request) -> httpx.Response:
        resource_type = request.url.path.rsplit("/", 1)[-1]
        params = [(k, v) for k, v in request.url.params.multi_items()]
        self.searches.append(params)
        matched = [r for r in self.resources
                   if r["resourceType"] == resource_type and matches(r, params, self.ignores_patient)]
        offset = int(request.url.params.get("_offset", "0"))
        size = self.page_size or int(request.url.params.get("_count", "100"))
        page = matched[offset:offset + size]
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(matched),
                                  "entry": [{"resource": r, "search": {"mode": "match"}} for r in page],
                                  "link": [{"relation": "self", "url": str(request.url)}]}
        if offset + size < len(matched):
            following = request.url.copy_remove_param("_offset").copy_add_param("_offset", str(offset + size))
            bundle["link"].append({"relation": "next", "url": str(following)})
        return httpx.Response(200, json=bundle)
