"""The answer budget (EPIC_ANSWER_MAX_KB): no answer the model reads is longer, and one that would be says what
was left out and how to get it, so nothing is lost, only moved to the next call."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import respx
from mcp import Client

from epic_mcp.serve.server import build_server
from epic_mcp.serve.tools import HEADROOM

from ..conftest import EPIC_BASE, EPIC_TOKEN_URL, run_today, token_body
from ..fake_fhir import FakeFhir
from ..heavy_patient import PATIENT_ID, heavy_patient
from ..render.test_render import LOINC, cc, qty

pytestmark = pytest.mark.anyio
BUDGET_KB = 8
BUDGET = BUDGET_KB * 1024
SUBJECT = {"reference": f"Patient/{PATIENT_ID}"}


@pytest.fixture
def server(make_settings):
    return build_server(make_settings(epic_answer_max_kb=BUDGET_KB, epic_today=run_today()))


@pytest.fixture(autouse=True)
def token_route(epic: respx.MockRouter) -> respx.Route:
    return epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(scope="system/*.read"))


def lab(number: int, comment_chars: int = 400) -> dict[str, Any]:
    """A potassium result with a long comment, as Epic sends for results with a lab note."""
    return {"resourceType": "Observation", "id": f"obs-{number:03d}", "status": "final", "subject": SUBJECT,
            "category": [cc("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory",
                            "Laboratory")],
            "code": cc(LOINC, "2823-3", "Potassium"), "effectiveDateTime": f"2026-01-{1 + number % 28:02d}T08:00:00Z",
            "valueQuantity": qty(4.0 + number / 100, "mmol/L"),
            "note": [{"text": f"Result {number}: " + "hemolysed specimen, repeat advised. " * (comment_chars // 36)}]}


def text_size(result: Any) -> int:
    return sum(len(content.text.encode()) for content in result.content)


async def test_a_raw_page_over_the_budget_is_cut_and_next_page_continues_without_loss(server, epic) -> None:
    FakeFhir(epic, [lab(n) for n in range(60)])
    seen: list[str] = []
    answers: list[list[str]] = []
    async with Client(server) as client:
        result = await client.call_tool("search_observations", {"patient_id": PATIENT_ID, "category": "laboratory",
                                                                "format": "raw", "count": 50})
        first = result.structured_content
        assert 0 < first["returned"] < 50, "50 raw results with comments are over 8 KB"
        assert any("EPIC_ANSWER_MAX_KB" in w and "next_page continues" in w for w in first["warnings"])
        while True:
            assert not result.is_error and text_size(result) <= BUDGET
            answers.append([item["effectiveDateTime"] for item in result.structured_content["items"]])
            seen += [item["id"] for item in result.structured_content["items"]]
            cursor = result.structured_content["next_cursor"]
            if cursor is None:
                break
            result = await client.call_tool("next_page", {"cursor": cursor, "format": "raw"})
    assert sorted(seen) == [f"obs-{n:03d}" for n in range(60)], "every result once"
    assert all(days == sorted(days, reverse=True) for days in answers), "each answer newest first"


async def test_a_compact_page_over_the_budget_keeps_its_total_and_says_how_to_continue(server, epic) -> None:
    FakeFhir(epic, [lab(n, comment_chars=1500) for n in range(30)])
    async with Client(server) as client:
        result = await client.call_tool("search_observations", {"patient_id": PATIENT_ID, "category": "laboratory",
                                                                "count": 30})
    text = result.content[0].text
    assert text_size(result) <= BUDGET and result.structured_content["total"] == 30
    assert result.structured_content["returned"] < 30 and result.structured_content["next_cursor"]
    assert "answer budget (EPIC_ANSWER_MAX_KB); next_page continues with the rest" in text


async def test_a_raw_read_over_the_budget_comes_compact_and_names_the_raw_resource(server, epic) -> None:
    big = lab(1, comment_chars=20_000)
    epic.get(f"{EPIC_BASE}/Observation/obs-001").respond(200, json=big)
    async with Client(server) as client:
        result = await client.call_tool("get_observation", {"id": "obs-001", "format": "raw"})
    assert not result.is_error and text_size(result) <= BUDGET
    data = result.structured_content
    assert "valueQuantity" not in data["resource"] and data["resource"]["value"] == {"value": 4.01, "unit": "mmol/L"}
    assert "fhir://Observation/obs-001 resource gives the raw record" in data["warnings"][0]


async def test_a_note_longer_than_the_budget_is_cut_to_it_and_start_char_reads_the_rest(server, epic) -> None:
    note = "\n".join(f"line {n:05d} of a long discharge summary" for n in range(800))  # about 30 KB
    epic.get(f"{EPIC_BASE}/DocumentReference/doc1").respond(200, json={
        "resourceType": "DocumentReference", "id": "doc1", "status": "current", "subject": SUBJECT,
        "date": "2026-05-11", "content": [{"attachment": {"contentType": "text/plain",
                                                          "data": base64.b64encode(note.encode()).decode()}}]})
    pieces = []
    async with Client(server) as client:
        start = 0
        while True:
            result = await client.call_tool("get_document_text", {"document_id": "doc1", "max_chars": 200_000,
                                                                  "start_char": start})
            assert not result.is_error and text_size(result) <= BUDGET
            data = result.structured_content
            pieces.append(data["text"]["patient_text"])
            if not data["truncated"]:
                break
            start = data["start"] + len(pieces[-1])
            assert f"start_char={start} continues" in result.content[0].text
    assert "".join(pieces) == note
    assert len(pieces) == -(-len(note) // (BUDGET - HEADROOM)), "each piece as long as the budget allows"


def problem(number: int) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": f"problem-{number:03d}", "subject": SUBJECT,
            "clinicalStatus": cc("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"),
            "category": [cc("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item",
                            "Problem List Item")],
            "code": cc("http://snomed.info/sct", str(100000 + number), f"Chronic condition number {number} of a "
                       "long problem list kept over decades"), "onsetDateTime": "2001-01-01"}


async def test_any_other_answer_over_the_budget_is_cut_with_a_last_line_saying_how_to_ask_for_less(
        server, epic) -> None:
    FakeFhir(epic, [*heavy_patient(run_today()), *(problem(n) for n in range(150))])
    async with Client(server) as client:
        whole = await client.call_tool("patient_summary", {"patient_id": PATIENT_ID})
        vitals = await client.call_tool("patient_summary", {"patient_id": PATIENT_ID, "sections": ["vital_signs"]})
    assert not whole.is_error and text_size(whole) <= BUDGET
    assert whole.content[0].text.endswith("answer budget (EPIC_ANSWER_MAX_KB); ask for less: a smaller count or "
                                          "max_chars, fewer sections or kinds, or a date range]")
    assert "answer cut here" not in vitals.content[0].text and "Heart rate" in vitals.content[0].text, \
        "one section fits whole"
