#!/usr/bin/env python3
"""Builds the local sandbox's data set from clinosim output (a development-time tool; see build-sandbox-data).

The seven richest synthetic patients become Epic's sandbox test patients (same FHIR ids and names, so the
README's examples work locally), every reference is rewritten, resource types clinosim does not make are
added, and every resource is tagged as synthetic. Output: src/epic_mcp/sandbox/data.json.gz, deterministic
for a given clinosim output.
"""

from __future__ import annotations

import base64
import gzip
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "src" / "epic_mcp" / "sandbox" / "data.json.gz"

SYNTHETIC_TAG = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST",
                 "display": "test health data"}
MRN_SYSTEM = "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14"
SNOMED, LOINC, RXNORM = "http://snomed.info/sct", "http://loinc.org", "http://www.nlm.nih.gov/research/umls/rxnorm"

# Epic's sandbox test patients (epic-reference.md section 6): id, family, given, sex, MRN. Each gets the richest
# remaining record of a living adult of the same sex; the record keeps its own birth date so age and history agree.
EPIC_PATIENTS = [
    ("erXuFYUfucBZaryVksYEcMg3", "Lopez", ["Camila", "Maria"], "female", "203713"),
    ("e0w0LEDCYtfckT6N.CkJKCw3", "McGinnis", ["Warren", "James"], "male", "203714"),
    ("eq081-VQEgP8drUUqCWzHfw3", "Lin", ["Derrick"], "male", "203715"),
    ("egqBHVfQlt4Bw3XGXoxVxHg3", "Davis", ["Elijah", "John"], "male", "203716"),
    ("eIXesllypH3M9tAA5WdJftQ3", "Ross", ["Linda", "Jane"], "female", "203717"),
    ("eAB3mDIBBcyUKviyzrxsnAw3", "Powell", ["Desiree", "Caroline"], "female", "203718"),
    ("eh2xYHuzl9nkSFVvV3osUHg3", "Roberts", ["Olivia", "Anne"], "female", "203719"),
]
ADULT_BORN_BEFORE = "2006-01-01"
# Inpatient stays chart vitals every few hours; the newest results per patient and code keep every trend.
OBSERVATIONS_PER_CODE = 12
ORDERS_PER_PATIENT = 40
KEPT_TYPES = ["Organization", "Location", "Practitioner", "PractitionerRole", "Patient", "Coverage", "Encounter",
              "Condition", "Observation", "DiagnosticReport", "Procedure", "MedicationRequest", "AllergyIntolerance",
              "Immunization", "DocumentReference", "CareTeam", "FamilyMemberHistory", "ServiceRequest", "Device"]
LOAD_ORDER = ["Organization", "Location", "Practitioner", "PractitionerRole", "Medication", "Questionnaire",
              "Patient", "Coverage", "Encounter"]


