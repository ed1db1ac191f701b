"""get_latest_values: the newest results of a test or vital sign, named by code or by the words a person would
use ("A1c", "blood pressure", or the record's own words such as "血圧"), newest first, with flags, ranges and
trend figures: first, last, the range (min, max, spread) and a direction that says "fluctuating" when the series
keeps changing direction, not only first-to-last. Times are shown as the record writes them, with its offset."""

from __future__ import annotations

import asyncio
import itertools
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from ..errors import EpicMcpError
from ..render import compact, inline
from .collect import code_key, newest_first, range_flag, scan, written_time
from .inventory import CodeEntry, inventory, matching

if TYPE_CHECKING:
    from ..fhir.client import FhirClient

STABLE_WITHIN = 0.05  # a change under 5% of the first value is "stable"; a move under 5% of the median is noise
MAX_CODES = 6
Direction = Literal["rising", "falling", "stable", "fluctuating"]


class NotFoundInRecord(EpicMcpError):
    """No code of the record matches the name asked for."""


class LatestValue(BaseModel):
    id: str
    date: str | None = Field(description="When it was taken, as the record writes it (with its UTC offset).")
    value: str = Field(description="The value with its unit, or the components ('Systolic blood pressure: 148 "
                                   "mm[Hg]; Diastolic blood pressure: 90 mm[Hg]').")
    number: float | None = Field(description="The numeric value, when there is one.")
    unit: str | None
    flag: str | None = Field(description="The lab's interpretation (H, L, ...) or 'above range'/'below range'.")
    reference_range: str | None


class Trend(BaseModel):
    measure: str = Field(description="What the figures are of (the test, or one component such as systolic).")
    points: int = Field(description="How many values the trend is over (the values shown).")
    first: str = Field(description="Oldest value shown, with its date.")
    last: str = Field(description="Newest value, with its date.")
    min: str = Field(description="Lowest value, with its date.")
    max: str = Field(description="Highest value, with its date.")
    spread: str = Field(description="max minus min, with the unit.")
    change: str = Field(description="last minus first, with the unit.")
    direction_changes: int = Field(description="How often the series turned (rising to falling or back), moves "
                                               "under 5% of its median not counted.")
    direction: Direction = Field(description="fluctuating when it turned at least twice and on most steps; else "
                                             "rising, falling or stable from first to last.")


class Series(BaseModel):
    code: str = Field(description="The code searched (system|code).")
    name: str | None = Field(description="What was measured, from the newest result.")
    values: list[LatestValue] = Field(description="Newest first.")
    trend: list[Trend] = Field(description="Over the values shown; one per component for panels.")
    complete: bool = Field(description="False when older results exist that were not read.")
    notes: list[str]


class LatestValues(BaseModel):
    patient_id: str
    asked: str = Field(description="The codes or name that were asked for.")
    series: list[Series] = Field(description="One series per code.")


async def latest_values(fhir: FhirClient, patient_id: str, today: date, *, codes: list[str] | None = None,
                        name: str | None = None, limit: int = 10) -> LatestValues:
    if codes is None:
        assert name is not None
        codes = await resolve(fhir, patient_id, today, name)
    series = await asyncio.gather(*(_series(fhir, patient_id, today, code, limit) for code in codes[:MAX_CODES]))
    return LatestValues(patient_id=patient_id, asked=name or ",".join(codes), series=list(series))


async def resolve(fhir: FhirClient, patient_id: str, today: date, name: str) -> list[str]:
    """The record's own codes for a name, through its code inventory (labs and vital signs)."""
    known = await inventory(fhir, patient_id, today, ["lab", "vital"])
    found: list[CodeEntry] = matching(known.codes, name)
    if not found:
        some = ", ".join(e.name.split(" [")[0] for e in known.codes[:12])
        raise NotFoundInRecord(f"no lab or vital sign named like '{name}' in this record (it has: {some or 'none'}"
                               f"{', ...' if len(known.codes) > 12 else ''}); list_patient_codes shows them all "
                               "with the codes to pass")
    return [entry.code for entry in sorted(found, key=lambda e: e.last or "", reverse=True)]


async def _series(fhir: FhirClient, patient_id: str, today: date, code: str, limit: int) -> Series:
    scanned = await scan(fhir, "Observation", [("patient", patient_id), ("code", code)], patient_id, today,
                         done=lambda items: len(items) >= limit)
    newest = newest_first(scanned.items)[:limit]
    values = [_value(o) for o in newest]
    note = scanned.limit_note("results")
    complete = scanned.complete or len(scanned.items) >= limit
    return Series(code=code, name=compact(newest[0]).get("code") if newest else None, values=values,
                  trend=_trends(newest), complete=complete,
                  notes=[*scanned.warnings, *([note] if note and len(newest) < limit else [])])


