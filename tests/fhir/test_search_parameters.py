"""The FHIR search parameters each tool sends, pinned against FHIR R4's search parameter registry
(hl7.org/fhir/R4/searchparameter-registry.html) and Epic's documentation (epic-reference.md, section 5), not against
the catalog: a wrong parameter name there (Epic answers 400, or silently ignores it) fails here. Every argument of
every search tool is sent at least once."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from mcp import Client

from epic_mcp.fhir.catalog import BY_TOOL, CATALOG
from epic_mcp.serve.server import build_server

from ..conftest import EPIC_BASE, EPIC_TOKEN_URL, searchset, token_body

pytestmark = pytest.mark.anyio

PID = "erXuFYUfucBZaryVksYEcMg3"
P = {"patient_id": "patient"}

# tool -> (FHIR resource searched, {tool argument: FHIR R4 search parameter}). `legal-sex` is Epic's own Patient
# parameter (its minimum demographics are family + given + legal sex); `_id` is FHIR's common parameter. A date
# argument pair <x>_from/<x>_to sends one FHIR parameter twice, with the prefixes ge and le.
FHIR_PARAMETERS: dict[str, tuple[str, dict[str, str]]] = {
    "search_patients": ("Patient", {
        "family": "family", "given": "given", "birthdate": "birthdate", "legal_sex": "legal-sex",
        "gender": "gender", "identifier": "identifier", "phone": "phone", "email": "email", "patient_id": "_id"}),
    "search_observations": ("Observation", {**P, "category": "category", "code": "code", "date": "date"}),
    "search_conditions": ("Condition", {**P, "category": "category", "clinical_status": "clinical-status"}),
    "search_encounters": ("Encounter", {**P, "date": "date", "status": "status"}),
    "search_procedures": ("Procedure", {**P, "date": "date"}),
    "search_documents": ("DocumentReference", {**P, "category": "category", "type": "type", "date": "date"}),
    "search_appointments": ("Appointment", {**P, "date": "date", "status": "status"}),
    "search_coverage": ("Coverage", P),
    "search_explanation_of_benefit": ("ExplanationOfBenefit", P),
    "search_care_plans": ("CarePlan", {**P, "category": "category"}),
    "search_questionnaire_responses": ("QuestionnaireResponse", P),
    "search_lists": ("List", {**P, "code": "code"}),
    "search_consents": ("Consent", P),
    "search_device_use_statements": ("DeviceUseStatement", P),
    "search_devices": ("Device", P),
    "search_practitioners": ("Practitioner", {"family": "family", "given": "given", "identifier": "identifier"}),
    "search_practitioner_roles": ("PractitionerRole", {"practitioner_id": "practitioner"}),
    "search_medication_requests": ("MedicationRequest", {**P, "status": "status"}),
    "search_allergies": ("AllergyIntolerance", {**P, "clinical_status": "clinical-status"}),
    "search_immunizations": ("Immunization", {**P, "date": "date"}),
    "search_diagnostic_reports": ("DiagnosticReport", {**P, "category": "category", "code": "code", "date": "date"}),
    "search_goals": ("Goal", P),
    "search_care_teams": ("CareTeam", P),
    "search_service_requests": ("ServiceRequest", P),
    "search_family_member_history": ("FamilyMemberHistory", P),
}

# A value per argument and what the server must receive for it. Coded arguments take a value of their FHIR
# value set; Epic's care plan categories are SNOMED CT codes (epic-reference.md, section 5).
VALUES: dict[str, tuple[str, str]] = {
    "patient_id": (PID, PID), "practitioner_id": ("eM5CWtq15N0WJeuCet5bJlQ3", "eM5CWtq15N0WJeuCet5bJlQ3"),
    "family": ("Lopez", "Lopez"), "given": ("Camila", "Camila"), "birthdate": ("1987-09-12", "1987-09-12"),
    "legal_sex": ("female", "female"), "gender": ("female", "female"),
    "identifier": ("urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14|203713",
                   "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14|203713"),
    "phone": ("608-555-0100", "608-555-0100"), "email": ("camila@example.org", "camila@example.org"),
    "code": ("http://loinc.org|4548-4", "http://loinc.org|4548-4"), "type": ("11506-3", "11506-3"),
    "clinical_status": ("active", "active"), "status": ("cancelled", "cancelled"),
    "date_from": ("2024-01", "ge2024-01"), "date_to": ("2024-06-30", "le2024-06-30"),
}
CATEGORIES = {  # tool -> (category argument, what the server receives)
    "search_observations": ("laboratory", "laboratory"),
    "search_conditions": ("problem-list-item", "problem-list-item"),
    "search_documents": ("clinical-note", "clinical-note"),
    "search_care_plans": ("longitudinal", "38717003"),
    "search_diagnostic_reports": ("LAB", "LAB"),
}
CARE_PLAN_CATEGORIES = {"longitudinal": "38717003", "encounter": "734163000", "outpatient": "736271009",
                        "inpatient": "736353004", "dental": "738906000", "oncology": "736378000"}


def every_argument(tool: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """All of a tool's arguments, and the query FHIR and Epic expect for them."""
    _, parameters = FHIR_PARAMETERS[tool]
    arguments: dict[str, Any] = {}
    query: list[tuple[str, str]] = []
    for arg, fhir in parameters.items():
        if arg == "date":
            for edge in ("date_from", "date_to"):
                arguments[edge], wire = VALUES[edge]
                query.append((fhir, wire))
            continue
        arguments[arg], wire = CATEGORIES[tool] if arg == "category" else VALUES[arg]
        query.append((fhir, wire))
    return arguments, sorted([*query, ("_count", "20")])


