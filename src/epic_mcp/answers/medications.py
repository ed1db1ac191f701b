"""Which active medication orders are current, and which are likely stale, with the reason.

EHRs leave many orders "active" long after they stopped mattering: the inpatient orders of a stay that ended, a
short course whose days are over, a prescription past its validity or supply. Showing them as current
medications is the classic summary error; dropping them silently is the other. Each drug is judged by its newest
active order; stale ones are listed apart with the reason, never dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from ..render import compact
from .collect import newest_first

# Encounter classes (v3 ActCode) of a stay: orders placed during it end with it.
STAY_CLASSES = {"IMP", "EMER", "ACUTE", "NONAC", "OBSENC", "SS", "inpatient", "emergency"}
ENDED_STATUSES = {"finished", "cancelled", "entered-in-error"}
UNIT_DAYS = {"d": 1, "day": 1, "days": 1, "wk": 7, "week": 7, "weeks": 7, "mo": 30, "month": 30, "months": 30,
             "a": 365, "year": 365, "years": 365, "h": 1 / 24, "hour": 1 / 24, "hours": 1 / 24}


@dataclass
class Drug:
    order: dict[str, Any]  # the newest active order
    active_orders: int
    stale_reason: str | None


def drug_key(order: dict[str, Any]) -> str:
    medication = str(compact(order).get("medication", ""))
    rxnorm = re.search(r"\[RxNorm (\w+)\]", medication)
    return f"rxnorm:{rxnorm.group(1)}" if rxnorm else medication.lower()


def classify(orders: list[dict[str, Any]], encounters: dict[str, dict[str, Any]], patient: dict[str, Any] | None,
             today: date) -> list[Drug]:
    """One Drug per medication, newest order first, with the reason its newest active order looks stale."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for order in newest_first(orders):
        groups.setdefault(drug_key(order), []).append(order)
    return [Drug(group[0], len(group), stale_reason(group[0], encounters, patient, today)) for group in groups.values()]


def stale_reason(order: dict[str, Any], encounters: dict[str, dict[str, Any]], patient: dict[str, Any] | None,
                 today: date) -> str | None:
    if patient and (patient.get("deceasedBoolean") is True or patient.get("deceasedDateTime")):
        return "the patient is deceased"
    stay_end = _ended_stay(order, encounters, today)
    if stay_end is not None:
        return f"inpatient order of a stay that ended {stay_end}"
    if _coded(order.get("courseOfTherapyType")) == "acute":
        course_end = _course_end(order)
        if course_end is not None and course_end < today:
            return f"acute course that ended {course_end.isoformat()}"
    dispense: dict[str, Any] = order["dispenseRequest"] if isinstance(order.get("dispenseRequest"), dict) else {}
    validity_end = _day(_at(dispense, "validityPeriod", "end"))
    if validity_end is not None and validity_end < today:
        return f"prescription valid until {validity_end.isoformat()}"
    supply_end = _supply_end(order, dispense)
    if supply_end is not None and supply_end < today:
        return f"supply ran out {supply_end.isoformat()} (no newer order)"
    return None


def _ended_stay(order: dict[str, Any], encounters: dict[str, dict[str, Any]], today: date) -> str | None:
    """The end date of the stay an inpatient order belongs to, if that stay has ended."""
    reference = _at(order, "encounter", "reference")
    encounter = encounters.get(str(reference).rsplit("/", 1)[-1]) if isinstance(reference, str) else None
    inpatient_order = _coded_all(order.get("category")) & {"inpatient", "discharge"} == {"inpatient"}
    if encounter is None:
        return None
    klass = encounter.get("class")
    stay = inpatient_order or (isinstance(klass, dict) and klass.get("code") in STAY_CLASSES)
    if not stay:
        return None
    end = _day(_at(encounter, "period", "end"))
    if end is not None and end < today:
        return end.isoformat()
    if encounter.get("status") in ENDED_STATUSES:
        return end.isoformat() if end else "(date not given)"
    return None


def _course_end(order: dict[str, Any]) -> date | None:
    start = _day(order.get("authoredOn"))
    for dosage in order.get("dosageInstruction") or []:
        end = _day(_at(dosage, "timing", "repeat", "boundsPeriod", "end"))
        if end is not None:
            return end
        days = _days(_at(dosage, "timing", "repeat", "boundsDuration"))
        if days is not None and start is not None:
            return start + timedelta(days=days)
    return None


def _supply_end(order: dict[str, Any], dispense: dict[str, Any]) -> date | None:
    days = _days(dispense.get("expectedSupplyDuration"))
    start = _day(_at(dispense, "validityPeriod", "start")) or _day(order.get("authoredOn"))
    if days is None or start is None:
        return None
    repeats = dispense.get("numberOfRepeatsAllowed")
    fills = 1 + (repeats if isinstance(repeats, int) and repeats > 0 else 0)
    return start + timedelta(days=days * fills)


def _at(value: Any, *path: str) -> Any:
    """The element at `path`, or None where an element on the way is missing or not an object (odd shapes from a
    server must not fail the summary)."""
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _days(duration: Any) -> float | None:
    if not isinstance(duration, dict) or not isinstance(duration.get("value"), (int, float)):
        return None
    factor = UNIT_DAYS.get(str(duration.get("code") or duration.get("unit") or "").lower())
    return duration["value"] * factor if factor else None


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if isinstance(value, str) and len(value) >= 10 else None
    except ValueError:
        return None


def _coded(concept: Any) -> str | None:
    codes = _coded_all([concept])
    return next(iter(codes)) if codes else None


def _coded_all(concepts: Any) -> set[str]:
    return {str(c.get("code")) for concept in concepts if isinstance(concept, dict)
            for c in concept.get("coding") or [] if isinstance(c, dict) and c.get("code")} \
        if isinstance(concepts, list) else set()
