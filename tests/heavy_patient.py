"""A patient with thousands of observations and a long medication history, dated relative to `today`: the record
on which "latest", "current" and "upcoming" go wrong when a tool reads pages in server order or trusts "active".

Deterministic for a given today. Three finished hospital stays with vitals every two hours, monthly clinic
vitals and labs for two years, chronic drugs re-ordered every month, inpatient and discharge orders left
"active", a short acute course, upcoming and cancelled appointments, and notes.
"""

from __future__ import annotations

import base64
import random
from datetime import date, datetime, timedelta
from typing import Any

PATIENT_ID = "eHeavy0Inpatient1"
SUBJECT = {"reference": f"Patient/{PATIENT_ID}"}
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
VITALS = {  # LOINC: (name, unit, low, high)
    "8867-4": ("Heart rate", "/min", 55, 110), "9279-1": ("Respiratory rate", "/min", 12, 24),
    "8310-5": ("Body temperature", "Cel", 36.1, 38.4), "59408-5": ("Oxygen saturation", "%", 88, 100),
    "29463-7": ("Body weight", "kg", 78, 86),
}
LABS = {  # LOINC: (name, unit, low, high, range low, range high)
    "2345-7": ("Glucose", "mg/dL", 70, 260, 70, 99), "2823-3": ("Potassium", "mmol/L", 3.1, 5.6, 3.5, 5.1),
    "2951-2": ("Sodium", "mmol/L", 131, 146, 135, 145), "2160-0": ("Creatinine", "mg/dL", 0.7, 1.9, 0.6, 1.2),
    "4548-4": ("Hemoglobin A1c", "%", 6.2, 9.8, 4.0, 5.6),
}
CHRONIC = {"860975": "metformin 500 MG Oral Tablet", "314076": "lisinopril 10 MG Oral Tablet"}
INPATIENT = {"1807627": "vancomycin 1000 MG Injection", "1665060": "heparin 5000 UNT/ML Injectable Solution",
             "313782": "acetaminophen 325 MG Oral Tablet"}


