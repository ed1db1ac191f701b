"""Issue 12's questions through the real server over stdio, against sekmet-fhir loaded with the sandbox data and
a patient with thousands of observations and a long medication history (tests/heavy_patient.py). The expected
answers come from the raw records through evals/truth.py, which does not use epic-mcp's renderer or summary."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from epic_mcp.auth.keys import KeyRing, generate_key, write_private_key
from epic_mcp.sandbox import data_set, load_resources
from epic_mcp.settings import load_settings
from evals import truth

from ..conftest import pretended_today, run_today
from ..heavy_patient import PATIENT_ID as HEAVY
from ..heavy_patient import heavy_patient
from ..sekmet_server import LOADER_TOKEN, SekmetServer

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

CLIENT_ID = "epic-mcp-e2e-answers"
CAMILA = "erXuFYUfucBZaryVksYEcMg3"
TODAY = run_today()


@pytest.fixture(scope="module")
def records() -> tuple[list[dict[str, Any]], truth.Records]:
    data = data_set(TODAY)
    heavy = heavy_patient(TODAY)
    resources = [*data["resources"], *heavy]
    patients = [*data["patients"], *(r for r in heavy if r["resourceType"] == "Patient")]
    return resources, truth.Records({"patients": patients, "resources": resources})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, records, bundled_data: Path) -> Iterator[StdioServerParameters]:
    folder = tmp_path_factory.mktemp("e2e-answers")
    key = folder / "client.key"
    write_private_key(generate_key(), key)
    jwks = KeyRing.from_settings(load_settings(None, private_key_path=str(key))).jwks()
    sekmet = SekmetServer(folder / "sekmet", [{"client_id": CLIENT_ID, "jwks": jwks, "scopes": "system/*.read"}],
                          data=bundled_data)  # the data set; the heavy patient is loaded beside it
    sekmet.start()
    try:
        load_resources(sekmet.base_url, LOADER_TOKEN, heavy_patient(TODAY))
        env_file = Path(folder) / "answers.env"
        env_file.write_text(f"EPIC_ENV=custom\nEPIC_FHIR_BASE_URL={sekmet.base_url}\nEPIC_CLIENT_ID={CLIENT_ID}\n"
                            f"PRIVATE_KEY_PATH={key}\n")
        yield StdioServerParameters(command=sys.executable, args=["-m", "epic_mcp", "--env-file", str(env_file)],
                                    env={"PATH": os.environ["PATH"], **pretended_today()}, cwd="/")
    finally:
        sekmet.stop()


def newest_per_code(records: truth.Records, patient_id: str, category: str) -> set[str]:
    return {o["id"] for o in truth.newest_per_kind(records, patient_id, category)}


async def summary_of(server: StdioServerParameters, patient_id: str, *sections: str) -> dict[str, dict[str, Any]]:
    async with Client(server) as client:
        result = await client.call_tool("patient_summary", {"patient_id": patient_id, "sections": list(sections)})
    assert not result.is_error, result.content[0].text
    return {s["name"]: s for s in result.structured_content["sections"]}


async def test_latest_vitals_and_labs_of_a_patient_with_thousands_of_observations(server, records) -> None:
    sections = await summary_of(server, HEAVY, "vital_signs", "labs")
    assert len(records[1].of(HEAVY, "Observation")) > 2000
    assert {item["id"] for item in sections["vital_signs"]["items"]} == newest_per_code(records[1], HEAVY,
                                                                                      "vital-signs")
    assert {item["id"] for item in sections["labs"]["items"]} == newest_per_code(records[1], HEAVY, "laboratory")


async def test_current_medications_of_a_long_history_are_the_truths(server, records) -> None:
    meds = (await summary_of(server, HEAVY, "medications"))["medications"]
    expected = {o["id"] for o in truth.current_medications(records[1], HEAVY, TODAY)}
    assert expected and {item["id"] for item in meds["items"]} == expected
    assert any("inpatient order" in item["likely_stale"] for item in meds["set_apart"])


async def test_the_next_appointment_is_the_live_one_ahead(server, records) -> None:
    appointments = (await summary_of(server, HEAVY, "appointments"))["appointments"]
    expected = truth.next_appointment(records[1], HEAVY, TODAY)
    assert expected is not None and appointments["items"][0]["id"] == expected["id"]
    assert all(item["status"] == "cancelled" for item in appointments["set_apart"])


async def test_the_latest_note_is_the_newest(server, records) -> None:
    newest = truth.newest_notes(records[1], HEAVY)[0]
    async with Client(server) as client:
        result = await client.call_tool("get_latest_notes", {"patient_id": HEAVY})
    assert not result.is_error, result.content[0].text
    note = result.structured_content["notes"][0]
    assert note["document_id"] == newest["id"]
    assert note["text"]["patient_text"] == truth.note_text(newest)


async def test_active_problems_are_one_brief_line_each_with_code_and_onset(server, records) -> None:
    async with Client(server) as client:
        result = await client.call_tool("patient_summary", {"patient_id": CAMILA, "sections": ["problems"]})
    text = result.content[0].text
    problems = truth.active_problems(records[1], CAMILA)
    assert problems and text.count("\n- ") == len(problems)
    for problem in problems:
        line = next(line for line in text.splitlines() if line.startswith(f"- {problem['id']} | "))
        icd = next(c["code"] for c in problem["code"]["coding"] if "icd-10" in c["system"])
        assert f"[{icd}]" in line and f"onset {problem['onsetDateTime'][:10]}" in line


async def test_camilas_long_term_drugs_are_current_and_no_drug_is_in_both_lists(server, records) -> None:
    """The issue's case: amlodipine, atorvastatin, escitalopram and venlafaxine on "continuous long term therapy"
    orders whose refill is 12 days late were set apart as stale, and metformin was in both lists."""
    async with Client(server) as client:
        summary = await client.call_tool("patient_summary", {"patient_id": CAMILA, "sections": ["medications"]})
        searched = await client.call_tool("search_medication_requests", {"patient_id": CAMILA, "current_only": True})
    meds = {s["name"]: s for s in summary.structured_content["sections"]}["medications"]

    def drug(item: dict[str, Any]) -> str:
        return item["medication"].split(" ")[0].split("/")[0].lower()

    current, stale = [drug(i) for i in meds["items"]], [drug(i) for i in meds["set_apart"]]
    assert {"amlodipine", "atorvastatin", "escitalopram", "venlafaxine", "metformin"} <= set(current)
    assert len(current) == len(set(current)) and not set(current) & set(stale), "one line per drug, one list"
    assert all(item["likely_stale"] for item in meds["set_apart"]), "each stale verdict keeps its reason"
    assert [i["id"] for i in searched.structured_content["items"]] == [i["id"] for i in meds["items"]]
    expected = {o["id"] for o in truth.current_medications(records[1], CAMILA, TODAY)}
    assert {i["id"] for i in meds["items"]} == expected
    assert "docs/medication-currency.md" in summary.content[0].text


async def test_searches_and_the_notes_tool_answer_newest_first_and_say_what_the_order_covers(server, records) -> None:
    """sekmet's CapabilityStatement offers no `_sort` (as Epic's): a whole result is newest first and says so, and
    one page of many is sorted and says that it covers only its results."""
    newest_note = truth.newest_notes(records[1], CAMILA)[0]
    async with Client(server) as client:
        notes = (await client.call_tool("search_documents", {"patient_id": CAMILA, "count": 100})).structured_content
        latest = (await client.call_tool("get_latest_notes", {"patient_id": CAMILA})).structured_content
        vitals = (await client.call_tool("search_observations", {"patient_id": CAMILA, "category": "vital-signs",
                                                                 "count": 5})).structured_content
    assert notes["items"][0]["id"] == newest_note["id"] == latest["notes"][0]["document_id"]
    assert notes["order"] == "newest first by date (the whole result)"
    shown = [item["effective"] for item in vitals["items"]]
    assert vitals["next_cursor"] and shown == sorted(shown, reverse=True)
    assert vitals["order"].startswith("newest first by effectiveDateTime within results 1-5 only; the server "
                                      "returns pages in its own order")
