"""The declarative catalog of FHIR operations. Tools, their schemas, the README table and tests derive from it.

Each search lists its parameters and Epic's required-parameter rule as alternatives: a call is accepted
when every argument of at least one alternative is given (epic-reference.md, section 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ParamKind = Literal["id", "token", "string", "day", "date", "flag"]
Interaction = Literal["read", "search"]


@dataclass(frozen=True)
class Choice:
    """An allowed value: `value` is what the model passes, `fhir` what the server receives."""

    value: str
    label: str
    fhir: str | None = None

    @property
    def wire(self) -> str:
        return self.fhir or self.value


@dataclass(frozen=True)
class Param:
    """A search parameter. A `date` parameter becomes two arguments, `<arg>_from` and `<arg>_to`; a `flag` is a
    yes/no choice of epic-mcp's own (sent to no server) that changes what the answer holds."""

    arg: str
    fhir: str
    kind: ParamKind
    description: str
    choices: tuple[Choice, ...] = ()

    @property
    def args(self) -> tuple[str, ...]:
        return (f"{self.arg}_from", f"{self.arg}_to") if self.kind == "date" else (self.arg,)


@dataclass(frozen=True)
class Operation:
    tool: str
    resource: str
    interaction: Interaction
    title: str
    summary: str
    params: tuple[Param, ...] = ()
    requires: tuple[frozenset[str], ...] = ()

    @property
    def scope(self) -> str:
        return f"system/{self.resource}.read"

    def rule_text(self) -> str | None:
        """Epic's minimum parameters in words, e.g. 'patient_id + category, or patient_id + code'."""
        if not self.requires:
            return None
        return ", or ".join(" + ".join(_ordered(alternative, self.params)) for alternative in self.requires)

    def missing_requirement(self, given: set[str]) -> str | None:
        """None when the given arguments satisfy Epic's rule, else a message naming what to add."""
        if not self.requires or any(alternative <= given for alternative in self.requires):
            return None
        return f"{self.tool} needs {self.rule_text()} (Epic rejects the search otherwise)"


def _ordered(alternative: frozenset[str], params: tuple[Param, ...]) -> list[str]:
    order = {p.arg: i for i, p in enumerate(params)}
    return sorted(alternative, key=lambda arg: order.get(arg, len(order)))


def need(*alternatives: str) -> tuple[frozenset[str], ...]:
    """`need("patient_id category", "patient_id code")`: each string is one accepted set of arguments."""
    return tuple(frozenset(a.split()) for a in alternatives)


# Shared parameters -----------------------------------------------------------------------------------------

PATIENT = Param("patient_id", "patient", "id", "Patient id.")


def date_param(what: str, fhir: str = "date") -> Param:
    return Param("date", fhir, "date", f"Date of the {what}")


# Labels say what a value alone does not; a label that only spells the value out is not published.
OBSERVATION_CATEGORIES = (
    Choice("laboratory", "labs"),
    Choice("vital-signs", "incl. blood pressure, weight"),
    Choice("social-history", "smoking, alcohol"),
    Choice("core-characteristics", "Core characteristics"),
    Choice("survey", "questionnaires, scores"),
    Choice("exam", "Exam"),
    Choice("imaging", "Imaging"),
    Choice("procedure", "Procedure"),
    Choice("therapy", "Therapy"),
    Choice("activity", "Activity"),
    Choice("functional-mental-status", "Functional mental status"),
    Choice("labor-delivery", "Labor delivery"),
    Choice("newborn-delivery", "Newborn delivery"),
    Choice("obstetrics-gynecology", "Obstetrics gynecology"),
    Choice("smartdata", "Epic SmartData"),
)
CONDITION_CATEGORIES = (
    Choice("problem-list-item", "Problem list"),
    Choice("health-concern", "Health concerns"),
    Choice("encounter-diagnosis", "Encounter diagnoses"),
)
CLINICAL_STATUSES = (
    Choice("active", "Active"), Choice("recurrence", "Recurrence"), Choice("relapse", "Relapse"),
    Choice("inactive", "Inactive"), Choice("remission", "Remission"), Choice("resolved", "Resolved"),
)
ALLERGY_STATUSES = (Choice("active", "Active"), Choice("inactive", "Inactive"), Choice("resolved", "Resolved"))
ENCOUNTER_STATUSES = tuple(Choice(s, s.replace("-", " ").capitalize()) for s in (
    "planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled", "entered-in-error",
    "unknown",
))
APPOINTMENT_STATUSES = tuple(Choice(s, s.replace("-", " ").capitalize()) for s in (
    "proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow", "entered-in-error",
    "checked-in", "waitlist",
))
MEDICATION_REQUEST_STATUSES = tuple(Choice(s, s.replace("-", " ").capitalize()) for s in (
    "active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft", "unknown",
))
CARE_PLAN_CATEGORIES = (
    Choice("longitudinal", "Longitudinal care plan (SNOMED 38717003)", "38717003"),
    Choice("encounter", "Encounter-level care plan (SNOMED 734163000)", "734163000"),
    Choice("outpatient", "Outpatient care plan (SNOMED 736271009)", "736271009"),
    Choice("inpatient", "Inpatient care plan (SNOMED 736353004)", "736353004"),
    Choice("dental", "Dental care plan (SNOMED 738906000)", "738906000"),
    Choice("oncology", "Oncology care plan (SNOMED 736378000)", "736378000"),
)
DOCUMENT_CATEGORIES = (
    Choice("clinical-note", "Clinical notes (progress notes, discharge summaries, ...)"),
    Choice("imaging-result", "Imaging results"),
    Choice("correspondence", "Correspondence"),
)
DIAGNOSTIC_REPORT_CATEGORIES = (
    Choice("LAB", "Laboratory"), Choice("RAD", "Radiology"), Choice("PAT", "Pathology"),
    Choice("CUS", "Cardiac ultrasound"), Choice("EC", "Electrocardiac"), Choice("OTH", "Other"),
)
GENDERS = (Choice("female", "Female"), Choice("male", "Male"), Choice("other", "Other"), Choice("unknown", "Unknown"))


