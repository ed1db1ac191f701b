"""Renderers for FHIR datatypes, shared by every resource type: each takes an element's value and the whole
resource and returns JSON (or None when there is nothing to show). Free text from the record is wrapped as
{"patient_text": ...} so a model can tell it is data, never instructions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .terminology import system_label

Renderer = Callable[[Any, dict[str, Any]], Any]


UNTRUSTED = "patient_text"


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


def _codes(codings: list[Any]) -> list[tuple[str | None, str | None]]:
    """(tag, display) per coding: tag 'LOINC 718-7' for a code worth keeping, None for HL7's own vocabularies."""
    out = []
    for item in codings:
        if not isinstance(item, dict):
            continue
        code, display, label = item.get("code"), item.get("display"), system_label(item.get("system"))
        tag = f"{label} {code}" if label and code else None
        out.append((tag, display if isinstance(display, str) and display.strip() else (None if tag else code)))
    return out


def concept(value: Any, _: dict[str, Any] | None = None) -> str | None:
    """A CodeableConcept as one phrase: its text, the codes that name the same thing in brackets, and other names
    with their codes after it: 'Hemoglobin A1c [LOINC 4548-4; SNOMED 43396009] (PR GLYCOSYLATED HEMOGLOBIN TEST
    [CPT 83036])'. Every code of every terminology but HL7's own is kept; displays that repeat the text are not."""
    if not isinstance(value, dict):
        return None
    codes = _codes(value.get("coding") or [])
    text_value = value.get("text")
    label = text_value.strip() if isinstance(text_value, str) and text_value.strip() else None
    label = label or next((str(display) for _, display in codes if display), None)
    same = [tag for tag, display in codes if tag and (display is None or str(display).lower() == (label or "").lower())
            and tag.split(" ", 1)[-1].lower() != (label or "").lower()]
    others: dict[str, list[str]] = {}
    for tag, display in codes:
        if display is not None and str(display).lower() != (label or "").lower():
            others.setdefault(str(display), []).extend([tag] if tag else [])
    phrase = label or ""
    if same:
        phrase += f" [{'; '.join(dict.fromkeys(same))}]" if label else "; ".join(dict.fromkeys(same))
    if others:
        named = [f"{name} [{'; '.join(dict.fromkeys(tags))}]" if tags else name for name, tags in others.items()]
        phrase += f" ({'; '.join(named)})" if phrase else "; ".join(named)
    extra = qualifiers(value)
    if extra and phrase:
        phrase += f" ({'; '.join(extra)})"
    return phrase.strip() or None


def concept_codes(value: Any) -> list[tuple[str, str]]:
    """(system, code) for each code of a CodeableConcept worth keeping: ('ICD-10-CM', 'J44.9'); HL7's own
    vocabularies and codings without a system are left out."""
    if not isinstance(value, dict):
        return []
    pairs = []
    for item in value.get("coding") or []:
        if isinstance(item, dict) and (label := system_label(item.get("system"))) and item.get("code"):
            pairs.append((label, str(item["code"])))
    return list(dict.fromkeys(pairs))


def concept_label(value: Any) -> str | None:
    """Just the words of a CodeableConcept: its text, else its first display, else its first code."""
    if not isinstance(value, dict):
        return None
    text_value = value.get("text")
    if isinstance(text_value, str) and text_value.strip():
        return text_value.strip()
    codes = _codes(value.get("coding") or [])
    return next((str(display) for _, display in codes if display), None) or next((t for t, _ in codes if t), None)


def extension_value(extension: Any, resource: dict[str, Any]) -> Any:
    """A simple extension's value[x], rendered; a complex one (nested extensions) as 'part: value' pairs."""
    if not isinstance(extension, dict):
        return None
    simple = choice_of(extension, "value", resource)
    if simple is not None:
        return simple
    parts = [(str(part.get("url")), extension_value(part, resource)) for part in extension.get("extension") or []
             if isinstance(part, dict)]
    return "; ".join(f"{name}: {inline_value(value)}" for name, value in parts if value is not None) or None


def inline_value(value: Any) -> str:
    if isinstance(value, dict) and UNTRUSTED in value:
        return str(value[UNTRUSTED])
    if isinstance(value, dict) and "value" in value:
        return _qty(value)
    return str(value)


