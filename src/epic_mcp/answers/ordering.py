"""Newest first in a search answer, and a true statement of what that order covers.

A page is shown newest first by each record's clinical date (collect.clinical_date: when it happened, else when
it was issued, written or recorded). That is the whole truth only when the answer holds the whole result, or when
the server sorted every page: sorting one page of a result that spans several says nothing of the others, so the
answer says which of these it is. A server is asked to sort (`_sort=-date`) only where its CapabilityStatement
lists `_sort` among the search parameters it supports (FHIR R4 CapabilityStatement.rest.searchParam, or the
resource's own searchParam list), and a page it claims to have sorted is checked.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from .collect import clinical_date, effective_time

MORE_PAGES_HINT = ("the server returns pages in its own order, so a newer record may be on a later page: for the "
                   "newest use get_latest_values or get_latest_notes, or narrow the search with date_from")


def server_sorts(capability: dict[str, Any] | None, resource_type: str, date_param: str) -> bool:
    """Whether a CapabilityStatement says the server takes `_sort` on this resource type's date parameter."""
    rests = [r for r in (capability or {}).get("rest") or [] if isinstance(r, dict) and r.get("mode") != "client"]
    for rest in rests:
        resources = [r for r in rest.get("resource") or [] if isinstance(r, dict) and r.get("type") == resource_type]
        named = _names(rest.get("searchParam")) | {n for r in resources for n in _names(r.get("searchParam"))}
        if "_sort" in named and (date_param in named or not resources):
            return True
    return False


def _names(params: Any) -> set[str]:
    return {str(p.get("name")) for p in params if isinstance(p, dict)} if isinstance(params, list) else set()


def in_order(items: list[dict[str, Any]]) -> bool:
    """Whether items are newest first already (undated ones last)."""
    keys = [effective_time(item) for item in items]
    return all(a >= b for a, b in itertools.pairwise(keys))


def by_what(items: Iterable[dict[str, Any]]) -> str | None:
    """The elements the dates come from ('effectiveDateTime', 'date or period.start'); None when none is dated."""
    found = [date[0] for item in items if (date := clinical_date(item))]
    return " or ".join(dict.fromkeys(found)) or None


def order_statement(items: list[dict[str, Any]], *, whole: bool, server_sorted: bool, first: int) -> str:
    """What order the shown items are in, and what it covers: the whole result, every page (the server sorted),
    or only the items shown (results `first`.. of a result that goes on)."""
    fields = by_what(items)
    if not items:
        return "no results"
    if fields is None:
        return "in the server's order (these records carry no clinical date)"
    undated = "; records without a date last" if any(clinical_date(item) is None for item in items) else ""
    if whole:
        return f"newest first by {fields} (the whole result){undated}"
    last = first + len(items) - 1
    if server_sorted:
        if in_order(items):
            return f"newest first by {fields}, sorted by the server across all pages{undated}"
        return (f"newest first by {fields} within results {first}-{last} only: the server was asked to sort by date "
                f"but its page was not in date order{undated}; {MORE_PAGES_HINT}")
    return f"newest first by {fields} within results {first}-{last} only{undated}; {MORE_PAGES_HINT}"
