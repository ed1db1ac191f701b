"""One declarative spec per resource type: its output fields as (name, FHIR element, renderer), and `compact`,
which makes the record from them."""

from __future__ import annotations

from functools import partial
from typing import Any

from .datatypes import (
    Renderer,
    _clean,
    _lookup,
    addresses,
    choice_of,
    code_only,
    coding,
    concept,
    concepts,
    extension_value,
    human_name,
    identifiers,
    inline_value,
    money,
    notes,
    period,
    quantity,
    reference,
    reference_ranges,
    references,
    telecoms,
    text,
    texts,
    untrusted,
)
from .elements import (
    answers,
    attachments,
    care_plan_activities,
    components,
    contacts,
    costs,
    coverage_classes,
    device_names,
    diagnoses,
    dosages,
    doses_applied,
    eob_items,
    evidence,
    family_conditions,
    ingredients,
    issued_if_later,
    languages,
    locations,
    media,
    other_names,
    outside_range,
    participants,
    provisions,
    qualifications,
    questions,
    reactions,
    related_documents,
    stages,
    substitution,
    targets,
    totals,
    udi,
)

Field = tuple[str, str, Renderer]


def f(name: str, path: str, renderer: Renderer = text) -> Field:
    """Output field `name` from the FHIR element at `path`; `prefix[x]` is a choice element, whatever its type."""
    return (name, path, renderer)


def ext(name: str, url_suffix: str, renderer: Renderer | None = None) -> Field:
    """A field taken from the resource's extension whose URL ends with `url_suffix`."""
    return (name, "extension", partial(_extension_field, url_suffix, renderer))


def _extension_field(url_suffix: str, renderer: Renderer | None, extensions: Any, resource: dict[str, Any]) -> Any:
    value = _extension(extensions, url_suffix, resource)
    return renderer(value, resource) if renderer and value is not None else value


US_CORE_SEX = {"248152002": "Female", "248153007": "Male", "32570681000036106": "Indeterminate sex"}


def _extension(extensions: Any, url_suffix: str, resource: dict[str, Any]) -> Any:
    """The rendered value of the first extension whose URL ends with `url_suffix`."""
    for extension in extensions if isinstance(extensions, list) else []:
        if isinstance(extension, dict) and str(extension.get("url", "")).endswith(url_suffix):
            return extension_value(extension, resource)
    return None


def age_years(value: Any, _: dict[str, Any]) -> Any:
    """The age the minimum PHI mode states (epic_mcp.ages): '80 years', '>=90 years'."""
    return inline_value(value) if isinstance(value, dict) else value


def us_core_sex(value: Any, _: dict[str, Any]) -> Any:
    """US Core's sex extension carries a bare SNOMED CT code."""
    return f"{US_CORE_SEX.get(value, value)} [SNOMED {value}]" if isinstance(value, str) else value


CLINICAL_STATUS = [f("clinical_status", "clinicalStatus", code_only),
                   f("verification_status", "verificationStatus", code_only)]


