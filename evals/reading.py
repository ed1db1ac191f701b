"""Reading tool text the way a model does: the compact lines ('- Type/id | field: value | ...', with an
'every item:' line for the fields all items share), summary sections ('## Title: ...'), the get_latest_values
table, and the JSON a tool sends with format "raw". Only the text a model receives is read, never the structured
content, so the score measures what the model sees."""

from __future__ import annotations

import json
import re
from typing import Any

CURSOR = re.compile(r"next_page\(cursor='([^']+)'\)")


def fields(line: str) -> dict[str, str]:
    """'ref | key: value | key: value' -> {'_ref': ref, key: value}; a value may itself hold ': '."""
    parts = line.split(" | ")
    record = {"_ref": parts[0].strip()}
    for part in parts[1:]:
        key, sep, value = part.partition(": ")
        if sep:
            record[key.strip()] = value.strip()
    return record


def items(text: str) -> list[dict[str, str]]:
    """The records listed in a text (or one section of it), each with the fields its 'every item:' line shares."""
    shared: dict[str, str] = {}
    found = []
    for line in text.splitlines():
        if line.startswith("every item: "):
            shared = {k: v for k, v in fields("_ | " + line.removeprefix("every item: ")).items() if k != "_ref"}
        elif line.startswith("- ") and " | " in line:
            found.append({**shared, **fields(line[2:])})
    return found


def sections(text: str) -> list[tuple[str, str]]:
    """A summary's sections: (heading, body) for each '## heading' line."""
    found: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("## "):
            found.append((line[3:], []))
        elif found:
            found[-1][1].append(line)
    return [(title, "\n".join(body)) for title, body in found]


def section(text: str, word: str, unless: str | None = None) -> str | None:
    """The body of the first section whose heading mentions `word`, preferring one that does not mention
    `unless` (a "likely stale" section beside the current one)."""
    found = [(title.lower(), body) for title, body in sections(text) if word in title.lower()]
    preferred = [body for title, body in found if not (unless and unless in title)]
    bodies = preferred or [body for _, body in found]
    return bodies[0] if bodies else None


def table(text: str) -> list[dict[str, str]]:
    """Rows of a 'a | b | c' table under its header line (get_latest_values)."""
    lines = text.splitlines()
    header = next((i for i, line in enumerate(lines) if line.startswith("date | value")), None)
    if header is None:
        return []
    names = [name.strip() for name in lines[header].split(" | ")]
    rows = []
    for line in lines[header + 1:]:
        cells = line.split(" | ")
        if len(cells) != len(names):
            break
        rows.append(dict(zip(names, (c.strip() for c in cells), strict=True)))
    return rows


def next_cursor(text: str) -> str | None:
    """The cursor a compact page names for its next page, or the JSON envelope's next_cursor."""
    if text.startswith("{"):
        cursor = raw(text).get("next_cursor")
        return cursor if isinstance(cursor, str) else None
    match = CURSOR.search(text)
    return match.group(1) if match else None


def raw(text: str) -> dict[str, Any]:
    """A tool's JSON text (format "raw"), parsed."""
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def raw_items(text: str) -> list[dict[str, Any]]:
    return [item for item in raw(text).get("items", []) if isinstance(item, dict)]


def patient_text(text: str) -> str:
    """What the <patient-text> markers enclose, else the whole text."""
    inside = re.findall(r"<patient-text>\n?(.*?)\n?</patient-text>", text, flags=re.S)
    return "\n".join(inside) if inside else text


def raw_quantity(resource: dict[str, Any]) -> str | None:
    value = resource.get("valueQuantity") or {}
    if "value" not in value:
        return None
    return f"{value['value']} {value.get('unit') or value.get('code') or ''}".strip()
