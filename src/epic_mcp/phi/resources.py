"""De-identifying FHIR JSON: one walk over a resource (or a search Bundle) that pseudonymises ids, references
and identifiers, removes what names and reaches a person, moves the patient's dates, and scrubs free text.

Which resources are the patient's (pseudonymised, dates moved, text scrubbed) is decided by type: every type
except the directory (clinicians, organizations, places, drugs, forms), so a type this module has never heard of
is treated as patient data. Which patient a resource belongs to decides its date offset and which names and
numbers its text must not contain.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

from ..answers.ages import age_extension, age_on
from ..answers.documents import to_text
from ..auth.urls import is_within_base
from ..render.terminology import LABELS as TERMINOLOGIES
from .dates import FHIR_DATE, shift_fhir
from .pseudonyms import PseudonymCodec
from .scrub import Identity, Scrubber

DIRECTORY = frozenset({"Practitioner", "PractitionerRole", "Organization", "Location", "Medication",
                       "Questionnaire", "HealthcareService", "Endpoint", "Substance", "CapabilityStatement",
                       "ValueSet", "CodeSystem", "StructureDefinition", "SearchParameter", "OperationDefinition"})
CLINICIANS = frozenset({"Practitioner", "PractitionerRole"})
PEOPLE = frozenset({"Patient", "RelatedPerson", "Person"})
# Elements that are codes, systems or structure, never free text or dates.
STRUCTURAL = frozenset({"resourceType", "system", "code", "version", "url", "contentType", "language", "linkId",
                        "profile", "status", "use", "mode", "unit", "currency", "relation", "intent", "priority",
                        "gender", "type"})
IDENTIFIERS = frozenset({"identifier", "masterIdentifier", "accessionIdentifier", "valueIdentifier"})
IDENTIFYING_STRINGS = frozenset({"subscriberId", "serialNumber", "carrierHRF", "carrierAIDC"})
# Dates without a day move only where the element is a date: a bare "2019" elsewhere may be a count. The names of
# FHIR R4's date, dateTime and instant elements (tests/phi/test_dates.py checks them against the R4 model).
DATE_KEY = re.compile(r"(?:[dD]ate|[dD]ateTime|[iI]nstant|^start|^end|^issued|^recorded|^created|^authored|On|"
                      r"^lastOccurrence|^occurrence.*|^date.+|^creation|^detected|^expiry|^last(?:Modified|Performed|"
                      r"Updated)|^nextScheduled|^received(?:Time)?|^sent|^started|^time(?:stamp)?|^validTo|^when.*|"
                      r"^ifModifiedSince|^effectiveTime|^event|^onset)$")
KEPT_PERSON_EXTENSIONS = frozenset({
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity",
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-genderIdentity",
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-sex",
    "http://hl7.org/fhir/StructureDefinition/patient-genderIdentity",
    "http://open.epic.com/FHIR/StructureDefinition/extension/legal-sex",
    "http://open.epic.com/FHIR/StructureDefinition/extension/sex-for-clinical-use",
})
REMOVED_FROM_PEOPLE = frozenset({"name", "telecom", "photo", "contact", "text", "_name", "_telecom", "_birthDate",
                                 "_address", "_photo"})
REFERENCE = re.compile(r"(?P<prefix>.*?)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})"
                       r"(?P<history>/_history/[A-Za-z0-9\-.]{1,64})?")
LINK_PATH = "_phi"
FOREIGN_LINK = "https://withheld.invalid/"
OVER_89 = "90+"
# An age's units, in how many make a year (UCUM's codes and the words written for them).
AGE_UNITS_PER_YEAR = {**dict.fromkeys(("a", "yr", "yrs", "year", "years"), 1.0),
                      **dict.fromkeys(("mo", "month", "months"), 12.0),
                      **dict.fromkeys(("wk", "week", "weeks"), 365.25 / 7),
                      **dict.fromkeys(("d", "day", "days"), 365.25)}


@dataclass(frozen=True)
class Policy:
    shift_dates: bool = True
    practitioners: bool = False

    def pseudonymized(self, resource_type: str) -> bool:
        """Whether ids of this type are pseudonyms (and its resources the patient's data)."""
        if resource_type in CLINICIANS:
            return self.practitioners
        return resource_type not in DIRECTORY


@dataclass
class Scope:
    """The patient a resource belongs to, as far as it matters for its values."""

    patient_id: str | None
    days: int
    scrubber: Scrubber
    patient_data: bool
    birth: tuple[str, str] | None = None  # the patient's birth date, and what shows in its place


def patient_of(resource: dict[str, Any]) -> str | None:
    """The real id of the patient a resource belongs to (itself, for a Patient), if it names one."""
    if resource.get("resourceType") == "Patient":
        return resource.get("id") if isinstance(resource.get("id"), str) else None
    links: list[Any] = [resource.get(name) for name in ("subject", "patient", "beneficiary")]
    links += [p.get("actor") for p in _list(resource.get("participant")) if isinstance(p, dict)]
    links += _list(resource.get("target"))
    for link in links:
        found = _patient_in(link)
        if found:
            return found
    return _first_patient(resource)


def _patient_in(link: Any) -> str | None:
    text = link.get("reference") if isinstance(link, dict) else None
    match = REFERENCE.fullmatch(text) if isinstance(text, str) else None
    return match["id"] if match and match["type"] == "Patient" else None


def _first_patient(value: Any) -> str | None:
    if isinstance(value, dict):
        found = _patient_in(value)
        return found or next((p for p in map(_first_patient, value.values()) if p), None)
    if isinstance(value, list):
        return next((p for p in map(_first_patient, value) if p), None)
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


class MissingIdentity(LookupError):
    """A resource of a patient whose identity (names, numbers) was not read: its text cannot be scrubbed."""


class Deidentifier:
    """Turns real FHIR JSON into de-identified FHIR JSON for one deployment (its secret and policy)."""

    def __init__(self, codec: PseudonymCodec, policy: Policy, base_url: str, today: Callable[[], date]) -> None:
        self.codec = codec
        self.policy = policy
        self.base = httpx.URL(base_url.rstrip("/") + "/")
        self.today = today

    # Values the model sees and sends back ---------------------------------------------------------------

    def pseudonym(self, resource_type: str, real_id: str) -> str:
        return self.codec.pseudonym(resource_type, real_id) if self.policy.pseudonymized(resource_type) else real_id

    def real_id(self, resource_type: str, value: str) -> str | None:
        """The real id behind a pseudonym of this type; None if it is not one (ids of the directory pass)."""
        return self.codec.real(resource_type, value) if self.policy.pseudonymized(resource_type) else value

    def identifier(self, value: str) -> str:
        return self.codec.pseudonym("identifier", value.strip())

    def offset(self, patient_id: str | None) -> int:
        return self.codec.offset_days(patient_id) if patient_id and self.policy.shift_dates else 0

    def label(self, resource_type: str, real_id: str) -> str:
        return f"Clinician {self.codec.label(resource_type, real_id)}"

    def reference(self, text: str) -> str | None:
        """'Type/id' (relative, absolute, versioned) with the id pseudonymised; None for a reference that could
        carry an identifier some other way (a conditional reference such as Patient?identifier=...)."""
        if text.startswith(("#", "urn:uuid:", "urn:oid:")):
            return text
        match = REFERENCE.fullmatch(text)
        if match is None:
            return None
        return f"{match['prefix']}{match['type']}/{self.pseudonym(match['type'], match['id'])}{match['history'] or ''}"

    # Whole documents -------------------------------------------------------------------------------------

    def scope(self, patient_id: str | None, identity: Identity | None, patient_data: bool,
              local: Mapping[str, str] | None = None) -> Scope:
        days = self.offset(patient_id)
        terms: dict[str, str] = {}
        if identity is not None:
            terms |= {value: self.identifier(value) for value in identity.identifiers}
        if patient_id is not None:
            terms[patient_id] = self.pseudonym("Patient", patient_id)
        born = identity.birth_date if identity is not None else None
        shown = (OVER_89 if age_on(born, self.today()) > 89 else str(born.year)) if born else None
        scrubber = Scrubber(identity if patient_data else None, days, terms, shown, local)
        return Scope(patient_id, days, scrubber, patient_data, (born.isoformat(), shown) if born and shown else None)

    def resource(self, resource: dict[str, Any], identities: Mapping[str, Identity],
                 default_patient: str | None = None) -> dict[str, Any]:
        resource_type = str(resource.get("resourceType", ""))
        patient_data = self.policy.pseudonymized(resource_type)
        patient_id = (patient_of(resource) or default_patient) if patient_data else None
        if patient_id is not None and patient_id not in identities:
            raise MissingIdentity(patient_id)
        scope = self.scope(patient_id, identities.get(patient_id) if patient_id else None, patient_data,
                           self._local_terms(resource) if patient_data else None)
        return self._resource(resource, scope)

    def bundle(self, bundle: dict[str, Any], identities: Mapping[str, Identity],
               default_patient: str | None = None) -> dict[str, Any]:
        """A searchset: entries de-identified, next links made opaque, the self link stripped of values."""
        out: dict[str, Any] = {k: v for k, v in bundle.items() if k in ("resourceType", "type", "total")}
        entries = []
        for entry in _list(bundle.get("entry")):
            if not isinstance(entry, dict):
                continue
            kept: dict[str, Any] = {}
            if isinstance(entry.get("search"), dict):
                kept["search"] = {k: v for k, v in entry["search"].items() if k in ("mode", "score")}
            if isinstance(entry.get("fullUrl"), str):
                full_url = self.reference(entry["fullUrl"])
                if full_url:
                    kept["fullUrl"] = full_url
            if isinstance(entry.get("resource"), dict):
                kept["resource"] = self.resource(entry["resource"], identities, default_patient)
            entries.append(kept)
        if "entry" in bundle:
            out["entry"] = entries
        links = [self._link(link) for link in _list(bundle.get("link")) if isinstance(link, dict)]
        if links:
            out["link"] = [link for link in links if link]
        return out

    def _link(self, link: dict[str, Any]) -> dict[str, Any] | None:
        relation, url = link.get("relation"), link.get("url")
        if not isinstance(relation, str) or not isinstance(url, str):
            return None
        if relation == "self":  # only the names of the parameters the server used (see ignored_parameters)
            path, _, query = url.partition("?")
            last = path.rstrip("/").rsplit("/", 1)[-1]
            names = [pair.split("=", 1)[0] for pair in query.split("&") if pair]
            searched = last if re.fullmatch(r"[A-Z][A-Za-z]+", last) else ""
            return {"relation": relation, "url": f"{self.base}{searched}?" + "&".join(f"{n}=-" for n in names)}
        return {"relation": relation, "url": self.opaque_link(url)}

    def opaque_link(self, url: str) -> str:
        """A paging link as a path under the base that only this deployment can turn back into the real one."""
        try:
            real = httpx.URL(url)
        except httpx.InvalidURL:
            return FOREIGN_LINK
        if not is_within_base(real, self.base):
            return FOREIGN_LINK
        below = real.raw_path.decode("ascii")[len(self.base.raw_path.decode("ascii")):]
        return str(self.base.copy_with(raw_path=self.base.raw_path + f"{LINK_PATH}/".encode()
                                       + self.codec.pseudonym("link", below).encode()))

    def real_link(self, url: httpx.URL) -> httpx.URL | None:
        """The real URL behind an opaque paging link; None if the URL is not one."""
        below = url.raw_path.decode("ascii")[len(self.base.raw_path.decode("ascii")):]
        if not below.startswith(LINK_PATH + "/"):
            return None
        real = self.codec.real("link", below[len(LINK_PATH) + 1:])
        return self.base.copy_with(raw_path=self.base.raw_path + real.encode("ascii")) if real is not None else None

    # The walk --------------------------------------------------------------------------------------------

    def _local_terms(self, resource: dict[str, Any]) -> dict[str, str]:
        """Terms of this resource its own text may repeat: its identifiers, and clinicians' names when those
        are pseudonymised."""
        terms = {value: self.identifier(value) for value in _identifier_values(resource)}
        if self.policy.practitioners:
            for reference in _references(resource):
                match = REFERENCE.fullmatch(str(reference.get("reference", "")))
                if match and match["type"] in CLINICIANS and isinstance(reference.get("display"), str):
                    terms[reference["display"]] = self.label(match["type"], match["id"])
        return terms

    def _resource(self, resource: dict[str, Any], scope: Scope, contained: bool = False) -> dict[str, Any]:
        """One resource; a contained one keeps its local id, which '#id' references in its container use."""
        resource_type = str(resource.get("resourceType", ""))
        out: dict[str, Any] = {}
        for key, value in resource.items():
            if key == "text" and isinstance(value, dict) and "div" in value:
                continue  # the narrative repeats the structured data as XHTML
            if key == "meta" and isinstance(value, dict):
                meta = {k: v for k, v in value.items() if k in ("profile", "tag", "security")}
                if meta:
                    out[key] = meta
            elif key == "id" and isinstance(value, str):
                out[key] = value if contained else self.pseudonym(resource_type, value)
            elif resource_type in PEOPLE and key in REMOVED_FROM_PEOPLE:
                continue
            elif resource_type in PEOPLE and key in ("address", "birthDate", "extension"):
                kept = self._person_element(resource, key, value)
                if kept is not None:
                    out[key] = self._walk(kept, key, scope) if key != "birthDate" else kept
            elif resource_type in CLINICIANS and self.policy.practitioners and key in ("telecom", "address",
                                                                                        "photo"):
                continue
            elif resource_type == "Practitioner" and self.policy.practitioners and key == "name":
                out[key] = [{"text": self.label("Practitioner", str(resource.get("id")))}]
            else:
                walked = self._walk(value, key, scope)
                if walked is not None:
                    out[key] = walked
        age = self._age(resource) if resource_type == "Patient" else None
        if age is not None:  # stated here, from the real dates: the model cannot compute it from moved ones
            out["extension"] = [*_list(out.get("extension")), age_extension(age)]
        return out

    def _person_element(self, person: dict[str, Any], key: str, value: Any) -> Any:
        if key == "address":  # a state and a country are not identifiers under Safe Harbor
            kept = [{k: v for k, v in a.items() if k in ("use", "type", "state", "country")}
                    for a in _list(value) if isinstance(a, dict)]
            return [a for a in kept if set(a) - {"use", "type"}] or None
        if key == "birthDate":
            return self._birth(person, value)
        return [e for e in _list(value) if isinstance(e, dict) and e.get("url") in KEPT_PERSON_EXTENSIONS] or None

    def _birth(self, person: dict[str, Any], value: Any) -> str | None:
        """The year of birth; '90+' for anyone 90 or older (today, or at death)."""
        age = self._age(person)
        return None if age is None else OVER_89 if age > 89 else str(value)[:4]

    def _age(self, person: dict[str, Any]) -> int | None:
        """The age in years today, or at death, from the real dates (a birth date to the year or month counts
        from its first day)."""
        value = person.get("birthDate")
        if not isinstance(value, str) or not FHIR_DATE.fullmatch(value):
            return None
        parts = [int(part) for part in value[:10].split("-")]
        born = date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
        died = person.get("deceasedDateTime")
        until = self.today()
        if isinstance(died, str) and FHIR_DATE.fullmatch(died) and len(died) >= 10:
            until = date.fromisoformat(died[:10])
        return age_on(born, until)

    def _walk(self, value: Any, key: str, scope: Scope) -> Any:
        if isinstance(value, list):
            return [self._walk(item, key, scope) for item in value]
        if isinstance(value, dict):
            return self._element(value, key, scope)
        if isinstance(value, str):
            return self._string(value, key, scope)
        return value

    def _element(self, value: dict[str, Any], key: str, scope: Scope) -> dict[str, Any] | None:
        if key == "text" and "div" in value:
            return None  # a narrative: XHTML repeating the structured data
        if isinstance(value.get("resourceType"), str):  # contained resources belong to the same patient
            return self._resource(value, scope, contained=True)
        if key in IDENTIFIERS and isinstance(value.get("value"), str) and scope.patient_data:
            return {k: (self.identifier(v) if k == "value" else self._walk(v, k, scope)) for k, v in value.items()}
        if isinstance(value.get("reference"), str) or (key != "code" and set(value) and set(value) <= {
                "display", "identifier", "type"} and "display" in value and "coding" not in value):
            return self._reference(value, scope)
        if ("data" in value or "url" in value) and ("contentType" in value or "title" in value):
            return self._attachment(value, scope)
        # An Age before the terminologies: FHIR codes it in UCUM ('a'), whatever its unit's text says. An age
        # range (onsetRange, ageRange, a reference range's age) holds two.
        if key.endswith("Age"):
            value = _age_at_most_90(value)
        elif key.endswith("Range") or key == "age":
            value = {k: _age_at_most_90(v) if k in ("low", "high") and isinstance(v, dict) else v
                     for k, v in value.items()}
        if str(value.get("system")) in TERMINOLOGIES and "code" in value:
            return dict(value)  # a terminology's coding: its display is the terminology's text, not the patient's
        return {k: walked for k, v in value.items() if (walked := self._walk(v, k, scope)) is not None}

    def _reference(self, value: dict[str, Any], scope: Scope) -> dict[str, Any]:
        out: dict[str, Any] = {}
        target = value.get("type") if isinstance(value.get("type"), str) else None
        real = value.get("reference")
        match = REFERENCE.fullmatch(real) if isinstance(real, str) else None
        if isinstance(real, str):
            mapped = self.reference(real)
            if mapped is not None:
                out["reference"] = mapped
            target = match["type"] if match else target
        for key, item in value.items():
            if key == "reference":
                continue
            if key == "display" and isinstance(item, str):
                if target in PEOPLE:
                    continue
                if target in CLINICIANS and self.policy.practitioners:
                    out[key] = self.label(target, match["id"]) if match else self.label(target, item)
                    continue
            if key == "identifier" and isinstance(item, dict) and isinstance(item.get("value"), str) and (
                    scope.patient_data or (target is not None and self.policy.pseudonymized(target))):
                out[key] = {k: (self.identifier(v) if k == "value" else self._walk(v, k, scope))
                            for k, v in item.items()}
                continue
            out[key] = self._walk(item, key, scope)
        return out

    def _attachment(self, value: dict[str, Any], scope: Scope) -> dict[str, Any]:
        """Inline text is converted to plain text and scrubbed; content that is not text is left out; a link to
        a Binary on the FHIR server becomes Binary/<pseudonym carrying the patient>; other links are left out."""
        if not scope.patient_data:
            return {k: self._walk(v, k, scope) for k, v in value.items()}
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in ("data", "size", "hash", "url", "contentType"):
                continue
            out[key] = self._walk(item, key, scope)
        content_type = value.get("contentType") if isinstance(value.get("contentType"), str) else None
        if content_type:
            out["contentType"] = content_type
        if isinstance(value.get("data"), str):
            text = self._inline_text(value["data"], content_type)
            if text is not None:
                encoded = scope.scrubber.text(text).encode()
                out.update(contentType="text/plain; charset=utf-8", data=base64.b64encode(encoded).decode(),
                           size=len(encoded))
        if isinstance(value.get("url"), str):
            url = self._binary_url(value["url"], scope)
            if url is not None:
                out["url"] = url
        return out

    @staticmethod
    def _inline_text(data: str, content_type: str | None) -> str | None:
        try:
            content = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return None
        return readable_text(content, content_type)

    def _binary_url(self, url: str, scope: Scope) -> str | None:
        absolute = url.startswith(("http://", "https://"))
        below = url
        if absolute:
            base = str(self.base)
            if not url.startswith(base):
                return None
            below = url[len(base):]
        match = re.fullmatch(r"Binary/([A-Za-z0-9\-.]{1,64})", below)
        if match is None:
            return None
        pseudonym = self.codec.pseudonym("Binary", match.group(1), scope.patient_id or "")
        return f"{self.base}Binary/{pseudonym}" if absolute else f"Binary/{pseudonym}"

    def _string(self, value: str, key: str, scope: Scope) -> str:
        if key in STRUCTURAL or not scope.patient_data:
            return value
        if key in IDENTIFYING_STRINGS:
            return self.identifier(value)
        if FHIR_DATE.fullmatch(value) and (len(value) >= 10 or DATE_KEY.search(key)):
            if scope.birth and value[:10] == scope.birth[0]:  # e.g. a form's "date of birth" answer
                return scope.birth[1]
            return shift_fhir(value, scope.days) or value
        return scope.scrubber.text(value)


def _age_at_most_90(quantity: dict[str, Any]) -> dict[str, Any]:
    """An age over 89 years, in any unit of time, as 90 years or more (HIPAA's Safe Harbor); others as given."""
    per_year = next((AGE_UNITS_PER_YEAR[unit] for unit in (str(quantity.get("code")).lower(),
                                                          str(quantity.get("unit")).lower())
                     if unit in AGE_UNITS_PER_YEAR), None)
    amount = quantity.get("value")
    if per_year is None or not isinstance(amount, (int, float)) or amount / per_year <= 89:
        return quantity
    if per_year == 1.0:
        return {**quantity, "value": 90, "comparator": ">="}
    return {**quantity, "value": 90, "comparator": ">=", "unit": "years", "code": "a"}


TEXT_TYPES = ("text/", "application/rtf", "application/xhtml+xml", "application/xml", "application/json")


def readable_text(content: bytes, content_type: str | None) -> str | None:
    """Text (HTML and RTF converted to plain text) when the content is text; None for anything else."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind and not kind.startswith(TEXT_TYPES):
        return None
    if not kind:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return to_text(content, content_type)


def _identifier_values(resource: dict[str, Any]) -> set[str]:
    """Identifier values of a resource (and numbers such as a member id), which its own text may repeat."""
    found = {v for k in IDENTIFYING_STRINGS if isinstance(v := resource.get(k), str) and len(v) >= 4}
    for key in IDENTIFIERS:
        for identifier in _list(resource.get(key)):
            if isinstance(identifier, dict) and isinstance(identifier.get("value"), str) and \
                    len(identifier["value"]) >= 6:
                found.add(identifier["value"])
    return found


def _references(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        own = [value] if isinstance(value.get("reference"), str) else []
        return own + [r for v in value.values() for r in _references(v)]
    if isinstance(value, list):
        return [r for v in value for r in _references(v)]
    return []