SPECS: dict[str, list[Field]] = {
    "Patient": [f("name", "name", human_name), f("other_names", "name", other_names),
                ext("legal_sex", "/extension/legal-sex"), ext("sex_for_clinical_use", "/sex-for-clinical-use"),
                ext("birth_sex", "/us-core-birthsex"), ext("sex", "/us-core-sex", us_core_sex),
                f("gender", "gender"), f("birth_date", "birthDate"), ext("age", "urn:epic-mcp:age", age_years),
                f("deceased", "deceased[x]"), f("multiple_birth", "multipleBirth[x]"),
                ext("race", "/us-core-race"), ext("ethnicity", "/us-core-ethnicity"),
                ext("pronouns", "/calculated-pronouns-to-use-for-text"),
                f("identifiers", "identifier", identifiers), f("telecom", "telecom", telecoms),
                f("address", "address", addresses), f("marital_status", "maritalStatus", concept),
                f("language", "communication", languages), f("contacts", "contact", contacts),
                f("general_practitioner", "generalPractitioner", references),
                f("managing_organization", "managingOrganization", reference), f("active", "active")],
    "Observation": [f("status", "status"), f("category", "category", code_only), f("code", "code", concept),
                    f("effective", "effective[x]"), f("issued", "issued", issued_if_later), f("value", "value[x]"),
                    f("data_absent", "dataAbsentReason", concept),
                    f("interpretation", "interpretation", concepts),
                    f("reference_range", "referenceRange", reference_ranges),
                    f("outside_range", "referenceRange", outside_range),
                    f("components", "component", components), f("body_site", "bodySite", concept),
                    f("method", "method", concept), f("has_member", "hasMember", references),
                    f("performer", "performer", references), f("encounter", "encounter", reference),
                    ext("value_fahrenheit", "/temperature-in-fahrenheit"), f("note", "note", notes)],
    "Condition": [*CLINICAL_STATUS, f("category", "category", code_only), f("severity", "severity", concept),
                  f("code", "code", concept), f("body_site", "bodySite", concepts), f("onset", "onset[x]"),
                  f("abatement", "abatement[x]"), f("recorded_date", "recordedDate"),
                  f("recorder", "recorder", reference), f("encounter", "encounter", reference),
                  f("stage", "stage", stages), f("evidence", "evidence", evidence), f("note", "note", notes)],
    "Encounter": [f("status", "status"), f("class", "class", lambda v, r: coding(v)), f("type", "type", concepts),
                  f("service_type", "serviceType", concept), f("priority", "priority", concept),
                  f("period", "period", period),
                  f("length", "length", lambda v, r: None if (r.get("period") or {}).get("end") else quantity(v)),
                  f("reason", "reasonCode", concepts), f("reason_reference", "reasonReference", references),
                  f("diagnosis", "diagnosis", diagnoses), f("participants", "participant", participants),
                  f("location", "location", locations), f("service_provider", "serviceProvider", reference),
                  f("part_of", "partOf", reference),
                  f("admit_source", "hospitalization.admitSource", concept),
                  f("readmission", "hospitalization.reAdmission", concept),
                  f("diet", "hospitalization.dietPreference", concepts),
                  f("discharge_disposition", "hospitalization.dischargeDisposition", concept)],
    "Procedure": [f("status", "status"), f("category", "category", concept), f("code", "code", concept),
                  f("performed", "performed[x]"), f("reason", "reasonCode", concepts),
                  f("reason_reference", "reasonReference", references), f("body_site", "bodySite", concepts),
                  f("outcome", "outcome", concept), f("performers", "performer", participants),
                  f("location", "location", reference), f("encounter", "encounter", reference),
                  f("complication", "complication", concepts), f("used", "usedCode", concepts),
                  f("note", "note", notes)],
    "DocumentReference": [f("status", "status"), f("doc_status", "docStatus"), f("type", "type", concept),
                          f("category", "category", code_only), f("date", "date"),
                          f("author", "author", references), f("authenticator", "authenticator", reference),
                          f("description", "description", untrusted),
                          f("period", "context.period", period),
                          f("encounter", "context.encounter", references),
                          f("practice_setting", "context.practiceSetting", concept),
                          f("author_type", "context.extension", lambda v, r: _extension(
                              v, "/clinical-note-author-provider-type", r)),
                          f("service", "context.extension", lambda v, r: _extension(v, "/clinical-note-service", r)),
                          ext("attester", "extension-DocumentReference.attester"),
                          f("security", "securityLabel", concepts), f("custodian", "custodian", reference),
                          f("relates_to", "relatesTo", related_documents),
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
                 f("network", "network"), f("order", "order"), f("dependent", "dependent"),
                 f("cost_to_beneficiary", "costToBeneficiary", costs)],
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
                 f("activities", "activity", care_plan_activities), f("encounter", "encounter", reference),
                 f("note", "note", notes)],
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
    "DeviceUseStatement": [f("status", "status"), f("device", "device", reference), f("timing", "timing[x]"),
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
                          f("priority", "priority"), f("medication", "medication[x]"),
                          f("course_of_therapy", "courseOfTherapyType", concept),
                          f("authored_on", "authoredOn"), f("requester", "requester", reference),
                          f("recorder", "recorder", reference),
                          f("encounter", "encounter", reference), f("reason", "reasonCode", concepts),
                          f("reason_reference", "reasonReference", references),
                          f("dosage", "dosageInstruction", dosages),
                          f("dispense_quantity", "dispenseRequest.quantity", quantity),
                          f("refills", "dispenseRequest.numberOfRepeatsAllowed"),
                          f("validity", "dispenseRequest.validityPeriod", period),
                          f("supply", "dispenseRequest.expectedSupplyDuration", quantity),
                          f("substitution", "substitution", substitution),
                          f("status_reason", "statusReason", concept), f("note", "note", notes)],
    "Medication": [f("code", "code", concept), f("status", "status"), f("form", "form", concept),
                   f("ingredients", "ingredient", ingredients), f("manufacturer", "manufacturer", reference)],
    "AllergyIntolerance": [*CLINICAL_STATUS, f("type", "type"), f("category", "category", texts),
                           f("criticality", "criticality"), f("code", "code", concept), f("onset", "onset[x]"),
                           f("recorded_date", "recordedDate"), f("last_occurrence", "lastOccurrence"),
                           f("reactions", "reaction", reactions), f("recorder", "recorder", reference),
                           f("asserter", "asserter", reference), f("encounter", "encounter", reference),
                           f("note", "note", notes)],
    "Immunization": [f("status", "status"), f("status_reason", "statusReason", concept),
                     f("vaccine", "vaccineCode", concept), f("occurrence", "occurrence[x]"),
                     f("primary_source", "primarySource"), f("lot_number", "lotNumber"),
                     f("site", "site", concept), f("route", "route", concept),
                     f("dose", "doseQuantity", quantity), f("dose_number", "protocolApplied", doses_applied),
                     f("performers", "performer", participants), f("reason", "reasonCode", concepts),
                     f("encounter", "encounter", reference), f("note", "note", notes)],
    "DiagnosticReport": [f("status", "status"), f("category", "category", code_only), f("code", "code", concept),
                         f("effective", "effective[x]"), f("issued", "issued"), f("performer", "performer", references),
                         f("results", "result", references), f("conclusion", "conclusion", untrusted),
                         f("conclusion_code", "conclusionCode", concepts), f("encounter", "encounter", reference),
                         f("based_on", "basedOn", references), f("specimen", "specimen", references),
                         f("imaging_study", "imagingStudy", references), f("media", "media", media),
                         f("presented_form", "presentedForm", attachments)],
    "Goal": [f("lifecycle_status", "lifecycleStatus"), f("achievement_status", "achievementStatus", concept),
             f("category", "category", concepts), f("priority", "priority", concept),
             f("description", "description", lambda v, r: untrusted(concept(v), r)),
             f("start", "start[x]"), f("targets", "target", targets), f("addresses", "addresses", references),
             f("note", "note", notes)],
    "CareTeam": [f("status", "status"), f("name", "name"), f("category", "category", concepts),
                 f("period", "period", period), f("participants", "participant", participants),
                 f("reason", "reasonCode", concepts), f("reason_reference", "reasonReference", references),
                 f("encounter", "encounter", reference), f("telecom", "telecom", telecoms),
                 f("managing_organization", "managingOrganization", references), f("note", "note", notes)],
    "ServiceRequest": [f("status", "status"), f("intent", "intent"), f("category", "category", concepts),
                       f("priority", "priority"), f("code", "code", concept), f("body_site", "bodySite", concepts),
                       f("occurrence", "occurrence[x]"),
                       f("authored_on", "authoredOn"), f("requester", "requester", reference),
                       f("performer", "performer", references), f("reason", "reasonCode", concepts),
                       f("reason_reference", "reasonReference", references), f("encounter", "encounter", reference),
                       f("patient_instruction", "patientInstruction", untrusted), f("note", "note", notes)],
    "FamilyMemberHistory": [f("status", "status"), f("relationship", "relationship", concept),
                            f("sex", "sex", concept), f("deceased", "deceased[x]"), f("age", "age[x]"),
                            f("conditions", "condition", family_conditions), f("note", "note", notes)],
}


# Each spec as compact reads it, worked out once: (name, choice prefix or None, element path in parts, renderer).
Plan = list[tuple[str, str | None, tuple[str, ...], Renderer]]
PLANS: dict[str, Plan] = {
    resource_type: [(name, path[:-3] if path.endswith("[x]") else None, tuple(path.split(".")), renderer)
                    for name, path, renderer in fields]
    for resource_type, fields in SPECS.items()
}


def compact(resource: dict[str, Any]) -> dict[str, Any]:
    """The compact record of one resource: id, type and the fields its spec names, empty ones left out."""
    resource_type = resource.get("resourceType", "")
    record: dict[str, Any] = {"resourceType": resource_type, "id": resource.get("id")}
    for name, choice_prefix, parts, renderer in PLANS.get(resource_type, []):
        if choice_prefix is not None:
            value = choice_of(resource, choice_prefix, resource)
        else:
            raw = resource.get(parts[0]) if len(parts) == 1 else _lookup(resource, parts)
            value = renderer(raw, resource) if raw is not None else None
        if value is not None:
            value = _clean(value)
            if value is not None:
                record[name] = value
    return record
