"""Reading FHIR OperationOutcomes, including Epic's numeric error codes."""

from __future__ import annotations

from typing import Any

from ..redaction import redact

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


SEVERITY_ORDER = {"fatal": 0, "error": 1, "warning": 2, "information": 3}
MAX_ERROR_TEXT = 300


def _issue_text(issue: dict[str, Any]) -> str:
    """The specific reason (diagnostics) when there is one, else the generic text of the issue's code."""
    details = issue.get("details")
    text = details.get("text") if isinstance(details, dict) else None
    diagnostics = issue.get("diagnostics")
    for part in (diagnostics, text):
        if isinstance(part, str) and part.strip():
            return " ".join(part.split())
    code = issue.get("code")
    return f"issue code {code}" if isinstance(code, str) else "no details"


def _severity(issue: dict[str, Any]) -> int:
    return SEVERITY_ORDER.get(str(issue.get("severity")), len(SEVERITY_ORDER))


def error_text(outcome: Any, fallback: str) -> str:
    """Why a request failed, in one short line: the error and fatal issues first (Epic often leads with a
    harmless notice such as 'Unknown parameter ... ignored'), notices only when nothing worse was said."""
    issues = sorted(_issues(outcome), key=_severity)
    worst = [i for i in issues if _severity(i) <= SEVERITY_ORDER["error"]] or issues
    text = "; ".join(dict.fromkeys(_message(i) for i in worst)) or fallback
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT - 1].rstrip() + "…"


def _message(issue: dict[str, Any]) -> str:
    codes = outcome_codes({"resourceType": "OperationOutcome", "issue": [issue]})
    known = next((EPIC_MESSAGES[c] for c in sorted(codes) if c in EPIC_MESSAGES), None)
    if codes & {EPIC_NO_RESULTS}:
        known = "no results"
    return (known or redact(_issue_text(issue)))[:MAX_TEXT]


def outcome_messages(outcome: Any) -> list[str]:
    """One short line per issue, worst first: Epic's meaning when the code is known, else the server's text."""
    return [_message(issue) for issue in sorted(_issues(outcome), key=_severity)]


def is_error_outcome(outcome: Any) -> bool:
    return any(i.get("severity") in ("error", "fatal") for i in _issues(outcome))
