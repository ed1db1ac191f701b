"""MCP Apps (issue 26): the views are offered only to clients that negotiate the extension, and nothing changes for
any other client: the same tools/list (the published listing), the same resources, the same answers."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from mcp import Client
from mcp.client import advertise
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from epic_mcp.serve.deferred import published_listing
from epic_mcp.serve.http import http_app
from epic_mcp.serve.server import build_server
from epic_mcp.serve.ui import SHARED_SCRIPTS, VIEWS, document

from ..answers.test_answers import CHART_TODAY, PID, chart
from ..conftest import EPIC_TOKEN_URL, token_body
from ..fake_fhir import FakeFhir

pytestmark = pytest.mark.anyio

EXTENSION = "io.modelcontextprotocol/ui"
MIME = "text/html;profile=mcp-app"
ERAS = ["legacy", "2026-07-28"]
VIEWED = {"get_latest_values": "ui://epic-mcp/trend", "patient_summary": "ui://epic-mcp/summary",
          "query_population": "ui://epic-mcp/population"}
QUESTIONS = [("get_latest_values", {"patient_id": PID, "code": "4548-4"}),
             ("get_latest_values", {"patient_id": PID, "name": "heart rate"}),
             ("patient_summary", {"patient_id": PID}),
             ("patient_summary", {"patient_id": PID, "sections": ["medications"]}),
             ("get_patient", {"id": PID})]


APPS = advertise(EXTENSION, {"mimeTypes": [MIME]})


def apps_client(server: Any, mode: str = "legacy", mime_types: list[str] | None = None) -> Client:
    return Client(server, mode=mode, extensions=[advertise(EXTENSION, {"mimeTypes": mime_types or [MIME]})])


def dumped(items: list[Any]) -> list[dict[str, Any]]:
    return [item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in items]


async def surface(client: Client) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    async with client:
        return dumped((await client.list_tools()).tools), dumped((await client.list_resources()).resources)


@pytest.fixture
def server(make_settings):
    return build_server(make_settings(epic_tools="all,population", epic_today=CHART_TODAY))


@pytest.fixture(autouse=True)
def token_route(epic: respx.MockRouter) -> respx.Route:
    return epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())


@pytest.mark.parametrize("mode", ERAS)
async def test_a_client_without_the_extension_sees_exactly_the_published_tool_list(server, mode) -> None:
    tools, resources = await surface(Client(server, mode=mode))
    listing = published_listing()["tools"]
    published = {tool["name"]: {"title": tool.get("title"), "description": tool["description"],
                                "input": tool["inputSchema"], "output": tool.get("outputSchema")}
                 for tool in tools if tool["name"] in listing}
    assert published == {name: listing[name] for name in published} and len(published) == len(listing)
    assert [tool for tool in tools if "_meta" in tool] == []
    assert [r["uri"] for r in resources if r["uri"].startswith("ui://")] == []
    async with Client(server, mode=mode) as client:
        with pytest.raises(MCPError, match="Unknown resource: ui://epic-mcp/trend"):
            await client.read_resource("ui://epic-mcp/trend")


@pytest.mark.parametrize("mode", ERAS)
async def test_the_extension_adds_only_the_views_to_the_tool_list_and_the_resources(server, mode) -> None:
    plain_tools, plain_resources = await surface(Client(server, mode=mode))
    tools, resources = await surface(apps_client(server, mode))
    linked = {tool["name"]: tool["_meta"]["ui"]["resourceUri"] for tool in tools if "_meta" in tool}
    assert linked == VIEWED
    assert [{k: v for k, v in tool.items() if k != "_meta"} for tool in tools] == plain_tools
    views = [r for r in resources if r["uri"].startswith("ui://")]
    assert [r for r in resources if not r["uri"].startswith("ui://")] == plain_resources
    assert {r["uri"] for r in views} == set(VIEWED.values()) and {r["mimeType"] for r in views} == {MIME}


async def test_a_client_that_cannot_show_html_views_gets_none(server) -> None:
    """The extension negotiated without the MCP App MIME type: no view it could not show."""
    tools, resources = await surface(apps_client(server, mime_types=["text/uri-list"]))
    assert [tool for tool in tools if "_meta" in tool] == []
    assert [r for r in resources if r["uri"].startswith("ui://")] == []


async def test_the_server_advertises_the_extension(server) -> None:
    async with Client(server) as client:
        assert client.server_capabilities.extensions == {EXTENSION: {"mimeTypes": [MIME]}}


@pytest.mark.parametrize("mode", ERAS)
async def test_each_view_is_one_self_contained_document_with_a_csp_that_names_no_origin(server, mode) -> None:
    async with apps_client(server, mode) as client:
        for view in VIEWS:
            contents = (await client.read_resource(view.uri)).contents
            assert len(contents) == 1 and contents[0].mime_type == MIME
            read = contents[0].model_dump(mode="json", by_alias=True)
            assert read["text"] == document(view)
            assert read["_meta"]["ui"]["csp"] == {"connectDomains": [], "resourceDomains": [], "frameDomains": [],
                                                  "baseUriDomains": []}
    for view in VIEWS:
        html = document(view)
        assert html.startswith("<!DOCTYPE html>") and "{{" not in html
        urls = set(re.findall(r"[a-z]+://[^\s\"'`)]+", html)) - {"http://www.w3.org/2000/svg"}
        assert urls == set(), f"{view.name} names a URL: nothing may be fetched"
        for fetching in ("<link", "<img", "src=", "fetch(", "XMLHttpRequest", "WebSocket", "import(", "@import",
                         "innerHTML", "eval("):
            assert fetching not in html, f"{view.name} has {fetching}"
        assert re.findall(r"url\((?!#)", html) == [], f"{view.name} refers to something outside the document"


@pytest.mark.parametrize(("stateless", "mode", "views"), [
    (False, "legacy", True), (False, "2026-07-28", True), (True, "2026-07-28", True),
    # Stateless, a handshake-era client declares its capabilities in initialize only, which later requests do not
    # carry: it gets the text answers, never a view it might not show.
    (True, "legacy", False)])
async def test_over_http_the_views_follow_what_the_client_declared(make_settings, stateless, mode, views) -> None:
    settings = make_settings(epic_mcp_http_stateless=stateless)
    server = build_server(settings)
    app = http_app(server, settings, "127.0.0.1", 8000)
    async with server.session_manager.run(), httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                                               base_url="http://127.0.0.1:8000") as http:
        for client, offered in ((Client(streamable_http_client("http://127.0.0.1:8000/mcp", http_client=http),
                                        mode=mode), False),
                                (Client(streamable_http_client("http://127.0.0.1:8000/mcp", http_client=http),
                                        mode=mode, extensions=[APPS]), views)):
            tools, resources = await surface(client)
            assert sorted(t["name"] for t in tools if "_meta" in t) == (["get_latest_values", "patient_summary"]
                                                                       if offered else [])
            assert any(r["uri"].startswith("ui://") for r in resources) == offered


async def test_views_of_tools_the_server_does_not_offer_are_not_listed(make_settings) -> None:
    server = build_server(make_settings(epic_tools="core"))
    _, resources = await surface(apps_client(server))
    assert {r["uri"] for r in resources if r["uri"].startswith("ui://")} == {VIEWED["get_latest_values"],
                                                                          VIEWED["patient_summary"]}
    async with apps_client(server) as client:
        with pytest.raises(MCPError, match="Unknown resource"):
            await client.read_resource(VIEWED["query_population"])


@pytest.mark.parametrize("mode", ERAS)
async def test_answers_are_the_same_for_clients_with_and_without_the_extension(server, epic, mode) -> None:
    FakeFhir(epic, chart())
    answers = []
    for client in (Client(server, mode=mode), apps_client(server, mode)):
        async with client:
            answers.append([(await client.call_tool(tool, args)).model_dump(mode="json", by_alias=True)
                            for tool, args in QUESTIONS])
    assert not any(answer["isError"] for answer in answers[0])
    assert answers[0] == answers[1]
    assert not any("ui" in (answer.get("_meta") or {}) for answer in answers[0])


def test_the_wheel_ships_every_file_of_the_views(tmp_path: Path) -> None:
    """A view is assembled from the files beside epic_mcp/serve/ui/__init__.py at run time: the wheel carries them."""
    from hatchling.builders.wheel import WheelBuilder

    root = Path(__file__).resolve().parents[2]
    [wheel] = WheelBuilder(str(root)).build(directory=str(tmp_path), versions=["standard"])
    shipped = set(zipfile.ZipFile(wheel).namelist())
    needed = {"page.html", "view.css", *SHARED_SCRIPTS, *(script for view in VIEWS for script in view.scripts)}
    assert {f"epic_mcp/serve/ui/{name}" for name in needed} <= shipped
    assert "epic_mcp/serve/apps.py" in shipped


def test_the_readme_and_docs_show_a_screenshot_of_every_view() -> None:
    root = Path(__file__).resolve().parents[2]
    shots = sorted(path.name for path in (root / "docs" / "views").glob("*.png"))
    readme, docs = (root / "README.md").read_text(), (root / "docs" / "views.md").read_text()
    assert {"trend-a1c.png", "trend-blood-pressure.png", "summary.png", "medications.png", "population.png"} <= set(
        shots)
    for shot in shots:
        assert f"docs/views/{shot}" in readme and f"views/{shot}" in docs
        assert (root / "docs" / "views" / shot).read_bytes().startswith(b"\x89PNG")