def _value(observation: dict[str, Any]) -> LatestValue:
    record = compact(observation)
    quantity: dict[str, Any] = observation["valueQuantity"] if isinstance(observation.get("valueQuantity"), dict) \
        else {}
    number = quantity.get("value")
    shown = record.get("value", record.get("components", record.get("data_absent")))
    return LatestValue(id=str(record["id"]), date=written_time(observation) or None, value=_text(shown),
                       number=float(number) if isinstance(number, (int, float)) else None,
                       unit=quantity.get("unit") or quantity.get("code"), flag=range_flag(observation),
                       reference_range="; ".join(record.get("reference_range") or []) or None)


def _text(value: Any) -> str:
    """A value, or components as 'Systolic blood pressure: 148 mm[Hg] (H)'."""
    if isinstance(value, list) and all(isinstance(c, dict) and "code" in c for c in value):
        return "; ".join(f"{str(c['code']).split(' [')[0]}: {inline(c.get('value', '-'))}"
                         + (f" ({', '.join(c['interpretation'])})" if c.get("interpretation") else "") for c in value)
    return inline(value) if value is not None else "-"


def _points(observations: list[dict[str, Any]]) -> dict[str, list[tuple[str, float, str]]]:
    """Numeric points per measure, oldest first: the value itself, or each component of a panel."""
    points: dict[str, list[tuple[str, float, str]]] = {}
    for observation in reversed(observations):
        when = written_time(observation)[:10]
        parts = [("", observation)] if isinstance(observation.get("valueQuantity"), dict) else [
            (compact({"resourceType": "Observation", "code": c.get("code")}).get("code", "?"), c)
            for c in observation.get("component") or [] if isinstance(c, dict)]
        for label, part in parts:
            quantity = part.get("valueQuantity")
            if isinstance(quantity, dict) and isinstance(quantity.get("value"), (int, float)):
                unit = str(quantity.get("unit") or quantity.get("code") or "")
                points.setdefault(str(label).split(" [")[0], []).append((when, float(quantity["value"]), unit))
    return points


def _trends(observations: list[dict[str, Any]]) -> list[Trend]:
    name = compact(observations[0]).get("code", code_key(observations[0])) if observations else ""
    trends = []
    for measure, series in _points(observations).items():
        if len(series) < 2:
            continue
        (first_day, first, unit), (last_day, last, _) = series[0], series[-1]
        low, high = min(series, key=lambda p: p[1]), max(series, key=lambda p: p[1])
        change = last - first
        turns = direction_changes([value for _, value, _ in series])
        direction: Direction = "fluctuating" if fluctuating(turns, len(series)) else (
            "stable" if abs(change) <= STABLE_WITHIN * abs(first) else "rising" if change > 0 else "falling")
        trends.append(Trend(measure=measure or str(name).split(" [")[0], points=len(series),
                            first=f"{_n(first)} {unit} on {first_day}", last=f"{_n(last)} {unit} on {last_day}",
                            min=f"{_n(low[1])} {unit} on {low[0]}", max=f"{_n(high[1])} {unit} on {high[0]}",
                            spread=f"{_n(high[1] - low[1])} {unit}",
                            change=f"{'+' if change >= 0 else ''}{_n(change)} {unit}", direction_changes=turns,
                            direction=direction))
    return trends


def direction_changes(values: list[float]) -> int:
    """How often a series (oldest first) turns: rising to falling or back, moves under STABLE_WITHIN of its
    median size left out as noise."""
    sizes = sorted(abs(v) for v in values)
    noise = STABLE_WITHIN * sizes[len(sizes) // 2] if sizes else 0.0
    moves = [b - a for a, b in itertools.pairwise(values) if abs(b - a) > noise]
    return sum(1 for a, b in itertools.pairwise(moves) if (a > 0) != (b > 0))


def fluctuating(turns: int, points: int) -> bool:
    """Turned at least twice, and on more than half the steps where it could have (a series of n values can turn
    n - 2 times)."""
    return turns >= 2 and 2 * turns > points - 2


def _n(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def trend_line(trend: Trend) -> str:
    """'trend Hemoglobin A1c: fluctuating, turned 4 times over 6 values; lowest 6 % on ..., highest 9.2 % on ...,
    spread 3.2 %; first 8.9 % on ... -> last 6.2 % on ... (-2.7 %)'."""
    how = f", turned {trend.direction_changes} times over {trend.points} values" \
        if trend.direction == "fluctuating" else f" over {trend.points} values"
    return (f"trend {trend.measure}: {trend.direction}{how}; lowest {trend.min}, highest {trend.max}, spread "
            f"{trend.spread}; first {trend.first} -> last {trend.last} ({trend.change})")


def latest_values_text(result: LatestValues) -> str:
    lines: list[str] = []
    for series in result.series:
        head = (f"{series.name or series.code} for Patient/{result.patient_id}: {len(series.values)} newest"
                + ("" if series.complete else " (older results not read)"))
        lines.append(head)
        lines += [f"note: {n}" for n in series.notes]
        lines += [trend_line(t) for t in series.trend]
        if not series.values:
            lines.append(f"no results of {series.code} on file")
            continue
        lines.append("date | value | flag | reference range | id")
        lines += [f"{v.date or '?'} | {v.value} | {v.flag or ''} | {v.reference_range or ''} | {v.id}"
                  for v in series.values]
    return "\n".join(lines)
