"""Re-identification, for holders of the deployment secret only: `epic-mcp reidentify`. Every value asked about
is written to the audit log (who, when, why, the pseudonym or shifted date, and of what kind) before any answer
is printed; the real value never goes to the log."""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from ..access.audit import AuditLog
from ..errors import ConfigError
from ..fhir.catalog import CATALOG
from ..settings import Settings
from .pseudonyms import PseudonymCodec, reveal_any

KINDS = sorted({op.resource for op in CATALOG} | {"Binary", "Encounter", "RelatedPerson", "Specimen", "Media",
                                                  "MedicationAdministration", "MedicationDispense", "Composition"})


def reidentify(settings: Settings, values: Sequence[str], reason: str, patient: str | None = None,
               kinds: Sequence[str] = ()) -> list[str]:
    """One line per value: the real id or identifier behind a pseudonym, or the real date behind a date moved by
    the offset of `patient` (a patient pseudonym)."""
    if settings.epic_phi_secret is None:
        raise ConfigError("EPIC_PHI_SECRET: re-identification needs the deployment's secret")
    if settings.epic_audit_log is None or settings.epic_audit_hmac_key is None:
        raise ConfigError("EPIC_AUDIT_LOG: re-identification is always audited; set EPIC_AUDIT_LOG and "
                          "EPIC_AUDIT_HMAC_KEY")
    if not reason.strip():
        raise ConfigError("--reason: say why (it goes to the audit log)")
    codec = PseudonymCodec(settings.epic_phi_secret.get_secret_value())
    real_patient = codec.real("Patient", patient) if patient else None
    if patient and real_patient is None:
        raise ConfigError("--patient: not a patient pseudonym of this deployment")
    audit = AuditLog(settings.epic_audit_log, settings.epic_audit_hmac_key.get_secret_value())
    lines = []
    try:
        for value in values:
            kind, line = _reveal(codec, value, real_patient, [*kinds, *KINDS, "identifier", "link"],
                                 settings.epic_phi_shift_dates)
            audit.append({"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": "reidentify",
                          "operator": getpass.getuser(), "reason": reason, "value": value, "kind": kind,
                          "patient": patient, "found": kind is not None})
            lines.append(f"{value}: {line}")
    finally:
        audit.close()
    return lines


def _reveal(codec: PseudonymCodec, value: str, patient: str | None, kinds: list[str],
            shifting: bool) -> tuple[str | None, str]:
    try:
        shifted = date.fromisoformat(value)
    except ValueError:
        shifted = None
    if shifted is not None:
        if not shifting:
            return "date", f"{value} (EPIC_PHI_SHIFT_DATES=false: dates are not moved)"
        if patient is None:
            return None, "a date: give --patient (the patient's pseudonym) to move it back"
        return "date", (shifted - timedelta(days=codec.offset_days(patient))).isoformat()
    found = reveal_any(codec, value, kinds)
    if found is None:
        return None, "not a pseudonym of this deployment"
    kind, real = found
    if kind == "identifier":
        return kind, f"identifier {real[0]}"
    if kind == "Binary" and len(real) == 2:
        return kind, f"Binary/{real[0]} (of Patient/{real[1]})"
    return kind, f"{kind}/{real[0]}" if kind != "link" else f"paging link {real[0]}"
