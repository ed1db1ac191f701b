"""Every catalog tool through a real MCP client (in process) against Epic-shaped respx fixtures."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx
from mcp import Client

from epic_mcp.access.profiles import ALL_TOOLS
from epic_mcp.fhir.catalog import CATALOG, Operation
from epic_mcp.serve.helper_tools import EPIC_TEST_PATIENTS
from epic_mcp.serve.server import build_server

from ..conftest import ACCESS_TOKEN, EPIC_BASE, EPIC_TOKEN_URL, outcome, searchset, token_body

pytestmark = pytest.mark.anyio

PATIENT_ID = "erXuFYUfucBZaryVksYEcMg3"
READS = [op for op in CATALOG if op.interaction == "read"]
SEARCHES = [op for op in CATALOG if op.interaction == "search"]
SAMPLE_ARGS = {
    "patient_id": PATIENT_ID, "practitioner_id": "eM5CWtq15N0WJeuCet5bJlQ3", "code": "8480-6",
    "identifier": "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14|203713", "family": "Lopez", "given": "Camila",
    "birthdate": "1987-09-12", "gender": "female",
}


def resource(resource_type: str, resource_id: str, **fields: Any) -> dict[str, Any]:
    """An Epic-shaped resource with the noise the tools strip (meta, generated narrative)."""
    return {"resourceType": resource_type, "id": resource_id,
            "meta": {"versionId": "1", "lastUpdated": "2026-01-01T00:00:00Z"},
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">...</div>"},
            **fields}


def minimal_args(op: Operation) -> dict[str, Any]:
    needed = sorted(op.requires[0]) if op.requires else ["patient_id"]
    args: dict[str, Any] = {}
    for name in needed:
        param = next(p for p in op.params if p.arg == name)
        args[name] = param.choices[0].value if param.choices else SAMPLE_ARGS[name]
    return args


def expected_query(op: Operation, args: dict[str, Any]) -> dict[str, str]:
    query = {}
    for name, value in args.items():
        param = next(p for p in op.params if p.arg == name)
        query[param.fhir] = next((c.wire for c in param.choices if c.value == value), value)
    return {**query, "_count": "20"}


@pytest.fixture
def server(settings):
    return build_server(settings)


@pytest.fixture
def token_route(epic: respx.MockRouter) -> respx.Route:
    return epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())


async def call(server, tool: str, args: dict[str, Any]):
    async with Client(server) as client:
        return await client.call_tool(tool, args)


def error_text(result) -> str:
    assert result.is_error, result.content
    return result.content[0].text


@pytest.mark.parametrize("op", READS, ids=lambda op: op.tool)
async def test_every_read_tool_returns_a_compact_record_or_the_raw_resource(server, epic, token_route, op) -> None:
    served = resource(op.resource, f"e{op.resource}1", status="final")
    route = epic.get(f"{EPIC_BASE}/{op.resource}/e{op.resource}1").respond(200, json=served)
    result = await call(server, op.tool, {"id": f"e{op.resource}1"})
    assert not result.is_error, result.content
    data = result.structured_content
    assert (data["resource_type"], data["id"]) == (op.resource, f"e{op.resource}1")
    assert data["resource"]["resourceType"] == op.resource and data["resource"]["id"] == f"e{op.resource}1"
    assert "meta" not in data["resource"] and "text" not in data["resource"]
    assert result.content[0].text.startswith(f"{op.resource}/e{op.resource}1")
    raw = await call(server, op.tool, {"id": f"e{op.resource}1", "format": "raw"})
    assert raw.structured_content["resource"] == served
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.headers["accept"] == "application/fhir+json"


@pytest.mark.parametrize("op", SEARCHES, ids=lambda op: op.tool)
async def test_every_search_tool_sends_epic_parameters_and_returns_the_envelope(server, epic, token_route,
                                                                                 op) -> None:
    args = minimal_args(op)
    match = resource(op.resource, f"e{op.resource}9")
    route = epic.get(f"{EPIC_BASE}/{op.resource}").respond(200, json=searchset([match], total=1))
    result = await call(server, op.tool, args)
    assert not result.is_error, result.content
    assert dict(parse_qsl(route.calls.last.request.url.query.decode())) == expected_query(op, args)
    data = result.structured_content
    assert data["resource_type"] == op.resource
    assert (data["total"], data["returned"], data["next_cursor"]) == (1, 1, None)
    assert data["items"][0]["id"] == f"e{op.resource}9" and "meta" not in data["items"][0]
    assert f"{op.resource} search: 1 on this page, total 1; no more pages" in result.content[0].text


@pytest.mark.parametrize("op", [op for op in SEARCHES if op.requires], ids=lambda op: op.tool)
async def test_missing_required_parameters_are_refused_before_any_request(server, epic, token_route, op) -> None:
    route = epic.get(f"{EPIC_BASE}/{op.resource}").respond(200, json=searchset([]))
    partial = {"patient_id": PATIENT_ID} if len(op.requires[0]) > 1 and "patient_id" in op.requires[0] else {}
    message = error_text(await call(server, op.tool, partial))
    assert f"{op.tool} needs {op.rule_text()}" in message
    assert route.call_count == 0 and token_route.call_count == 0


async def test_observation_rule_names_what_to_add(server, epic, token_route) -> None:
    message = error_text(await call(server, "search_observations", {"patient_id": PATIENT_ID}))
    assert "search_observations needs patient_id + category, or patient_id + code" in message


async def test_epic_minimum_patient_search_sends_legal_sex(server, epic, token_route) -> None:
    route = epic.get(f"{EPIC_BASE}/Patient").respond(200, json=searchset([]))
    await call(server, "search_patients", {"family": "Lopez", "given": "Camila", "legal_sex": "female"})
    assert dict(parse_qsl(route.calls.last.request.url.query.decode())) == {
        "family": "Lopez", "given": "Camila", "legal-sex": "female", "_count": "20"}
    message = error_text(await call(server, "search_patients", {"family": "Lopez", "given": "Camila"}))
    assert "family + given + legal_sex" in message and route.call_count == 1


async def test_care_plan_category_is_sent_as_epic_snomed_code(server, epic, token_route) -> None:
    route = epic.get(f"{EPIC_BASE}/CarePlan").respond(200, json=searchset([]))
    await call(server, "search_care_plans", {"patient_id": PATIENT_ID, "category": "longitudinal"})
    assert ("category", "38717003") in parse_qsl(route.calls.last.request.url.query.decode())


async def test_date_range_becomes_ge_and_le(server, epic, token_route) -> None:
    route = epic.get(f"{EPIC_BASE}/Observation").respond(200, json=searchset([]))
    await call(server, "search_observations", {"patient_id": PATIENT_ID, "category": "laboratory",
                                               "date_from": "2024-01-01", "date_to": "2024-12-31", "count": 5})
    query = parse_qsl(route.calls.last.request.url.query.decode())
    assert ("date", "ge2024-01-01") in query and ("date", "le2024-12-31") in query and ("_count", "5") in query


async def test_empty_search_carries_epic_4101_as_a_warning(server, epic, token_route) -> None:
    no_results = outcome("warning", "processing", "4101", "Resource request returns no results.")
    epic.get(f"{EPIC_BASE}/Condition").respond(200, json=searchset([], total=0, warnings=[no_results]))
    data = (await call(server, "search_conditions", {"patient_id": PATIENT_ID})).structured_content
    assert (data["total"], data["returned"], data["items"], data["warnings"]) == (0, 0, [], ["no results"])


async def test_outcome_entries_beside_matches_are_warnings_not_items(server, epic, token_route) -> None:
    note = outcome("information", "informational", "4127", "Too many results")
    epic.get(f"{EPIC_BASE}/Patient").respond(
        200, json=searchset([resource("Patient", PATIENT_ID)], total=1, warnings=[note]))
    data = (await call(server, "search_patients", {"family": "Lopez", "given": "Camila",
                                                   "birthdate": "1987-09-12"})).structured_content
    assert [item["id"] for item in data["items"]] == [PATIENT_ID]
    assert data["warnings"] == ["more than 100 patients match; add more search criteria (birthdate, identifier)"]


@pytest.mark.parametrize("status", [404, 400])
async def test_unknown_id_is_no_x_with_that_id(server, epic, token_route, status) -> None:
    epic.get(f"{EPIC_BASE}/Patient/eUnknown0000").respond(
        status, json=outcome("fatal", "not-found", "59144", "Invalid FHIR ID provided"))
    message = error_text(await call(server, "get_patient", {"id": "eUnknown0000"}))
    assert "no Patient with that id" in message and "eUnknown0000" not in message


async def test_403_names_the_missing_scope(server, epic, token_route) -> None:
    epic.get(f"{EPIC_BASE}/Observation").respond(403)
    message = error_text(await call(server, "search_observations", {"patient_id": PATIENT_ID, "code": "8480-6"}))
    assert "not authorized for Observation (needs system/Observation.read" in message


async def test_400_carries_the_server_diagnostics(server, epic, token_route) -> None:
    epic.get(f"{EPIC_BASE}/Condition").respond(
        400, json=outcome("error", "value", "4115", "The category parameter is not valid."))
    message = error_text(await call(server, "search_conditions", {"patient_id": PATIENT_ID}))
    assert "rejected the request: The category parameter is not valid." in message


async def test_429_then_success_is_retried(server, epic, token_route) -> None:
    route = epic.get(f"{EPIC_BASE}/Patient/{PATIENT_ID}").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "0"}),
        httpx.Response(200, json=resource("Patient", PATIENT_ID)),
    ])
    result = await call(server, "get_patient", {"id": PATIENT_ID})
    assert not result.is_error and route.call_count == 2


async def test_persistent_503_is_server_busy_after_bounded_retries(server, epic, token_route) -> None:
    route = epic.get(f"{EPIC_BASE}/Patient/{PATIENT_ID}").respond(503, headers={"Retry-After": "0"})
    message = error_text(await call(server, "get_patient", {"id": PATIENT_ID}))
    assert "busy or failing (HTTP 503) after 3 attempts" in message and route.call_count == 3


async def test_404_is_not_retried(server, epic, token_route) -> None:
    route = epic.get(f"{EPIC_BASE}/Patient/{PATIENT_ID}").respond(404)
    await call(server, "get_patient", {"id": PATIENT_ID})
    assert route.call_count == 1


async def test_paging_walks_every_page_with_opaque_cursors(server, epic, token_route) -> None:
    pages = {
        "0": searchset([resource("Observation", f"o{i}") for i in range(3)], total=7,
                       next_url=f"{EPIC_BASE}/Observation?patient={PATIENT_ID}&category=laboratory&_offset=3"),
        "3": searchset([resource("Observation", f"o{i}") for i in range(3, 6)], total=7,
                       next_url=f"{EPIC_BASE}/Observation?patient={PATIENT_ID}&category=laboratory&_offset=6"),
        "6": searchset([resource("Observation", "o6")], total=7),
    }
    epic.get(f"{EPIC_BASE}/Observation").mock(
        side_effect=lambda request: httpx.Response(200, json=pages[request.url.params.get("_offset", "0")]))
    seen: list[str] = []
    async with Client(server) as client:
        result = await client.call_tool("search_observations", {"patient_id": PATIENT_ID, "category": "laboratory",
                                                                "count": 3})
        while True:
            data = result.structured_content
            seen += [item["id"] for item in data["items"]]
            if data["next_cursor"] is None:
                break
            # Opaque: base64url characters only, so no URL, path or query (a search for "http" in a cursor found it
            # in one run in about 30,000: the cursor is random, 287 characters).
            assert re.fullmatch(r"[A-Za-z0-9_-]+", data["next_cursor"]) and EPIC_BASE not in data["next_cursor"]
            result = await client.call_tool("next_page", {"cursor": data["next_cursor"]})
    assert seen == [f"o{i}" for i in range(7)] and len(seen) == data["total"]


@pytest.mark.parametrize("next_url", [
    "https://evil.example.org/interconnect-fhir-oauth/api/FHIR/R4/Observation?page=2",
    "https://fhir.epic.com:444/interconnect-fhir-oauth/api/FHIR/R4/Observation?page=2",
    "http://fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4/Observation?page=2",
    "https://attacker@fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4/Observation?page=2",
    "https://fhir.epic.com/other-app/Observation?page=2",
    *(f"{EPIC_BASE}/Observation{encoded}..{encoded}..{encoded}oauth2{encoded}token?page=2"
      for encoded in ("%2F", "%2f", "%5C", "%5c")),
    *(f"{EPIC_BASE}/{encoded}{encoded}/{encoded}{encoded}/oauth2/token?page=2" for encoded in ("%2E", "%2e")),
])
async def test_a_foreign_next_link_is_refused_and_no_request_is_sent(server, epic, token_route, next_url) -> None:
    epic.get(f"{EPIC_BASE}/Observation").respond(200, json=searchset([resource("Observation", "o1")], total=2,
                                                                     next_url=next_url))
    data = (await call(server, "search_observations", {"patient_id": PATIENT_ID, "code": "8480-6"})).structured_content
    assert data["next_cursor"] is None
    assert any("outside the configured FHIR server" in w for w in data["warnings"])
    assert all(str(c.request.url).startswith((EPIC_BASE, EPIC_TOKEN_URL)) for c in epic.calls)


@pytest.mark.parametrize("cursor", ["", "abc", "eyJ0IjoiUGF0aWVudCJ9.AAAA", "x" * 4000])
async def test_forged_or_truncated_cursors_are_refused_without_a_request(server, epic, token_route, cursor) -> None:
    message = error_text(await call(server, "next_page", {"cursor": cursor}))
    assert "run the search again" in message or "cursor" in message
    assert not epic.calls


async def test_a_cursor_from_another_server_run_is_refused(settings, epic, token_route) -> None:
    epic.get(f"{EPIC_BASE}/Observation").respond(200, json=searchset(
        [resource("Observation", "o1")], total=2, next_url=f"{EPIC_BASE}/Observation?_offset=1"))
    first = (await call(build_server(settings), "search_observations",
                        {"patient_id": PATIENT_ID, "code": "8480-6"})).structured_content
    message = error_text(await call(build_server(settings), "next_page", {"cursor": first["next_cursor"]}))
    assert "earlier server run" in message


@pytest.mark.parametrize("bad_id", ["a/b", "..", "../Observation", "a?b=c", "a#b", "%2Fetc", "a b", "",
                                    "é" * 3, "x" * 65, "a..b"])
async def test_ids_with_path_characters_are_rejected_before_any_request(server, epic, token_route, bad_id) -> None:
    error_text(await call(server, "get_patient", {"id": bad_id}))
    error_text(await call(server, "search_conditions", {"patient_id": bad_id}))
    assert not epic.calls


@pytest.mark.parametrize("value", ["Lopez&_id=x", "Lopez#frag", "a=b", "Lo\npez", " "])
async def test_values_that_try_to_add_parameters_are_rejected(server, epic, token_route, value) -> None:
    error_text(await call(server, "search_patients", {"family": value, "given": "Camila",
                                                      "birthdate": "1987-09-12"}))
    assert not epic.calls


@pytest.mark.parametrize("args", [
    {"date_from": "2024-13-01"}, {"date_to": "yesterday"}, {"date_from": "2024-02-30"}, {"count": 0},
    {"count": 101}, {"category": "radiology"},
])
async def test_bad_dates_counts_and_enum_values_are_clear_errors(server, epic, token_route, args) -> None:
    base = {"patient_id": PATIENT_ID, "category": "laboratory"}
    error_text(await call(server, "search_observations", {**base, **args}))
    assert not epic.calls


async def test_operation_outcome_with_200_is_an_error(server, epic, token_route) -> None:
    epic.get(f"{EPIC_BASE}/Patient/{PATIENT_ID}").respond(
        200, json=outcome("error", "processing", "59177", "An unexpected internal error has occurred."))
    assert "internal error" in error_text(await call(server, "get_patient", {"id": PATIENT_ID}))


async def test_non_json_body_is_a_clear_error(server, epic, token_route) -> None:
    epic.get(f"{EPIC_BASE}/Patient/{PATIENT_ID}").respond(200, text="<html>proxy error</html>")
    assert "not a FHIR JSON resource" in error_text(await call(server, "get_patient", {"id": PATIENT_ID}))


async def test_token_failure_becomes_a_tool_error(server, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(401, json={"error": "invalid_client", "error_description": None})
    message = error_text(await call(server, "get_patient", {"id": PATIENT_ID}))
    assert "could not get an access token" in message and "invalid_client" in message


async def test_redirects_are_not_followed(server, epic, token_route) -> None:
    epic.get(f"{EPIC_BASE}/Patient/{PATIENT_ID}").respond(302, headers={"Location": "https://evil.example.org/x"})
    assert "redirect" in error_text(await call(server, "get_patient", {"id": PATIENT_ID}))
    assert all(c.request.url.host != "evil.example.org" for c in epic.calls)


async def test_find_test_patients_returns_only_live_ones(server, epic, token_route) -> None:
    live = {EPIC_TEST_PATIENTS[0][1], EPIC_TEST_PATIENTS[3][1]}
    for _, patient_id, _ in EPIC_TEST_PATIENTS:
        epic.get(f"{EPIC_BASE}/Patient/{patient_id}").respond(
            200 if patient_id in live else 404, json=resource("Patient", patient_id))
    data = (await call(server, "find_test_patients", {})).structured_content
    assert {p["id"] for p in data["patients"]} == live
    assert data["patients"][0]["name"] == "Camila Maria Lopez"


async def test_find_test_patients_outside_the_sandbox_explains(make_settings, epic) -> None:
    server = build_server(make_settings(epic_env="custom", epic_fhir_base_url="https://fhir.example.org/R4"))
    data = (await call(server, "find_test_patients", {})).structured_content
    assert data["patients"] == [] and "search_patients" in data["note"]
    assert not epic.calls


async def test_check_connection_reports_version_and_token_status(server, epic, token_route) -> None:
    epic.get(f"{EPIC_BASE}/metadata").respond(200, json={"resourceType": "CapabilityStatement",
                                                          "fhirVersion": "4.0.1", "software": {"name": "Epic"}})
    result = await call(server, "check_connection", {})
    data = result.structured_content
    assert (data["ok"], data["fhir_version"], data["software"]) == (True, "4.0.1", "Epic")
    assert data["token"]["token_cached"] is True
    assert ACCESS_TOKEN not in result.content[0].text


async def test_tools_are_read_only_titled_and_typed(server) -> None:
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
    assert {tool.name for tool in tools} == set(ALL_TOOLS)
    for tool in tools:
        assert tool.title and tool.description
        assert tool.annotations.read_only_hint and tool.annotations.idempotent_hint
        assert tool.annotations.open_world_hint and not tool.annotations.destructive_hint
        assert tool.output_schema is not None
        assert not tool.name.startswith(("create", "update", "delete", "write"))


async def test_resources_expose_jwks_config_and_status_without_secrets(server, epic, token_route) -> None:
    epic.get(f"{EPIC_BASE}/metadata").respond(200, json={"resourceType": "CapabilityStatement",
                                                          "fhirVersion": "4.0.1"})
    epic.get(f"{EPIC_BASE}/Patient/{PATIENT_ID}").respond(200, json=resource("Patient", PATIENT_ID))
    async with Client(server) as client:
        jwks = json.loads((await client.read_resource("epic://jwks")).contents[0].text)
        config = json.loads((await client.read_resource("epic://config")).contents[0].text)
        patient = json.loads((await client.read_resource(f"fhir://Patient/{PATIENT_ID}")).contents[0].text)
        status = json.loads((await client.read_resource("epic://status")).contents[0].text)
        templates = (await client.list_resource_templates()).resource_templates
        prompts = (await client.list_prompts()).prompts
    assert set(jwks["keys"][0]) == {"kty", "kid", "alg", "use", "n", "e"}
    assert config["active_kid"] == jwks["keys"][0]["kid"] and config["environment"] == "sandbox"
    assert patient == resource("Patient", PATIENT_ID)
    assert status["token_cached"] is True and status["fhir_version"] == "4.0.1"
    assert ACCESS_TOKEN not in json.dumps(status)
    assert [t.uri_template for t in templates] == ["fhir://{resource_type}/{id}"]
    assert {p.name for p in prompts} == {"review_recent_labs", "summarize_patient"}
    assert all(p.description for p in prompts)


async def test_fhir_resource_template_refuses_unknown_types(server, epic) -> None:
    async with Client(server) as client:
        with pytest.raises(Exception, match="not readable here"):
            await client.read_resource("fhir://Binary/abc")
    assert not epic.calls


async def test_one_token_serves_many_concurrent_tool_calls(server, epic, token_route) -> None:
    import anyio

    epic.get(f"{EPIC_BASE}/Patient/{PATIENT_ID}").respond(200, json=resource("Patient", PATIENT_ID))
    async with Client(server) as client, anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(client.call_tool, "get_patient", {"id": PATIENT_ID})
    assert token_route.call_count == 1


async def test_records_of_other_patients_are_withheld_when_the_server_ignores_the_filter(server, epic,
                                                                                         token_route) -> None:
    mine = resource("Goal", "g-mine", subject={"reference": f"Patient/{PATIENT_ID}"})
    absolute = resource("Goal", "g-abs", subject={"reference": f"{EPIC_BASE}/Patient/{PATIENT_ID}"})
    theirs = resource("Goal", "g-theirs", subject={"reference": "Patient/eSomeoneElse3"})
    pages = {
        "0": searchset([mine, theirs], total=4, next_url=f"{EPIC_BASE}/Goal?patient={PATIENT_ID}&_offset=2"),
        "2": searchset([absolute, resource("Goal", "g-theirs-2", subject={"reference": "Patient/eOther"})], total=4),
    }
    epic.get(f"{EPIC_BASE}/Goal").mock(
        side_effect=lambda request: httpx.Response(200, json=pages[request.url.params.get("_offset", "0")]))
    epic.get(f"{EPIC_BASE}/Patient/{PATIENT_ID}").respond(200, json=resource("Patient", PATIENT_ID))
    async with Client(server) as client:
        first = (await client.call_tool("search_goals", {"patient_id": PATIENT_ID})).structured_content
        second = (await client.call_tool("next_page", {"cursor": first["next_cursor"]})).structured_content
    assert [i["id"] for i in first["items"]] == ["g-mine"] and [i["id"] for i in second["items"]] == ["g-abs"]
    for page in (first, second):
        assert page["total"] is None
        assert any("record(s) of other patients" in w for w in page["warnings"])
        assert "eSomeoneElse3" not in json.dumps(page) and "eOther" not in json.dumps(page)


async def test_records_under_the_current_id_of_a_patient_named_by_an_older_id_are_hers(server, epic,
                                                                                      token_route) -> None:
    old, current = "Tzq4j8Zz14GtEj1vkMR1DfKeTpXPttd5-8DvjtsLBdJsB", "eD.LxhDyX35TntF77l7etUA3"
    hers = [resource("Condition", f"c{i}", subject={"reference": f"Patient/{current}"}) for i in range(3)]
    epic.get(f"{EPIC_BASE}/Condition").respond(200, json=searchset(hers, total=3))
    patient_read = epic.get(f"{EPIC_BASE}/Patient/{old}").respond(200, json=resource("Patient", current, identifier=[
        {"use": "usual", "type": {"text": "FHIR"}, "value": old,
         "system": "http://open.epic.com/FHIR/StructureDefinition/patient-dstu2-fhir-id"},
        {"use": "usual", "type": {"text": "EPI"}, "value": "203675", "system": "urn:oid:1.2.840.114350.1.13.0.1.7.5"}]))
    page = (await call(server, "search_conditions", {"patient_id": old})).structured_content
    assert [i["id"] for i in page["items"]] == ["c0", "c1", "c2"] and page["total"] == 3 and not page["warnings"]
    assert patient_read.call_count == 1, "the Patient is read once, to learn her current id"


async def test_a_search_needs_no_patient_read_when_every_record_names_the_patient(server, epic, token_route) -> None:
    epic.get(f"{EPIC_BASE}/Condition").respond(200, json=searchset(
        [resource("Condition", "c1", subject={"reference": f"Patient/{PATIENT_ID}"})], total=1))
    patient_read = epic.get(f"{EPIC_BASE}/Patient/{PATIENT_ID}").respond(200, json=resource("Patient", PATIENT_ID))
    assert not (await call(server, "search_conditions", {"patient_id": PATIENT_ID})).is_error
    assert patient_read.call_count == 0


async def test_records_of_another_type_are_withheld(server, epic, token_route) -> None:
    epic.get(f"{EPIC_BASE}/Condition").respond(200, json=searchset(
        [resource("Condition", "c1", subject={"reference": f"Patient/{PATIENT_ID}"}),
         resource("Observation", "o1", subject={"reference": f"Patient/{PATIENT_ID}"})], total=2))
    page = (await call(server, "search_conditions", {"patient_id": PATIENT_ID})).structured_content
    assert [i["id"] for i in page["items"]] == ["c1"]
    assert "the server returned 1 record(s) that are not Condition; they were withheld" in page["warnings"]


async def test_status_read_first_in_a_session_asks_the_server(server, epic, token_route) -> None:
    epic.get(f"{EPIC_BASE}/metadata").respond(200, json={"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
                                                          "software": {"name": "Epic", "version": "November 2026"}})
    async with Client(server) as client:
        status = json.loads((await client.read_resource("epic://status")).contents[0].text)
    assert (status["fhir_version"], status["software"], status["metadata_error"]) == ("4.0.1", "Epic November 2026",
                                                                                      None)
    assert status["token_cached"] is True


@pytest.mark.parametrize(("tool", "arguments", "message"), [
    ("search_observations", {"patient_id": PATIENT_ID, "category": "labs"},
     "category must be one of laboratory, vital-signs, social-history"),
    ("search_observations", {"patient_id": PATIENT_ID, "code": "8480-6", "count": 1000}, "count must be at most 100"),
    ("search_observations", {"patient_id": PATIENT_ID, "code": "8480-6", "count": 0}, "count must be at least 1"),
    ("search_observations", {"patient_id": 42, "code": "8480-6"}, "patient_id must be text"),
    ("search_observations", {"patient_id": PATIENT_ID, "code": "8480-6", "date": "2026"},
     "unknown argument(s) date; this tool takes category, code, count, count_only, date_from, date_to, format, "
     "patient_id"),
    ("get_patient", {}, "id is required"),
    ("get_patient", {"id": PATIENT_ID, "format": "fhir"}, "format must be one of compact or raw"),
    ("get_patient", {"id": "e" * 201}, "id is longer than 200 characters"),
    ("search_conditions", {"patient_id": PATIENT_ID, "count_only": "maybe"}, "count_only must be true or false"),
])
async def test_argument_mistakes_are_one_short_line_naming_the_argument_and_the_fix(server, epic, token_route, tool,
                                                                                     arguments, message) -> None:
    text = error_text(await call(server, tool, arguments))
    assert text == f"Error executing tool {tool}: {message}" or text.startswith(f"Error executing tool {tool}: "
                                                                                f"{message}")
    assert "\n" not in text and "pydantic" not in text and "validation error" not in text
    assert len(epic.calls) == 0, "nothing is sent for a mistaken call"


# Pages and totals as Epic sends them ------------------------------------------------------------------------

def vitals(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [resource("Observation", f"eVital{i}", status="final", subject={"reference": f"Patient/{PATIENT_ID}"},
                     code={"text": "Pulse"}, valueQuantity={"value": 60 + i % 30, "unit": "/min"})
            for i in range(start, start + count)]


async def test_a_page_size_in_bundle_total_is_never_shown_as_the_count(server, epic, token_route) -> None:
    page_two = f"{EPIC_BASE}/Observation?sessionID=16-ABC&page=2"
    epic.get(f"{EPIC_BASE}/Observation").mock(side_effect=lambda request: httpx.Response(200, json=searchset(
        vitals(50) if "sessionID" not in str(request.url) else vitals(7, 50),
        total=50 if "sessionID" not in str(request.url) else 7,
        next_url=page_two if "sessionID" not in str(request.url) else None)))
    async with Client(server) as client:
        first = await client.call_tool("search_observations", {"patient_id": PATIENT_ID, "category": "vital-signs"})
        seen = [item["id"] for item in first.structured_content["items"]]
        assert (first.structured_content["total"], first.structured_content["total_at_least"]) == (None, 50)
        assert "total at least 50;" in first.content[0].text and "total 50" not in first.content[0].text
        page, calls = first, 1
        while page.structured_content["next_cursor"]:
            page = await client.call_tool("next_page", {"cursor": page.structured_content["next_cursor"]})
            seen += [item["id"] for item in page.structured_content["items"]]
            calls += 1
    assert seen == [f"eVital{i}" for i in range(57)], "every result once, in order, 20 at a time"
    assert calls == 4 and page.structured_content["total"] == 57, "on the last page the count is exact"


async def test_count_only_never_presents_a_page_size_as_the_count(server, epic, token_route) -> None:
    epic.get(f"{EPIC_BASE}/Observation").respond(200, json=searchset(
        vitals(1000), total=1000, next_url=f"{EPIC_BASE}/Observation?sessionID=16-ABC&page=2"))
    result = await call(server, "search_observations", {"patient_id": PATIENT_ID, "category": "vital-signs",
                                                        "count_only": True})
    assert result.structured_content["total"] is None and result.structured_content["total_at_least"] == 1000
    assert result.content[0].text.startswith("Observation count: at least 1000")
