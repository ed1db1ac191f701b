"""Renderers for the backbone elements of particular resource types: components, dosage, reactions,
attachments, participants, claim items, questionnaire answers, ..."""

from __future__ import annotations

from typing import Any, TypeGuard

from .datatypes import (
    _clean,
    _qty,
    choice,
    choice_of,
    concept,
    concepts,
    each,
    extension_value,
    human_name,
    money,
    period,
    quantity,
    range_text,
    reference,
    reference_ranges,
    telecoms,
    untrusted,
)


def components(value: Any, resource: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Each component with its own code, value, interpretation and range (blood pressure keeps both)."""
    return each(value, lambda item: {
        "code": concept(item.get("code")), "value": choice_of(item, "value", resource),
        "interpretation": concepts(item.get("interpretation"), resource),
        "reference_range": reference_ranges(item.get("referenceRange"), resource),
        "outside_range": outside_range(item.get("referenceRange"), item),
        "data_absent": concept(item.get("dataAbsentReason")),
    })


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bound(bound: Any, unit: Any) -> float | None:
    """A range limit's value, when it is a number in the same unit as the result (or either has no unit)."""
    if not isinstance(bound, dict) or not _number(bound.get("value")):
        return None
    bound_unit = bound.get("unit") or bound.get("code")
    return None if unit and bound_unit and bound_unit != unit else bound["value"]


def outside_range(ranges: Any, observation: dict[str, Any]) -> str | None:
    """'below' or 'above' when a result (or a component) lies outside its first reference range and the lab set
    no interpretation: a value out of range reads as abnormal without a flag. A lab's own interpretation is shown
    as it is and never second-guessed; a result with a comparator (<5) or in another unit is not compared."""
    first = ranges[0] if isinstance(ranges, list) and ranges else None
    result = observation.get("valueQuantity")
    if observation.get("interpretation") or not isinstance(first, dict) or not isinstance(result, dict):
        return None
    value = result.get("value")
    if not _number(value) or result.get("comparator"):
        return None
    unit = result.get("unit") or result.get("code")
    low, high = _bound(first.get("low"), unit), _bound(first.get("high"), unit)
    if low is not None and value < low:
        return "below"
    return "above" if high is not None and value > high else None


UNITS = {"s": "second", "min": "minute", "h": "hour", "d": "day", "wk": "week", "mo": "month", "a": "year"}


def _span(low: Any, high: Any) -> str:
    return f"{low}-{high}" if high not in (None, low) else str(low)


def timing(value: Any, _: dict[str, Any] | None = None) -> str | None:
    """A Timing as words: its code, and what its repeat says ('0900 (at 09:00; 365 doses; from 2019-04-29)').
    The repeat is kept even when a code is given: Epic's codes are often a time of day that says nothing of how
    often, and weekly versus daily is the classic dosing error."""
    if not isinstance(value, dict):
        return None
    repeat: dict[str, Any] = value["repeat"] if isinstance(value.get("repeat"), dict) else {}
    parts = []
    frequency, period_value = repeat.get("frequency"), repeat.get("period")
    if frequency is not None or period_value is not None:
        unit = UNITS.get(str(repeat.get("periodUnit")), repeat.get("periodUnit") or "")
        every = ("" if period_value is None and not unit
                 else f" per {unit}" if period_value in (None, 1) and repeat.get("periodMax") is None
                 else f" every {_span(period_value, repeat.get('periodMax'))} {unit}")
        parts.append(f"{_span(frequency or 1, repeat.get('frequencyMax'))} time(s){every}".rstrip())
    if repeat.get("dayOfWeek"):
        parts.append("on " + ", ".join(map(str, repeat["dayOfWeek"])))
    if repeat.get("timeOfDay"):
        parts.append("at " + ", ".join(str(t)[:5] for t in repeat["timeOfDay"]))
    if repeat.get("when"):
        offset = f" {repeat['offset']} min" if repeat.get("offset") else ""
        parts.append("at " + ", ".join(map(str, repeat["when"])) + offset)
    if repeat.get("duration") is not None:
        parts.append(f"lasting {_span(repeat['duration'], repeat.get('durationMax'))} "
                     f"{UNITS.get(str(repeat.get('durationUnit')), repeat.get('durationUnit') or '')}".rstrip())
    if repeat.get("count") is not None:
        parts.append(f"{_span(repeat['count'], repeat.get('countMax'))} doses")
    bounds = period(repeat.get("boundsPeriod")) or range_text(repeat.get("boundsRange"))
    duration = quantity(repeat.get("boundsDuration"))
    parts += [bounds] if bounds else [f"for {_qty(duration)}"] if duration else []
    code = concept(value.get("code"))
    words = "; ".join(parts)
    return f"{code} ({words})" if code and words else code or words or None


def dosages(value: Any, resource: dict[str, Any]) -> list[dict[str, Any]] | None:
    out = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        steps = [d for d in item.get("doseAndRate") or [] if isinstance(d, dict)]
        doses: dict[str, list[str]] = {}
        for step in steps:
            dose = (_qty(quantity(step.get("doseQuantity"))) if step.get("doseQuantity")
                    else range_text(step.get("doseRange")))
            if dose:
                doses.setdefault(dose, []).extend([kind] if (kind := concept(step.get("type"))) else [])
        rates = [(choice_of(d, "rate", resource), concept(d.get("type")) if "doseQuantity" not in d
                  and "doseRange" not in d else None) for d in steps]
        out.append(_clean({
            "text": item.get("text"), "timing": timing(item.get("timing")),
            "as_needed": item.get("asNeededBoolean") or concept(item.get("asNeededCodeableConcept")),
            "route": concept(item.get("route")), "method": concept(item.get("method")),
            "dose": [f"{dose} ({', '.join(kinds)})" if kinds else dose for dose, kinds in doses.items()] or None,
            "rate": [(_qty(r) if isinstance(r, dict) else str(r)) + (f" ({kind})" if kind else "")
                     for r, kind in rates if r] or None,
            "max_dose": choice(("Ratio", item.get("maxDosePerPeriod")), resource)
            if isinstance(item.get("maxDosePerPeriod"), dict) else None,
            "patient_instruction": untrusted(item.get("patientInstruction"), resource),
        }))
    return [d for d in out if d] or None


def doses_applied(value: Any, _: dict[str, Any]) -> list[str] | None:
    """Immunization.protocolApplied: 'dose 2 of 2 (MMR series)'."""
    out = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        number = item.get("doseNumberPositiveInt", item.get("doseNumberString"))
        of = item.get("seriesDosesPositiveInt", item.get("seriesDosesString"))
        series = item.get("series")
        if number is not None:
            out.append(f"dose {number}" + (f" of {of}" if of is not None else "") + (f" ({series})" if series else ""))
    return out or None


def reactions(value: Any, resource: dict[str, Any]) -> list[dict[str, Any]] | None:
    return each(value, lambda item: {
        "manifestations": concepts(item.get("manifestation"), resource), "severity": item.get("severity"),
        "substance": concept(item.get("substance")), "onset": item.get("onset"),
        "description": untrusted(item.get("description"), resource),
    })


def attachments(value: Any, _: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Where a document's content is (read it with get_document_text), never the content itself."""
    out = []
    for item in value if isinstance(value, list) else []:
        attachment = item.get("attachment", item) if isinstance(item, dict) else None
        if isinstance(attachment, dict):
            out.append(_clean({"content_type": attachment.get("contentType"), "language": attachment.get("language"),
                               "title": attachment.get("title"),
                               "size": attachment.get("size"), "created": attachment.get("creation"),
                               "inline": "data" in attachment or None,
                               "url": attachment.get("url")}))
    return [a for a in out if a] or None


def totals(value: Any, _: dict[str, Any]) -> list[str] | None:
    items = value if isinstance(value, list) else [value]
    return [f"{(concept(t.get('category')) or 'total').split(' (')[0]}: {money(t.get('amount'))}"
            for t in items if isinstance(t, dict) and money(t.get("amount"))] or None


def participants(value: Any, resource: dict[str, Any]) -> list[str] | None:
    """'Name (Practitioner/id) as attender, admitter': one entry per person, all their roles."""
    roles: dict[str, list[str]] = {}
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        who = reference(item.get("actor") or item.get("member") or item.get("individual") or item.get("who"),
                        resource)
        if who:
            status = f" [{item['status']}]" if item.get("status") else ""
            found = concepts(item.get("role") or item.get("type") or item.get("function"), resource) or []
            specialty = [extension_value(e, resource) for e in item.get("extension") or []
                         if isinstance(e, dict) and str(e.get("url", "")).endswith("/specialty")]
            roles.setdefault(who + status, []).extend([*found, *(f"specialty {s}" for s in specialty if s)])
    return [who + (f" as {', '.join(dict.fromkeys(r))}" if r else "") for who, r in roles.items()] or None


def coverage_classes(value: Any, _: dict[str, Any]) -> list[str] | None:
    return [f"{(concept(c.get('type')) or 'class').split(' (')[0]}: {c.get('value')}"
            + (f" ({c['name']})" if c.get("name") else "")
            for c in value if isinstance(c, dict)] if isinstance(value, list) and value else None


def care_plan_activities(value: Any, resource: dict[str, Any]) -> list[dict[str, Any]] | None:
    out = []
    for item in value if isinstance(value, list) else []:
        detail = item.get("detail") if isinstance(item, dict) else None
        if isinstance(detail, dict):
            out.append(_clean({"code": concept(detail.get("code")), "status": detail.get("status"),
                               "description": untrusted(detail.get("description"), resource),
                               "scheduled": period(detail.get("scheduledPeriod")) or detail.get("scheduledString")}))
        elif isinstance(item, dict) and item.get("reference"):
            out.append({"reference": reference(item["reference"], resource)})
    return [a for a in out if a] or None


def answers(value: Any, resource: dict[str, Any]) -> list[dict[str, Any]] | None:
    """QuestionnaireResponse items, nested groups flattened; answers are patient text when free text."""
    out: list[dict[str, Any]] = []

    def walk(items: Any) -> None:
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            given = [choice_of(a, "value", resource) for a in item.get("answer") or [] if isinstance(a, dict)]
            if given:
                out.append(_clean({"question": item.get("text") or item.get("linkId"), "answer": given}))
            walk(item.get("item"))
            for answer in item.get("answer") or []:
                walk(answer.get("item") if isinstance(answer, dict) else None)

    walk(value)
    return out or None


def questions(value: Any, _: dict[str, Any]) -> list[str] | None:
    out: list[str] = []

    def walk(items: Any) -> None:
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                out.append(f"{item.get('linkId')}: {item.get('text', '')} ({item.get('type', '?')})")
                walk(item.get("item"))

    walk(value)
    return out or None


def targets(value: Any, resource: dict[str, Any]) -> list[dict[str, Any]] | None:
    return each(value, lambda item: {
        "measure": concept(item.get("measure")), "detail": choice_of(item, "detail", resource),
        "due": choice_of(item, "due", resource),
    })


def family_conditions(value: Any, resource: dict[str, Any]) -> list[dict[str, Any]] | None:
    return each(value, lambda item: {
        "code": concept(item.get("code")), "outcome": concept(item.get("outcome")),
        "onset": choice_of(item, "onset", resource), "contributed_to_death": item.get("contributedToDeath"),
    })


def ingredients(value: Any, resource: dict[str, Any]) -> list[str] | None:
    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            what = choice_of(item, "item", resource)
            strength = choice(("Ratio", item.get("strength")), resource) if item.get("strength") else None
            if what:
                out.append(f"{what}{f' {strength}' if strength else ''}")
    return out or None


def qualifications(value: Any, _: dict[str, Any]) -> list[str] | None:
    return [c for c in (concept(q.get("code")) for q in value if isinstance(q, dict)) if c] or None \
        if isinstance(value, list) else None


def provisions(value: Any, resource: dict[str, Any]) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    return _clean({"type": value.get("type"), "period": period(value.get("period")),
                   "actions": concepts(value.get("action"), resource)})


def udi(value: Any, _: dict[str, Any]) -> list[str] | None:
    if not isinstance(value, list):
        return None
    found = [u.get("carrierHRF") or u.get("deviceIdentifier") for u in value if isinstance(u, dict)]
    return [str(u) for u in found if u] or None


def device_names(value: Any, _: dict[str, Any]) -> list[str] | None:
    return [n["name"] for n in value if isinstance(n, dict) and n.get("name")] or None \
        if isinstance(value, list) else None


def eob_items(value: Any, resource: dict[str, Any]) -> list[dict[str, Any]] | None:
    return each(value, lambda item: {
        "service": concept(item.get("productOrService")),
        "date": item.get("servicedDate") or period(item.get("servicedPeriod")), "net": money(item.get("net")),
        "adjudication": totals([{"category": a.get("category"), "amount": a.get("amount")}
                                for a in item.get("adjudication") or [] if isinstance(a, dict)], resource),
    })


def issued_if_later(value: Any, resource: dict[str, Any]) -> str | None:
    """When a result was released, if not when it was taken: the time alone when it is the same day."""
    taken = resource.get("effectiveDateTime") or resource.get("effectiveInstant") or (
        (resource.get("effectivePeriod") or {}).get("start"))
    if not isinstance(value, str) or value == taken:
        return None
    same_day = isinstance(taken, str) and taken[:10] == value[:10] and len(value) > 10
    return value[11:] if same_day else value


def diagnoses(value: Any, resource: dict[str, Any]) -> list[str] | None:
    """Encounter.diagnosis: 'Condition/c1 (Discharge diagnosis, rank 1)': which is the principal one, and why."""
    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and (what := reference(item.get("condition"), resource)):
            role = [p for p in (concept(item.get("use")), f"rank {item['rank']}" if "rank" in item else None) if p]
            out.append(what + (f" ({', '.join(role)})" if role else ""))
    return out or None


def locations(value: Any, resource: dict[str, Any]) -> list[str] | None:
    """Encounter.location: where the patient was, with the status there ('active' is where the patient is now)."""
    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and (where := reference(item.get("location"), resource)):
            when = period(item.get("period"))
            extra = "; ".join(p for p in (item.get("status"), when) if p)
            out.append(where + (f" [{extra}]" if extra else ""))
    return out or None


def evidence(value: Any, resource: dict[str, Any]) -> list[str] | None:
    """Condition.evidence: the findings (codes) and the records (details) the diagnosis rests on."""
    out: list[str] = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            out += concepts(item.get("code"), resource) or []
            out += [r for r in (reference(d, resource) for d in item.get("detail") or []) if r]
    return out or None


def stages(value: Any, resource: dict[str, Any]) -> list[str] | None:
    """Condition.stage: the summary with the kind of staging ('T2N0M0 (Clinical stage)')."""
    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and (summary := concept(item.get("summary"))):
            kind = concept(item.get("type"))
            out.append(summary + (f" ({kind})" if kind else ""))
    return out or None


def related_documents(value: Any, resource: dict[str, Any]) -> list[str] | None:
    """DocumentReference.relatesTo: 'appends DocumentReference/d1' (an addendum, a replacement, ...)."""
    return [f"{item.get('code', 'relates to')} {target}" for item in value if isinstance(item, dict)
            and (target := reference(item.get("target"), resource))] or None if isinstance(value, list) else None


def media(value: Any, resource: dict[str, Any]) -> list[str] | None:
    """DiagnosticReport.media: each image's link with its comment."""
    return [" ".join(p for p in (reference(item.get("link"), resource), item.get("comment")) if p)
            for item in value if isinstance(item, dict)] or None if isinstance(value, list) else None


def substitution(value: Any, resource: dict[str, Any]) -> dict[str, Any] | None:
    """MedicationRequest.substitution: whether the pharmacy may substitute, and why."""
    if not isinstance(value, dict):
        return None
    allowed = value.get("allowedBoolean") if "allowedBoolean" in value else concept(
        value.get("allowedCodeableConcept"))
    return _clean({"allowed": allowed, "reason": concept(value.get("reason"))})


def costs(value: Any, resource: dict[str, Any]) -> list[str] | None:
    """Coverage.costToBeneficiary: 'Copay percentage: 30 %'."""
    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            amount = money(item["valueMoney"]) if "valueMoney" in item else choice_of(item, "value", resource)
            shown = _qty(amount) if isinstance(amount, dict) else amount
            if shown is not None:
                out.append(f"{concept(item.get('type')) or 'cost'}: {shown}")
    return out or None


def contacts(value: Any, resource: dict[str, Any]) -> list[str] | None:
    """Patient.contact: who to call, how they are related, and how to reach them."""
    out = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        name = human_name(item.get("name"), resource) or reference(item.get("organization"), resource)
        related = concepts(item.get("relationship"), resource)
        reach = telecoms(item.get("telecom"), resource)
        parts = [name or "contact", f"({'; '.join(related)})" if related else None,
                 ", ".join(reach) if reach else None]
        out.append(" ".join(p for p in parts if p))
    return out or None


def other_names(value: Any, resource: dict[str, Any]) -> list[str] | None:
    """A person's names besides the one shown as `name` (a phonetic spelling, a maiden name), with their use and
    representation ('イノウエ アキコ (official, SYL)')."""
    names = [n for n in value if isinstance(n, dict)] if isinstance(value, list) else []
    shown = human_name(names, resource)
    out = []
    for item in names:
        written = human_name([item], resource)
        if written and written != shown:
            kind = [item.get("use"), *(extension_value(e, resource) for e in item.get("extension") or []
                                       if isinstance(e, dict) and str(e.get("url", "")).endswith("-representation"))]
            kinds = [str(k) for k in kind if k]
            out.append(written + (f" ({', '.join(kinds)})" if kinds else ""))
    return out or None


def languages(value: Any, resource: dict[str, Any]) -> list[str] | None:
    """Patient.communication: each language, and which one the patient prefers."""
    return [language + (" (preferred)" if item.get("preferred") else "") for item in value
            if isinstance(item, dict) and (language := concept(item.get("language")))] or None \
        if isinstance(value, list) else None
