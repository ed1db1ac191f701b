#!/usr/bin/env python3
"""Builds the second synthetic data set of the PHI leakage evaluation (a development-time tool; see
build-phi-eval-data): clinosim's Japanese hospital (another country and seed than the sandbox's), a few patients.

clinosim's notes never quote a patient's own identifiers, so the de-identifier would never be tested on them.
Each patient therefore also gets notes written the way clinicians write (templated from the patient's own
record): the name in kanji and kana, the MRN, phone numbers as recorded and reformatted, the address, postcode,
an e-mail address, the birth date and visit dates in several formats, in English and Japanese, inline and as a
Binary (HTML). One patient is made 93 years old, for the over-89 rule. Output: tests/data/phi-eval.json.gz,
deterministic for a given clinosim output.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "tests" / "data" / "phi-eval.json.gz"
KEPT_TYPES = ["Organization", "Location", "Practitioner", "PractitionerRole", "Patient", "Coverage", "Encounter",
              "Condition", "Observation", "DiagnosticReport", "MedicationRequest", "AllergyIntolerance",
              "Immunization", "CareTeam", "FamilyMemberHistory", "ServiceRequest", "Procedure", "Composition"]
LOAD_ORDER = ["Organization", "Location", "Practitioner", "PractitionerRole", "Patient", "Coverage", "Encounter",
              "Binary"]
PATIENTS = 6
OBSERVATIONS_PER_CODE = 3
ORDERS_PER_PATIENT = 10
NOTES_PER_PATIENT = 10
OLDEST_BIRTH_DATE = "1933-04-15"  # one patient is 90+ on every date the tests pretend is today
SYNTHETIC_TAG = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST",
                 "display": "test health data"}
LOINC = "http://loinc.org"
NOTE_CATEGORY = {"coding": [{"system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                             "code": "clinical-note", "display": "Clinical Note"}]}


def read_ndjson(folder: Path, resource_type: str) -> list[dict[str, Any]]:
    path = folder / f"{resource_type}.ndjson"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def patient_refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        ref = value.get("reference")
        own = {ref.split("/", 1)[1]} if isinstance(ref, str) and ref.startswith("Patient/") else set()
        return own.union(*(patient_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(patient_refs(v) for v in value))
    return set()


def references(value: Any) -> set[str]:
    if isinstance(value, dict):
        own = {value["reference"]} if isinstance(value.get("reference"), str) else set()
        return own.union(*(references(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(references(v) for v in value))
    return set()


def when(resource: dict[str, Any]) -> str:
    return resource.get("effectiveDateTime") or resource.get("authoredOn") or resource.get("date") or \
        (resource.get("effectivePeriod") or {}).get("start") or ""


def thin(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest observations per patient and code, the newest orders and notes per patient."""
    limits = {"Observation": OBSERVATIONS_PER_CODE, "ServiceRequest": ORDERS_PER_PATIENT,
              "Composition": NOTES_PER_PATIENT}
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in resources:
        if r["resourceType"] in limits:
            code = json.dumps(r["code"].get("coding"), sort_keys=True) if r["resourceType"] == "Observation" else ""
            groups.setdefault((r["resourceType"], r["subject"]["reference"], code), []).append(r)
    kept = {id(r) for key, group in groups.items() for r in sorted(group, key=when, reverse=True)[:limits[key[0]]]}
    return [r for r in resources if r["resourceType"] not in limits or id(r) in kept]


