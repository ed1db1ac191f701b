"""Records in Epic's shape, for the population views: synthetic bodies written for this project, modelled on what
Epic's R4 API sends (Epic's own codes first, standard codes later and often as OIDs, several codes of one system
in one record, Epic's categories and extensions, orders that reference a Medication), and, when the machine has
them, the real bodies captured from Epic's sandbox (../shared/epic-real, CC BY 4.0: read there, never copied).

    synthetic_resources()   # always available (CI)
    real_resources()        # [] when ../shared/epic-real is absent
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REAL = Path(__file__).resolve().parents[3] / "shared" / "epic-real"
VIEWED = ("Patient", "Observation", "Condition", "MedicationRequest", "Medication", "Immunization",
          "AllergyIntolerance", "Encounter")

EPIC = "urn:oid:1.2.840.114350.1.13.0.1.7"
LOINC_URL, LOINC_OID, LOINC_THL = "http://loinc.org", "urn:oid:2.16.840.1.113883.6.1", "urn:oid:1.2.246.537.6.96"
SNOMED_URL, SNOMED_OID = "http://snomed.info/sct", "urn:oid:2.16.840.1.113883.6.96"
ICD10CM_URL, ICD10CM_OID = "http://hl7.org/fhir/sid/icd-10-cm", "urn:oid:2.16.840.1.113883.6.90"
ICD9_URL, IMO_OID = "http://hl7.org/fhir/sid/icd-9-cm", "urn:oid:2.16.840.1.113883.3.247.1.1"
RXNORM_URL, RXNORM_OID = "http://www.nlm.nih.gov/research/umls/rxnorm", "urn:oid:2.16.840.1.113883.6.88"
CVX_URL, CVX_OID, NDC_URL = "http://hl7.org/fhir/sid/cvx", "urn:oid:2.16.840.1.113883.12.292", "http://hl7.org/fhir/sid/ndc"
HL7 = "http://terminology.hl7.org/CodeSystem"
FLOWSHEET = "http://open.epic.com/FHIR/StructureDefinition/observation-flowsheet-id"


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def concept(*codings: dict[str, Any], text: str | None = None) -> dict[str, Any]:
    return {"coding": list(codings), **({"text": text} if text else {})}


def patient(key: str, family: str, given: str, gender: str, born: str, language: str = "en",
            deceased: str | None = None) -> dict[str, Any]:
    return {
        "resourceType": "Patient", "id": key,
        "extension": [
            {"url": "http://open.epic.com/FHIR/StructureDefinition/extension/legal-sex",
             "valueCodeableConcept": concept(coding(f"{EPIC}.10.698084.130.657370.19999000", gender, gender))},
            {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race", "extension": [
                {"url": "ombCategory", "valueCoding": coding("urn:oid:2.16.840.1.113883.6.238", "2106-3", "White")},
                {"url": "text", "valueString": "White"}]},
            {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
             "valueCode": "F" if gender == "female" else "M"}],
        "identifier": [{"use": "usual", "type": {"text": "EPI"}, "system": f"{EPIC}.5.737384.0", "value": key[-6:]},
                       {"use": "usual", "type": concept(coding(f"{HL7}/v2-0203", "MR")),
                        "system": f"{EPIC}.2.697780", "value": f"MRN{key[-4:]}"}],
        "name": [{"use": "official", "text": f"{given} {family}", "family": family, "given": given.split()}],
        "gender": gender, "birthDate": born,
        **({"deceasedDateTime": deceased} if deceased else {"deceasedBoolean": False}),
        "address": [{"use": "home", "line": ["1 Synthetic Way"], "city": "MADISON", "state": "WI",
                     "postalCode": "53703", "country": "US"}],
        "communication": [
            {"language": concept(coding("urn:ietf:bcp:47", "en", "English"), text="English"), "preferred": False},
            {"language": concept(coding("urn:ietf:bcp:47", language, language), text=language), "preferred": True}],
    }


def lab(key: str, who: str, epic_code: str, loinc: str, name: str, value: float, unit: str, when: str,
        epic_category_only: bool = False, loinc_system: str = LOINC_URL) -> dict[str, Any]:
    """A lab result as Epic sends it: Epic's component code first, its own category beside HL7's."""
    categories = [concept(coding(f"{EPIC}.10.798268.30", "Lab", "Lab"), text="Lab")]
    if not epic_category_only:
        categories.insert(0, concept(coding(f"{HL7}/observation-category", "laboratory", "Laboratory")))
    return {
        "resourceType": "Observation", "id": key, "status": "final", "category": categories,
        "code": concept(coding(f"{EPIC}.2.768282", epic_code, name), coding(f"{EPIC}.2.768283", f"C{epic_code}"),
                        coding(loinc_system, loinc, name), text=name),
        "subject": {"reference": f"Patient/{who}", "display": "Synthetic"},
        "effectiveDateTime": when, "issued": when,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
        "interpretation": [concept(coding(f"{HL7}/v3-ObservationInterpretation", "H" if value > 100 else "N"))],
    }


def heart_rate(key: str, who: str, bpm: int, when: str) -> dict[str, Any]:
    """A flowsheet vital: Epic's row id, its flowsheet id, LOINC under a national OID, then the vital-signs panel
    code before the measurement's own LOINC."""
    return {
        "resourceType": "Observation", "id": key, "status": "final",
        "category": [concept(coding(f"{HL7}/observation-category", "vital-signs", "Vital Signs"))],
        "code": concept(coding(f"{EPIC}.2.707679", "8", "Pulse"), coding(FLOWSHEET, f"t{key}0", "Pulse"),
                        coding(LOINC_THL, "8867-4"), coding(LOINC_URL, "8716-3", "Vital signs"),
                        coding(LOINC_URL, "8867-4", "Heart rate"), text="Pulse"),
        "subject": {"reference": f"Patient/{who}"}, "effectiveDateTime": when,
        "valueQuantity": {"value": bpm, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }


def blood_pressure(key: str, who: str, systolic: int, diastolic: int, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "id": key, "status": "final",
        "category": [concept(coding(f"{HL7}/observation-category", "vital-signs", "Vital Signs"))],
        "code": concept(coding(f"{EPIC}.2.707679", "5", "BP"), coding(FLOWSHEET, f"t{key}5", "BP"),
                        coding(LOINC_THL, "8462-4"), coding(LOINC_THL, "8480-6"),
                        coding(LOINC_URL, "85354-9", "Blood pressure panel"), coding(LOINC_URL, "8716-3"), text="BP"),
        "subject": {"reference": f"Patient/{who}"}, "effectiveDateTime": when,
        "component": [
            {"code": concept(coding(LOINC_URL, "8480-6", "Systolic blood pressure")),
             "valueQuantity": {"value": systolic, "unit": "mm[Hg]"}},
            {"code": concept(coding(LOINC_URL, "8462-4", "Diastolic blood pressure")),
             "valueQuantity": {"value": diastolic, "unit": "mm[Hg]"}}],
    }


def condition(key: str, who: str, codings: list[dict[str, Any]], text: str, category: str = "problem-list-item",
              onset: str | None = None, status: str = "active") -> dict[str, Any]:
    epic_category = concept(coding("http://open.epic.com/FHIR/StructureDefinition/condition-category",
                                   "visit-diagnosis", "Visit Diagnosis"))
    categories = [concept(coding(f"{HL7}/condition-category", category))]
    if category == "encounter-diagnosis":
        categories.append(epic_category)
    elif category == "visit-diagnosis":
        categories = [epic_category]  # Epic's own category alone
    return {
        "resourceType": "Condition", "id": key,
        "clinicalStatus": concept(coding(f"{HL7}/condition-clinical", status)),
        "verificationStatus": concept(coding(f"{HL7}/condition-ver-status", "confirmed")),
        "category": categories, "code": concept(*codings, text=text),
        "subject": {"reference": f"Patient/{who}"}, "recordedDate": "2024-03-02",
        **({"onsetDateTime": onset} if onset else {}),
    }


def medication(key: str, name: str, rxnorm: list[str]) -> dict[str, Any]:
    return {"resourceType": "Medication", "id": key,
            "code": concept(coding(f"{EPIC}.2.698288", key[-5:], name), *(coding(RXNORM_URL, c) for c in rxnorm),
                            text=name),
            "form": concept(coding(f"{EPIC}.4.698288.310", "11", "tablet"), text="tablet")}


def order(key: str, who: str, medication_id: str, name: str, status: str = "active") -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": key, "status": status, "intent": "order",
            "category": [concept(coding(f"{HL7}/medicationrequest-category", "community", "Community"))],
            "medicationReference": {"reference": f"Medication/{medication_id}", "display": name},
            "subject": {"reference": f"Patient/{who}"}, "authoredOn": "2025-01-15",
            "dosageInstruction": [{"text": "Take 1 tablet by mouth daily."}]}


