"""A patient's age in words, for the summary's patient line: 'age 80', 'deceased at 79', 'age 90 or older'.

From the birth date and today (or the day of death), as the record writes them; a birth date given only to the
year or month gives the ages it allows ('age 79 or 80'). The minimum PHI mode keeps only the year of birth and
moves other dates, so its de-identifier states the age itself, computed from the real dates, in AGE_EXTENSION
(over 89 as 90 or older, HIPAA Safe Harbor): the summary then shows that age and never computes one from the
moved dates (which would let a reader work out the patient's date offset).
"""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any

AGE_EXTENSION = "urn:epic-mcp:age"  # valueAge in years: now, or at death for a deceased patient
OLDEST_SHOWN = 89  # Safe Harbor: every age over 89 is shown as 90 or older


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def age_extension(age: int) -> dict[str, Any]:
    """The extension the minimum PHI mode adds to a de-identified Patient."""
    value: dict[str, Any] = {"value": age, "unit": "years", "system": "http://unitsofmeasure.org", "code": "a"}
    if age > OLDEST_SHOWN:
        value = {**value, "value": OLDEST_SHOWN + 1, "comparator": ">="}
    return {"url": AGE_EXTENSION, "valueAge": value}


def age_phrase(patient: dict[str, Any], today: date) -> str | None:
    """'age 80', 'age 79 or 80', 'age 90 or older', 'deceased at 79', or 'deceased' when the age at death is not
    known; None when the record gives no birth date."""
    deceased = patient.get("deceasedBoolean") is True or bool(patient.get("deceasedDateTime"))
    stated = _stated(patient)
    if stated is not None:
        return f"deceased at {stated}" if deceased else f"age {stated}"
    born = _birth_days(patient.get("birthDate"))
    died = _day(patient.get("deceasedDateTime")) if deceased else today
    if born is None or died is None:
        return "deceased" if deceased else None
    youngest, oldest = age_on(born[1], died), age_on(born[0], died)
    if youngest < 0:
        return None
    ages = str(oldest) if youngest == oldest else f"{youngest} or {oldest}"
    return f"deceased at {ages}" if deceased else f"age {ages}"


def _stated(patient: dict[str, Any]) -> str | None:
    """The age AGE_EXTENSION states, in words."""
    for extension in patient.get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") == AGE_EXTENSION:
            value = extension.get("valueAge")
            if isinstance(value, dict) and isinstance(value.get("value"), int):
                return f"{value['value']} or older" if value.get("comparator") == ">=" else str(value["value"])
    return None


def _birth_days(value: Any) -> tuple[date, date] | None:
    """The first and last day a birth date (YYYY, YYYY-MM or YYYY-MM-DD) allows."""
    if not isinstance(value, str):
        return None
    try:
        parts = [int(part) for part in value[:10].split("-")]
        if len(parts) == 3:
            return date(*parts), date(*parts)
        if len(parts) == 2:
            return date(parts[0], parts[1], 1), date(parts[0], parts[1], calendar.monthrange(*parts)[1])
        if len(parts) == 1 and len(value) == 4:
            return date(parts[0], 1, 1), date(parts[0], 12, 31)
    except ValueError:
        return None
    return None


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if isinstance(value, str) and len(value) >= 10 else None
    except ValueError:
        return None