def referenced_only(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The patients' records and the directory entries (and what those point at) they refer to; no dangling
    reference to an observation or order left out by thinning."""
    directory = {"Organization", "Location", "Practitioner", "PractitionerRole"}
    by_key = {f"{r['resourceType']}/{r['id']}": r for r in resources}
    wanted = {key for key, r in by_key.items() if r["resourceType"] not in directory}
    frontier = set(wanted)
    while frontier:
        found = set().union(*(references(by_key[key]) for key in frontier)) & set(by_key)
        frontier = found - wanted
        wanted |= frontier
    kept = [r for key, r in by_key.items() if key in wanted]
    for resource in kept:
        _drop_dangling(resource, set(by_key) & wanted)
    return kept


def _drop_dangling(value: Any, present: set[str]) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _drop_dangling(item, present)
    elif isinstance(value, list):
        value[:] = [item for item in value if not (isinstance(item, dict) and isinstance(item.get("reference"), str)
                                                   and re.fullmatch(r"(Observation|ServiceRequest)/.+",
                                                                    item["reference"])
                                                   and item["reference"] not in present)]
        for item in value:
            _drop_dangling(item, present)


def valid_codes(value: Any) -> Any:
    """clinosim's JP output has empty codings and empty strings, which FHIR (and sekmet) refuse: drop them."""
    if isinstance(value, dict):
        return {k: valid_codes(v) for k, v in value.items() if v != ""}
    if isinstance(value, list):
        return [valid_codes(v) for v in value if not (isinstance(v, dict) and "code" in v and not v["code"])]
    return value


def plain(html: str) -> str:
    return re.sub(r"\s+\n", "\n", re.sub(r"<[^>]+>", "", html)).strip()


def attachment(text: str, content_type: str, title: str, created: str) -> dict[str, Any]:
    return {"contentType": content_type, "title": title, "creation": created,
            "data": base64.b64encode(text.encode()).decode()}


def composition_note(composition: dict[str, Any]) -> dict[str, Any]:
    """clinosim's Composition (not in the catalog) as the DocumentReference Epic would serve for the note."""
    sections = [f"{s.get('title', '')}\n{plain(s.get('text', {}).get('div', ''))}"
                for s in composition.get("section", []) if isinstance(s, dict)]
    note: dict[str, Any] = {
        "resourceType": "DocumentReference", "id": composition["id"].replace("comp-", "note-"),
        "status": "current", "docStatus": "final", "type": composition["type"], "category": [NOTE_CATEGORY],
        "subject": composition["subject"], "date": composition["date"], "author": composition.get("author", []),
        "description": composition.get("title"),
        "content": [{"attachment": attachment("\n\n".join(sections), "text/plain", composition.get("title", ""),
                                              composition["date"][:10])}],
    }
    if composition.get("encounter"):
        note["context"] = {"encounter": [composition["encounter"]]}
    return note


def us(day: date) -> str:
    return f"{day.month:02d}/{day.day:02d}/{day.year}"


def long(day: date) -> str:
    return f"{day.strftime('%B')} {day.day}, {day.year}"


def kanji(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def international(phone: str) -> str:
    """090-7875-7297 as +81 90 7875 7297."""
    return "+81 " + " ".join(phone.lstrip("0").split("-"))


def identity_notes(n: int, patient: dict[str, Any], record: list[dict[str, Any]],
                   author: dict[str, Any]) -> list[dict[str, Any]]:
    """Notes, an appointment and a questionnaire answer that quote the patient's own identifiers."""
    pid = patient["id"]
    subject = {"reference": f"Patient/{pid}"}
    kanji_name, kana_name = (name["text"] for name in patient["name"][:2])
    mrn = patient["identifier"][0]["value"]
    phones = [t["value"] for t in patient["telecom"] if t["system"] == "phone"]
    email = next(t["value"] for t in patient["telecom"] if t["system"] == "email")
    address = patient["address"][0]
    contact = patient.get("contact", [{}])[0]
    contact_name = contact.get("name", {}).get("text", "")
    born = date.fromisoformat(patient["birthDate"])
    encounters = sorted((r for r in record if r["resourceType"] == "Encounter"), key=lambda r: r["period"]["start"])
    seen = date.fromisoformat(encounters[-1]["period"]["start"][:10]) if encounters else date(2026, 1, 15)
    member = next((r.get("subscriberId") for r in record if r["resourceType"] == "Coverage"), "none")
    letter = (
        f"Referral letter\n"
        f"Patient: {kanji_name} ({kana_name}), MRN {mrn}, born {born.isoformat()} ({us(born)}; {long(born)}).\n"
        f"Address: {address['text']}, postcode {address['postalCode']}. Phone: {phones[0]} "
        f"(mobile {international(phones[0])}). E-mail: {email}.\n"
        f"Emergency contact: {contact_name}, tel {contact.get('telecom', [{}])[0].get('value', '')}.\n"
        f"Last seen on {seen.isoformat()} ({seen.day:02d}.{seen.month:02d}.{seen.year}, {long(seen)}); "
        f"please see {kanji_name.split()[0]}-san within two weeks. Insurance member number {member}.\n"
        f"Patient record {pid}.\n"
    )
    html = (f"<html><body><h1>紹介状</h1><p>{kanji_name}様（{kana_name}） 患者ID {mrn}</p>"
            f"<p>生年月日 {kanji(born)}、住所 {address['text']}（〒{address['postalCode']}）、"
            f"電話 {phones[-1]}、メール {email}</p><p>{kanji(seen)} 来院。次回 {us(seen)} の1か月後。</p>"
            f"</body></html>")
    created = f"{seen.isoformat()}T09:00:00+09:00"
    author_name = author["name"][0]
    author_ref = {"reference": f"Practitioner/{author['id']}",
                  "display": author_name.get("text") or f"{author_name['family']} {' '.join(author_name['given'])}"}
    return [
        {"resourceType": "DocumentReference", "id": f"letter-{n}", "status": "current", "docStatus": "final",
         "type": {"coding": [{"system": LOINC, "code": "57133-1", "display": "Referral note"}],
                  "text": "Referral note"}, "category": [NOTE_CATEGORY], "subject": subject, "date": created,
         "author": [author_ref], "description": f"Referral letter for {kanji_name}",
         "content": [{"attachment": attachment(letter, "text/plain", "Referral letter", seen.isoformat())}]},
        {"resourceType": "Binary", "id": f"bin-{n}", "contentType": "text/html",
         "data": base64.b64encode(html.encode()).decode()},
        {"resourceType": "DocumentReference", "id": f"shokai-{n}", "status": "current", "docStatus": "final",
         "type": {"coding": [{"system": LOINC, "code": "57133-1", "display": "Referral note"}], "text": "紹介状"},
         "category": [NOTE_CATEGORY], "subject": subject, "date": created, "author": [author_ref],
         "content": [{"attachment": {"contentType": "text/html", "title": "紹介状", "url": f"Binary/bin-{n}",
                                     "creation": seen.isoformat()}}]},
        {"resourceType": "Appointment", "id": f"appt-jp-{n}", "status": "booked",
         "description": f"Follow-up for {kanji_name} ({phones[0]})", "start": f"2026-06-1{n}T10:00:00+09:00",
         "end": f"2026-06-1{n}T10:30:00+09:00", "comment": f"Confirm by e-mail {email} before {us(seen)}",
         "participant": [{"actor": subject, "status": "accepted"}, {"actor": author_ref, "status": "accepted"}]},
        {"resourceType": "QuestionnaireResponse", "id": f"qr-jp-{n}", "status": "completed", "subject": subject,
         "authored": created, "item": [
             {"linkId": "1", "text": "Best number to call", "answer": [{"valueString": f"call {phones[-1]}"}]},
             {"linkId": "2", "text": "Date of birth", "answer": [{"valueDate": born.isoformat()}]},
             {"linkId": "3", "text": "Home address", "answer": [{"valueString": address["text"]}]}]},
    ]


def build(clinosim_dir: Path) -> dict[str, Any]:
    source = {t: read_ndjson(clinosim_dir, t) for t in KEPT_TYPES}
    richness = Counter(pid for t, items in source.items() if t != "Patient" for r in items
                       for pid in patient_refs(r))
    living = [p for p in source["Patient"] if not p.get("deceasedBoolean") and "deceasedDateTime" not in p]
    chosen = sorted(living, key=lambda p: (-richness[p["id"]], p["id"]))[:PATIENTS]
    chosen_ids = {p["id"] for p in chosen}
    resources: list[dict[str, Any]] = []
    for resource_type, items in source.items():
        for resource in items:
            refs = patient_refs(resource)
            if resource_type == "Patient" and resource["id"] not in chosen_ids:
                continue
            if resource_type != "Patient" and refs and not refs <= chosen_ids:
                continue
            if resource_type != "Patient" and not refs and resource_type not in LOAD_ORDER[:4]:
                continue
            resources.append(valid_codes(resource))
    resources = [composition_note(r) if r["resourceType"] == "Composition" else r for r in thin(resources)]
    resources = referenced_only(resources)
    patients = sorted((r for r in resources if r["resourceType"] == "Patient"), key=lambda p: p["id"])
    practitioners = sorted((r for r in resources if r["resourceType"] == "Practitioner"), key=lambda p: p["id"])
    for n, patient in enumerate(patients, 1):
        patient["telecom"].append({"system": "email", "value": f"patient{n}.{patient['id'][3:9]}@example.jp",
                                   "use": "home"})
        if n == 1:
            patient["birthDate"] = OLDEST_BIRTH_DATE
        record = [r for r in resources if patient["id"] in patient_refs(r)]
        resources += identity_notes(n, patient, record, practitioners[n % len(practitioners)])
    for resource in resources:
        meta = resource.setdefault("meta", {})
        meta["tag"] = [*meta.get("tag", []), SYNTHETIC_TAG]
        meta.pop("lastUpdated", None)
    resources.sort(key=lambda r: (LOAD_ORDER.index(r["resourceType"]) if r["resourceType"] in LOAD_ORDER
                                  else len(LOAD_ORDER), r["resourceType"], r["id"]))
    return {
        "description": "Synthetic data for epic-mcp's PHI leakage evaluation: clinosim 0.6.5 (country JP, seed 7), "
                       "with notes that quote each patient's own identifiers. Not real patients.",
        "patients": [p["id"] for p in patients],
        "resources": resources,
    }


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: build_phi_eval_data.py CLINOSIM_FHIR_R4_DIR", file=sys.stderr)
        return 2
    data = build(Path(sys.argv[1]))
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    OUTPUT.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    counts = Counter(r["resourceType"] for r in data["resources"])
    print(f"wrote {OUTPUT.relative_to(ROOT)}: {len(data['patients'])} patients, {len(data['resources'])} resources, "
          f"{OUTPUT.stat().st_size} bytes gzipped", file=sys.stderr)
    for resource_type, count in sorted(counts.items()):
        print(f"  {resource_type:22} {count}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
