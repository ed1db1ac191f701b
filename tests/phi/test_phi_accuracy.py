"""Does the minimum PHI mode give the full mode's answers, far beyond the questions evals/ grades? The same
questions, asked through the real stdio server in the full mode and in the minimum mode, over the sandbox data
set; each minimum-mode answer is mapped back (pseudonyms to ids with the secret, dates moved back by the
patient's offset) and must equal the full-mode answer: whole summary sections, birth years, intervals between
results, whole note texts, counts of eight searches. The agreement per kind of question goes to
docs/phi-accuracy.md (written by this test).

Issue 15's bar (accuracy against known answers, at most 2 points lost) is measured by evals/ instead:
`evals/run --phi minimum` writes it to docs/evals.md and tests/evals/test_evals_oracle.py checks it in CI.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from epic_mcp.auth.keys import KeyRing, generate_key, write_private_key
from epic_mcp.phi.dates import shift_text
from epic_mcp.phi.pseudonyms import PseudonymCodec
from epic_mcp.sandbox import data_set
from epic_mcp.settings import load_settings

from ..conftest import report_path, run_today
from ..sekmet_server import SekmetServer
from .phi_leakage import records_of

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

SECRET = "accuracy-evaluation-secret-0123456789abcdef"
# One clock for the data and the server: the sandbox data is dated for this day, and the server's "today" is it.
TODAY = run_today()
CLIENT = "epic-mcp-phi-accuracy"
CODES_PER_PATIENT = 8
NOTES_PER_PATIENT = 4
COUNTED = ("search_conditions", "search_encounters", "search_medication_requests", "search_immunizations",
           "search_documents", "search_appointments", "search_procedures", "search_diagnostic_reports")
SUMMARY_SECTIONS = ("problems", "medications", "allergies", "vital_signs", "labs", "immunizations", "encounters",
                    "appointments", "coverage")
LOINC = "http://loinc.org"


@pytest.fixture(scope="module")
def sekmet(tmp_path_factory: pytest.TempPathFactory, bundled_data: Path) -> Iterator[tuple[SekmetServer, Path]]:
    key = tmp_path_factory.mktemp("accuracy-key") / "client.key"
    write_private_key(generate_key(), key)
    jwks = KeyRing.from_settings(load_settings(None, private_key_path=str(key))).jwks()
    server = SekmetServer(tmp_path_factory.mktemp("accuracy-sekmet"),
                          [{"client_id": CLIENT, "jwks": jwks, "scopes": "system/*.read"}], data=bundled_data).start()
    try:
        yield server, key
    finally:
        server.stop()


def stdio(server: SekmetServer, key: Path, **settings: str) -> StdioServerParameters:
    env = {"PATH": os.environ["PATH"], "EPIC_ENV": "custom", "EPIC_FHIR_BASE_URL": server.base_url,
           "EPIC_CLIENT_ID": CLIENT, "PRIVATE_KEY_PATH": str(key), "EPIC_TODAY": TODAY.isoformat(),
           "EPIC_LOG_LEVEL": "WARNING", "EPIC_TOOLS": "all", **settings}
    return StdioServerParameters(command=sys.executable, args=["-m", "epic_mcp"], env=env, cwd="/")


class Mode:
    """One server session, and how to read its answers back in real terms."""

    def __init__(self, client: Client, codec: PseudonymCodec | None) -> None:
        self.client = client
        self.codec = codec

    def patient_id(self, real: str) -> str:
        return self.codec.pseudonym("Patient", real) if self.codec else real

    def real(self, resource_type: str, value: str) -> str:
        return (self.codec.real(resource_type, value) or "?") if self.codec else value

    def back(self, value: str | None, patient: str) -> str | None:
        """A value as it is in the record: references and identifiers to real ones, dates moved back."""
        codec = self.codec
        if value is None or codec is None:
            return value
        identifier = codec.real("identifier", value)
        if identifier is not None:
            return identifier
        value = re.sub(r"\b([A-Z][A-Za-z]+)/([A-Za-z0-9]{20,})",
                       lambda m: f"{m[1]}/{codec.real(m[1], m[2]) or m[2]}", value)
        return shift_text(value, -codec.offset_days(patient))

    def date_arg(self, value: str, patient: str) -> str:
        """A real date as this mode's model would write it for the patient."""
        if self.codec is None:
            return value
        return (date.fromisoformat(value) + timedelta(days=self.codec.offset_days(patient))).isoformat()

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await self.client.call_tool(tool, arguments)
        assert not result.is_error, f"{tool}: {result.content[0].text}"
        return result.structured_content


