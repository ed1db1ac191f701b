"""Reading FHIR OperationOutcomes, including Epic's numeric error codes."""

from __future__ import annotations

from typing import Any

from .redaction import redact

# Epic codes (urn:oid:1.2.840.114350.1.13.0.1.7.2.657369 in the sandbox; the OID differs per customer,
# so codes are matched without their system).
EPIC_NO_RESULTS = "4101"
EPIC_INVALID_ID = {"59144", "4102"}
EPIC_MESSAGES = {
    "4107": "the patient was merged into another record; search again to find the surviving record",
    "4113": "the cached search results expired; run the search again instead of continuing it",
    "4118": "the app is not authorized for this request",
    "4127": "more than 100 patients match; add more search criteria (birthdate, identifier)",
    "4130": "this record needs break-the-glass access, which a backend app cannot perform",
    "4131": "this patient's record is restricted",
    "4135": "the daily document query limit was reached; try again tomorrow",
    "59177": "the Epic server had an internal error; try again later",
}
MAX_TEXT = 300


def _issues(outcome: Any) -> list[dict[str, Any]]:
    if not isinstance(outcome, dict) or outcome.get("resourceType") != "OperationOutcome":
        return []
    issues = outcome.get("issue")
    return [i for i in issues if isinstance(i, dict)] if isinstance(issues, list) else []


def outcome_codes(outcome: Any) -> set[str]:
    codes: set[str] = set()
    for issue in _issues(outcome):
        details = issue.get("details")
        codings = details.get("coding") if isinstance(details, dict) else None
        for coding in codings if isinstance(codings, list) else []:
            if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                codes.add(coding["code"])
    return codes


def _issue_text(issue: dict[str, Any]) -> str:
    details = issue.get("details")
    text = details.get("text") if isinstance(details, dict) else None
    diagnostics = issue.get("diagnostics")
    parts = [p for p in (text, diagnostics) if isinstance(p, str) and p.strip()]
    code = issue.get("code")
    return " - ".join(dict.fromkeys(parts)) or (f"issue code {code}" if isinstance(code, str) else "no details")


def outcome_messages(outcome: Any) -> list[str]:
    """One short line per issue: Epic's meaning when the code is known, else the server's text."""
    lines = []
    for issue in _issues(outcome):
        codes = outcome_codes({"resourceType": "OperationOutcome", "issue": [issue]})
        known = next((EPIC_MESSAGES[c] for c in sorted(codes) if c in EPIC_MESSAGES), None)
        if codes & {EPIC_NO_RESULTS}:
            known = "no results"
        lines.append((known or redact(_issue_text(issue)))[:MAX_TEXT])
    return lines


def is_error_outcome(outcome: Any) -> bool:
    return any(i.get("severity") in ("error", "fatal") for i in _issues(outcome))