def _cc(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Builder:
    def __init__(self, today: date) -> None:
        self.today = today
        self.random = random.Random(7)
        self.resources: list[dict[str, Any]] = []
        self.count = 0

    def add(self, resource: dict[str, Any]) -> dict[str, Any]:
        self.count += 1
        resource.setdefault("id", f"heavy-{resource['resourceType'].lower()}-{self.count}")
        self.resources.append(resource)
        return resource

    def vital(self, when: datetime, code: str, encounter: str | None) -> None:
        name, unit, low, high = VITALS[code]
        self.add({"resourceType": "Observation", "status": "final", "subject": SUBJECT,
                  "category": [_cc(CATEGORY, "vital-signs", "Vital Signs")], "code": _cc(LOINC, code, name),
                  "effectiveDateTime": _stamp(when), **({"encounter": {"reference": f"Encounter/{encounter}"}}
                                                        if encounter else {}),
                  "valueQuantity": {"value": round(self.random.uniform(low, high), 1), "unit": unit,
                                    "system": "http://unitsofmeasure.org", "code": unit}})

    def blood_pressure(self, when: datetime) -> None:
        def part(code: str, name: str, value: int) -> dict[str, Any]:
            return {"code": _cc(LOINC, code, name), "valueQuantity": {"value": value, "unit": "mm[Hg]"}}

        self.add({"resourceType": "Observation", "status": "final", "subject": SUBJECT,
                  "category": [_cc(CATEGORY, "vital-signs", "Vital Signs")],
                  "code": _cc(LOINC, "85354-9", "Blood pressure panel"), "effectiveDateTime": _stamp(when),
                  "component": [part("8480-6", "Systolic blood pressure", self.random.randint(105, 165)),
                                part("8462-4", "Diastolic blood pressure", self.random.randint(60, 100))]})

    def lab(self, when: datetime, code: str) -> None:
        name, unit, low, high, range_low, range_high = LABS[code]
        self.add({"resourceType": "Observation", "status": "final", "subject": SUBJECT,
                  "category": [_cc(CATEGORY, "laboratory", "Laboratory")], "code": _cc(LOINC, code, name),
                  "effectiveDateTime": _stamp(when),
                  "valueQuantity": {"value": round(self.random.uniform(low, high), 1), "unit": unit},
                  "referenceRange": [{"low": {"value": range_low, "unit": unit},
                                      "high": {"value": range_high, "unit": unit}}]})

    def order(self, rxnorm: str, name: str, when: datetime, *, category: str, course: str,
              encounter: str | None = None, supply_days: int | None = None, repeats: int = 0,
              bounds_end: date | None = None) -> dict[str, Any]:
        dosage: dict[str, Any] = {"text": f"{name}, as directed", "timing": {"repeat": {
            "frequency": 1, "period": 1, "periodUnit": "d",
            **({"boundsPeriod": {"start": when.date().isoformat(), "end": bounds_end.isoformat()}}
               if bounds_end else {})}}}
        dispense: dict[str, Any] = {"validityPeriod": {"start": _stamp(when)}, "numberOfRepeatsAllowed": repeats}
        if supply_days:
            dispense["expectedSupplyDuration"] = {"value": supply_days, "unit": "d",
                                                  "system": "http://unitsofmeasure.org", "code": "d"}
        return self.add({
            "resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": SUBJECT,
            "category": [_cc("http://terminology.hl7.org/CodeSystem/medicationrequest-category", category,
                             category.capitalize())],
            "courseOfTherapyType": _cc("http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy",
                                       course, course),
            "medicationCodeableConcept": _cc(RXNORM, rxnorm, name), "authoredOn": _stamp(when),
            **({"encounter": {"reference": f"Encounter/{encounter}"}} if encounter else {}),
            "dosageInstruction": [dosage], "dispenseRequest": dispense})


def heavy_patient(today: date) -> list[dict[str, Any]]:
    """The patient's resources, in an order that puts old records first (the worst order for a naive reader)."""
    build = Builder(today)
    now = datetime(today.year, today.month, today.day, 9, 0)
    build.add({"resourceType": "Patient", "id": PATIENT_ID, "name": [{"family": "Heavy", "given": ["Ina"]}],
               "gender": "female", "birthDate": "1958-03-02",
               "identifier": [{"type": {"text": "MRN"}, "system": "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14",
                               "value": "H900001"}]})
    stays = [(now - timedelta(days=days), length) for days, length in ((680, 9), (400, 12), (75, 8))]
    for number, (admitted, length) in enumerate(stays):
        stay = f"heavy-stay-{number}"
        discharged = admitted + timedelta(days=length)
        build.add({"resourceType": "Encounter", "id": stay, "status": "finished", "subject": SUBJECT,
                   "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP",
                             "display": "inpatient encounter"},
                   "period": {"start": _stamp(admitted), "end": _stamp(discharged)}})
        moment = admitted
        while moment < discharged:
            for code in VITALS:
                build.vital(moment, code, stay)
            build.blood_pressure(moment)
            if moment.hour < 2:
                for code in ("2345-7", "2823-3", "2951-2", "2160-0"):
                    build.lab(moment, code)
            moment += timedelta(hours=2)
        for rxnorm, name in INPATIENT.items():
            build.order(rxnorm, name, admitted + timedelta(hours=2), category="inpatient", course="acute",
                        encounter=stay)
        build.order("197361", "amoxicillin 500 MG Oral Capsule", discharged, category="discharge", course="acute",
                    supply_days=10)
    for month in range(24, 0, -1):
        visit = now - timedelta(days=30 * month + 20)
        clinic = f"heavy-clinic-{month}"
        build.add({"resourceType": "Encounter", "id": clinic, "status": "finished", "subject": SUBJECT,
                   "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB",
                             "display": "ambulatory"},
                   "period": {"start": _stamp(visit), "end": _stamp(visit + timedelta(minutes=30))}})
        for code in ("8867-4", "29463-7"):
            build.vital(visit, code, clinic)
        build.blood_pressure(visit)
        if month % 3 == 0:
            build.lab(visit, "4548-4")
        for refill in (visit, visit + timedelta(days=15)):
            for rxnorm, name in CHRONIC.items():
                build.order(rxnorm, name, refill, category="community", course="continuous", supply_days=30,
                            repeats=2, encounter=clinic)
    build.order("308182", "amoxicillin 875 MG Oral Tablet", now - timedelta(days=40), category="community",
                course="acute", bounds_end=(now - timedelta(days=30)).date(), supply_days=10)
    build.lab(now - timedelta(days=5), "4548-4")
    for days, status in ((40, "booked"), (12, "cancelled"), (95, "booked"), (-30, "fulfilled")):
        start = now + timedelta(days=days)
        build.add({"resourceType": "Appointment", "status": status, "start": _stamp(start),
                   "end": _stamp(start + timedelta(minutes=30)), "description": f"Follow-up ({status})",
                   "participant": [{"actor": SUBJECT, "status": "accepted"}]})
    for days in (300, 60, 6):
        when = now - timedelta(days=days)
        text = f"Progress note written {when.date().isoformat()}: stable on metformin and lisinopril."
        build.add({"resourceType": "DocumentReference", "status": "current", "subject": SUBJECT,
                   "date": _stamp(when), "type": _cc(LOINC, "11506-3", "Progress note"),
                   "category": [_cc("http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                                    "clinical-note", "Clinical Note")],
                   "content": [{"attachment": {"contentType": "text/plain",
                                               "data": base64.b64encode(text.encode()).decode()}}]})
    return build.resources
