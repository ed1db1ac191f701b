#!/usr/bin/env python3
"""Builds the unseen data set (a development-time tool; see build-unseen-data): synthetic records the project was
not developed against, to measure what the compact form keeps (bench/fact_retention.py) and to check answers on
a long record (issue 12).

Two clinosim runs with other seeds than the sandbox's (42) and the PHI evaluation's (7): a US hospital and a
Japanese one (clinosim simulates only these two countries). From each: the inpatient with the most observations
(thousands, with a long medication history), then the patients who add the most FHIR element paths not yet
seen, so the data holds as many shapes of record as a few patients can. Every id is prefixed with the country
('us-', 'jp-'), so nothing collides with the sandbox data or between the two runs, and every reference is
rewritten to match. MedicationAdministration is left out (clinosim's are invalid R4); every other resource a kept
one refers to is kept, so references resolve. clinosim's empty strings are removed (FHIR forbids them), and an
imaging report left without a code takes its order's. Output: tests/data/unseen.json.gz, deterministic for a given
clinosim output.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "tests" / "data" / "unseen.json.gz"

SYNTHETIC_TAG = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST",
                 "display": "test health data"}
SKIPPED_TYPES = {"MedicationAdministration"}  # clinosim's are invalid R4 (dosage.timing, doseAndRate)
PATIENT_LINKS = ("subject", "patient", "beneficiary")
PATIENTS_PER_COUNTRY = 5
# Besides the long record, patients small enough to keep the file small.
MOST_RESOURCES_OF_OTHERS = 1200
LOAD_ORDER = ["Organization", "Location", "Endpoint", "Practitioner", "PractitionerRole", "Patient", "Coverage",
              "Encounter", "Specimen"]


def read_run(folder: Path) -> list[dict[str, Any]]:
    resources = []
    for path in sorted(folder.glob("*.ndjson")):
        if path.stem not in SKIPPED_TYPES:
            resources += [pruned(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
    by_key = {f"{r['resourceType']}/{r['id']}": r for r in resources}
    for resource in resources:
        if resource["resourceType"] == "DiagnosticReport" and "code" not in resource:
            resource["code"] = ordered_code(resource, by_key)
    return resources


def pruned(value: Any) -> Any:
    """Without empty strings, and without the elements left empty by removing them (a coding left with only its
    system says nothing): clinosim writes '' where it has no code (an imaging report's LOINC code, a second coding
    of a lab test), which FHIR forbids."""
    if isinstance(value, dict):
        value = {k: p for k, v in value.items() if (p := pruned(v)) not in ("", [], {})}
        return {} if set(value) <= {"system", "version"} else value
    if isinstance(value, list):
        return [p for v in value if (p := pruned(v)) not in ("", [], {})]
    return value


def ordered_code(report: dict[str, Any], by_key: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An imaging report clinosim left without a code is the report of the order it is based on: that order's
    code (FHIR requires DiagnosticReport.code)."""
    for based_on in report.get("basedOn") or []:
        order = by_key.get(based_on.get("reference", ""))
        if order is not None and order.get("code"):
            return order["code"]
    raise SystemExit(f"DiagnosticReport/{report['id']} has no code and no order to take it from")


def owner(resource: dict[str, Any]) -> str | None:
    """The patient a resource belongs to, as the FHIR `patient` search parameter finds it."""
    if resource["resourceType"] == "Patient":
        return resource["id"]
    for name in PATIENT_LINKS:
        target = (resource.get(name) or {}).get("reference") if isinstance(resource.get(name), dict) else None
        if isinstance(target, str) and target.startswith("Patient/"):
            return target.split("/", 1)[1]
    return None