def read(tool: str, resource: str, title: str, summary: str) -> Operation:
    return Operation(tool, resource, "read", title, summary)


def patient_search(tool: str, resource: str, title: str, summary: str, *params: Param,
                   requires: tuple[frozenset[str], ...] = need("patient_id")) -> Operation:
    return Operation(tool, resource, "search", title, summary, (PATIENT, *params), requires)


CATALOG: tuple[Operation, ...] = (
    # Patient
    read("get_patient", "Patient", "Get patient",
         "Demographics of one patient by FHIR id: name, birth date, sex, identifiers (MRN), contacts."),
    Operation(
        "search_patients", "Patient", "search", "Search patients",
        "Find patients by demographics or identifier. Use it to turn a name or MRN into a patient id.",
        (
            Param("family", "family", "string", "Family (last) name."),
            Param("given", "given", "string", "Given (first) name."),
            Param("birthdate", "birthdate", "day", "Birth date as YYYY-MM-DD."),
            Param("legal_sex", "legal-sex", "token", "Legal sex, as Epic records it (Epic's minimum set is "
                  "family + given + legal sex, or + birth date).", GENDERS),
            Param("gender", "gender", "token", "Administrative gender (FHIR's parameter, for other servers).",
                  GENDERS),
            Param("identifier", "identifier", "token", "An identifier such as an MRN, as value or system|value."),
            Param("phone", "phone", "string", "Phone number."),
            Param("email", "email", "string", "Email address."),
            Param("patient_id", "_id", "id", "A FHIR patient id, to check that it exists."),
        ),
        need("patient_id", "identifier", "family given birthdate", "family given legal_sex", "family given gender"),
    ),
    # Observations
    patient_search(
        "search_observations", "Observation", "Search observations",
        "Lab results, vital signs (blood pressure with systolic/diastolic components), social history and "
        "other observations of a patient. Give a category for a list, or a LOINC code for one test.",
        Param("category", "category", "token", "Observation category.", OBSERVATION_CATEGORIES),
        Param("code", "code", "token", "LOINC code, e.g. 8480-6 or http://loinc.org|8480-6; comma-separate "
              "several codes to get any of them."),
        date_param("observation"),
        requires=need("patient_id category", "patient_id code"),
    ),
    read("get_observation", "Observation", "Get observation", "One observation by FHIR id."),
    # Conditions
    patient_search(
        "search_conditions", "Condition", "Search conditions",
        "A patient's problems, health concerns and encounter diagnoses.",
        Param("category", "category", "token", "Condition category.", CONDITION_CATEGORIES),
        Param("clinical_status", "clinical-status", "token", "Clinical status.", CLINICAL_STATUSES),
    ),
    read("get_condition", "Condition", "Get condition", "One condition by FHIR id."),
    # Encounters
    patient_search(
        "search_encounters", "Encounter", "Search encounters", "A patient's visits and admissions.",
        date_param("encounter"),
        Param("status", "status", "token", "Encounter status.", ENCOUNTER_STATUSES),
    ),
    read("get_encounter", "Encounter", "Get encounter", "One encounter by FHIR id."),
    # Procedures
    patient_search("search_procedures", "Procedure", "Search procedures", "Procedures a patient had.",
                   date_param("procedure")),
    read("get_procedure", "Procedure", "Get procedure", "One procedure by FHIR id."),
    # Documents
    patient_search(
        "search_documents", "DocumentReference", "Search documents",
        "Clinical notes and other documents of a patient (metadata and attachment links).",
        Param("category", "category", "token", "Document category.", DOCUMENT_CATEGORIES),
        Param("type", "type", "token", "Document type code, e.g. LOINC 11506-3 (progress note)."),
        date_param("document"),
    ),
    read("get_document", "DocumentReference", "Get document", "One document reference by FHIR id."),
    # Appointments
    patient_search(
        "search_appointments", "Appointment", "Search appointments", "A patient's past and upcoming appointments.",
        date_param("appointment"),
        Param("status", "status", "token", "Appointment status.", APPOINTMENT_STATUSES),
    ),
    read("get_appointment", "Appointment", "Get appointment", "One appointment by FHIR id."),
    # Coverage and claims
    patient_search("search_coverage", "Coverage", "Search coverage", "A patient's insurance coverage."),
    read("get_coverage", "Coverage", "Get coverage", "One coverage (insurance) by FHIR id."),
    patient_search("search_explanation_of_benefit", "ExplanationOfBenefit", "Search explanations of benefit",
                   "A patient's adjudicated claims (explanation of benefit)."),
    read("get_explanation_of_benefit", "ExplanationOfBenefit", "Get explanation of benefit",
         "One explanation of benefit by FHIR id."),
    # Care plans
    patient_search(
        "search_care_plans", "CarePlan", "Search care plans", "A patient's care plans of one category.",
        Param("category", "category", "token", "Care plan category (Epic requires one).", CARE_PLAN_CATEGORIES),
        requires=need("patient_id category"),
    ),
    read("get_care_plan", "CarePlan", "Get care plan", "One care plan by FHIR id."),
    # Forms and lists
    read("get_questionnaire", "Questionnaire", "Get questionnaire", "One questionnaire (form definition) by FHIR id."),
    patient_search("search_questionnaire_responses", "QuestionnaireResponse", "Search questionnaire responses",
                   "Forms and questionnaires a patient answered."),
    read("get_questionnaire_response", "QuestionnaireResponse", "Get questionnaire response",
         "One questionnaire response by FHIR id."),
    patient_search("search_lists", "List", "Search lists", "Lists kept for a patient (e.g. problem or medication "
                   "lists, care team lists).",
                   Param("code", "code", "token", "List code, e.g. problems, medications, allergies.")),
    read("get_list", "List", "Get list", "One list by FHIR id."),
    patient_search("search_consents", "Consent", "Search consents", "A patient's consents and advance directives."),
    read("get_consent", "Consent", "Get consent", "One consent by FHIR id."),
    read("get_provenance", "Provenance", "Get provenance",
         "Who recorded or changed a resource and when, by Provenance id (Epic has no Provenance search)."),
    patient_search("search_device_use_statements", "DeviceUseStatement", "Search device use",
                   "Devices a patient uses or has implanted."),
    read("get_device_use_statement", "DeviceUseStatement", "Get device use statement",
         "One device use statement by FHIR id."),
    patient_search("search_devices", "Device", "Search devices", "Devices associated with a patient."),
    read("get_device", "Device", "Get device", "One device by FHIR id."),
    # Providers and places
    read("get_organization", "Organization", "Get organization", "One organization (clinic, payer) by FHIR id."),
    read("get_location", "Location", "Get location", "One location by FHIR id."),
    read("get_practitioner", "Practitioner", "Get practitioner", "One clinician by FHIR id."),
    Operation(
        "search_practitioners", "Practitioner", "search", "Search practitioners",
        "Find clinicians by name or identifier (e.g. NPI).",
        (
            Param("family", "family", "string", "Family (last) name."),
            Param("given", "given", "string", "Given (first) name."),
            Param("identifier", "identifier", "token", "Identifier as value or system|value, e.g. an NPI."),
        ),
        need("family", "given", "identifier"),
    ),
    read("get_practitioner_role", "PractitionerRole", "Get practitioner role",
         "One practitioner role (a clinician's role at an organization) by FHIR id."),
    Operation(
        "search_practitioner_roles", "PractitionerRole", "search", "Search practitioner roles",
        "The roles one clinician holds at organizations and locations.",
        (Param("practitioner_id", "practitioner", "id", "FHIR id of the practitioner."),),
        need("practitioner_id"),
    ),
    # Medications, allergies, immunizations
    patient_search(
        "search_medication_requests", "MedicationRequest", "Search medication orders",
        "A patient's medication orders and prescriptions with dosage.",
        Param("status", "status", "token", "Order status.", MEDICATION_REQUEST_STATUSES),
        Param("current_only", "", "flag", "Only what the patient takes now: one line per drug, its newest current "
              "order; active orders that are likely stale are left out, each with the reason (rules: "
              "docs/medication-currency.md)."),
    ),
    read("get_medication_request", "MedicationRequest", "Get medication order", "One medication order by FHIR id."),
    read("get_medication", "Medication", "Get medication", "One medication (drug, RxNorm codes) by FHIR id."),
    patient_search(
        "search_allergies", "AllergyIntolerance", "Search allergies",
        "A patient's allergies and intolerances with reactions and criticality.",
        Param("clinical_status", "clinical-status", "token", "Clinical status.", ALLERGY_STATUSES),
    ),
    read("get_allergy", "AllergyIntolerance", "Get allergy", "One allergy or intolerance by FHIR id."),
    patient_search("search_immunizations", "Immunization", "Search immunizations",
                   "A patient's immunizations (CVX codes) with dates.", date_param("immunization")),
    read("get_immunization", "Immunization", "Get immunization", "One immunization by FHIR id."),
    # Reports, goals, teams, orders, family history
    patient_search(
        "search_diagnostic_reports", "DiagnosticReport", "Search diagnostic reports",
        "A patient's lab panels, imaging and pathology reports.",
        Param("category", "category", "token", "Report category.", DIAGNOSTIC_REPORT_CATEGORIES),
        Param("code", "code", "token", "Report code, e.g. LOINC 24323-8 (metabolic panel)."),
        date_param("report"),
    ),
    read("get_diagnostic_report", "DiagnosticReport", "Get diagnostic report", "One diagnostic report by FHIR id."),
    patient_search("search_goals", "Goal", "Search goals", "A patient's care goals."),
    read("get_goal", "Goal", "Get goal", "One goal by FHIR id."),
    patient_search("search_care_teams", "CareTeam", "Search care teams", "Who takes care of a patient."),
    read("get_care_team", "CareTeam", "Get care team", "One care team by FHIR id."),
    patient_search("search_service_requests", "ServiceRequest", "Search service requests",
                   "Orders and referrals for a patient (labs, imaging, consults)."),
    read("get_service_request", "ServiceRequest", "Get service request", "One service request by FHIR id."),
    patient_search("search_family_member_history", "FamilyMemberHistory", "Search family history",
                   "Conditions of a patient's relatives."),
    read("get_family_member_history", "FamilyMemberHistory", "Get family member history",
         "One family member history by FHIR id."),
)

