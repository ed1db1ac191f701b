"""The published tool listing (src/epic_mcp/tool_listing.json): what tools/list answers before any tool is built
(cold start, issue 13). It must say exactly what the tools, once built, accept and return."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import anyio
import pytest
from mcp import Client

from epic_mcp.auth.keys import KeyRing
from epic_mcp.serve.deferred import DeferredMetadata, generate_listing, published_listing
from epic_mcp.serve.helper_tools import helper_tools
from epic_mcp.serve.server import HELPER_TOOLS, build_server
from epic_mcp.serve.state import ServerState
from epic_mcp.settings import Settings

from ..conftest import EPIC_BASE, EPIC_TOKEN_URL, token_body

REFRESH = "the tool listing is stale: run `python scripts/refresh-tool-listing` and commit the listing"


def listed(server: Any) -> list[dict[str, Any]]:
    return [tool.model_dump(mode="json", by_alias=True) for tool in anyio.run(server.list_tools)]


def test_the_listing_file_is_what_the_code_generates(make_settings) -> None:
    max_page_size = Settings.model_fields["epic_max_page_size"].default
    settings = make_settings(epic_tools="all", epic_max_page_size=max_page_size)
    generated = anyio.run(generate_listing, build_server(settings, use_listing=False), max_page_size)
    assert json.loads(json.dumps(generated)) == published_listing(), REFRESH


def test_the_listed_tools_list_what_the_built_tools_would(make_settings) -> None:
    for profile in ("core", "all"):
        settings = make_settings(epic_tools=profile)
        assert listed(build_server(settings)) == listed(build_server(settings, use_listing=False)), REFRESH


def test_a_page_size_limit_other_than_the_listings_is_published_in_the_count_schema(make_settings) -> None:
    """The listing was generated with the default limit; another limit must not publish the default's bound."""
    server = build_server(make_settings(epic_max_page_size=37))
    search = next(tool for tool in listed(server) if tool["name"] == "search_observations")
    assert search["inputSchema"]["properties"]["count"]["maximum"] == 37


def test_tools_are_built_on_first_call_only(make_settings) -> None:
    server = build_server(make_settings())
    metadata = [tool.fn_metadata for tool in server._tool_manager.list_tools()]
    assert metadata and all(isinstance(m, DeferredMetadata) and m._tool is None for m in metadata)


@pytest.mark.anyio
async def test_a_deferred_tool_is_built_by_its_first_call_and_checks_its_arguments(settings, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(f"{EPIC_BASE}/Patient/eP1").respond(200, json={"resourceType": "Patient", "id": "eP1"})
    server = build_server(settings)
    listed = await server.list_tools()
    async with Client(server) as client:
        refused = await client.call_tool("get_patient", {"id": "eP1", "format": "fhir"})
        answered = await client.call_tool("get_patient", {"id": "eP1"})
        again = await client.call_tool("get_patient", {"id": "eP1", "format": "fhir"})
    assert await server.list_tools() == listed, "built, a tool lists as it did"
    assert again.content == refused.content, "the built tool checks its arguments as the deferred one did"
    assert refused.is_error and "format" in refused.content[0].text and "compact" in refused.content[0].text
    assert not answered.is_error and answered.structured_content["id"] == "eP1"
    built = {tool.name for tool in server._tool_manager.list_tools()
             if not isinstance(tool.fn_metadata, DeferredMetadata)}
    assert built == {"get_patient"}, "a built tool is the real one; the others wait for their first call"


def test_tools_list_is_answered_without_the_modules_only_tool_calls_need(key_file) -> None:
    """Cold start (issue 13): the summary, notes, latest-values and codes modules (and the collectors and the
    renderers' terminology behind them) load with the first call of a tool that uses them, not before tools/list."""
    heavy = ("epic_mcp.answers.summary", "epic_mcp.answers.documents", "epic_mcp.answers.latest",
             "epic_mcp.answers.inventory", "epic_mcp.answers.collect", "epic_mcp.answers.medications",
             "epic_mcp.serve.helper_tools")
    code = ("import sys, anyio; from epic_mcp.settings import load_settings; "
            "from epic_mcp.serve.server import build_server; "
            "server = build_server(load_settings(None, epic_tools='all')); tools = anyio.run(server.list_tools); "
            f"print(len(tools), sorted(m for m in {heavy!r} if m in sys.modules))")
    env = {**os.environ, "EPIC_CLIENT_ID": "listing-test", "PRIVATE_KEY_PATH": str(key_file)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                            env=env)
    count, loaded = result.stdout.strip().split(" ", 1)
    assert int(count) == len(published_listing()["tools"]) and loaded == "[]"


def test_every_helper_tool_is_registered_in_its_place(settings) -> None:
    """The server lists the helper tools by name (HELPER_TOOLS) without importing helper_tools.py: a helper added
    there and not to HELPER_TOOLS would silently be missing."""
    state = ServerState(settings, KeyRing.from_settings(settings))
    assert [fn.__name__ for fn, _ in helper_tools(state)] == list(HELPER_TOOLS)
