"""Deterministic graders: one answer (text) against one expected value. The same graders judge the oracle's
answers (read from tool text) and a model's (its final ANSWER line), so both scores mean the same thing.

Strict where it matters (the number, the day, the id, every item of a list and no extra ones), lenient only on
form: float formatting, trivial unit spellings, case, spacing, order of list items, a datetime for its day.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
WRITTEN_DAY = re.compile(r"\b(" + "|".join(m[:3] for m in MONTHS) + r")[a-z]*\.? (\d{1,2}),? (\d{4})\b",
                         re.IGNORECASE)
# Spellings of one unit that differ only in notation; anything else is a different unit.
UNIT_SPELLINGS = {
    "mmhg": "mmhg", "cel": "°c", "°c": "°c", "degc": "°c", "c": "°c",
    "/min": "/min", "bpm": "/min", "beats/min": "/min", "breaths/min": "/min", "permin": "/min", "min-1": "/min",
    "10*3/ul": "10^3/ul", "10^3/ul": "10^3/ul", "x10^3/ul": "10^3/ul", "k/ul": "10^3/ul", "10*3/µl": "10^3/ul",
    "kg/m2": "kg/m2", "kg/m^2": "kg/m2", "kg/m²": "kg/m2",
    "%": "%", "percent": "%",
    "/ul": "/ul", "/µl": "/ul", "cells/ul": "/ul",
    "ug": "µg", "mcg": "µg", "µg": "µg",
}
CHOICES = {
    "rising": ("rising", "rise", "rose", "increasing", "increased", "increase", "up", "higher", "upward"),
    "falling": ("falling", "fall", "fell", "decreasing", "decreased", "decrease", "down", "lower", "downward"),
    "unchanged": ("unchanged", "same", "stable", "flat", "equal", "no change"),
    "fluctuating": ("fluctuating", "fluctuates", "fluctuate", "fluctuation", "swinging", "swings", "erratic"),
    "yes": ("yes", "abnormal", "true"),
    "no": ("no", "normal", "false"),
}
NONE_ANSWERS = {"none", "no", "nothing", "n/a", "none on file", "none recorded", "[]", ""}


def normal(text: str) -> str:
    """Case, hyphens, underscores and runs of spaces do not matter."""
    return " ".join(re.sub(r"[-_]", " ", text.lower()).split())


def unit_key(unit: str) -> str:
    compact = re.sub(r"[\s\[\]]", "", unit.lower())
    return UNIT_SPELLINGS.get(compact, compact)


def parse_quantity(answer: str) -> tuple[float, str] | None:
    """The first number in the answer and the unit written right after it."""
    match = NUMBER.search(answer.replace(",", ""))
    if not match:
        return None
    rest = answer.replace(",", "")[match.end():].strip()
    unit = re.match(r"[^\s;,()]+(?: ?/ ?[^\s;,()]+)?", rest)
    return float(match.group()), (unit.group() if unit else "")


def grade_quantity(expected: dict[str, Any], answer: str) -> bool:
    found = parse_quantity(answer)
    if found is None:
        return False
    value, unit = found
    return math.isclose(value, expected["value"], rel_tol=1e-6, abs_tol=1e-9) \
        and unit_key(unit) == unit_key(expected["unit"])


def first_day(answer: str) -> date | None:
    iso = ISO_DAY.search(answer)
    written = WRITTEN_DAY.search(answer)
    candidates = []
    if iso:
        candidates.append((iso.start(), (int(iso[1]), int(iso[2]), int(iso[3]))))
    if written:
        month = next(i for i, m in enumerate(MONTHS, 1) if m.startswith(written[1].lower()[:3]))
        candidates.append((written.start(), (int(written[3]), month, int(written[2]))))
    for _, (year, month, day_) in sorted(candidates):
        try:
            return date(year, month, day_)
        except ValueError:
            return None
    return None


def grade_date(expected: str, answer: str) -> bool:
    """Day precision: a datetime matches its day."""
    return first_day(answer) == date.fromisoformat(expected)


ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?")


def grade_datetime(expected: str, answer: str) -> bool:
    """The same moment, with its zone said: a time without a UTC offset is not an answer (the day itself may be
    another one where the patient is); the record's own offset or any other is fine."""
    found = ISO_MOMENT.search(answer)
    if found is None or not re.search(r"(?:Z|[+-]\d{2}:\d{2})$", found.group()):
        return False
    return datetime.fromisoformat(found.group().replace("Z", "+00:00")) == \
        datetime.fromisoformat(expected.replace("Z", "+00:00"))


