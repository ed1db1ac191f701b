"""Typed tool results: the search envelope and single resources, built from FHIR responses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from .outcome import outcome_messages


class SearchResult(BaseModel):
    """One page of search results."""

    resource_type: str
    total: int | None = Field(description="All matches, when known: never a page size presented as a count.")
    total_at_least: int | None = Field(None, description="When the total is unknown: at least this many match.")
    returned: int
    items: list[dict[str, Any]] = Field(description="Compact records, or FHIR with format=raw.")
    order: str | None = Field(None, description="The order of the items and what it covers (the whole result, "
                                                "every page, or only these items).")
    warnings: list[str]
    next_cursor: str | None = Field(description="For next_page; null on the last page.")


class ReadResult(BaseModel):
    """One resource read by id."""

    resource_type: str
    id: str
    resource: dict[str, Any] = Field(description="Compact record, or FHIR with format=raw.")
    warnings: list[str] = Field(default_factory=list)


FOREIGN_NEXT_LINK = ("the server's next-page link pointed outside the configured FHIR server, so it was not "
                     "followed; narrow the search instead")

# Elements the FHIR `patient` search parameter follows, for the types the catalog searches by patient.
PATIENT_LINKS = ("subject", "patient", "beneficiary")


def _patient_id(reference: Any) -> str | None:
    text = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(text, str) or "Patient/" not in text:
        return None
    return text.rsplit("Patient/", 1)[1].split("/", 1)[0]


def linked_patients(resource: dict[str, Any]) -> set[str]:
    """Ids of the patients a resource belongs to; empty when it names none."""
    links = [resource.get(name) for name in PATIENT_LINKS]
    participants = resource.get("participant")
    if resource.get("resourceType") == "Appointment" and isinstance(participants, list):
        links += [p.get("actor") for p in participants if isinstance(p, dict)]
    return {pid for pid in map(_patient_id, links) if pid}


def ignored_parameters(bundle: dict[str, Any], sent: list[tuple[str, str]]) -> set[str]:
    """Parameters we sent that the Bundle's self link leaves out: FHIR servers list the ones they used."""
    links = bundle.get("link")
    self_url = next((link.get("url") for link in (links if isinstance(links, list) else [])
                     if isinstance(link, dict) and link.get("relation") == "self" and isinstance(link.get("url"), str)),
                    None)
    if self_url is None or "?" not in self_url:
        return set()
    used = {pair.split("=", 1)[0].split(":")[0] for pair in self_url.split("?", 1)[1].split("&")}
    return {name for name, _ in sent if not name.startswith("_") and name not in used}


def reported_total(server_total: int | None, seen: int, results: int, more_pages: bool) -> tuple[int | None,
                                                                                                 int | None]:
    """(total, at least) from what a server reported, `seen` results on earlier pages and `results` on this one.

    Epic puts the page's own size in Bundle.total on a paged search (a 1,000-entry page says total 1000 and has a
    next link): a total equal to this page's results while more pages follow is a page size, not a count. On the
    last page the count is exact however the server reported it."""
    if not more_pages:
        return (server_total if server_total is not None and server_total >= seen + results else seen + results,
                None)
    if server_total is not None and server_total > seen + results:
        return server_total, None
    return None, seen + results


def bundle_parts(bundle: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str], int | None, str | None]:
    """Items, warnings (outcome entries), total and the raw next link of a searchset Bundle."""
    items: list[dict[str, Any]] = []
    warnings: list[str] = []
    entries = bundle.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        search = entry.get("search")
        mode = search.get("mode") if isinstance(search, dict) else None
        if mode == "outcome" or resource.get("resourceType") == "OperationOutcome":
            warnings.extend(outcome_messages(resource))
        else:
            items.append(resource)
    total = bundle.get("total")
    links = bundle.get("link")
    next_link = next(
        (link.get("url") for link in (links if isinstance(links, list) else [])
         if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str)),
        None,
    )
    return items, list(dict.fromkeys(warnings)), total if isinstance(total, int) else None, next_link


def software_of(capability: dict[str, Any] | None) -> str | None:
    """'name version' of the server software a CapabilityStatement names, if it names any."""
    software = (capability or {}).get("software")
    if not isinstance(software, dict):
        return None
    return " ".join(str(v) for v in (software.get("name"), software.get("version")) if v) or None
