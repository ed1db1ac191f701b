"""Searches answer newest first by each record's clinical date and say what that order covers: the whole result,
every page (the server sorted, where its CapabilityStatement says it can), or only the results shown. The notes
search and the page walker behind get_latest_notes agree on which note is the newest."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import httpx
import pytest
import respx
from mcp import Client

from epic_mcp.serve.server import build_server

from ..conftest import CAPABILITY, EPIC_BASE, EPIC_TOKEN_URL, searchset, token_body
from ..fake_fhir import FakeFhir
from ..unseen_data import unseen_data_set

pytestmark = pytest.mark.anyio
PID = "eNewest1"
SUBJECT = {"reference": f"Patient/{PID}"}
TODAY = date(2026, 6, 1)
SORTING = {**CAPABILITY, "rest": [{"mode": "server", "searchParam": [{"name": "_sort", "type": "special"}],
                                   "resource": CAPABILITY["rest"][0]["resource"]}]}


@pytest.fixture
def server(make_settings):
    return build_server(make_settings(epic_today=TODAY))


@pytest.fixture(autouse=True)
def token_route(epic: respx.MockRouter) -> respx.Route:
    return epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(scope="system/*.read"))


def vital(oid: str, when: str | None, value: float = 70) -> dict[str, Any]:
    resource = {"resourceType": "Observation", "id": oid, "status": "final", "subject": SUBJECT,
                "category": [{"coding": [{"code": "vital-signs"}]}],
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": "Heart rate"},
                "valueQuantity": {"value": value, "unit": "/min"}}
    return resource | ({"effectiveDateTime": when} if when else {})


# The server's order, as the issue saw it: 2026-08-02, 2026-04-13, 2026-08-15, ...
SERVER_ORDER = [vital("v1", "2026-08-02T10:02:00Z"), vital("v2", "2026-04-13T12:13:00Z"),
                vital("v3", "2026-08-15T10:13:00Z"), vital("v4", "2026-08-15T19:00:00+09:00")]


async def search(server, tool: str = "search_observations", **args: Any) -> tuple[dict[str, Any], str]:
    async with Client(server) as client:
        result = await client.call_tool(tool, {"patient_id": PID, "category": "vital-signs", **args}
                                        if tool == "search_observations" else {"patient_id": PID, **args})
    assert not result.is_error, result.content
    return result.structured_content, result.content[0].text


async def test_a_whole_result_comes_newest_first_and_says_so(server, epic) -> None:
    FakeFhir(epic, SERVER_ORDER)
    data, text = await search(server)
    assert [item["id"] for item in data["items"]] == ["v3", "v4", "v1", "v2"], \
        "10:13 UTC is after 19:00 at +09:00 (10:00 UTC) on the same day"
    assert data["order"] == "newest first by effectiveDateTime (the whole result)"
    assert text.splitlines()[1] == "order: newest first by effectiveDateTime (the whole result)"


async def test_records_without_a_date_come_last_and_the_order_says_so(server, epic) -> None:
    FakeFhir(epic, [vital("undated", None), *SERVER_ORDER[:2]])
    data, _ = await search(server)
    assert [item["id"] for item in data["items"]] == ["v1", "v2", "undated"]
    assert data["order"].endswith("; records without a date last")


async def test_one_page_of_many_is_sorted_and_says_it_covers_only_those_results(server, epic) -> None:
    FakeFhir(epic, SERVER_ORDER, page_size=2)
    async with Client(server) as client:
        first = (await client.call_tool("search_observations", {"patient_id": PID, "category": "vital-signs",
                                                                "count": 2})).structured_content
        second = (await client.call_tool("next_page", {"cursor": first["next_cursor"]})).structured_content
    assert [item["id"] for item in first["items"]] == ["v1", "v2"]
    assert first["order"].startswith("newest first by effectiveDateTime within results 1-2 only; the server "
                                     "returns pages in its own order, so a newer record may be on a later page")
    assert [item["id"] for item in second["items"]] == ["v3", "v4"]
    assert second["order"].startswith("newest first by effectiveDateTime within results 3-4 only")


def sorting_server(epic: respx.MockRouter, capability: dict[str, Any]) -> list[list[tuple[str, str]]]:
    """A server that sorts when asked (`_sort=-date`) and pages two at a time; returns the queries it got."""
    epic.get(f"{EPIC_BASE}/metadata").respond(200, json=capability)
    queries: list[list[tuple[str, str]]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        query = list(request.url.params.multi_items())
        queries.append(query)
        items = sorted(SERVER_ORDER, key=lambda r: datetime.fromisoformat(r["effectiveDateTime"]), reverse=True) \
            if ("_sort", "-date") in query else SERVER_ORDER
        offset = int(request.url.params.get("_offset", "0"))
        following = request.url.copy_set_param("_offset", str(offset + 2)) if offset + 2 < len(items) else None
        return httpx.Response(200, json=searchset(items[offset:offset + 2], total=len(items),
                                                  next_url=str(following) if following else None))

    epic.get(url__regex=rf"^{EPIC_BASE}/Observation\?.*").mock(side_effect=answer)
    return queries


async def test_a_server_whose_capability_statement_offers_sort_is_asked_to_sort_and_the_order_covers_every_page(
        server, epic) -> None:
    queries = sorting_server(epic, SORTING)
    async with Client(server) as client:
        data = (await client.call_tool("search_observations", {"patient_id": PID, "category": "vital-signs",
                                                               "count": 2})).structured_content
        following = (await client.call_tool("next_page", {"cursor": data["next_cursor"]})).structured_content
    assert ("_sort", "-date") in queries[1] and ("_sort", "-date") not in queries[0]
    assert [item["id"] for item in data["items"]] == ["v3", "v4"]
    assert data["order"] == "newest first by effectiveDateTime, sorted by the server across all pages"
    assert ("_sort", "-date") in queries[2], "the next page continues the sorted search"
    assert [item["id"] for item in following["items"]] == ["v1", "v2"]
    assert following["order"] == "newest first by effectiveDateTime, sorted by the server across all pages", \
        "the cursor remembers that the server sorted, so page 2 says what page 1 said"


async def test_a_server_that_does_not_offer_sort_is_not_asked(server, epic) -> None:
    queries = sorting_server(epic, CAPABILITY)
    data, _ = await search(server, count=2)
    assert len(queries) == 1 and all(name != "_sort" for name, _ in queries[0])
    assert "within results 1-2 only" in data["order"]


async def test_a_page_the_server_was_asked_to_sort_but_did_not_says_so(server, epic) -> None:
    epic.get(f"{EPIC_BASE}/metadata").respond(200, json=SORTING)
    epic.get(url__regex=rf"^{EPIC_BASE}/Observation\?.*").respond(200, json=searchset(
        SERVER_ORDER[1:3], total=4, next_url=f"{EPIC_BASE}/Observation?patient={PID}&_offset=2"))
    data, _ = await search(server, count=2)
    assert [item["id"] for item in data["items"]] == ["v3", "v2"]
    assert "the server was asked to sort by date but its page was not in date order" in data["order"]


async def test_a_single_page_never_costs_a_capability_read(server, epic) -> None:
    FakeFhir(epic, SERVER_ORDER)
    metadata = epic.get(f"{EPIC_BASE}/metadata").respond(200, json=SORTING)
    await search(server)
    assert not metadata.called


async def test_records_with_no_clinical_date_stay_in_the_servers_order_and_say_so(server, epic) -> None:
    epic.get(url__regex=rf"^{EPIC_BASE}/Patient\?.*").respond(200, json=searchset([
        {"resourceType": "Patient", "id": "b"}, {"resourceType": "Patient", "id": "a"}]))
    async with Client(server) as client:
        data = (await client.call_tool("search_patients", {"identifier": "MRN|1"})).structured_content
    assert [item["id"] for item in data["items"]] == ["b", "a"]
    assert data["order"] == "in the server's order (these records carry no clinical date)"


@pytest.fixture(scope="module")
def unseen() -> dict[str, Any]:
    return unseen_data_set(TODAY)


@pytest.mark.parametrize("patient", [p["id"] for p in unseen_data_set()["patients"]])
async def test_the_notes_search_and_get_latest_notes_name_the_same_newest_note(make_settings, epic, unseen,
                                                                                 patient: str) -> None:
    """On every unseen record (the issue: the first note was not the newest on 10 of 12)."""
    data = unseen
    mine = [r for r in data["resources"] if r["resourceType"] in ("Patient", "DocumentReference")
            and (r["id"] == patient or r.get("subject", {}).get("reference") == f"Patient/{patient}")]
    notes = [r for r in mine if r["resourceType"] == "DocumentReference"]
    FakeFhir(epic, mine)
    server = build_server(make_settings(epic_today=TODAY))
    async with Client(server) as client:
        searched = (await client.call_tool("search_documents", {"patient_id": patient, "count": 100})
                    ).structured_content
        answer = await client.call_tool("get_latest_notes", {"patient_id": patient, "count": 1})
        assert not answer.is_error, answer.content
        latest = answer.structured_content
    newest = max(notes, key=lambda d: d["date"])
    assert searched["items"][0]["id"] == newest["id"] == latest["notes"][0]["document_id"]
    assert searched["order"].startswith("newest first by date")
