"""Tool profiles: how much of the catalog a client sees (each tool's schema costs the model context)."""

from __future__ import annotations

from ..errors import ConfigError
from ..fhir.catalog import CATALOG, HELPERS

HELPER_TOOLS = tuple(HELPERS)
ALL_TOOLS = tuple(op.tool for op in CATALOG) + HELPER_TOOLS
# Opt-in (EPIC_TOOLS=population, or all,population), and only with the population extra installed: two of them
# start and cancel a Bulk Data job on the server, so the default set stays read-only.
POPULATION_TOOLS = ("start_export", "export_status", "cancel_export", "describe_population_data",
                    "query_population")
KNOWN_TOOLS = ALL_TOOLS + POPULATION_TOOLS

# The default: the tools that answer whole questions, and the searches most questions need.
CORE = (
    "patient_summary", "get_latest_values", "list_patient_codes", "get_latest_notes", "search_patients",
    "get_patient", "search_observations", "search_conditions", "search_medication_requests", "search_allergies",
    "search_immunizations", "search_encounters", "search_procedures", "search_diagnostic_reports",
    "search_appointments", "search_documents", "get_document_text", "next_page", "find_test_patients",
    "check_connection",
)
CLINICAL_READS = ("get_observation", "get_condition", "get_encounter", "get_procedure", "get_document",
                  "get_medication_request", "get_medication", "get_allergy", "get_immunization",
                  "get_diagnostic_report", "get_care_plan", "get_appointment", "get_coverage")
CLINICAL = CORE + tuple(op.tool for op in CATALOG if op.interaction == "search" and op.tool not in CORE) \
    + CLINICAL_READS
POPULATION = (*POPULATION_TOOLS, "check_connection")
PROFILES = {"core": CORE, "clinical": CLINICAL, "population": POPULATION, "all": ALL_TOOLS}


def select_tools(spec: str, source: str = "EPIC_TOOLS") -> frozenset[str]:
    """Profile names (core, clinical, population, all) and tool names, comma-separated: their union; `source`
    names the setting or option in the error."""
    names: set[str] = set()
    for item in (part.strip() for part in spec.split(",")):
        if item:
            names.update(PROFILES.get(item, (item,)))
    unknown = sorted(names - set(KNOWN_TOOLS))
    if unknown or not names:
        raise ConfigError(f"{source}: unknown tool(s) {', '.join(unknown) or '(none given)'}; use core, "
                          "clinical, population, all (combine them: all,population), or tool names from the "
                          "README's tool table")
    return frozenset(names)
