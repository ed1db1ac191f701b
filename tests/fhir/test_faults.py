"""The fault matrix: each test is named after the hazard it guards, and fails if the behaviour regresses."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from epic_mcp.fhir.connection import EpicConnection
from epic_mcp.serve.server import build_server

from ..conftest import EPIC_BASE, EPIC_TOKEN_URL, outcome, searchset, token_body
from ..hostile_server import Behaviour, hostile_server

pytestmark = pytest.mark.anyio
PID = "eCamila3"
PATIENT = {"resourceType": "Patient", "id": PID, "name": [{"family": "Lopez", "given": ["Camila"]}]}


@pytest.fixture
def server(settings):
    return build_server(settings)


async def call(server, tool: str, args: dict[str, Any]):
    async with Client(server) as client:
        return await client.call_tool(tool, args)


def error_of(result) -> str:
    assert result.is_error, result.content
    text = result.content[0].text
    assert ": " in text, "a crash (the SDK's bare message), not a tool error"
    return text


# Token endpoint ------------------------------------------------------------------------------------------

async def test_token_endpoint_timeout_is_a_clear_tool_error(server, epic, monkeypatch) -> None:
    monkeypatch.setattr("epic_mcp.auth.token.RETRY_DELAYS", (0, 0, 0))
    epic.post(EPIC_TOKEN_URL).mock(side_effect=httpx.ConnectTimeout("slow"))
    message = error_of(await call(server, "get_patient", {"id": PID}))
    assert "could not get an access token" in message and "timed out after" in message
    assert not [c for c in epic.calls if c.request.url.host != "fhir.epic.com" or "/FHIR/" in c.request.url.path]


# FHIR server ---------------------------------------------------------------------------------------------

async def test_401_mid_session_refreshes_once_retries_once_then_reports(server, epic) -> None:
    tokens = epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    fhir = epic.get(f"{EPIC_BASE}/Patient/{PID}").respond(401)
    message = error_of(await call(server, "get_patient", {"id": PID}))
    assert "authentication failed even with a fresh access token; run `epic-mcp doctor`" in message
    assert (fhir.call_count, tokens.call_count) == (2, 2), "one refresh, one retry, never a loop"


async def test_401_mid_session_then_success_costs_one_new_token(server, epic) -> None:
    tokens = epic.post(EPIC_TOKEN_URL).mock(side_effect=[httpx.Response(200, json=token_body(access_token="a")),
                                                         httpx.Response(200, json=token_body(access_token="b"))])
    epic.get(f"{EPIC_BASE}/Patient/{PID}").mock(side_effect=lambda r: httpx.Response(
        200 if r.headers["authorization"] == "Bearer b" else 401, json=PATIENT))
    async with Client(server) as client:
        results = [await client.call_tool("get_patient", {"id": PID}) for _ in range(3)]
    assert not any(r.is_error for r in results) and tokens.call_count == 2


@pytest.mark.parametrize(("status", "expected"), [
    (403, "not authorized for Patient"), (404, "no Patient with that id"), (410, "was deleted"),
    (500, "busy or failing (HTTP 500)"), (502, "busy or failing (HTTP 502)"), (503, "busy or failing (HTTP 503)"),
    (504, "busy or failing (HTTP 504)"), (418, "unexpected HTTP 418"),
])
async def test_http_failures_become_short_actionable_errors(server, epic, status, expected) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(f"{EPIC_BASE}/Patient/{PID}").respond(status, headers={"Retry-After": "0"})
    assert expected in error_of(await call(server, "get_patient", {"id": PID}))


async def test_429_with_an_http_date_retry_after_is_honoured_and_capped(settings, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)
    epic.get(f"{EPIC_BASE}/Patient/{PID}").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": later}), httpx.Response(200, json=PATIENT)])
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    connection = EpicConnection.open(settings)
    connection.fhir._sleep = sleep
    try:
        assert (await connection.fhir.read("Patient", PID))["id"] == PID
    finally:
        await connection.aclose()
    assert waits == [10.0], "an hour's Retry-After is capped at 10 s"


@pytest.mark.parametrize("body", [b'{"resourceType": "Patient", "id": "eCam', b"<html>Bad gateway</html>", b""])
async def test_truncated_or_non_json_bodies_are_invalid_responses(server, epic, body) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(f"{EPIC_BASE}/Patient/{PID}").respond(200, content=body)
    assert "not a FHIR JSON resource" in error_of(await call(server, "get_patient", {"id": PID}))


async def test_error_bodies_that_are_not_json_still_give_the_status_message(server, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(f"{EPIC_BASE}/Observation").respond(400, text="<html>Bad Request</html>")
    message = error_of(await call(server, "search_observations", {"patient_id": PID, "code": "8480-6"}))
    assert "rejected the request: HTTP 400" in message


async def test_a_10_mb_searchset_bundle_is_handled_and_rendered_small(server, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    notes = [{"resourceType": "Observation", "id": f"o{i}", "status": "final",
              "subject": {"reference": f"Patient/{PID}"},
              "code": {"text": "Glucose"}, "valueQuantity": {"value": i, "unit": "mg/dL"},
              "text": {"status": "generated", "div": "<div>" + "x" * 500_000 + "</div>"}} for i in range(20)]
    bundle = searchset(notes, total=20)
    assert len(json.dumps(bundle)) > 10_000_000
    epic.get(f"{EPIC_BASE}/Observation").respond(200, json=bundle)
    result = await call(server, "search_observations", {"patient_id": PID, "code": "2345-7"})
    assert not result.is_error and result.structured_content["returned"] == 20
    assert len(result.content[0].text) < 5_000


async def test_a_body_over_the_size_cap_is_refused_and_the_cap_is_the_setting(make_settings, epic) -> None:
    server = build_server(make_settings(epic_max_response_mb=1))
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    padded = json.dumps(PATIENT).encode()[:-1] + b" " * 1_000_000 + b"}"
    epic.get(f"{EPIC_BASE}/Patient/{PID}").mock(side_effect=[
        httpx.Response(200, content=padded + b" " * 100_000), httpx.Response(200, content=padded)])
    message = error_of(await call(server, "get_patient", {"id": PID}))
    assert "exceeded 1 MB (EPIC_MAX_RESPONSE_MB)" in message and "ask for fewer results" in message
    assert not (await call(server, "get_patient", {"id": PID})).is_error, "just under the cap is read"


def _nested(levels: int) -> Any:
    """What makes a resource nest `levels` deep as one of its fields (and a Bundle holding the resource 3 more)."""
    value: Any = {"v": 1}
    for _ in range(levels - 2):
        value = [value]
    return value


@pytest.mark.parametrize("levels", [101, 150, 900])
async def test_an_answer_nesting_past_100_levels_is_refused_on_reads_and_searches(server, epic, levels) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    deep_patient = {**PATIENT, "extension": _nested(levels)}
    epic.get(f"{EPIC_BASE}/Patient/{PID}").respond(200, json=deep_patient)
    epic.get(f"{EPIC_BASE}/Condition").respond(200, json=searchset([
        {"resourceType": "Condition", "id": "c1", "subject": {"reference": f"Patient/{PID}"},
         "note": _nested(levels - 3)}]))
    for tool, args in (("get_patient", {"id": PID}), ("search_conditions", {"patient_id": PID})):
        assert "nests deeper than 100 levels" in error_of(await call(server, tool, args)), (tool, levels)


async def test_an_answer_nesting_exactly_100_levels_is_used(server, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(f"{EPIC_BASE}/Patient/{PID}").respond(200, json={**PATIENT, "extension": _nested(100)})
    epic.get(f"{EPIC_BASE}/Condition").respond(200, json=searchset([
        {"resourceType": "Condition", "id": "c1", "subject": {"reference": f"Patient/{PID}"}, "note": _nested(97)}]))
    assert not (await call(server, "get_patient", {"id": PID})).is_error
    assert not (await call(server, "search_conditions", {"patient_id": PID})).is_error


async def test_operation_outcome_with_200_is_an_error_not_data(server, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(f"{EPIC_BASE}/Condition").respond(200, json=outcome("error", "processing", "4100", "Invalid parameter"))
    assert "Invalid parameter" in error_of(await call(server, "search_conditions", {"patient_id": PID}))


# Real sockets: timeouts and cut streams -------------------------------------------------------------------

def hostile_settings(make_settings, root: str, **overrides: Any):
    return make_settings(epic_env="custom", epic_fhir_base_url=f"{root}/fhir", epic_token_url=f"{root}/token",
                         **overrides)


async def test_a_response_slower_than_the_timeout_is_a_timeout_error_not_a_hang(make_settings) -> None:
    behaviour = Behaviour(hang=30)
    async with hostile_server(behaviour) as root:
        server = build_server(hostile_settings(make_settings, root, epic_http_timeout=0.5))
        started = time.monotonic()
        message = error_of(await call(server, "get_patient", {"id": PID}))
    assert "did not answer within 0.5 s" in message
    assert time.monotonic() - started < 10


async def test_a_truncated_stream_is_a_clear_error(make_settings) -> None:
    body = json.dumps(PATIENT).encode()
    async with hostile_server(Behaviour(body=body, truncate_to=10)) as root:
        message = error_of(await call(build_server(hostile_settings(make_settings, root)), "get_patient", {"id": PID}))
    assert "could not reach the FHIR server (RemoteProtocolError)" in message


async def test_a_refused_connection_is_a_clear_error(make_settings) -> None:
    async with hostile_server(Behaviour()) as root:
        settings = hostile_settings(make_settings, root)
    settings = settings.model_copy(update={"epic_token_url": f"{root}/token"})
    message = error_of(await call(build_server(settings), "get_patient", {"id": PID}))
    assert "could not get an access token" in message and "could not connect" in message


# Responsiveness -----------------------------------------------------------------------------------------

async def test_a_slow_call_does_not_block_other_calls(server, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())

    slow_started, other_finished = asyncio.Event(), asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        """Answers only once the other call has finished (or after 10 s, if that call is blocked behind it)."""
        slow_started.set()
        with anyio.move_on_after(10):
            await other_finished.wait()
        return httpx.Response(200, json=PATIENT)

    epic.get(f"{EPIC_BASE}/Patient/eSlow").mock(side_effect=slow)
    epic.get(f"{EPIC_BASE}/Patient/{PID}").respond(200, json=PATIENT)
    finished: list[str] = []
    async with Client(server) as client:
        await client.call_tool("get_patient", {"id": PID})  # warm the token

        async def run(patient_id: str) -> None:
            await client.call_tool("get_patient", {"id": patient_id})
            finished.append(patient_id)
            if patient_id == PID:
                other_finished.set()

        async with anyio.create_task_group() as group:
            group.start_soon(run, "eSlow")
            await slow_started.wait()
            group.start_soon(run, PID)
    assert finished == [PID, "eSlow"]


async def test_cancelling_a_tool_call_cancels_its_http_request(server, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    cancelled = asyncio.Event()

    async def never(request: httpx.Request) -> httpx.Response:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return httpx.Response(200, json=PATIENT)

    epic.get(f"{EPIC_BASE}/Patient/eNever").mock(side_effect=never)
    async with Client(server) as client:
        with anyio.move_on_after(0.5):
            await client.call_tool("get_patient", {"id": "eNever"})
        with anyio.fail_after(5):
            await cancelled.wait()
        epic.get(f"{EPIC_BASE}/Patient/{PID}").respond(200, json=PATIENT)
        assert not (await client.call_tool("get_patient", {"id": PID})).is_error, "the session stays usable"


# Epic's error shapes ------------------------------------------------------------------------------------------

async def test_a_400_leads_with_the_fatal_reason_not_epics_harmless_notice(server, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    body = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "information", "code": "invalid", "diagnostics": "Unknown parameter: X. Parameter has been "
         "ignored.", "details": {"text": "Content invalid against the specification or a profile."}},
        {"severity": "fatal", "code": "business-rule", "diagnostics": "This resource requires demographics or _id "
         "parameter for searching.", "details": {"text": "The content/operation failed to pass a business rule."}}]}
    epic.get(f"{EPIC_BASE}/Patient").respond(400, json=body)
    message = error_of(await call(server, "search_patients", {"family": "Lopez", "given": "Camila",
                                                              "birthdate": "1987-09-12"}))
    assert message.endswith("the FHIR server rejected the request: This resource requires demographics or _id "
                            "parameter for searching.")
    assert "Unknown parameter" not in message and "\n" not in message


async def test_epics_html_404_for_an_endpoint_it_does_not_offer_names_the_endpoint(server, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(f"{EPIC_BASE}/Consent").respond(404, text="<!DOCTYPE html><html><title>404 - File or directory not "
                                                       "found.</title></html>", headers={"content-type": "text/html"})
    message = error_of(await call(server, "search_consents", {"patient_id": PID}))
    assert "does not offer Consent search" in message and "check the id" not in message


async def test_an_error_text_stays_short_however_long_the_servers_is(server, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(f"{EPIC_BASE}/Condition").respond(422, json=outcome("error", "processing", "4100", "x" * 5000))
    assert len(error_of(await call(server, "search_conditions", {"patient_id": PID}))) < 400
