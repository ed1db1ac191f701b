"""Bad input: a clear tool error, no request sent, nothing crashes; and a property test over tool inputs."""

from __future__ import annotations

import os
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.server.mcpserver.exceptions import ToolError

from epic_mcp.auth.urls import is_within_base
from epic_mcp.errors import EpicMcpError
from epic_mcp.fhir.catalog import BY_TOOL, CATALOG, Operation
from epic_mcp.fhir.client import FhirClient
from epic_mcp.fhir.validation import check_id
from epic_mcp.serve.server import build_server
from epic_mcp.serve.tools import search_params

from ..conftest import EPIC_BASE, EPIC_TOKEN_URL, searchset, token_body

SEARCHES = [op for op in CATALOG if op.interaction == "search"]
HOSTILE_TEXT = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["../../Patient", "a/b", "%2F..%2F", "x&_id=1", "x#frag", "a=b", "?q", "\u2215etc", "\u202eevil",
                     "ｅ１２３", "", " ", "x" * 10_000, "\x00", "Patient/123", "http://evil.example.org/"]),
)


def allowed_names(op: Operation) -> set[str]:
    return {p.fhir for p in op.params} | {"_count"}


@settings(max_examples=400, deadline=None)
@given(op=st.sampled_from(SEARCHES), data=st.data())
def test_property_a_search_either_fails_clearly_or_stays_under_the_base_with_only_its_parameters(
    settings_for_property, op: Operation, data: st.DataObject
) -> None:
    arguments: dict[str, Any] = {"count": None}
    def value_for(arg: str) -> Any:
        param = next(p for p in op.params if arg in p.args)
        # Enum values are checked by the input schema before a tool runs (covered through MCP below).
        return data.draw(st.sampled_from([c.value for c in param.choices]) if param.choices else HOSTILE_TEXT)

    for param in op.params:
        for arg in param.args:
            if data.draw(st.booleans()):
                arguments[arg] = value_for(arg)
    if op.requires:
        for arg in data.draw(st.sampled_from(op.requires)):
            arguments.setdefault(arg, value_for(arg))
    try:
        query = search_params(op, arguments, 20)
    except (ToolError, EpicMcpError):
        return
    client = FhirClient(settings_for_property, tokens=None)  # type: ignore[arg-type]
    request = client._http.build_request("GET", client.url_for(op.resource), params=query)
    assert is_within_base(request.url, httpx.URL(EPIC_BASE + "/"))
    assert request.url.path == httpx.URL(f"{EPIC_BASE}/{op.resource}").path
    assert {name for name, _ in request.url.params.multi_items()} <= allowed_names(op)


@settings(max_examples=400, deadline=None)
@given(resource_type=st.sampled_from(sorted({op.resource for op in CATALOG})), value=HOSTILE_TEXT)
def test_property_a_read_either_fails_clearly_or_reads_exactly_one_resource(settings_for_property, resource_type: str,
                                                                           value: str) -> None:
    try:
        checked = check_id("id", value)
    except EpicMcpError:
        return
    url = FhirClient(settings_for_property, tokens=None).url_for(resource_type, checked)  # type: ignore[arg-type]
    assert is_within_base(url, httpx.URL(EPIC_BASE + "/"))
    assert url.path == f"{httpx.URL(EPIC_BASE).path}/{resource_type}/{checked}" and not url.query


@pytest.fixture(scope="module")
def settings_for_property(tmp_path_factory: pytest.TempPathFactory):
    from epic_mcp.settings import load_settings

    return load_settings(None, epic_client_id="property-test")


@settings(max_examples=int(os.environ.get("EPIC_MCP_PROPERTY_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tool=st.sampled_from([*sorted(BY_TOOL), "next_page", "patient_summary", "get_document_text",
                                              "get_latest_values"]),
       values=st.dictionaries(st.sampled_from(["id", "patient_id", "code", "family", "given", "category", "cursor",
                                               "date_from", "count", "document_id", "format", "birthdate"]),
                              st.one_of(HOSTILE_TEXT, st.integers(-10, 10_000), st.none(), st.booleans()),
                              max_size=4))
def test_property_through_mcp_every_failure_is_a_tool_error_and_nothing_leaves_the_base(
    settings, tool: str, values: dict[str, Any]
) -> None:
    server = build_server(settings)
    sent: list[httpx.URL] = []

    async def scenario() -> None:
        import respx

        with respx.mock(assert_all_called=False, assert_all_mocked=False) as router:
            router.post(EPIC_TOKEN_URL).respond(200, json=token_body())

            def answer(request: httpx.Request) -> httpx.Response:
                sent.append(request.url)
                return httpx.Response(200, json=searchset([], total=0))

            router.route(url__startswith=EPIC_BASE + "/").mock(side_effect=answer)
            router.route().mock(side_effect=lambda request: sent.append(request.url) or httpx.Response(599))
            async with Client(server) as client:
                result = await client.call_tool(tool, values)
        if result.is_error:
            text = result.content[0].text
            assert text.startswith(f"Error executing tool {tool}: "), f"crashed: {text!r}"

    anyio.run(scenario)
    assert all(is_within_base(url, httpx.URL(EPIC_BASE + "/")) for url in sent), sent


@pytest.mark.anyio
@pytest.mark.parametrize("bad_id", ["\u2215etc", "e\u202eevil", "ｅ１２３", "x" * 10_000, "%252F"])
async def test_unicode_tricks_and_huge_ids_are_refused_without_a_request(settings, epic, bad_id: str) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("get_patient", {"id": bad_id})
    assert result.is_error and "Error executing tool get_patient: " in result.content[0].text
    assert not epic.calls