def test_the_table_covers_every_search_tool_of_the_catalog() -> None:
    assert sorted(FHIR_PARAMETERS) == sorted(op.tool for op in CATALOG if op.interaction == "search")


@pytest.mark.parametrize("tool", sorted(FHIR_PARAMETERS))
async def test_every_argument_reaches_the_server_under_its_fhir_name(settings, epic, tool) -> None:
    resource_type, _ = FHIR_PARAMETERS[tool]
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    route = epic.get(f"{EPIC_BASE}/{resource_type}").respond(200, json=searchset([], total=0))
    arguments, expected = every_argument(tool)
    async with Client(build_server(settings)) as client:
        result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert sorted(parse_qsl(route.calls.last.request.url.query.decode())) == expected


async def test_every_care_plan_category_is_sent_as_its_snomed_code(settings, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(scope="system/CarePlan.read"))
    route = epic.get(f"{EPIC_BASE}/CarePlan").respond(200, json=searchset([], total=0))
    async with Client(build_server(settings)) as client:
        for category, snomed in CARE_PLAN_CATEGORIES.items():
            await client.call_tool("search_care_plans", {"patient_id": PID, "category": category})
            assert ("category", snomed) in parse_qsl(route.calls.last.request.url.query.decode())
    assert route.call_count == len(CARE_PLAN_CATEGORIES)


# Epic's required parameters, in words the model can act on (epic-reference.md, section 5) -------------------

RULES = {
    "search_patients": "patient_id, or identifier, or family + given + birthdate, or family + given + legal_sex, or "
                       "family + given + gender",
    "search_observations": "patient_id + category, or patient_id + code",
    "search_care_plans": "patient_id + category",
    "search_conditions": "patient_id",
    "search_practitioners": "family, or given, or identifier",
    "search_practitioner_roles": "practitioner_id",
}


@pytest.mark.parametrize("tool", sorted(RULES))
def test_epics_minimum_parameters_are_said_in_the_tools_own_argument_names(tool: str) -> None:
    op = BY_TOOL[tool]
    assert op.rule_text() == RULES[tool]
    assert op.missing_requirement(set()) == f"{tool} needs {RULES[tool]} (Epic rejects the search otherwise)"


def test_a_search_is_accepted_when_one_alternative_is_complete() -> None:
    observations = BY_TOOL["search_observations"]
    assert observations.missing_requirement({"patient_id", "code"}) is None
    assert observations.missing_requirement({"patient_id", "category", "date"}) is None
    assert observations.missing_requirement({"patient_id", "date"}) is not None
    assert observations.missing_requirement({"code", "category"}) is not None
    assert BY_TOOL["search_patients"].missing_requirement({"family", "given", "legal_sex"}) is None
    assert BY_TOOL["search_patients"].missing_requirement({"family", "given"}) is not None
    assert BY_TOOL["get_patient"].rule_text() is None and BY_TOOL["get_patient"].missing_requirement(set()) is None


def test_each_tool_needs_the_read_scope_of_its_resource_and_the_readme_table_says_so() -> None:
    assert BY_TOOL["search_documents"].scope == "system/DocumentReference.read"
    assert BY_TOOL["get_patient"].scope == "system/Patient.read"
    assert {op.tool: op.resource for op in CATALOG if op.interaction == "read"}["get_provenance"] == "Provenance"
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()  # its table: scripts/update-readme
    assert ("| `search_observations`, `get_observation` | Observation (`system/Observation.read`) | patient_id + "
            "category, or patient_id + code | core, clinical |") in readme
    assert "| `search_coverage`, `get_coverage` | Coverage (`system/Coverage.read`) | patient_id | clinical |" in readme
    assert "| `get_provenance` | Provenance (`system/Provenance.read`) | id | all |" in readme


def test_a_date_parameter_is_two_arguments_and_a_coded_one_sends_its_wire_value() -> None:
    encounter_date = next(p for p in BY_TOOL["search_encounters"].params if p.arg == "date")
    assert encounter_date.args == ("date_from", "date_to")
    assert next(p for p in BY_TOOL["search_encounters"].params if p.arg == "status").args == ("status",)
    categories = next(p for p in BY_TOOL["search_care_plans"].params if p.arg == "category").choices
    assert [(c.value, c.wire) for c in categories][:2] == [("longitudinal", "38717003"), ("encounter", "734163000")]
    laboratory = next(p for p in BY_TOOL["search_observations"].params if p.arg == "category").choices[0]
    assert (laboratory.value, laboratory.wire) == ("laboratory", "laboratory")
