"""Shifting dates by a patient's offset: FHIR date/dateTime/instant values, search parameters, and dates written
in free text (ISO, 01/02/2026, 02.01.2026, "Jan 2, 2026", "2 January 2026", "January 2026", 2026年1月2日).

Every date of one patient moves by the same number of days, so order and intervals stay true. A value keeps
its precision: a month moves by its middle day, a year by its middle (so a partial date moves at most as far
as its neighbours). Bare years in text are left alone (HIPAA's Safe Harbor keeps years).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import date, timedelta

FHIR_DATE = re.compile(r"(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})(?P<rest>T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?)?)?")
MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
MONTHS |= {name.lower(): number for number, name in enumerate(calendar.month_abbr) if name}
MONTHS["sept"] = 9
MONTH_WORD = r"(?P<monword>(?P<mon>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?)"


def shift_day(day: date, days: int) -> date:
    return day + timedelta(days=days)


def shift_fhir(value: str, days: int) -> str | None:
    """A FHIR date, dateTime or instant moved by `days`, same precision and time; None if it is not one."""
    match = FHIR_DATE.fullmatch(value)
    if match is None:
        return None
    year, month, day = int(match["y"]), match["m"], match["d"]
    try:
        if day is not None:
            moved = shift_day(date(year, int(month), int(day)), days)
            return moved.isoformat() + (match["rest"] or "")
        if month is not None:
            return shift_day(date(year, int(month), 15), days).isoformat()[:7]
        return str(shift_day(date(year, 7, 2), days).year)
    except (ValueError, OverflowError):  # no such day (2025-02-30), or one moved past year 1 or 9999
        return None


def shift_search_value(value: str, days: int) -> str:
    """A date search value with its prefix (ge2025-01, le2025, eq2025-03-01T10:00:00Z) moved by `days`.

    A partial date is widened to the day its prefix means before moving (ge2025 -> ge2025-01-01 + days), so the
    search covers the same records it would cover unshifted.
    """
    match = re.fullmatch(r"(eq|ne|gt|lt|ge|le|sa|eb|ap)?(.+)", value)
    assert match is not None
    prefix, when = match.group(1) or "", match.group(2)
    parts = FHIR_DATE.fullmatch(when)
    if parts is None:
        return value
    if parts["d"] is None:
        year = int(parts["y"])
        month = int(parts["m"]) if parts["m"] else None
        upper = prefix in ("le", "lt", "eb")
        if month is None:
            day = date(year, 12, 31) if upper else date(year, 1, 1)
        else:
            day = date(year, month, calendar.monthrange(year, month)[1] if upper else 1)
        try:
            return prefix + shift_day(day, days).isoformat()
        except OverflowError:  # a bound at year 1 or 9999 moved past it: it bounds the same as given
            return value
    return prefix + (shift_fhir(when, days) or when)


def _year(text: str) -> int | None:
    return int(text) if len(text) == 4 and 1800 <= int(text) <= 2200 else None


def _safe_date(year: int | None, month: int, day: int) -> date | None:
    if year is None:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


Change = Callable[[date, bool], "date | str | None"]


def shift_text(text: str, days: int) -> str:
    """Every date written in `text` moved by `days`, each in the format it was written in."""
    return rewrite_text(text, lambda day, _: shift_day(day, days) if days else None)


def rewrite_text(text: str, change: Change) -> str:
    """Every date written in `text` passed to `change(day, whole_day)` (whole_day False for "January 2026"): a
    date comes back written the same way, a text replaces it, None keeps it. A rewritten date is set aside until
    all rules ran, so none is found twice ("2 January 2026" is not also "January 2026"), bracketed by a character
    the text does not hold (a note may hold NULs, or anything else)."""
    if not any(ch.isdigit() for ch in text):
        return text
    done: list[str] = []
    mark = next(char for char in map(chr, range(0xF0000, 0x110000)) if char not in text)  # none of the text's own

    def set_aside(rule: Rule) -> Callable[[re.Match[str]], str]:
        def apply(match: re.Match[str]) -> str:
            found = rule(match, change)
            if found is None:
                return match.group(0)
            done.append(found)
            return f"{mark}{chr(0xE000 + len(done) - 1)}{mark}"
        return apply

    for pattern, rule in RULES:
        text = pattern.sub(set_aside(rule), text)
    return re.sub(f"{mark}(.){mark}", lambda m: done[ord(m.group(1)) - 0xE000], text)


def _changed(found: date | None, change: Change, whole_day: bool = True) -> date | str | None:
    return change(found, whole_day) if found is not None else None


def _iso(match: re.Match[str], change: Change) -> str | None:
    text = match.group(0)
    if len(text) == 7:
        moved = _changed(_safe_date(_year(text[:4]), int(text[5:7]), 15), change, False)
        return moved.isoformat()[:7] if isinstance(moved, date) else moved
    moved = _changed(_safe_date(_year(text[:4]), int(text[5:7]), int(text[8:10])), change)
    return moved.isoformat() + text[10:] if isinstance(moved, date) else moved


def _numeric(match: re.Match[str], change: Change) -> str | None:
    """01/02/2026 (month first, as in the US, unless the first number cannot be a month) or 02.01.2026 (day
    first, as in Europe); the separators and zero padding are kept."""
    first, second, sep = match["a"], match["b"], match["sep"]
    day_first = sep == "." or int(first) > 12
    month_text, day_text = (second, first) if day_first else (first, second)
    moved = _changed(_safe_date(_year(match["y"]), int(month_text), int(day_text)), change)
    if not isinstance(moved, date):
        return moved

    def width(original: str, number: int) -> str:
        return f"{number:02d}" if len(original) == 2 else str(number)

    parts = (width(day_text, moved.day), width(month_text, moved.month)) if day_first else \
        (width(month_text, moved.month), width(day_text, moved.day))
    return f"{parts[0]}{sep}{parts[1]}{sep}{moved.year}"


def _month_name(original: str, month: int) -> str:
    """The month written like the original: full or abbreviated, same capitalisation."""
    full = len(original.rstrip(".")) > 3 and original.rstrip(".").lower() != "sept"
    name = calendar.month_name[month] if full else calendar.month_abbr[month]
    if original.isupper():
        name = name.upper()
    elif original[:1].islower():
        name = name.lower()
    return name + ("." if original.endswith(".") and not full else "")


def _ordinal(day: int, written: str | None) -> str:
    """The suffix of the moved day (1st, 2nd, 3rd, 4th, 11th) when the original had one, in the original's case."""
    if not written:
        return ""
    suffix = "th" if 11 <= day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return suffix.upper() if written.isupper() else suffix