# The tools beside the catalog, and what each reads: the resource type it is about (for the audit log) and the
# access it needs (for scope-aware tools); None where it needs no scope of its own.
HELPERS: dict[str, tuple[str | None, Interaction | None]] = {
    "next_page": (None, None), "find_test_patients": ("Patient", "read"), "check_connection": (None, None),
    "patient_summary": ("Patient", None), "get_document_text": ("DocumentReference", "read"),
    "get_latest_values": ("Observation", "search"), "list_patient_codes": ("Observation", "search"),
    "get_latest_notes": ("DocumentReference", "search"),
}

BY_TOOL: dict[str, Operation] = {op.tool: op for op in CATALOG}
READ_BY_RESOURCE: dict[str, Operation] = {op.resource: op for op in CATALOG if op.interaction == "read"}


def markdown_table() -> str:
    """The README's tool table; `scripts/update-readme` writes it and a test keeps it in step."""
    rows = ["| Tool | FHIR interaction | Epic requires | Scope |", "|---|---|---|---|"]
    for op in CATALOG:
        rule = op.rule_text() or "id"  # every search names Epic's minimum; a read needs its id
        rows.append(f"| `{op.tool}` | {op.resource} {op.interaction} | {rule} | `{op.scope}` |")
    return "\n".join(rows)
