"""A named client limited to some patients, as it notices the limit: over real HTTP authentication (the clients
file, the bearer middleware, the access middleware) in-process, against Epic-shaped respx responses.

Each test walks what such a client does: every page of a search with next_page, a record that names an allowed
patient and another one, and the refusals it gets (their exact words and JSON-RPC codes, which clients and the
audit log rely on).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
import respx
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS

from epic_mcp.access.clients import ClientStore
from epic_mcp.serve.http import http_app
from epic_mcp.serve.server import build_server

from ..conftest import EPIC_BASE, EPIC_TOKEN_URL, searchset, token_body

pytestmark = pytest.mark.anyio

ALLOWED, OTHER, THIRD = "erXuFYUfucBZaryVksYEcMg3", "eq081-VQEgP8drUUqCWzHfw3", "eAB3mDIBBcyUKviyzrxsnAw3"
MCP_URL = "http://127.0.0.1:8000/mcp"
PATIENT_REFUSED = ("this MCP client may only see the records of the patients it is allowed, and that patient is not "
                   "one of them (ask the server's operator to add the patient to this client's allowlist)")
RESOURCE_REFUSED = "this MCP client may only see the records of the patients it is allowed"


def patient(pid: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": "Lopez", "given": ["Camila"]}],
            "gender": "female", "birthDate": "1987-09-12"}


def observation(oid: str, pid: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final", "code": {"text": "Glucose"},
            "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": "2026-03-01",
            "valueQuantity": {"value": 99, "unit": "mg/dL"}}


def appointment(aid: str, *patients: str) -> dict[str, Any]:
    """An appointment whose patients are its participants (a group visit names several)."""
    return {"resourceType": "Appointment", "id": aid, "status": "booked", "start": "2026-05-01T09:00:00Z",
            "participant": [{"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"} for pid in patients]
            + [{"actor": {"reference": "Practitioner/eDoc1", "display": "Dr Ann Smith"}, "status": "accepted"}]}


@asynccontextmanager
async def limited_client(make_settings, tmp_path: Path, patients: list[str] | None) -> AsyncIterator[Client]:
    """An MCP client that authenticates over HTTP as the named client `ward`, allowed `patients` (None: any)."""
    clients = tmp_path / "clients.json"
    secret = ClientStore(clients).add("ward", "all", patients)
    settings = make_settings(epic_mcp_clients_file=str(clients), epic_mcp_http_stateless=True)
    server = build_server(settings)
    app = http_app(server, settings, "127.0.0.1", 8000)
    async with server.session_manager.run(), \
            httpx2.AsyncClient(transport=httpx2.ASGITransport(app), base_url="http://127.0.0.1:8000",
                               headers={"Authorization": f"Bearer {secret}"}) as http, \
            Client(streamable_http_client(MCP_URL, http_client=http)) as client:
        yield client


async def every_page(client: Client, tool: str, arguments: dict[str, Any]) -> list[dict[str, Any]]:
    """The structured results of a search and of each next_page after it, to the last page."""
    pages = [(await client.call_tool(tool, arguments)).structured_content]
    while pages[-1]["next_cursor"]:
        pages.append((await client.call_tool("next_page", {"cursor": pages[-1]["next_cursor"]})).structured_content)
    return pages


@pytest.fixture(autouse=True)
def token(epic: respx.MockRouter) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(scope="system/*.read"))


# Every page -------------------------------------------------------------------------------------------------

async def test_a_limited_client_sees_only_its_patient_on_every_page_of_a_patient_search(make_settings, tmp_path,
                                                                                        epic) -> None:
    page_2, page_3 = (f"{EPIC_BASE}/Patient?sessionID=s1&page={n}" for n in (2, 3))
    epic.get(url__regex=rf"{EPIC_BASE}/Patient\?family=Lopez&.*").respond(200, json=searchset(
        [patient(ALLOWED), patient(OTHER)], total=5, next_url=page_2))
    epic.get(page_2).respond(200, json=searchset([patient(THIRD), patient("eFourth")], total=5, next_url=page_3))
    epic.get(page_3).respond(200, json=searchset([patient("eFifth")], total=5))
    async with limited_client(make_settings, tmp_path, [ALLOWED]) as client:
        pages = await every_page(client, "search_patients", {"family": "Lopez", "given": "Camila",
                                                             "gender": "female"})
    assert len(pages) == 3, "the client walked every page"
    assert [[item["id"] for item in page["items"]] for page in pages] == [[ALLOWED], [], []]
    assert [page["warnings"] for page in pages] == [
        [f"{n} record(s) of patients this MCP client is not allowed to see were withheld; the total is not shown"]
        for n in (1, 2, 1)]
    assert all(page["total"] is None for page in pages), "a total would count the other patients"


async def test_a_server_that_drops_the_patient_filter_on_page_two_leaks_nothing(make_settings, tmp_path,
                                                                              epic) -> None:
    page_2 = f"{EPIC_BASE}/Observation?sessionID=s2&page=2"
    epic.get(url__regex=rf"{EPIC_BASE}/Observation\?patient={ALLOWED}&.*").respond(200, json=searchset(
        [observation("o1", ALLOWED)], total=3, next_url=page_2))
    epic.get(page_2).respond(200, json=searchset([observation("o2", OTHER), observation("o3", ALLOWED)], total=3))
    async with limited_client(make_settings, tmp_path, [ALLOWED]) as client:
        pages = await every_page(client, "search_observations", {"patient_id": ALLOWED, "category": "laboratory"})
    assert [[item["id"] for item in page["items"]] for page in pages] == [["o1"], ["o3"]]
    assert "1 record(s) of patients this MCP client is not allowed to see were withheld" in pages[1]["warnings"][0]


async def test_a_client_allowed_any_patient_sees_every_page_whole(make_settings, tmp_path, epic) -> None:
    page_2 = f"{EPIC_BASE}/Patient?sessionID=s1&page=2"
    epic.get(url__regex=rf"{EPIC_BASE}/Patient\?family=Lopez&.*").respond(200, json=searchset(
        [patient(ALLOWED), patient(OTHER)], next_url=page_2))
    epic.get(page_2).respond(200, json=searchset([patient(THIRD)]))
    async with limited_client(make_settings, tmp_path, None) as client:
        pages = await every_page(client, "search_patients", {"family": "Lopez", "given": "Camila",
                                                             "gender": "female"})
    assert [[item["id"] for item in page["items"]] for page in pages] == [[ALLOWED, OTHER], [THIRD]]
    assert all(page["warnings"] == [] for page in pages)


# A record that names more than one patient ------------------------------------------------------------------

async def test_a_group_appointment_naming_another_patient_is_withheld_and_refused(make_settings, tmp_path,
                                                                                  epic) -> None:
    own, group = appointment("eOwn", ALLOWED), appointment("eGroup", ALLOWED, OTHER)
    epic.get(url__regex=rf"{EPIC_BASE}/Appointment\?patient={ALLOWED}.*").respond(200, json=searchset(
        [own, group], total=2))
    epic.get(f"{EPIC_BASE}/Appointment/eGroup").respond(200, json=group)
    epic.get(f"{EPIC_BASE}/Appointment/eOwn").respond(200, json=own)
    async with limited_client(make_settings, tmp_path, [ALLOWED]) as client:
        searched = (await client.call_tool("search_appointments", {"patient_id": ALLOWED})).structured_content
        read_group = await client.call_tool("get_appointment", {"id": "eGroup"})
        read_own = await client.call_tool("get_appointment", {"id": "eOwn"})
    assert [item["id"] for item in searched["items"]] == ["eOwn"]
    assert "1 record(s) of patients this MCP client is not allowed to see were withheld" in searched["warnings"][0]
    assert read_group.is_error and read_group.content[0].text == (
        "Error executing tool get_appointment: this MCP client may only see the records of the patients it is "
        "allowed; that record belongs to another patient, or to none (ask the server's operator to add the patient "
        "to this client's allowlist)")
    assert not read_own.is_error and read_own.structured_content["id"] == "eOwn"


async def test_a_client_allowed_every_patient_of_a_group_appointment_sees_it(make_settings, tmp_path, epic) -> None:
    epic.get(f"{EPIC_BASE}/Appointment/eGroup").respond(200, json=appointment("eGroup", ALLOWED, OTHER))
    async with limited_client(make_settings, tmp_path, [ALLOWED, OTHER]) as client:
        read = await client.call_tool("get_appointment", {"id": "eGroup"})
    assert not read.is_error and read.structured_content["id"] == "eGroup"


# The access middleware's own refusals ------------------------------------------------------------------------

async def test_a_patient_outside_the_allowlist_is_refused_in_the_middleware_s_words(make_settings, tmp_path,
                                                                                   epic) -> None:
    other_reads = epic.get(url__startswith=f"{EPIC_BASE}/Patient/{OTHER}").respond(200, json=patient(OTHER))
    searches = epic.get(url__startswith=f"{EPIC_BASE}/Observation").respond(200, json=searchset([]))
    async with limited_client(make_settings, tmp_path, [ALLOWED]) as client:
        by_id = await client.call_tool("get_patient", {"id": OTHER})
        by_patient_id = await client.call_tool("search_observations", {"patient_id": OTHER, "code": "2345-7"})
        with pytest.raises(MCPError) as by_resource:
            await client.read_resource(f"fhir://Patient/{OTHER}")
        no_records = []
        for uri in (f"fhir://Patient/{OTHER}/_history/1", f"fhir://Patient/{OTHER}?x=1", f"fhir://Patient/{OTHER}#x"):
            with pytest.raises(MCPError) as unknown:
                await client.read_resource(uri)
            no_records.append(unknown.value.error.message)
    assert by_id.is_error and by_id.content[0].text == f"Error executing tool get_patient: {PATIENT_REFUSED}"
    assert by_patient_id.is_error
    assert by_patient_id.content[0].text == f"Error executing tool search_observations: {PATIENT_REFUSED}"
    assert (by_resource.value.error.code, by_resource.value.error.message) == (INVALID_PARAMS, RESOURCE_REFUSED)
    assert not other_reads.called and not searches.called, "refused before anything is sent to Epic"
    assert no_records == [f"Unknown resource: fhir://Patient/{OTHER}{tail}" for tail in ("/_history/1", "?x=1", "#x")]


async def test_the_allowed_patient_passes_the_middleware(make_settings, tmp_path, epic) -> None:
    epic.get(f"{EPIC_BASE}/Patient/{ALLOWED}").respond(200, json=patient(ALLOWED))
    async with limited_client(make_settings, tmp_path, [ALLOWED]) as client:
        by_id = await client.call_tool("get_patient", {"id": ALLOWED})
        by_resource = await client.read_resource(f"fhir://Patient/{ALLOWED}")
    assert not by_id.is_error and by_id.structured_content["id"] == ALLOWED
    assert ALLOWED in by_resource.contents[0].text
