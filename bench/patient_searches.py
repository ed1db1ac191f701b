"""Every patient-scoped search of the catalog, for every patient of a data set, every page read: the searches the
context-cost and fact-retention benchmarks run over a real stdio session, with what each must find worked out
from the raw data (not from epic-mcp's code)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp import Client

from epic_mcp.fhir.catalog import CATALOG, Operation

PAGE = 100
SEARCH_OPS = [op for op in CATALOG if op.interaction == "search" and op.params[0].arg == "patient_id"]
# The elements the FHIR `patient` search parameter follows for the types searched here.
PATIENT_ELEMENTS = ("subject", "patient", "beneficiary")


def owner(resource: dict[str, Any]) -> str | None:
    """The patient a record belongs to, as the FHIR `patient` search parameter finds it."""
    links = [resource.get(name) for name in PATIENT_ELEMENTS]
    if resource.get("resourceType") == "Appointment":
        links += [p.get("actor") for p in resource.get("participant") or [] if isinstance(p, dict)]
    for link in links:
        target = link.get("reference") if isinstance(link, dict) else None
        if isinstance(target, str) and target.startswith("Patient/"):
            return target.split("/", 1)[1]
    return None


def codes_of(value: Any) -> set[str]:
    """Every code of every coding in a CodeableConcept or a list of them."""
    items = value if isinstance(value, list) else [value]
    return {str(c.get("code")) for item in items if isinstance(item, dict)
            for c in item.get("coding") or [] if isinstance(c, dict) and c.get("code")}


@dataclass(frozen=True)
class Search:
    """One tool call (with its next pages): the patient's records of the type it must find."""

    op: Operation
    patient_id: str
    arguments: dict[str, str]
    expected: frozenset[str]

    def call(self, count: int = PAGE) -> dict[str, Any]:
        return {"patient_id": self.patient_id, **self.arguments, "count": count}


def searches(resources: list[dict[str, Any]], patient_ids: list[str]) -> list[Search]:
    """Every patient-scoped search for every patient. Where Epic requires a category, every category the tool
    offers is searched, and the records no category reaches are searched by their codes (where the tool takes a
    code), so every record the patient has is asked for."""
    plans = []
    for op in SEARCH_OPS:
        for pid in patient_ids:
            own = [r for r in resources if r["resourceType"] == op.resource and owner(r) == pid]
            required = {arg for alternative in op.requires for arg in alternative} - {"patient_id"}
            if "category" not in required:
                plans.append(Search(op, pid, {}, frozenset(r["id"] for r in own)))
                continue
            category = next(p for p in op.params if p.arg == "category")
            reached: set[str] = set()
            for choice in category.choices:
                found = frozenset(r["id"] for r in own if choice.wire in codes_of(r.get("category")))
                plans.append(Search(op, pid, {"category": choice.value}, found))
                reached |= found
            rest = [r for r in own if r["id"] not in reached]
            if rest and "code" in {p.arg for p in op.params}:
                wanted = sorted({c for r in rest for c in codes_of(r.get("code"))})
                found = frozenset(r["id"] for r in own if codes_of(r.get("code")) & set(wanted))
                plans.append(Search(op, pid, {"code": ",".join(wanted)}, found))
    return plans


@dataclass
class Page:
    text: str
    structured: dict[str, Any]


async def all_pages(client: Client, search: Search, fmt: str = "compact", count: int = PAGE) -> list[Page]:
    """The search and every next_page after it."""
    result = await client.call_tool(search.op.tool, {**search.call(count), "format": fmt})
    pages = []
    while True:
        if result.is_error:
            raise RuntimeError(f"{search.op.tool} {search.arguments} failed: {result.content[0].text[:300]}")
        pages.append(Page(result.content[0].text, result.structured_content or {}))
        cursor = pages[-1].structured.get("next_cursor")
        if not cursor:
            return pages
        result = await client.call_tool("next_page", {"cursor": cursor, "format": fmt})