def read_ndjson(folder: Path, resource_type: str) -> list[dict[str, Any]]:
    path = folder / f"{resource_type}.ndjson"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def patient_refs(resource: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(resource, dict):
        ref = resource.get("reference")
        if isinstance(ref, str) and ref.startswith("Patient/"):
            found.add(ref.split("/", 1)[1])
        for value in resource.values():
            found |= patient_refs(value)
    elif isinstance(resource, list):
        for value in resource:
            found |= patient_refs(value)
    return found


def references(value: Any) -> set[str]:
    """Every 'Type/id' a resource points at."""
    if isinstance(value, dict):
        found = {value["reference"]} if isinstance(value.get("reference"), str) else set()
        return found.union(*(references(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(references(v) for v in value))
    return set()


def thin_observations(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest observations per patient and code, and the newest orders per patient."""
    def when(r: dict[str, Any]) -> str:
        return r.get("effectiveDateTime") or (r.get("effectivePeriod") or {}).get("start") or ""

    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in resources:
        if r["resourceType"] == "Observation":
            key = (r["subject"]["reference"], json.dumps(r["code"].get("coding"), sort_keys=True))
            groups.setdefault(key, []).append(r)
    orders: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        if r["resourceType"] == "ServiceRequest":
            orders.setdefault(r["subject"]["reference"], []).append(r)
    kept = {id(r) for group in groups.values()
            for r in sorted(group, key=when, reverse=True)[:OBSERVATIONS_PER_CODE]}
    kept |= {id(r) for group in orders.values()
             for r in sorted(group, key=lambda r: r.get("authoredOn", ""), reverse=True)[:ORDERS_PER_PATIENT]}
    return [r for r in resources if r["resourceType"] not in ("Observation", "ServiceRequest") or id(r) in kept]


def referenced_only(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop directory resources (organizations, locations, practitioners, roles) nothing kept refers to."""
    directory = {"Organization", "Location", "Practitioner", "PractitionerRole"}
    by_key = {f"{r['resourceType']}/{r['id']}": r for r in resources}
    wanted = {key for key, r in by_key.items() if r["resourceType"] not in directory}
    frontier = set(wanted)
    while frontier:
        found = set().union(*(references(by_key[key]) for key in frontier)) & set(by_key)
        frontier = found - wanted
        wanted |= frontier
    roles = {key for key, r in by_key.items() if r["resourceType"] == "PractitionerRole"
             and r.get("practitioner", {}).get("reference") in wanted}
    wanted |= roles | (set().union(*(references(by_key[key]) for key in roles)) & set(by_key))
    return [r for key, r in by_key.items() if key in wanted]


def rewrite(value: Any, mapping: dict[str, tuple[str, str]]) -> Any:
    """Point Patient references at the Epic ids, with the new name as display."""
    if isinstance(value, dict):
        out = {k: rewrite(v, mapping) for k, v in value.items()}
        ref = out.get("reference")
        if isinstance(ref, str) and ref.startswith("Patient/") and ref[8:] in mapping:
            new_id, name = mapping[ref[8:]]
            out["reference"] = f"Patient/{new_id}"
            if "display" in out:
                out["display"] = name
        return out
    if isinstance(value, list):
        return [rewrite(v, mapping) for v in value]
    return value


def codeable(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def ref(resource_type: str, resource_id: str, display: str | None = None) -> dict[str, str]:
    out = {"reference": f"{resource_type}/{resource_id}"}
    if display:
        out["display"] = display
    return out


def text_attachment(text: str, content_type: str, title: str, date: str) -> dict[str, Any]:
    return {"attachment": {"contentType": content_type, "language": "en-US", "title": title, "creation": date,
                           "data": base64.b64encode(text.encode()).decode()}}


def supplement(pid: str, name: str, index: int, record: dict[str, list[dict[str, Any]]],
               practitioner: dict[str, Any]) -> list[dict[str, Any]]:
    """Resource types clinosim does not generate, made from the patient's own record."""
    patient = ref("Patient", pid, name)
    doctor = ref("Practitioner", practitioner["id"], _name(practitioner))
    n = index + 1
    conditions = [c for c in record.get("Condition", []) if _status(c) == "active"] or record.get("Condition", [])
    top = conditions[0]["code"] if conditions else codeable(SNOMED, "185349003", "Health maintenance")
    top_text = top.get("text") or top["coding"][0].get("display", "health maintenance")
    coverage = record.get("Coverage", [])
    out: list[dict[str, Any]] = [
        {"resourceType": "Appointment", "id": f"appt-{n}-past", "status": "fulfilled",
         "serviceType": [codeable(SNOMED, "394802001", "General medicine")],
         "description": "Follow-up visit", "start": f"2026-05-1{n}T15:00:00Z", "end": f"2026-05-1{n}T15:30:00Z",
         "participant": [{"actor": patient, "status": "accepted"}, {"actor": doctor, "status": "accepted"}]},
        {"resourceType": "Appointment", "id": f"appt-{n}-next", "status": "booked",
         "serviceType": [codeable(SNOMED, "394802001", "General medicine")],
         "description": f"Review of {top_text}", "start": f"2027-01-1{n}T16:00:00Z", "end": f"2027-01-1{n}T16:30:00Z",
         "participant": [{"actor": patient, "status": "accepted"}, {"actor": doctor, "status": "accepted"}]},
        {"resourceType": "CarePlan", "id": f"careplan-{n}", "status": "active", "intent": "plan",
         "category": [codeable(SNOMED, "38717003", "Longitudinal care management")],
         "title": f"Care plan: {top_text}", "subject": patient, "period": {"start": "2026-01-05"},
         "addresses": [ref("Condition", conditions[0]["id"])] if conditions else [],
         "activity": [{"detail": {"status": "in-progress", "description": "Review medications every 3 months"}}]},
        {"resourceType": "Goal", "id": f"goal-{n}", "lifecycleStatus": "active",
         "description": {"text": f"Keep {top_text} under control"}, "subject": patient,
         "startDate": "2026-01-05", "target": [{"dueDate": "2027-01-05"}]},
        {"resourceType": "QuestionnaireResponse", "id": f"qr-{n}", "questionnaire": "Questionnaire/phq-2",
         "status": "completed", "subject": patient, "authored": f"2026-05-1{n}T14:50:00Z",
         "item": [{"linkId": "1", "text": "Little interest or pleasure in doing things",
                   "answer": [{"valueInteger": index % 4}]},
                  {"linkId": "2", "text": "Feeling down, depressed, or hopeless", "answer": [{"valueInteger": 0}]}]},
        {"resourceType": "List", "id": f"problems-{n}", "status": "current", "mode": "working",
         "title": "Problem list", "code": codeable("http://terminology.hl7.org/CodeSystem/list-example-use-codes",
                                                   "problems", "Problem List"),
         "subject": patient, "date": "2026-06-01",
         "entry": [{"item": ref("Condition", c["id"])} for c in conditions[:10]]},
        {"resourceType": "Consent", "id": f"consent-{n}", "status": "active",
         "scope": codeable("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy",
                           "Privacy Consent"),
         "category": [codeable(LOINC, "59284-0", "Patient Consent")], "patient": patient,
         "dateTime": "2025-01-10T10:00:00Z",
         "policyRule": codeable("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN", "opt-in")},
        {"resourceType": "Provenance", "id": f"prov-{n}", "target": [ref("Patient", pid)],
         "recorded": "2026-06-01T12:00:00Z",
         "agent": [{"type": codeable("http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                     "author", "Author"), "who": doctor}]},
        {"resourceType": "DocumentReference", "id": f"note-{n}", "status": "current", "docStatus": "final",
         "type": codeable(LOINC, "11506-3", "Progress note"),
         "category": [codeable("http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                               "clinical-note", "Clinical Note")],
         "subject": patient, "date": f"2026-05-1{n}T15:30:00Z", "author": [doctor],
         "content": [text_attachment(
             f"<html><body><h1>Progress note</h1><p>Seen on 2026-05-1{n} for follow-up of {top_text}.</p>"
             "<p>Plan: continue current medications, recheck labs in 3 months.</p>"
             f"<p>Next visit booked for January 1{n}, 2027.</p></body></html>",
             "text/html", "Progress note", f"2026-05-1{n}")]},
    ]
    if coverage:
        out.append({
            "resourceType": "ExplanationOfBenefit", "id": f"eob-{n}", "status": "active",
            "type": codeable("http://terminology.hl7.org/CodeSystem/claim-type", "professional", "Professional"),
            "use": "claim", "patient": patient, "created": f"2026-05-2{n}T00:00:00Z",
            "insurer": coverage[0]["payor"][0], "provider": doctor, "outcome": "complete",
            "insurance": [{"focal": True, "coverage": ref("Coverage", coverage[0]["id"])}],
            "total": [{"category": codeable("http://terminology.hl7.org/CodeSystem/adjudication", "submitted",
                                            "Submitted Amount"), "amount": {"value": 180.0 + 20 * index,
                                                                            "currency": "USD"}},
                      {"category": codeable("http://terminology.hl7.org/CodeSystem/adjudication", "benefit",
                                            "Benefit Amount"), "amount": {"value": 140.0 + 15 * index,
                                                                          "currency": "USD"}}],
        })
    if index in (1, 3, 6):  # Warren, Elijah, Olivia: known for devices or allergies
        out += [
            {"resourceType": "Device", "id": f"device-{n}", "status": "active", "patient": patient,
             "type": codeable(SNOMED, "43252007", "Cochlear prosthesis") if index == 6
             else codeable(SNOMED, "706172005", "Ophthalmic lens"),
             "manufacturer": "Synthetic Devices Inc."},
            {"resourceType": "DeviceUseStatement", "id": f"deviceuse-{n}", "status": "active", "subject": patient,
             "device": ref("Device", f"device-{n}"), "timingDateTime": "2025-03-01"},
            {"resourceType": "AllergyIntolerance", "id": f"allergy-epic-{n}",
             "clinicalStatus": codeable("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                        "active", "Active"),
             "verificationStatus": codeable("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                                            "confirmed", "Confirmed"),
             "type": "allergy", "category": ["medication"], "criticality": "high",
             "code": codeable(RXNORM, "7980", "Penicillin G"), "patient": patient, "recordedDate": "2019-04-02",
             "reaction": [{"manifestation": [codeable(SNOMED, "247472004", "Hives")], "severity": "moderate"}]},
        ]
    if index == 0:  # Camila: known for medications and procedures
        out += [
            {"resourceType": "MedicationRequest", "id": "medrq-metformin-1", "status": "active", "intent": "order",
             "medicationReference": ref("Medication", "med-metformin", "metformin 500 MG Oral Tablet"),
             "subject": patient, "authoredOn": "2026-02-01T09:00:00Z", "requester": doctor,
             "dosageInstruction": [{"text": "Take 1 tablet by mouth twice daily with meals",
                                    "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                                    "doseAndRate": [{"doseQuantity": {"value": 500, "unit": "mg"}}]}]},
            {"resourceType": "Procedure", "id": "proc-colonoscopy-1", "status": "completed",
             "code": codeable(SNOMED, "73761001", "Colonoscopy"), "subject": patient,
             "performedDateTime": "2025-10-02T10:00:00Z"},
        ]
    return out


def _name(resource: dict[str, Any]) -> str:
    name = (resource.get("name") or [{}])[0]
    return " ".join([*name.get("given", []), name.get("family", "")]).strip()


def _status(condition: dict[str, Any]) -> str | None:
    return ((condition.get("clinicalStatus") or {}).get("coding") or [{}])[0].get("code")


def shared_resources() -> list[dict[str, Any]]:
    return [
        {"resourceType": "Medication", "id": "med-metformin",
         "code": codeable(RXNORM, "861007", "metformin hydrochloride 500 MG Oral Tablet"),
         "form": codeable(SNOMED, "385055001", "Tablet")},
        {"resourceType": "Questionnaire", "id": "phq-2", "status": "active", "title": "PHQ-2 depression screen",
         "code": [{"system": LOINC, "code": "55757-9", "display": "PHQ-2"}],
         "item": [{"linkId": "1", "text": "Little interest or pleasure in doing things", "type": "integer"},
                  {"linkId": "2", "text": "Feeling down, depressed, or hopeless", "type": "integer"}]},
    ]


def build(clinosim_dir: Path) -> dict[str, Any]:
    source = {t: read_ndjson(clinosim_dir, t) for t in KEPT_TYPES}
    richness = Counter(pid for t, items in source.items() if t not in ("Patient",) for r in items
                       for pid in patient_refs(r))
    living_adults = {p["id"]: p["gender"] for p in source["Patient"]
                     if not p.get("deceasedBoolean") and "deceasedDateTime" not in p
                     and p.get("birthDate", "9999") < ADULT_BORN_BEFORE}
    chosen: list[str] = []
    for epic in EPIC_PATIENTS:
        candidates = [pid for pid, _ in richness.most_common() if living_adults.get(pid) == epic[3]
                      and pid not in chosen]
        if not candidates:
            raise SystemExit(f"no living adult {epic[3]} record left for {epic[1]}; raise --population")
        chosen.append(candidates[0])
    mapping = {old: (new[0], " ".join([*new[2], new[1]])) for old, new in zip(chosen, EPIC_PATIENTS, strict=True)}

    resources: list[dict[str, Any]] = []
    record_of: dict[str, dict[str, list[dict[str, Any]]]] = {new[0]: {} for new in EPIC_PATIENTS}
    for resource_type, items in source.items():
        for resource in items:
            refs = patient_refs(resource)
            if resource_type == "Patient":
                if resource["id"] not in mapping:
                    continue
                resource = epic_patient(resource, EPIC_PATIENTS[chosen.index(resource["id"])])
            elif refs and not refs <= set(mapping):
                continue  # another patient's record
            elif not refs and resource_type not in LOAD_ORDER[:4] and resource_type != "Device":
                continue  # not the directory, and no patient of ours
            resource = rewrite(resource, mapping)
            for pid in patient_refs(resource):
                record_of[pid].setdefault(resource_type, []).append(resource)
            resources.append(resource)

    resources = referenced_only(thin_observations(resources))
    practitioners = [r for r in resources if r["resourceType"] == "Practitioner"]
    resources += shared_resources()
    for index, (pid, family, given, *_rest) in enumerate(EPIC_PATIENTS):
        resources += supplement(pid, " ".join([*given, family]), index, record_of[pid],
                                practitioners[index % len(practitioners)])
    for resource in resources:
        meta = resource.setdefault("meta", {})
        meta["tag"] = [*meta.get("tag", []), SYNTHETIC_TAG]
        meta.pop("lastUpdated", None)
    resources.sort(key=lambda r: (LOAD_ORDER.index(r["resourceType"]) if r["resourceType"] in LOAD_ORDER
                                  else len(LOAD_ORDER), r["resourceType"], r["id"]))
    return {
        "description": "Synthetic data for epic-mcp's local sandbox: clinosim 0.6.5 records mapped onto the "
                       "names and FHIR ids of Epic's sandbox test patients. Not real patients.",
        "patients": [{"id": p[0], "name": " ".join([*p[2], p[1]]), "mrn": p[4]} for p in EPIC_PATIENTS],
        "resources": resources,
    }


def epic_patient(resource: dict[str, Any], epic: tuple[str, str, list[str], str, str]) -> dict[str, Any]:
    pid, family, given, gender, mrn = epic
    patient = {k: v for k, v in resource.items() if k not in ("identifier", "name", "gender")}
    patient.update({
        "id": pid,
        "identifier": [{"use": "usual", "type": codeable("http://terminology.hl7.org/CodeSystem/v2-0203", "MR",
                                                         "Medical Record Number"),
                        "system": MRN_SYSTEM, "value": mrn}],
        "name": [{"use": "official", "family": family, "given": given}],
        "gender": gender,
    })
    return patient


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: build_sandbox_data.py CLINOSIM_FHIR_R4_DIR", file=sys.stderr)
        return 2
    data = build(Path(sys.argv[1]))
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    OUTPUT.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    counts = Counter(r["resourceType"] for r in data["resources"])
    print(f"wrote {OUTPUT.relative_to(ROOT)}: {len(data['resources'])} resources, {OUTPUT.stat().st_size} bytes "
          f"gzipped", file=sys.stderr)
    for resource_type, count in sorted(counts.items()):
        print(f"  {resource_type:22} {count}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