def grade_range(expected: dict[str, Any], answer: str) -> bool:
    """The lowest and the highest value, each with its unit, in that order."""
    parts = re.split(r"\s+(?:to|and|-|–)\s+|;|,", answer.replace(",", ";"), maxsplit=1)
    return len(parts) == 2 and grade_quantity(expected["low"], parts[0]) and grade_quantity(expected["high"],
                                                                                             parts[1])


def grade_id(expected: str, answer: str) -> bool:
    token = answer.strip().strip("`'\".,;:()[]")
    return token.removeprefix("Patient/") == expected


def grade_count(expected: int, answer: str) -> bool:
    if normal(answer) in ("none", "zero", "no"):
        return expected == 0
    match = re.search(r"\b\d+\b", answer)
    return match is not None and int(match.group()) == expected


def grade_choice(expected: str, answer: str) -> bool:
    """The answer's first word (or two: "no change") names the expected choice."""
    words = re.findall(r"[a-z]+", answer.lower())
    for length in (2, 1):
        said = [name for name, spellings in CHOICES.items() if " ".join(words[:length]) in spellings]
        if said:
            return said == [expected]
    return False


def grade_contains(expected: str, answer: str) -> bool:
    return normal(expected) in normal(answer)


def _mentions(haystack: str, needle: str) -> bool:
    return bool(needle) and re.search(rf"(?<![\w.]){re.escape(needle)}(?![\w])", haystack) is not None


def item_matches(expected: dict[str, Any], said: str) -> bool:
    """An answered item names the expected one (one of its names within it, or it within one of the names) and
    says every required word (e.g. the criticality)."""
    said_n = normal(said)
    names = [normal(n) for n in expected["names"]]
    named = any(_mentions(said_n, n) for n in names) or (len(said_n) >= 3 and any(_mentions(n, said_n)
                                                                                  for n in names))
    return named and all(_mentions(said_n, normal(word)) for word in expected.get("with", []))


def answer_items(answer: str) -> list[str]:
    """Items separated by semicolons or lines, without bullets."""
    items = [re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", part).strip() for part in re.split(r"[;\n]", answer)]
    return [item for item in items if normal(item).strip(" .!") not in NONE_ANSWERS]


def grade_items(expected: list[dict[str, Any]], answer: str) -> bool:
    """Every expected item answered once and nothing else, in any order: a perfect matching."""
    said = answer_items(answer)
    if len(said) != len(expected):
        return False
    partner: dict[int, int] = {}

    def place(i: int, seen: set[int]) -> bool:
        for j, item in enumerate(expected):
            if j not in seen and item_matches(item, said[i]):
                seen.add(j)
                if j not in partner or place(partner[j], seen):
                    partner[j] = i
                    return True
        return False

    return all(place(i, set()) for i in range(len(said)))


GRADERS: dict[str, Callable[[Any, str], bool]] = {
    "quantity": grade_quantity, "date": grade_date, "id": grade_id, "count": grade_count, "choice": grade_choice,
    "contains": grade_contains, "items": grade_items, "datetime": grade_datetime, "range": grade_range,
}


def grade(grader: str, expected: Any, answer: str | None) -> bool:
    return answer is not None and GRADERS[grader](expected, answer)
