"""Runs sekmet-fhir with the search parameters Epic supports that sekmet 0.1.1 lacks.

sekmet ignores (with only a warning) a `patient` search on Goal, CareTeam, FamilyMemberHistory,
QuestionnaireResponse, List and DeviceUseStatement, and then returns every patient's records, and it does not
know Epic's `legal-sex` Patient parameter. Epic supports both, so the sandbox adds them to sekmet's table before
it serves (the synthetic patients' legal sex is their administrative gender).
Usage: python -m epic_mcp.sandbox.sekmet_launcher serve -c CONFIG
"""

from __future__ import annotations

import sys

EPIC_SEARCH_PARAMS: dict[str, list[tuple[str, str, str, str | None]]] = {
    "Patient": [("legal-sex", "token", "gender", None)],
    "Goal": [("patient", "reference", "subject", "Patient"), ("subject", "reference", "subject", None),
             ("lifecycle-status", "token", "lifecycleStatus", None)],
    "CareTeam": [("patient", "reference", "subject", "Patient"), ("subject", "reference", "subject", None),
                 ("status", "token", "status", None)],
    "FamilyMemberHistory": [("patient", "reference", "patient", None), ("status", "token", "status", None)],
    "QuestionnaireResponse": [("patient", "reference", "subject", "Patient"),
                              ("subject", "reference", "subject", None), ("status", "token", "status", None),
                              ("authored", "date", "authored", None)],
    "List": [("patient", "reference", "subject", "Patient"), ("subject", "reference", "subject", None),
             ("code", "token", "code", None), ("status", "token", "status", None)],
    "DeviceUseStatement": [("patient", "reference", "subject", "Patient"),
                           ("subject", "reference", "subject", None), ("device", "reference", "device", None)],
}


def add_epic_search_params() -> None:
    from sekmet.fhir.search_params import PARAMS, SearchParam

    for resource_type, params in EPIC_SEARCH_PARAMS.items():
        table = PARAMS.setdefault(resource_type, {})
        for name, kind, path, target in params:
            table.setdefault(name, SearchParam(name, kind, (path,), target))


def main() -> None:
    add_epic_search_params()
    from sekmet.cli import app

    app(args=sys.argv[1:], prog_name="sekmet")


if __name__ == "__main__":
    main()