def extension_name(url: str) -> str:
    """'http://nictiz.nl/fhir/StructureDefinition/BodySite-Qualifier' -> 'BodySite-Qualifier'."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def qualifiers(value: dict[str, Any]) -> list[str]:
    """Extensions on a CodeableConcept that qualify it (Epic's laterality on a body site)."""
    found = []
    for extension in value.get("extension") or []:
        rendered = extension_value(extension, {})
        if rendered is not None and isinstance(extension, dict):
            found.append(f"{extension_name(str(extension.get('url')))}: {inline_value(rendered)}")
    return found


def coding(value: Any, _: dict[str, Any] | None = None) -> str | None:
    """One Coding, rendered like a CodeableConcept that holds only it."""
    return concept({"coding": [value]}) if isinstance(value, dict) else None


def concepts(value: Any, resource: dict[str, Any]) -> list[str] | None:
    items = value if isinstance(value, list) else [value]
    return [c for c in (concept(v) for v in items) if c] or None


def code_only(value: Any, _: dict[str, Any]) -> list[str] | None:
    """Category-like concepts: the bare codes ('laboratory') are all an agent needs, with the concept's text when it
    names it otherwise, such as a translation ('laboratory (検体検査)')."""
    items = value if isinstance(value, list) else [value]
    found: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        codings = [c for c in item.get("coding") or [] if isinstance(c, dict)]
        codes = [str(c.get("code") or c.get("display")) for c in codings if c.get("code") or c.get("display")]
        text_value = item.get("text") if isinstance(item.get("text"), str) and item["text"].strip() else None
        names = {_plain(c.get(k)) for c in codings for k in ("code", "display")}
        if text_value and codes and _plain(text_value) not in names:
            codes[-1] += f" ({text_value})"
        found += codes or ([text_value] if text_value else [])
    return list(dict.fromkeys(found)) or None


def _unspaced(value: str) -> str:
    """'70 - 99 mg/dL' and '70-99 mg/dL' say the same."""
    return "".join(value.split()).lower()


def _plain(value: Any) -> str:
    return str(value).lower().replace("-", " ").replace("_", " ").strip() if value else ""


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
    """Each range with what it applies to; its text too when it says more than the numbers ('35-45 mm[Hg]
    (arterial blood gas)'). Its type is shown unless it is 'normal' (FHIR assumes the normal range) or the text
    already says it ('Critical range')."""
    out = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        numbers = range_text(item) if item.get("low") or item.get("high") else None
        note = item.get("text") if isinstance(item.get("text"), str) and item["text"].strip() else None
        said = numbers and note and _unspaced(note) != _unspaced(numbers)
        label = f"{numbers} ({note})" if said else numbers or note
        kind = concept(item.get("type"))
        if kind and ("normal" in kind.lower() or (note and _unspaced(note) == _unspaced(kind))):
            kind = None
        applies = concepts(item.get("appliesTo"), {})
        out.append(" ".join(p for p in (label, f"({kind})" if kind else None,
                                        f"for {', '.join(applies)}" if applies else None) if p))
    return [r for r in out if r] or None


def reference(value: Any, resource: dict[str, Any]) -> str | None:
    """'Display (Type/id)'; a contained resource ('#x') is shown by its code or name."""
    if not isinstance(value, dict):
        return None
    target = value.get("reference") if isinstance(value.get("reference"), str) else None
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
    parts = [*_words(best.get("prefix")), *_words(best.get("given")), *_words(best.get("family")),
             *_words(best.get("suffix"))]
    return " ".join(parts) or None


def _words(value: Any) -> list[str]:
    """A name part: a list of strings as FHIR has it, or a lone string as some servers send it."""
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, str) and item]


def human_name(value: Any, _: dict[str, Any]) -> str | None:
    return _human_name(value)


def identifiers(value: Any, _: dict[str, Any]) -> list[str] | None:
    out = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict) or not item.get("value"):
            continue
        label = (concept(item.get("type")) or "").split(" [")[0].split(" (")[0]
        system = system_label(item.get("system"))
        out.append(f"{label or system or item.get('system') or 'id'} {item['value']}")
    return out or None


def telecoms(value: Any, _: dict[str, Any]) -> list[str] | None:
    items = value if isinstance(value, list) else []
    return [f"{t.get('system', 'contact')} {t['value']}" + (f" ({t['use']})" if t.get("use") else "")
            for t in items if isinstance(t, dict) and t.get("value")] or None


def addresses(value: Any, _: dict[str, Any]) -> list[str] | None:
    """Each address as written (its text), with the parts the text leaves out (a postal code, a state code)."""
    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            parts = [*item.get("line", []), item.get("city"), item.get("district"), item.get("state"),
                     item.get("postalCode"), item.get("country")]
            written = item.get("text")
            if written:
                line = ", ".join([written, *(p for p in parts if p and str(p) not in written)])
            else:
                line = ", ".join(p for p in parts if p)
            kind = [k for k in (item.get("use"), item.get("type")) if k]
            if line:
                out.append(line + (f" ({', '.join(kind)})" if kind else ""))
    return out or None


def each(value: Any, record: Callable[[dict[str, Any]], dict[str, Any]]) -> list[dict[str, Any]] | None:
    """A repeating backbone element as a list of records, empty fields and empty records left out."""
    records = [_clean(record(item)) for item in (value if isinstance(value, list) else []) if isinstance(item, dict)]
    return [r for r in records if r] or None


def choice_of(resource: dict[str, Any], prefix: str, whole: dict[str, Any]) -> Any:
    """Render `prefix[x]` (valueQuantity, onsetDateTime, ...) whatever its type."""
    for key, value in resource.items():
        if key.startswith(prefix) and key[len(prefix):][:1].isupper():
            return choice((key[len(prefix):], value), whole)
    return None


def _lookup(resource: dict[str, Any], parts: tuple[str, ...]) -> Any:
    node: Any = resource
    for part in parts:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node
