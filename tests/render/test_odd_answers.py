"""Answers a FHIR server should never give, each a clear tool error naming what came back: a search answered with
something other than a Bundle, a read answered with another resource type, a note whose inline data is not base64."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from epic_mcp.serve.server import build_server

from ..conftest import EPIC_BASE, EPIC_TOKEN_URL, token_body

pytestmark = pytest.mark.anyio
PID = "erXuFYUfucBZaryVksYEcMg3"


async def call(settings, tool: str, arguments: dict[str, Any]):
    async with Client(build_server(settings)) as client:
        return await client.call_tool(tool, arguments)


def error_text(result) -> str:
    assert result.is_error, result.content
    return result.content[0].text


@pytest.mark.parametrize("answer", [
    {"resourceType": "Patient", "id": PID},
    {"resourceType": "Parameters", "parameter": []},
    {"resourceType": "Binary", "contentType": "text/plain", "data": "aGk="},
])
async def test_a_search_answered_with_something_other_than_a_bundle_is_an_error(settings, epic, answer) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(f"{EPIC_BASE}/Condition").respond(200, json=answer)
    text = error_text(await call(settings, "search_conditions", {"patient_id": PID}))
    assert text == ("Error executing tool search_conditions: the FHIR server answered a search with something other "
                    "than a Bundle")


async def test_next_page_answered_with_something_other_than_a_bundle_is_an_error(settings, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(scope="system/Condition.read"))
    first = {"resourceType": "Bundle", "type": "searchset", "entry": [],
             "link": [{"relation": "next", "url": f"{EPIC_BASE}/Condition?patient={PID}&page=2"}]}
    epic.get(f"{EPIC_BASE}/Condition", params={"page": "2"}).respond(200, json={"resourceType": "Patient", "id": "x"})
    epic.get(f"{EPIC_BASE}/Condition").respond(200, json=first)
    async with Client(build_server(settings)) as client:
        cursor = (await client.call_tool("search_conditions", {"patient_id": PID})).structured_content["next_cursor"]
        text = error_text(await client.call_tool("next_page", {"cursor": cursor}))
    assert text == ("Error executing tool next_page: the FHIR server answered a search with something other than a "
                    "Bundle")


@pytest.mark.parametrize(("tool", "path", "answered"), [
    ("get_patient", "Patient", "Practitioner"),
    ("get_observation", "Observation", "Condition"),
    ("get_medication_request", "MedicationRequest", "Bundle"),
])
async def test_a_read_answered_with_another_resource_type_is_an_error_not_data(settings, epic, tool, path,
                                                                               answered) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(f"{EPIC_BASE}/{path}/e1").respond(200, json={"resourceType": answered, "id": "e1",
                                                         "name": [{"family": "Other"}]})
    result = await call(settings, tool, {"id": "e1"})
    assert error_text(result) == (f"Error executing tool {tool}: the FHIR server answered with a {answered}, "
                                  f"not a {path}")
    assert "Other" not in result.content[0].text


@pytest.mark.parametrize("data", ["not base64!", "aGk", "aGk=\u00e9"])
async def test_a_note_whose_inline_data_is_not_base64_is_a_clear_error(settings, epic, data: str) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(f"{EPIC_BASE}/DocumentReference/doc1").respond(200, json={
        "resourceType": "DocumentReference", "id": "doc1", "status": "current",
        "subject": {"reference": f"Patient/{PID}"},
        "content": [{"attachment": {"contentType": "text/plain", "data": data}}]})
    text = error_text(await call(settings, "get_document_text", {"document_id": "doc1"}))
    assert text == "Error executing tool get_document_text: the attachment's inline data is not base64"