def synthetic_resources() -> list[dict[str, Any]]:
    """The synthetic Epic-shaped records, in load order."""
    a, b, c, d = "eSyn.A1b2C3d4E5f6G7h8I9j0K1", "eSyn.L2m3N4o5P6q7R8s9T0u1V2", "eSyn.W3x4Y5z6A7b8C9d0E1f2G3", \
        "eSyn.H4i5J6k7L8m9N0o1P2q3R4"
    diabetes = [coding(ICD10CM_URL, "E11.9", "Type 2 diabetes mellitus without complications"),
                coding(ICD10CM_URL, "E11.65"), coding(SNOMED_OID, "44054006", "Diabetes mellitus type 2"),
                coding(ICD9_URL, "250.00"), coding(IMO_OID, "24526")]
    hypertension = [coding(SNOMED_URL, "38341003", "Hypertensive disorder"), coding(ICD9_URL, "401.9"),
                    coding(ICD10CM_OID, "I10", "Essential hypertension")]
    asthma = [coding(IMO_OID, "30412"), coding(SNOMED_OID, "195967001", "Asthma"),
              coding(ICD10CM_OID, "J45.909", "Unspecified asthma")]
    return [
        patient(a, "Synthetic", "Ada Mae", "female", "1950-04-02"),
        patient(b, "Synthetic", "Ben", "male", "1978-11-30", language="es"),
        patient(c, "Synthetic", "Cora", "female", "1991-06-15"),
        patient(d, "Synthetic", "Dale", "male", "1939-01-20", deceased="2025-08-09T14:00:00Z"),
        lab("eLab1", a, "1558024", "4548-4", "Hemoglobin A1C", 9.4, "%", "2025-03-01T14:22:00Z"),
        lab("eLab2", a, "1558024", "4548-4", "Hemoglobin A1C", 8.1, "%", "2025-09-01T14:22:00Z"),
        lab("eLab3", b, "1558024", "4548-4", "Hemoglobin A1C", 6.0, "%", "2025-06-10T09:00:00Z",
            loinc_system=LOINC_OID),
        lab("eLab4", a, "1534098", "2345-7", "Glucose", 182, "mg/dL", "2025-09-01T14:22:00Z"),
        lab("eLab5", b, "1534098", "2345-7", "Glucose", 151, "mg/dL", "2025-06-10T09:00:00Z", epic_category_only=True),
        lab("eLab6", c, "1534098", "2345-7", "Glucose", 96, "mg/dL", "2025-07-04T08:30:00Z", loinc_system=LOINC_OID),
        heart_rate("eHr1", a, 88, "2025-09-01T14:00:00Z"),
        heart_rate("eHr2", c, 112, "2025-07-04T08:10:00Z"),
        blood_pressure("eBp1", a, 152, 91, "2025-09-01T14:00:00Z"),
        blood_pressure("eBp2", b, 128, 79, "2025-06-10T08:50:00Z"),
        condition("eCon1", a, diabetes, "Type 2 diabetes", onset="2012-05-01"),
        condition("eCon2", a, hypertension, "Hypertension"),
        condition("eCon3", b, diabetes[:1] + diabetes[2:3], "Diabetes", category="encounter-diagnosis"),
        condition("eCon6", b, hypertension[2:], "Hypertension", category="visit-diagnosis"),
        condition("eCon4", c, asthma, "Asthma", status="resolved"),
        condition("eCon5", d, hypertension, "Hypertension"),
        medication("eMed.metformin1", "metformin (GLUCOPHAGE) 500 MG tablet", ["860975", "861007"]),
        medication("eMed.lisinopril", "lisinopril (PRINIVIL,ZESTRIL) 10 MG tablet", ["314076", "206765"]),
        order("eOrd1", a, "eMed.metformin1", "metformin (GLUCOPHAGE) 500 MG tablet"),
        order("eOrd2", a, "eMed.lisinopril", "lisinopril (PRINIVIL,ZESTRIL) 10 MG tablet"),
        order("eOrd3", b, "eMed.metformin1", "metformin (GLUCOPHAGE) 500 MG tablet", status="stopped"),
        {"resourceType": "Immunization", "id": "eImm1", "status": "completed",
         "vaccineCode": concept(coding(f"{EPIC}.2.768076", "203", "Influenza"), coding(CVX_OID, "150"),
                                coding(NDC_URL, "49281-0421-50"), text="Influenza"),
         "patient": {"reference": f"Patient/{a}"}, "occurrenceDateTime": "2025-10-02", "primarySource": True},
        {"resourceType": "Immunization", "id": "eImm2", "status": "completed",
         "vaccineCode": concept(coding(CVX_URL, "208"), coding(NDC_URL, "59267-1000-1"), text="COVID-19"),
         "patient": {"reference": f"Patient/{c}"}, "occurrenceDateTime": "2024-10-02", "primarySource": True},
        {"resourceType": "AllergyIntolerance", "id": "eAll1",
         "clinicalStatus": concept(coding(f"{HL7}/allergyintolerance-clinical", "active")),
         "verificationStatus": concept(coding(f"{HL7}/allergyintolerance-verification", "confirmed")),
         "category": ["medication"], "criticality": "high",
         "code": concept(coding(f"{EPIC}.2.767536", "8", "PENICILLINS"), coding(RXNORM_OID, "7980"),
                         coding(SNOMED_URL, "91936005", "Allergy to penicillin"), text="Penicillins"),
         "patient": {"reference": f"Patient/{b}"}, "recordedDate": "2019-02-01"},
        {"resourceType": "Encounter", "id": "eEnc1", "status": "finished",
         "class": coding(f"{EPIC}.10.696784.13260", "5", "Hospital Encounter"),
         "type": [concept(coding(f"{EPIC}.10.698084.30", "101", "Office Visit"), text="Office Visit")],
         "subject": {"reference": f"Patient/{a}"},
         "period": {"start": "2025-09-01T13:40:00Z", "end": "2025-09-01T14:40:00Z"}},
    ]


def bundle_resources(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of a search Bundle (OperationOutcomes left out), or the body itself for a read."""
    if body.get("resourceType") != "Bundle":
        return [body]
    return [e["resource"] for e in body.get("entry", []) if isinstance(e.get("resource"), dict)
            and e["resource"].get("resourceType") != "OperationOutcome"]


def real_resources() -> list[dict[str, Any]]:
    """Every resource of a viewed type in the captured Epic bodies, once each; [] when they are absent."""
    if not REAL.is_dir():
        return []
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(REAL.glob("*.json")):
        if path.name == "index.json":
            continue
        for resource in bundle_resources(json.loads(path.read_text())):
            if resource.get("resourceType") in VIEWED and isinstance(resource.get("id"), str):
                found.setdefault((resource["resourceType"], resource["id"]), resource)
    return list(found.values())
