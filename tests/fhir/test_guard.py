"""The patient guard on its own: only the searched patient's records of the searched type are shown, whichever of
her ids a record names, and the Patient is read only when a record names someone else."""

from __future__ import annotations

from typing import Any

import pytest

from epic_mcp.errors import FhirError, FhirErrorKind
from epic_mcp.fhir.guard import PatientGuard, fhir_id_aliases

pytestmark = pytest.mark.anyio
CURRENT, DSTU2 = "eCurrent3", "TdSTU2id"


class Fhir:
    """Answers the guard's one read of the Patient, and counts it."""

    def __init__(self, patient: dict[str, Any] | Exception) -> None:
        self.patient = patient
        self.reads: list[tuple[str, str]] = []

    async def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        self.reads.append((resource_type, resource_id))
        if isinstance(self.patient, Exception):
            raise self.patient
        return self.patient


def patient(*identifiers: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": CURRENT, "identifier": list(identifiers)}


def condition(record_id: str, patient_id: str | None, resource_type: str = "Condition") -> dict[str, Any]:
    record: dict[str, Any] = {"resourceType": resource_type, "id": record_id}
    if patient_id is not None:
        record["subject"] = {"reference": f"Patient/{patient_id}"}
    return record


@pytest.mark.parametrize(("identifier", "alias"), [
    ({"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.698084.patient-dstu2-fhir-id", "value": DSTU2}, True),
    ({"system": "http://open.epic.com/FHIR/StructureDefinition/patient-fhir-id", "value": f" {DSTU2} "}, True),
    ({"type": {"text": "FHIR STU3"}, "system": "urn:oid:1.2.3", "value": DSTU2}, True),
    ({"type": {"text": "fhir"}, "value": DSTU2}, True),
    ({"type": {"text": "MRN"}, "system": "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14", "value": DSTU2}, False),
    ({"type": {"text": "EPI FHIR id"}, "value": DSTU2}, False),
    ({"type": "FHIR", "value": DSTU2}, False),
    ({"system": "urn:oid:1.2.fhir-id", "value": 42}, False),
])
def test_the_ids_a_patient_is_known_by(identifier: dict[str, Any], alias: bool) -> None:
    known = fhir_id_aliases(patient(identifier, "junk"))
    assert known == ({CURRENT, DSTU2} if alias else {CURRENT})


def test_a_patient_without_an_id_or_identifiers_has_no_aliases() -> None:
    assert fhir_id_aliases({"resourceType": "Patient"}) == set()
    assert fhir_id_aliases({"resourceType": "Patient", "id": 7, "identifier": None}) == set()


async def test_her_records_pass_without_reading_the_patient() -> None:
    fhir = Fhir(patient())
    guard = PatientGuard(fhir, CURRENT)  # type: ignore[arg-type]
    kept = await guard.keep([condition("c1", CURRENT), condition("c2", None)], "Condition")
    assert [r["id"] for r in kept] == ["c1", "c2"] and fhir.reads == []
    assert guard.warnings("Condition") == []


async def test_records_naming_her_older_id_are_hers_and_others_are_withheld() -> None:
    fhir = Fhir(patient({"system": "urn:oid:1.2.patient-dstu2-fhir-id", "value": DSTU2}))
    guard = PatientGuard(fhir, DSTU2)  # type: ignore[arg-type]
    page = [condition("c1", CURRENT), condition("c2", DSTU2), condition("x1", "eSomeoneElse"),
            condition("o1", CURRENT, "Observation")]
    kept = await guard.keep(page, "Condition")
    assert [r["id"] for r in kept] == ["c1", "c2"]
    assert fhir.reads == [("Patient", DSTU2)]
    again = await guard.keep([condition("c3", CURRENT), condition("x2", "eSomeoneElse")], "Condition")
    assert [r["id"] for r in again] == ["c3"] and len(fhir.reads) == 1, "the Patient is read once"
    assert (guard.withheld_patients, guard.withheld_types) == (2, 1)
    assert guard.warnings("Condition") == [
        "the server returned 2 record(s) of other patients (it ignored the patient filter); they were withheld and "
        "the total is unknown",
        "the server returned 1 record(s) that are not Condition; they were withheld"]


async def test_when_the_patient_cannot_be_read_only_the_id_searched_for_is_hers() -> None:
    fhir = Fhir(FhirError(FhirErrorKind.FORBIDDEN, "no Patient.read"))
    guard = PatientGuard(fhir, DSTU2)  # type: ignore[arg-type]
    kept = await guard.keep([condition("c1", CURRENT), condition("c2", DSTU2)], "Condition")
    assert [r["id"] for r in kept] == ["c2"] and guard.withheld_patients == 1


async def test_a_search_not_scoped_to_a_patient_keeps_every_record_of_the_type() -> None:
    fhir = Fhir(patient())
    guard = PatientGuard(fhir, None)  # type: ignore[arg-type]
    kept = await guard.keep([condition("c1", "eA"), condition("c2", "eB"), condition("p", None, "Patient")],
                            "Condition")
    assert [r["id"] for r in kept] == ["c1", "c2"] and fhir.reads == []
    assert guard.warnings("Condition") == ["the server returned 1 record(s) that are not Condition; they were withheld"]


def test_an_odd_identifier_first_does_not_hide_her_older_id() -> None:
    assert fhir_id_aliases(patient("junk", {"value": 7},
                                   {"system": "urn:oid:1.2.patient-dstu2-fhir-id", "value": DSTU2})) == {CURRENT, DSTU2}
