"""The text the model reads, made from the same compact records as the structured content, so both carry the
same facts: one line per record, 'Type/id | field: value | ...', fields every item on a page shares said once."""

from __future__ import annotations

import json
from typing import Any

from ..fhir.results import SearchResult
from .datatypes import UNTRUSTED, _qty


def inline(value: Any) -> str:
    if isinstance(value, dict):
        if set(value) == {UNTRUSTED}:
            return f"<patient-text>{one_line(str(value[UNTRUSTED]))}</patient-text>"
        if "value" in value and set(value) <= {"value", "unit", "comparator"}:
            return _qty(value)
        if "code" in value:  # a component: 'code: value (interpretation; ref range)'
            rest = [f"{k} {inline(v)}" for k, v in value.items() if k not in ("code", "value")]
            shown = f"{value['code']}: {inline(value.get('value', '-'))}"
            return f"{shown} ({'; '.join(rest)})" if rest else shown
        return "{" + ", ".join(f"{k}: {inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "; ".join(inline(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return one_line(str(value))


def one_line(text: str) -> str:
    """Line breaks inside a value (Epic's address.text, comments) as a visible \\n: one line per record, always."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")


# Each field's value as its record line shows it (inline), by field name: work a search does once per record, for
# sizing the page to the answer budget and for writing its text.
FieldTexts = dict[str, str]


def field_texts(record: dict[str, Any]) -> FieldTexts:
    """What `fields` writes for each field of a record, worked out once (the id and type are not fields)."""
    return {key: inline(value) for key, value in record.items() if key not in ("id", "resourceType")}


def record_line(record: dict[str, Any], texts: FieldTexts | None = None) -> str:
    """One line per record: 'Type/id | field: value | ...' (`texts`: the record's field_texts, if already known)."""
    head = f"{record.get('resourceType')}/{record.get('id')}"
    return " | ".join([head, *fields(record, texts)])


MERGED_FROM = 10  # characters: shorter values ('female', 'yes') read better repeated than merged


def fields(record: dict[str, Any], texts: FieldTexts | None = None) -> list[str]:
    """'field: value' for each field; fields with the same long value are written once, named together
    ('requester, recorder: Dr Ann Smith (Practitioner/eDoc1)'), where the first of them is."""
    named: dict[tuple[str, str], list[str]] = {}
    for key, value in record.items():
        if key not in ("id", "resourceType"):
            shown = texts[key] if texts is not None else inline(value)
            named.setdefault((shown, "" if len(shown) >= MERGED_FROM else key), []).append(key)
    return [f"{', '.join(keys)}: {shown}" for (shown, _), keys in named.items()]


def as_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def page_text(page: SearchResult, texts: list[FieldTexts] | None = None) -> str:
    """A compact search page for the model: a header, fields every item shares said once, one line per item
    (`texts`: each item's field_texts, if already known)."""
    total = (page.total if page.total is not None
             else f"at least {page.total_at_least}" if page.total_at_least is not None else "unknown")
    lines = [f"{page.resource_type} search: {len(page.items)} on this page, total {total}"
             + (f"; more with next_page(cursor={page.next_cursor!r})" if page.next_cursor else "; no more pages")]
    lines += [f"order: {page.order}"] if page.order and page.items else []
    lines += [f"warning: {w}" for w in page.warnings]
    return "\n".join(lines + item_lines(page.resource_type, page.items, texts))


def item_lines(resource_type: str, items: list[dict[str, Any]], texts: list[FieldTexts] | None = None) -> list[str]:
    """One line per record, after one line with the fields every record shares (`texts`: each record's
    field_texts, if already known)."""
    shared = {k: v for k, v in items[0].items() if k not in ("id", "resourceType")} if len(items) > 1 else {}
    shared = {k: v for k, v in shared.items() if all(item.get(k) == v for item in items[1:])}
    lines = ["every item: " + " | ".join(fields(shared, texts[0] if texts else None))] if shared else []
    same_type = all(item.get("resourceType") == resource_type for item in items)
    for index, item in enumerate(items):
        line = record_line({k: v for k, v in item.items() if k not in shared}, texts[index] if texts else None)
        lines.append("- " + (line.removeprefix(f"{resource_type}/") if same_type else line))
    return lines
