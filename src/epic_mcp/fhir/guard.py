"""The one guard between a patient-scoped search and what is shown: only that patient's records, and only records
of the type searched for, whatever the server sends. Every path that reads a patient's records (searches,
next_page, the page walker behind patient_summary and get_latest_values) goes through it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import EpicMcpError
from .results import linked_patients

if TYPE_CHECKING:
    from .client import FhirClient

OTHER_PATIENTS = ("the server returned {n} record(s) of other patients (it ignored the patient filter); they "
                  "were withheld and the total is unknown")
OTHER_TYPES = "the server returned {n} record(s) that are not {type}; they were withheld"


def fhir_id_aliases(patient: dict[str, Any]) -> set[str]:
    """The ids a Patient is known by: its id, and the FHIR ids of earlier API versions that Epic lists among its
    identifiers (system .../patient-dstu2-fhir-id or .../patient-fhir-id, type text 'FHIR ...')."""
    aliases = {patient["id"]} if isinstance(patient.get("id"), str) else set()
    for identifier in patient.get("identifier") or []:
        if not isinstance(identifier, dict) or not isinstance(identifier.get("value"), str):
            continue
        kind = identifier.get("type")
        label = kind.get("text") if isinstance(kind, dict) else None
        system = str(identifier.get("system") or "")
        if system.endswith("fhir-id") or (isinstance(label, str) and label.upper().startswith("FHIR")):
            aliases.add(identifier["value"].strip())
    return aliases


@dataclass
class PatientGuard:
    """Keeps the records of the searched type and, for a patient-scoped search, of the patient named by
    `patient_id`. A record belongs to her when it names her by that
    id or by any id the server resolves it to: Epic accepts a patient's DSTU2-era id in a search and answers with
    records whose subject is her current id. The Patient is read once, and only when some record names someone
    else."""

    fhir: FhirClient
    patient_id: str | None
    withheld_patients: int = 0
    withheld_types: int = 0
    _aliases: set[str] | None = field(default=None, repr=False)

    async def keep(self, items: list[dict[str, Any]], resource_type: str) -> list[dict[str, Any]]:
        of_type = [item for item in items if item.get("resourceType") == resource_type]
        self.withheld_types += len(items) - len(of_type)
        if self.patient_id is None:
            return of_type
        known = self._aliases or {self.patient_id}
        if self._aliases is None and any(not self._belongs(item, known) for item in of_type):
            known = self._aliases = await self._resolve()
        kept = [item for item in of_type if self._belongs(item, known)]
        self.withheld_patients += len(of_type) - len(kept)
        return kept

    @staticmethod
    def _belongs(item: dict[str, Any], ids: set[str]) -> bool:
        named = linked_patients(item)
        return not named or bool(named & ids)

    async def _resolve(self) -> set[str]:
        assert self.patient_id is not None
        try:
            patient = await self.fhir.read("Patient", self.patient_id)
        except EpicMcpError:
            return {self.patient_id}
        return {self.patient_id, *fhir_id_aliases(patient)}

    def warnings(self, resource_type: str) -> list[str]:
        found = []
        if self.withheld_patients:
            found.append(OTHER_PATIENTS.format(n=self.withheld_patients))
        if self.withheld_types:
            found.append(OTHER_TYPES.format(n=self.withheld_types, type=resource_type))
        return found