def _month_day_year(match: re.Match[str], change: Change) -> str | None:
    moved = _changed(_safe_date(_year(match["y"]), MONTHS[match["mon"].lower()], int(match["d"])), change)
    if not isinstance(moved, date):
        return moved
    return f"{_month_name(match['monword'], moved.month)} {moved.day}{_ordinal(moved.day, match['ord'])}" \
           f"{match['comma']}{moved.year}"


def _day_month_year(match: re.Match[str], change: Change) -> str | None:
    moved = _changed(_safe_date(_year(match["y"]), MONTHS[match["mon"].lower()], int(match["d"])), change)
    if not isinstance(moved, date):
        return moved
    return f"{moved.day}{_ordinal(moved.day, match['ord'])}{match['of'] or ' '}" \
           f"{_month_name(match['monword'], moved.month)}" \
           f"{match['comma']}{moved.year}"


def _month_year(match: re.Match[str], change: Change) -> str | None:
    moved = _changed(_safe_date(_year(match["y"]), MONTHS[match["mon"].lower()], 15), change, False)
    if not isinstance(moved, date):
        return moved
    return f"{_month_name(match['monword'], moved.month)}{match['sep']}{moved.year}"


def _kanji(match: re.Match[str], change: Change) -> str | None:
    moved = _changed(_safe_date(_year(match["y"]), int(match["m"]), int(match["d"])), change)
    return f"{moved.year}年{moved.month}月{moved.day}日" if isinstance(moved, date) else moved


def _kanji_month(match: re.Match[str], change: Change) -> str | None:
    moved = _changed(_safe_date(_year(match["y"]), int(match["m"]), 15), change, False)
    return f"{moved.year}年{moved.month}月" if isinstance(moved, date) else moved


Rule = Callable[[re.Match[str], Change], "str | None"]
RULES: list[tuple[re.Pattern[str], Rule]] = [
    (re.compile(r"(?<!\d)\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?(?![\d])"),
     _iso),
    (re.compile(r"(?<![\d/.])(?P<a>\d{1,2})(?P<sep>[/.])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4})(?![\d])"), _numeric),
    (re.compile(r"\b" + MONTH_WORD + r"\s+(?P<d>\d{1,2})(?P<ord>st|nd|rd|th)?(?P<comma>,?\s+)(?P<y>\d{4})\b",
                re.I), _month_day_year),
    (re.compile(r"\b(?P<d>\d{1,2})(?P<ord>st|nd|rd|th)?(?P<of>\s+(?:of\s+)?)" + MONTH_WORD
                + r"(?P<comma>,?\s+)(?P<y>\d{4})\b", re.I), _day_month_year),
    (re.compile(r"\b" + MONTH_WORD + r"(?P<sep>,?\s+)(?P<y>\d{4})\b", re.I), _month_year),
    (re.compile(r"(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*日"), _kanji),
    (re.compile(r"(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月(?!\s*\d)"), _kanji_month),
    (re.compile(r"(?<!\d)\d{4}-\d{2}(?![\d-])"), _iso),
]