async def answers(mode: Mode, data: list[dict[str, Any]], patient: dict[str, Any]) -> dict[str, Any]:
    """Every question's answer for one patient, in real terms: ids, values, dates as the record has them."""
    real = patient["id"]
    pid = mode.patient_id(real)
    out: dict[str, Any] = {}
    summary = await mode.call("patient_summary", {"patient_id": pid})
    sections = {s["name"]: s for s in summary["sections"]}
    for name in SUMMARY_SECTIONS:
        items = sections[name]["items"] if name in sections else None
        out[f"summary: {name}"] = None if items is None else [
            (mode.real(item["resourceType"], item["id"]),
             *(mode.back(str(v), real) for k, v in sorted(item.items())
               if k not in ("id", "resourceType", "participants", "encounter", "addresses", "goals")))
            for item in items]
    born = (summary["patient"] or {}).get("birth_date", "")
    out["summary: birth year"] = born[:4] if born != "90+" else "90+"
    records = records_of(data, real)
    codes = sorted({c["code"] for r in records if r["resourceType"] == "Observation"
                    for c in r["code"].get("coding", []) if c.get("system") == LOINC})[:CODES_PER_PATIENT]
    for code in codes:
        series = (await mode.call("get_latest_values", {"patient_id": pid, "code": code, "limit": 5}))["series"][0]
        values = series["values"]
        days = [date.fromisoformat(v["date"][:10]) for v in values if v["date"]]
        out[f"latest value and date ({code})"] = [(v["value"], mode.back(v["date"], real)) for v in values[:1]]
        out[f"trend, newest first ({code})"] = [(v["value"], v["flag"]) for v in values]
        out[f"trend direction ({code})"] = [t["direction"] for t in series["trend"]]
        out[f"days between results ({code})"] = [(a - b).days for a, b in itertools.pairwise(days)]
    for tool in COUNTED:
        out[f"how many ({tool})"] = (await mode.call(tool, {"patient_id": pid, "count_only": True}))["total"]
    encounters = sorted(r["period"]["start"][:10] for r in records if r["resourceType"] == "Encounter")
    if encounters:
        low, high = encounters[len(encounters) // 4], encounters[3 * len(encounters) // 4]
        window = await mode.call("search_encounters", {"patient_id": pid, "date_from": mode.date_arg(low, real),
                                                       "date_to": mode.date_arg(high, real), "count": 100})
        out["encounters in a date window"] = sorted(mode.real("Encounter", i["id"]) for i in window["items"])
    notes = sorted(r["id"] for r in records if r["resourceType"] == "DocumentReference")[:NOTES_PER_PATIENT]
    for note in notes:
        document_id = mode.codec.pseudonym("DocumentReference", note) if mode.codec else note
        text = (await mode.call("get_document_text", {"document_id": document_id}))["text"]["patient_text"]
        out[f"note text ({note})"] = mode.back(text, real)
    return out


async def test_minimum_mode_answers_as_the_full_mode_does(sekmet, tmp_path: Path) -> None:
    server, key = sekmet
    data = data_set(TODAY)["resources"]
    patients = sorted((r for r in data if r["resourceType"] == "Patient"), key=lambda p: p["id"])
    results: dict[str, dict[str, Any]] = {}
    for mode_name, settings, codec in (("full", {}, None),
                                       ("minimum", {"EPIC_PHI_MODE": "minimum", "EPIC_PHI_SECRET": SECRET},
                                        PseudonymCodec(SECRET))):
        async with Client(stdio(server, key, **settings)) as client:
            mode = Mode(client, codec)
            for patient in patients:
                for question, answer in (await answers(mode, data, patient)).items():
                    results.setdefault(f"{patient['id']}|{question}", {})[mode_name] = answer
    asked: Counter[str] = Counter()
    agreed: Counter[str] = Counter()
    differences: list[str] = []
    for key_, pair in results.items():
        kind = key_.split("|", 1)[1].split(" (")[0]
        asked[kind] += 1
        if pair["full"] == pair["minimum"]:
            agreed[kind] += 1
        else:
            differences.append(f"{key_}: {str(pair['full'])[:300]} != {str(pair['minimum'])[:300]}")
    total, same = sum(asked.values()), sum(agreed.values())
    report_path("phi-accuracy.md", tmp_path).write_text(report(asked, agreed, len(patients), differences))
    assert 100 * same / total >= 98, "\n".join(differences)


def report(asked: Counter[str], agreed: Counter[str], patients: int, differences: list[str]) -> str:
    total, same = sum(asked.values()), sum(agreed.values())
    lines = [
        "# Accuracy of the PHI-minimising mode",
        "",
        "Accuracy against known answers, the figure issue 15 sets its bar on (at most 2 points lost), is measured "
        "by the accuracy evaluation: the evals question bank asked in both modes in one run, each minimum-mode "
        "answer read back with the secret and graded by the same graders, kind by kind with what the mode lost "
        "and why, in [docs/evals.md](evals.md) (`evals/run --phi minimum`; CI: `tests/evals/test_evals_oracle.py`).",
        "",
        "This page is the wider check beside it: does the minimum mode give the full mode's answers, also where "
        "the bank asks nothing (whole summary sections, birth years, intervals between results, whole note "
        "texts, counts of eight searches)? Written by `scripts/phi-reports` with `tests/phi/test_phi_accuracy.py`, "
        "which CI also runs (`./scripts/test`, without writing this page). The same questions are asked through "
        "the real stdio server in the full mode and in `EPIC_PHI_MODE=minimum`, against sekmet-fhir with the "
        "sandbox data set "
        f"({patients} patients, `EPIC_TODAY={TODAY}`). Each minimum-mode answer is read back in real terms "
        "(pseudonyms mapped to ids with the secret, dates moved back by the patient's offset) and compared with "
        "the full-mode answer.",
        "",
        "| Question | Asked | Same answer |",
        "|---|---:|---:|",
    ]
    lines += [f"| {kind} | {asked[kind]} | {agreed[kind]} |" for kind in sorted(asked)]
    lines += [f"| **all** | **{total}** | **{same} ({100 * same / total:.1f}%)** |", "",
              f"Answers that differ from the full mode's: {100 - 100 * same / total:.1f}% (this test fails above 2%).",
              ""]
    if differences:
        lines += ["Differences (full != minimum, read back):", ""]
        lines += [f"- {line}" for line in differences]
        lines.append("")
    return "\n".join(lines)
