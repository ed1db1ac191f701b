"""Renderers for the backbone elements of particular resource types: components, dosage, reactions,
attachments, participants, claim items, questionnaire answers, ..."""

from __future__ import annotations

from typing import Any

from .datatypes import (
    _clean,
    _qty,
    choice,
    choice_of,
    concept,
    concepts,
    each,
    money,
    period,
    quantity,
    range_text,
    reference,
    reference_ranges,
    untrusted,
)


def components(value: Any, resource: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Each component with its own code, value, interpretation and range (blood pressure keeps both)."""
    return each(value, lambda item: {
        "code": concept(item.get("code")), "value": choice_of(item, "value", resource),
        "interpretation": concepts(item.get("interpretation"), resource),
        "reference_range": reference_ranges(item.get("referenceRange"), resource),
        "data_absent": concept(item.get("dataAbsentReason")),
    })


def dosages(value: Any, resource: dict[str, Any]) -> list[dict[str, Any]] | None:
    out = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        timing: dict[str, Any] = item["timing"] if isinstance(item.get("timing"), dict) else {}
        repeat: dict[str, Any] = timing["repeat"] if isinstance(timing.get("repeat"), dict) else {}
        frequency = (f"{repeat['frequency']} time(s) per {repeat.get('period', 1)} {repeat.get('periodUnit', '')}"
                     if repeat.get("frequency") else None)
        doses = [_qty(quantity(d.get("doseQuantity"))) if d.get("doseQuantity") else range_text(d.get("doseRange"))
                 for d in item.get("doseAndRate") or [] if isinstance(d, dict)]
        out.append(_clean({
            "text": item.get("text"), "timing": concept(timing.get("code")) or frequency,
            "as_needed": item.get("asNeededBoolean") or concept(item.get("asNeededCodeableConcept")),
            "route": concept(item.get("route")), "dose": doses or None,
            "patient_instruction": untrusted(item.get("patientInstruction"), resource),
        }))
    return [d for d in out if d] or None


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
            out.append(_clean({"content_type": attachment.get("contentType"), "title": attachment.get("title"),
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
            roles.setdefault(who + status, []).extend(concepts(item.get("role") or item.get("type"), resource) or [])
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
        "due": item.get("dueDate") or choice_of(item, "due", resource),
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
