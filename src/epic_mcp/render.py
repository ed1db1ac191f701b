"""Compact, faithful records: what a clinician or an agent needs from each resource, and nothing else.

One declarative spec per resource type lists its output fields as (name, FHIR element, renderer). Renderers
for FHIR datatypes are shared. Free text from the record is wrapped as {"patient_text": ...} so a model
can tell it is data, never instructions. The text rendering is made from the same record, so both carry
the same facts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

Renderer = Callable[[Any, dict[str, Any]], Any]
UNTRUSTED = "patient_text"

# Clinical terminologies: their codes are facts worth keeping. Codes of HL7's own code systems (statuses,
# interpretation flags, encounter classes) are shown by their display alone.
SYSTEMS = {
    "http://loinc.org": "LOINC",
    "http://snomed.info/sct": "SNOMED",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://hl7.org/fhir/sid/cvx": "CVX",
    "http://hl7.org/fhir/sid/ndc": "NDC",
    "http://www.ama-assn.org/go/cpt": "CPT",
    "http://hl7.org/fhir/sid/us-npi": "NPI",
}


# Datatype renderers: each takes the element's value and the whole resource, returns JSON or None ------------

def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        value = {k: c for k, v in value.items() if (c := _clean(v)) not in (None, "", [], {})}
    elif isinstance(value, list):
        value = [c for v in value if (c := _clean(v)) not in (None, "", [], {})]
    return value or None if isinstance(value, (dict, list, str)) else value


def text(value: Any, _: dict[str, Any]) -> Any:
    return value if isinstance(value, (str, int, float, bool)) else None


def texts(value: Any, _: dict[str, Any]) -> list[Any] | None:
    """A repeating primitive, e.g. AllergyIntolerance.category ['medication', 'food']."""
    items = value if isinstance(value, list) else [value]
    return [v for v in items if isinstance(v, (str, int, float))] or None


def untrusted(value: Any, _: dict[str, Any]) -> Any:
    return {UNTRUSTED: value} if isinstance(value, str) and value.strip() else None


def coding(value: Any, _: dict[str, Any] | None = None) -> str | None:
    """'Display [LOINC 718-7]' for clinical terminologies; the display (or code) alone for the rest."""
    if not isinstance(value, dict):
        return None
    code, display = value.get("code"), value.get("display")
    label = SYSTEMS.get(str(value.get("system")))
    if label is None:
        return display or code
    tag = f"{label} {code}" if code else None
    return f"{display} [{tag}]" if display and tag else display or tag


def concept(value: Any, _: dict[str, Any] | None = None) -> str | None:
    """A CodeableConcept: its text, then every coding (several systems may code the same thing)."""
    if not isinstance(value, dict):
        return None
    codings = [c for c in (coding(c) for c in value.get("coding") or []) if c]
    label = value.get("text")
    if label and codings and all(c.lower().startswith(f"{label.lower()} [") or c.lower() == label.lower()
                                 for c in codings):
        return "; ".join(codings)
    if label and codings:
        return f"{label} ({'; '.join(codings)})"
    return label or "; ".join(codings) or None


def concepts(value: Any, resource: dict[str, Any]) -> list[str] | None:
    items = value if isinstance(value, list) else [value]
    return [c for c in (concept(v) for v in items) if c] or None


def code_only(value: Any, _: dict[str, Any]) -> list[str] | None:
    """Category-like concepts: the bare codes ('laboratory') are all an agent needs."""
    items = value if isinstance(value, list) else [value]
    found = [c.get("code") or c.get("display") for v in items if isinstance(v, dict)
             for c in v.get("coding") or [] if isinstance(c, dict)]
    found += [v.get("text") for v in items if isinstance(v, dict) and not v.get("coding")]
    return list(dict.fromkeys(c for c in found if c)) or None


def quantity(value: Any, _: dict[str, Any] | None = None) -> dict[str, Any] | None:
    if not isinstance(value, dict) or "value" not in value:
        return None
    unit = value.get("unit") or value.get("code")
    out: dict[str, Any] = {"value": value["value"]}
    if value.get("comparator"):
        out["comparator"] = value["comparator"]
    if unit:
        out["unit"] = unit
    return out


def money(value: Any, _: dict[str, Any] | None = None) -> str | None:
    if not isinstance(value, dict) or "value" not in value:
        return None
    return f"{value['value']} {value.get('currency', '')}".strip()


def period(value: Any, _: dict[str, Any] | None = None) -> str | None:
    if not isinstance(value, dict):
        return None
    start, end = value.get("start"), value.get("end")
    if start and end:
        same_day = isinstance(start, str) and isinstance(end, str) and start[:10] == end[:10] and len(end) > 10
        return f"{start} to {end[11:] if same_day else end}"
    return f"from {start}" if start else (f"until {end}" if end else None)


def choice(value: Any, resource: dict[str, Any]) -> Any:
    """Any value[x]: Quantity, CodeableConcept, Period, Range, string (untrusted), and primitives."""
    kind, inner = value
    if kind == "Quantity" or kind == "Age" or kind == "Duration":
        return quantity(inner)
    if kind == "CodeableConcept":
        return concept(inner)
    if kind == "Coding":
        return coding(inner)
    if kind == "Period":
        return period(inner)
    if kind == "Range":
        return range_text(inner)
    if kind == "String":
        return untrusted(inner, resource)
    if kind == "Ratio" and isinstance(inner, dict):
        numerator, denominator = quantity(inner.get("numerator")), quantity(inner.get("denominator"))
        return f"{_qty(numerator)} / {_qty(denominator)}" if numerator and denominator else None
    if kind == "Reference":
        return reference(inner, resource)
    return inner if isinstance(inner, (str, int, float, bool)) else None


def _qty(value: dict[str, Any] | None) -> str:
    if not value:
        return "?"
    return f"{value.get('comparator', '')}{value['value']} {value.get('unit', '')}".strip()


def range_text(value: Any, _: dict[str, Any] | None = None) -> str | None:
    if not isinstance(value, dict):
        return None
    low, high = quantity(value.get("low")), quantity(value.get("high"))
    if low and high:
        unit = high.get("unit", "")
        return f"{low['value']}-{high['value']} {unit}".strip()
    if low:
        return f">={_qty(low)}"
    return f"<={_qty(high)}" if high else value.get("text")


def reference_ranges(value: Any, _: dict[str, Any]) -> list[str] | None:
    out = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        label = range_text(item) or item.get("text")
        kind = concept(item.get("type"))
        applies = concepts(item.get("appliesTo"), {})
        out.append(" ".join(p for p in (label, f"({kind})" if kind and "normal" not in kind.lower() else None,
                                        f"for {', '.join(applies)}" if applies else None) if p))
    return [r for r in out if r] or None


def reference(value: Any, resource: dict[str, Any]) -> str | None:
    """'Display (Type/id)'; a contained resource ('#x') is shown by its code or name."""
    if not isinstance(value, dict):
        return None
    target = value.get("reference")
    display = value.get("display")
    if isinstance(target, str) and target.startswith("#"):
        contained = next((c for c in resource.get("contained") or []
                          if isinstance(c, dict) and c.get("id") == target[1:]), None)
        if contained is not None:
            inner = concept(contained.get("code")) or _human_name(contained.get("name")) or contained.get("name")
            return f"{display or inner} (contained {contained.get('resourceType')})"
    if isinstance(target, str) and "/" in target:
        target = "/".join(target.rstrip("/").split("/")[-2:])
    if display and target:
        return f"{display} ({target})"
    return display or target or concept(value.get("identifier", {}).get("type")) or None


def references(value: Any, resource: dict[str, Any]) -> list[str] | None:
    items = value if isinstance(value, list) else [value]
    return [r for r in (reference(v, resource) for v in items) if r] or None


def notes(value: Any, _: dict[str, Any]) -> list[dict[str, str]] | None:
    items = value if isinstance(value, list) else [value]
    return [{UNTRUSTED: n["text"]} for n in items if isinstance(n, dict) and isinstance(n.get("text"), str)] or None


def _human_name(value: Any) -> str | None:
    names = value if isinstance(value, list) else [value]
    names = [n for n in names if isinstance(n, dict)]
    if not names:
        return None
    best = next((n for n in names if n.get("use") == "official"), names[0])
    if best.get("text"):
        return best["text"]
    parts = [*best.get("prefix", []), *best.get("given", []), best.get("family"), *best.get("suffix", [])]
    return " ".join(p for p in parts if p) or None


def human_name(value: Any, _: dict[str, Any]) -> str | None:
    return _human_name(value)


def identifiers(value: Any, _: dict[str, Any]) -> list[str] | None:
    out = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict) or not item.get("value"):
            continue
        label = (concept(item.get("type")) or "").split(" [")[0].split(" (")[0]
        system = SYSTEMS.get(str(item.get("system")))
        out.append(f"{label or system or item.get('system') or 'id'} {item['value']}")
    return out or None


def telecoms(value: Any, _: dict[str, Any]) -> list[str] | None:
    items = value if isinstance(value, list) else []
    return [f"{t.get('system', 'contact')} {t['value']}" + (f" ({t['use']})" if t.get("use") else "")
            for t in items if isinstance(t, dict) and t.get("value")] or None


def addresses(value: Any, _: dict[str, Any]) -> list[str] | None:
    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            parts = [*item.get("line", []), item.get("city"), item.get("state"), item.get("postalCode"),
                     item.get("country")]
            line = item.get("text") or ", ".join(p for p in parts if p)
            if line:
                out.append(line + (f" ({item['use']})" if item.get("use") else ""))
    return out or None


def each(value: Any, record: Callable[[dict[str, Any]], dict[str, Any]]) -> list[dict[str, Any]] | None:
    """A repeating backbone element as a list of records, empty fields and empty records left out."""
    records = [_clean(record(item)) for item in (value if isinstance(value, list) else []) if isinstance(item, dict)]
    return [r for r in records if r] or None


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


# Element lookup ------------------------------------------------------------------------------------------

def choice_of(resource: dict[str, Any], prefix: str, whole: dict[str, Any]) -> Any:
    """Render `prefix[x]` (valueQuantity, onsetDateTime, ...) whatever its type."""
    for key, value in resource.items():
        if key.startswith(prefix) and key[len(prefix):][:1].isupper():
            return choice((key[len(prefix):], value), whole)
    return None


def _lookup(resource: dict[str, Any], path: str) -> Any:
    node: Any = resource
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


Field = tuple[str, str, Renderer]


def f(name: str, path: str, renderer: Renderer = text) -> Field:
    return (name, path, renderer)


def x(name: str, prefix: str) -> Field:
    """A choice element `prefix[x]`."""
    return (name, prefix + "[x]", text)


CLINICAL_STATUS = [f("clinical_status", "clinicalStatus", code_only),
                   f("verification_status", "verificationStatus", code_only)]

SPECS: dict[str, list[Field]] = {
    "Patient": [f("name", "name", human_name),
                f("legal_sex", "extension", lambda v, r: _extension(v, EPIC_LEGAL_SEX)),
                f("birth_sex", "extension", lambda v, r: _extension(v, US_CORE_BIRTH_SEX)),
                f("gender", "gender"), f("birth_date", "birthDate"), x("deceased", "deceased"),
                f("identifiers", "identifier", identifiers), f("telecom", "telecom", telecoms),
                f("address", "address", addresses), f("marital_status", "maritalStatus", concept),
                f("language", "communication", lambda v, r: concepts([c.get("language") for c in v
                                                                      if isinstance(c, dict)], r)),
                f("general_practitioner", "generalPractitioner", references),
                f("managing_organization", "managingOrganization", reference), f("active", "active")],
    "Observation": [f("status", "status"), f("category", "category", code_only), f("code", "code", concept),
                    x("effective", "effective"), x("value", "value"),
                    f("data_absent", "dataAbsentReason", concept),
                    f("interpretation", "interpretation", concepts),
                    f("reference_range", "referenceRange", reference_ranges),
                    f("components", "component", components), f("body_site", "bodySite", concept),
                    f("method", "method", concept), f("has_member", "hasMember", references),
                    f("note", "note", notes)],
    "Condition": [*CLINICAL_STATUS, f("category", "category", code_only), f("severity", "severity", concept),
                  f("code", "code", concept), f("body_site", "bodySite", concepts), x("onset", "onset"),
                  x("abatement", "abatement"), f("recorded_date", "recordedDate"),
                  f("recorder", "recorder", reference), f("encounter", "encounter", reference),
                  f("stage", "stage", lambda v, r: concepts([s.get("summary") for s in v if isinstance(s, dict)],
                                                            r)),
                  f("note", "note", notes)],
    "Encounter": [f("status", "status"), f("class", "class", lambda v, r: coding(v)), f("type", "type", concepts),
                  f("service_type", "serviceType", concept), f("priority", "priority", concept),
                  f("period", "period", period),
                  f("length", "length", lambda v, r: None if (r.get("period") or {}).get("end") else quantity(v)),
                  f("reason", "reasonCode", concepts), f("reason_reference", "reasonReference", references),
                  f("diagnosis", "diagnosis", lambda v, r: references([d.get("condition") for d in v
                                                                       if isinstance(d, dict)], r)),
                  f("participants", "participant", participants),
                  f("location", "location", lambda v, r: references([loc.get("location") for loc in v
                                                                     if isinstance(loc, dict)], r)),
                  f("service_provider", "serviceProvider", reference),
                  f("discharge_disposition", "hospitalization.dischargeDisposition", concept)],
    "Procedure": [f("status", "status"), f("category", "category", concept), f("code", "code", concept),
                  x("performed", "performed"), f("reason", "reasonCode", concepts),
                  f("reason_reference", "reasonReference", references), f("body_site", "bodySite", concepts),
                  f("outcome", "outcome", concept), f("performers", "performer", participants),
                  f("location", "location", reference), f("encounter", "encounter", reference),
                  f("complication", "complication", concepts), f("note", "note", notes)],
    "DocumentReference": [f("status", "status"), f("doc_status", "docStatus"), f("type", "type", concept),
                          f("category", "category", code_only), f("date", "date"),
                          f("author", "author", references), f("authenticator", "authenticator", reference),
                          f("description", "description", untrusted),
                          f("period", "context.period", period),
                          f("encounter", "context.encounter", references),
                          f("attachments", "content", attachments)],
    "Appointment": [f("status", "status"), f("service_type", "serviceType", concepts),
                    f("appointment_type", "appointmentType", concept), f("start", "start"), f("end", "end"),
                    f("minutes", "minutesDuration"), f("description", "description", untrusted),
                    f("reason", "reasonCode", concepts), f("participants", "participant", participants),
                    f("cancelation_reason", "cancelationReason", concept), f("comment", "comment", untrusted),
                    f("patient_instruction", "patientInstruction", untrusted)],
    "Coverage": [f("status", "status"), f("type", "type", concept), f("payor", "payor", references),
                 f("plan", "class", coverage_classes), f("subscriber_id", "subscriberId"),
                 f("subscriber", "subscriber", reference), f("beneficiary", "beneficiary", reference),
                 f("relationship", "relationship", concept), f("period", "period", period),
                 f("network", "network"), f("order", "order"), f("dependent", "dependent")],
    "ExplanationOfBenefit": [f("status", "status"), f("type", "type", concept), f("use", "use"),
                             f("created", "created"), f("billable_period", "billablePeriod", period),
                             f("insurer", "insurer", reference), f("provider", "provider", reference),
                             f("outcome", "outcome"), f("coverage", "insurance", lambda v, r: references(
                                 [i.get("coverage") for i in v if isinstance(i, dict)], r)),
                             f("total", "total", totals), f("payment", "payment.amount", money),
                             f("items", "item", eob_items)],
    "CarePlan": [f("status", "status"), f("intent", "intent"), f("category", "category", concepts),
                 f("title", "title", untrusted), f("description", "description", untrusted),
                 f("period", "period", period), f("created", "created"), f("author", "author", reference),
                 f("addresses", "addresses", references), f("goals", "goal", references),
                 f("activities", "activity", care_plan_activities), f("note", "note", notes)],
    "Questionnaire": [f("title", "title"), f("status", "status"), f("code", "code", concepts),
                      f("date", "date"), f("questions", "item", questions)],
    "QuestionnaireResponse": [f("status", "status"), f("questionnaire", "questionnaire"),
                              f("authored", "authored"), f("author", "author", reference),
                              f("source", "source", reference), f("answers", "item", answers)],
    "List": [f("status", "status"), f("mode", "mode"), f("title", "title"), f("code", "code", concept),
             f("date", "date"), f("source", "source", reference),
             f("entries", "entry", lambda v, r: references([e.get("item") for e in v if isinstance(e, dict)], r)),
             f("empty_reason", "emptyReason", concept), f("note", "note", notes)],
    "Consent": [f("status", "status"), f("scope", "scope", concept), f("category", "category", concepts),
                f("date_time", "dateTime"), f("performer", "performer", references),
                f("organization", "organization", references), f("policy_rule", "policyRule", concept),
                f("provision", "provision", provisions)],
    "Provenance": [f("targets", "target", references), f("recorded", "recorded"),
                   f("occurred", "occurredPeriod", period), f("activity", "activity", concept),
                   f("agents", "agent", participants), f("reason", "reason", concepts)],
    "DeviceUseStatement": [f("status", "status"), f("device", "device", reference), x("timing", "timing"),
                           f("recorded_on", "recordedOn"), f("reason", "reasonCode", concepts),
                           f("body_site", "bodySite", concept), f("note", "note", notes)],
    "Device": [f("status", "status"), f("type", "type", concept), f("names", "deviceName", device_names),
               f("manufacturer", "manufacturer"), f("model", "modelNumber"), f("udi", "udiCarrier", udi),
               f("lot_number", "lotNumber"), f("expiration_date", "expirationDate"),
               f("patient", "patient", reference), f("owner", "owner", reference), f("note", "note", notes)],
    "Organization": [f("name", "name"), f("active", "active"), f("type", "type", concepts),
                     f("identifiers", "identifier", identifiers), f("telecom", "telecom", telecoms),
                     f("address", "address", addresses), f("part_of", "partOf", reference)],
    "Location": [f("name", "name"), f("status", "status"), f("mode", "mode"), f("type", "type", concepts),
                 f("address", "address", lambda v, r: addresses([v], r)), f("telecom", "telecom", telecoms),
                 f("managing_organization", "managingOrganization", reference), f("part_of", "partOf", reference)],
    "Practitioner": [f("name", "name", human_name), f("active", "active"), f("gender", "gender"),
                     f("identifiers", "identifier", identifiers), f("telecom", "telecom", telecoms),
                     f("address", "address", addresses), f("qualifications", "qualification", qualifications)],
    "PractitionerRole": [f("active", "active"), f("practitioner", "practitioner", reference),
                         f("organization", "organization", reference), f("roles", "code", concepts),
                         f("specialty", "specialty", concepts), f("locations", "location", references),
                         f("telecom", "telecom", telecoms), f("period", "period", period)],
    "MedicationRequest": [f("status", "status"), f("intent", "intent"), f("category", "category", code_only),
                          f("priority", "priority"), x("medication", "medication"),
                          f("authored_on", "authoredOn"), f("requester", "requester", reference),
                          f("encounter", "encounter", reference), f("reason", "reasonCode", concepts),
                          f("reason_reference", "reasonReference", references),
                          f("dosage", "dosageInstruction", dosages),
                          f("dispense_quantity", "dispenseRequest.quantity", quantity),
                          f("refills", "dispenseRequest.numberOfRepeatsAllowed"),
                          f("validity", "dispenseRequest.validityPeriod", period),
                          f("status_reason", "statusReason", concept), f("note", "note", notes)],
    "Medication": [f("code", "code", concept), f("status", "status"), f("form", "form", concept),
                   f("ingredients", "ingredient", ingredients), f("manufacturer", "manufacturer", reference)],
    "AllergyIntolerance": [*CLINICAL_STATUS, f("type", "type"), f("category", "category", texts),
                           f("criticality", "criticality"), f("code", "code", concept), x("onset", "onset"),
                           f("recorded_date", "recordedDate"), f("last_occurrence", "lastOccurrence"),
                           f("reactions", "reaction", reactions), f("note", "note", notes)],
    "Immunization": [f("status", "status"), f("status_reason", "statusReason", concept),
                     f("vaccine", "vaccineCode", concept), x("occurrence", "occurrence"),
                     f("primary_source", "primarySource"), f("lot_number", "lotNumber"),
                     f("site", "site", concept), f("route", "route", concept),
                     f("dose", "doseQuantity", quantity), f("performers", "performer", participants),
                     f("reason", "reasonCode", concepts), f("note", "note", notes)],
    "DiagnosticReport": [f("status", "status"), f("category", "category", code_only), f("code", "code", concept),
                         x("effective", "effective"), f("issued", "issued"), f("performer", "performer", references),
                         f("results", "result", references), f("conclusion", "conclusion", untrusted),
                         f("conclusion_code", "conclusionCode", concepts),
                         f("presented_form", "presentedForm", attachments)],
    "Goal": [f("lifecycle_status", "lifecycleStatus"), f("achievement_status", "achievementStatus", concept),
             f("category", "category", concepts), f("priority", "priority", concept),
             f("description", "description", lambda v, r: untrusted(concept(v), r)),
             x("start", "start"), f("targets", "target", targets), f("addresses", "addresses", references),
             f("note", "note", notes)],
    "CareTeam": [f("status", "status"), f("name", "name"), f("category", "category", concepts),
                 f("period", "period", period), f("participants", "participant", participants),
                 f("managing_organization", "managingOrganization", references), f("note", "note", notes)],
    "ServiceRequest": [f("status", "status"), f("intent", "intent"), f("category", "category", concepts),
                       f("priority", "priority"), f("code", "code", concept), x("occurrence", "occurrence"),
                       f("authored_on", "authoredOn"), f("requester", "requester", reference),
                       f("performer", "performer", references), f("reason", "reasonCode", concepts),
                       f("reason_reference", "reasonReference", references),
                       f("patient_instruction", "patientInstruction", untrusted), f("note", "note", notes)],
    "FamilyMemberHistory": [f("status", "status"), f("relationship", "relationship", concept),
                            f("sex", "sex", concept), x("deceased", "deceased"), x("age", "age"),
                            f("conditions", "condition", family_conditions), f("note", "note", notes)],
}

EPIC_LEGAL_SEX = "http://open.epic.com/FHIR/StructureDefinition/extension/legal-sex"
US_CORE_BIRTH_SEX = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"


def _extension(extensions: Any, url: str) -> str | None:
    """The value of one (simple) extension, e.g. Epic's legal sex or US Core's birth sex."""
    for extension in extensions if isinstance(extensions, list) else []:
        if isinstance(extension, dict) and extension.get("url") == url:
            value = extension.get("valueCodeableConcept") or extension.get("valueCode")
            return concept(value) if isinstance(value, dict) else value
    return None


def compact(resource: dict[str, Any]) -> dict[str, Any]:
    """The compact record of one resource: id, type and the fields its spec names, empty ones left out."""
    resource_type = resource.get("resourceType", "")
    record: dict[str, Any] = {"resourceType": resource_type, "id": resource.get("id")}
    for name, path, renderer in SPECS.get(resource_type, []):
        if path.endswith("[x]"):
            value = choice_of(resource, path[:-3], resource)
        else:
            raw = _lookup(resource, path)
            value = renderer(raw, resource) if raw is not None else None
        value = _clean(value)
        if value is not None:
            record[name] = value
    return record


# The text rendering for the model --------------------------------------------------------------------------

def inline(value: Any) -> str:
    if isinstance(value, dict):
        if set(value) == {UNTRUSTED}:
            return f"<patient-text>{value[UNTRUSTED]}</patient-text>"
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
    return str(value)


def record_line(record: dict[str, Any]) -> str:
    """One line per record: 'Type/id | field: value | ...'."""
    head = f"{record.get('resourceType')}/{record.get('id')}"
    return " | ".join([head, *(f"{k}: {inline(v)}" for k, v in record.items() if k not in ("id", "resourceType"))])


def as_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def page_text(resource_type: str, total: int | None, items: list[dict[str, Any]], warnings: list[str],
              next_cursor: str | None) -> str:
    """A compact search page for the model: a header, fields every item shares said once, one line per item."""
    lines = [f"{resource_type} search: {len(items)} on this page, total "
             f"{total if total is not None else 'unknown'}"
             + (f"; more with next_page(cursor={next_cursor!r})" if next_cursor else "; no more pages")]
    lines += [f"warning: {w}" for w in warnings]
    return "\n".join(lines + item_lines(resource_type, items))


def item_lines(resource_type: str, items: list[dict[str, Any]]) -> list[str]:
    """One line per record, after one line with the fields every record shares."""
    shared = {k: v for k, v in items[0].items() if k not in ("id", "resourceType")} if len(items) > 1 else {}
    shared = {k: v for k, v in shared.items() if all(item.get(k) == v for item in items[1:])}
    lines = ["every item: " + " | ".join(f"{k}: {inline(v)}" for k, v in shared.items())] if shared else []
    same_type = all(item.get("resourceType") == resource_type for item in items)
    for item in items:
        line = record_line({k: v for k, v in item.items() if k not in shared})
        lines.append("- " + (line.removeprefix(f"{resource_type}/") if same_type else line))
    return lines