def references(value: Any) -> set[str]:
    """Every 'Type/id' a resource points at."""
    if isinstance(value, dict):
        found = {value["reference"]} if isinstance(value.get("reference"), str) else set()
        return found.union(*(references(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(references(v) for v in value))
    return set()


def paths(value: Any, prefix: str) -> set[str]:
    """The element paths a resource holds ('AllergyIntolerance.reaction.manifestation.coding.code')."""
    if isinstance(value, dict):
        return set().union(*(paths(v, f"{prefix}.{k}") for k, v in value.items() if k != "meta"))
    if isinstance(value, list):
        return set().union(*(paths(v, prefix) for v in value))
    return {prefix}


def is_inpatient(records: list[dict[str, Any]]) -> bool:
    return any(r["resourceType"] == "Encounter" and (r.get("class") or {}).get("code") == "IMP" for r in records)


def choose(by_patient: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The inpatient with the most observations, then the patients who add the most new element paths."""
    def observations(pid: str) -> int:
        return sum(r["resourceType"] == "Observation" for r in by_patient[pid])

    long_record = max((pid for pid, records in by_patient.items() if is_inpatient(records)),
                      key=lambda pid: (observations(pid), pid))
    chosen = [long_record]
    seen = set().union(*(paths(r, r["resourceType"]) for r in by_patient[long_record]))
    shapes = {pid: set().union(*(paths(r, r["resourceType"]) for r in records))
              for pid, records in by_patient.items() if len(records) <= MOST_RESOURCES_OF_OTHERS}
    while len(chosen) < PATIENTS_PER_COUNTRY:
        candidates = [pid for pid in sorted(shapes) if pid not in chosen]
        best = max(candidates, key=lambda pid: (len(shapes[pid] - seen), -len(by_patient[pid]), pid))
        chosen.append(best)
        seen |= shapes[best]
    return chosen


def closure(kept: list[dict[str, Any]], by_key: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The kept resources and everything they refer to, transitively (practitioners, locations, specimens, ...)."""
    wanted = {f"{r['resourceType']}/{r['id']}" for r in kept}
    frontier = set(wanted)
    while frontier:
        found = set().union(*(references(by_key[key]) for key in frontier if key in by_key)) & set(by_key)
        frontier = found - wanted
        wanted |= frontier
    return [by_key[key] for key in sorted(wanted) if key in by_key]


def prefixed(value: Any, prefix: str, known: set[str]) -> Any:
    """Every reference to a kept resource rewritten to its prefixed id; references to anything else dropped."""
    if isinstance(value, dict):
        out = {k: prefixed(v, prefix, known) for k, v in value.items()}
        target = value.get("reference")
        if isinstance(target, str) and "/" in target and not target.startswith("#"):
            if target not in known:
                raise SystemExit(f"dangling reference {target}: extend the closure")
            kind, rid = target.split("/", 1)
            out["reference"] = f"{kind}/{prefix}{rid}"
        return out
    if isinstance(value, list):
        return [prefixed(v, prefix, known) for v in value]
    return value


def country_part(folder: Path, country: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    resources = read_run(folder)
    by_key = {f"{r['resourceType']}/{r['id']}": r for r in resources}
    by_patient: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        pid = owner(resource)
        if pid is not None:
            by_patient.setdefault(pid, []).append(resource)
    chosen = choose(by_patient)
    while True:  # a newborn's stay is part of the mother's: her record comes along
        kept = closure([r for pid in chosen for r in by_patient[pid]], by_key)
        linked = sorted({pid for r in kept if (pid := owner(r)) is not None} - set(chosen))
        if not linked:
            break
        chosen += linked
    prefix = f"{country.lower()}-"
    known = {f"{r['resourceType']}/{r['id']}" for r in kept}
    out = []
    for resource in kept:
        resource = prefixed(resource, prefix, known)
        resource["id"] = prefix + resource["id"]
        meta = resource.setdefault("meta", {})
        meta["tag"] = [*meta.get("tag", []), SYNTHETIC_TAG]
        meta.pop("lastUpdated", None)
        out.append(resource)
    patients = []
    for index, pid in enumerate(chosen):
        patient = by_key[f"Patient/{pid}"]
        name = (patient.get("name") or [{}])[0]
        records = by_patient[pid]
        patients.append({
            "id": prefix + pid, "country": country,
            "name": name.get("text") or " ".join([*name.get("given", []), name.get("family", "")]).strip(),
            "role": "long inpatient record" if index == 0 else "linked record" if index >= PATIENTS_PER_COUNTRY
            else "varied record",
            "counts": dict(sorted(Counter(r["resourceType"] for r in records if r["resourceType"] != "Patient")
                                  .items())),
        })
    return out, patients


def build(us_dir: Path, jp_dir: Path) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    patients: list[dict[str, Any]] = []
    for folder, country in ((us_dir, "US"), (jp_dir, "JP")):
        part, chosen = country_part(folder, country)
        resources += part
        patients += chosen
    resources.sort(key=lambda r: (LOAD_ORDER.index(r["resourceType"]) if r["resourceType"] in LOAD_ORDER
                                  else len(LOAD_ORDER), r["resourceType"], r["id"]))
    return {
        "description": "Unseen synthetic data for epic-mcp's measurements: clinosim 0.6.5, a US hospital (seed 1234) "
                       "and a Japanese one (seed 2027), 2025-07-01 to 2026-06-30. Not real patients.",
        "patients": patients,
        "resources": resources,
    }


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: build_unseen_data.py CLINOSIM_US_FHIR_R4_DIR CLINOSIM_JP_FHIR_R4_DIR", file=sys.stderr)
        return 2
    data = build(Path(sys.argv[1]), Path(sys.argv[2]))
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    OUTPUT.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    print(f"wrote {OUTPUT.relative_to(ROOT)}: {len(data['resources'])} resources, {OUTPUT.stat().st_size} bytes "
          f"gzipped", file=sys.stderr)
    for patient in data["patients"]:
        print(f"  {patient['id']:20} {patient['role']:22} {sum(patient['counts'].values()):5} resources, "
              f"{patient['counts'].get('Observation', 0)} observations, "
              f"{patient['counts'].get('MedicationRequest', 0)} medication requests", file=sys.stderr)
    for resource_type, count in sorted(Counter(r["resourceType"] for r in data["resources"]).items()):
        print(f"  {resource_type:22} {count}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
