"""Each setting reaches the component it configures: a setting that silently does nothing is the hazard."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from mcp import Client

from epic_mcp.auth.assertion import CLOCK_SKEW_SECONDS, AssertionSigner
from epic_mcp.auth.keys import KeyRing
from epic_mcp.auth.token import TokenManager
from epic_mcp.fhir.connection import EpicConnection
from epic_mcp.serve.server import build_server
from epic_mcp.settings import Settings

from .conftest import EPIC_BASE, EPIC_TOKEN_URL, searchset, token_body

pytestmark = pytest.mark.anyio
PID = "eCamila3"
PATIENT = {"resourceType": "Patient", "id": PID, "name": [{"family": "Lopez", "given": ["Camila"]}]}


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


async def call(server, tool: str, args: dict[str, Any]):
    async with Client(server) as client:
        return await client.call_tool(tool, args)


def error_of(result) -> str:
    assert result.is_error, result.content
    return result.content[0].text


# JWT_EXPIRY_MINUTES -> the client assertion's lifetime ---------------------------------------------------

@pytest.mark.parametrize(("minutes", "seconds"), [(1, 60), (2.5, 150), (5, 300)])
def test_jwt_expiry_minutes_is_the_lifetime_of_every_assertion(make_settings, minutes, seconds) -> None:
    settings = make_settings(jwt_expiry_minutes=minutes)
    signer = AssertionSigner(settings, KeyRing.from_settings(settings), clock=lambda: 1_700_000_000.4)
    claims = signer.sign(EPIC_TOKEN_URL).claims
    assert claims["exp"] == 1_700_000_000 + seconds
    assert claims["iat"] == claims["nbf"] == 1_700_000_000 - CLOCK_SKEW_SECONDS


async def test_the_assertion_sent_to_the_token_endpoint_lives_as_long_as_configured(make_settings, epic) -> None:
    route = epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    settings = make_settings(jwt_expiry_minutes=1.5)
    signer = AssertionSigner(settings, KeyRing.from_settings(settings))
    await TokenManager(settings, signer, httpx.AsyncClient(), retry_delays=()).get_token()
    sent = parse_qs(route.calls.last.request.content.decode())["client_assertion"][0]
    claims = jwt.decode(sent, options={"verify_signature": False})
    assert claims["exp"] - (claims["iat"] + CLOCK_SKEW_SECONDS) == 90


# The token renewal margin: min(60 s, 10% of the lifetime) before expiry ------------------------------------

def manager(settings: Settings, clock: Clock) -> TokenManager:
    signer = AssertionSigner(settings, KeyRing.from_settings(settings))
    return TokenManager(settings, signer, httpx.AsyncClient(), retry_delays=(), clock=clock)


@pytest.mark.parametrize(("lifetime", "margin"), [(3600, 60), (300, 30), (100, 10)])
async def test_a_token_is_renewed_within_the_margin_before_expiry_and_not_earlier(settings, epic, lifetime,
                                                                                  margin) -> None:
    route = epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(expires_in=lifetime))
    clock = Clock()
    tokens = manager(settings, clock)
    first = await tokens.get_token()
    clock.now += lifetime - margin - 1
    assert await tokens.get_token() is first, "renewed too early"
    clock.now += 1  # exactly `margin` seconds before expiry
    renewed = await tokens.get_token()
    assert renewed is not first, "not renewed inside the margin"
    assert route.call_count == 2
    assert renewed.expires_at == clock.now + lifetime


async def test_a_token_past_its_expiry_is_never_used(settings, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(expires_in=600))
    clock = Clock()
    tokens = manager(settings, clock)
    first = await tokens.get_token()
    clock.now += 601
    assert await tokens.get_token() is not first


# EPIC_MAX_CONCURRENCY -> requests in flight --------------------------------------------------------------

@pytest.mark.parametrize("limit", [1, 3])
async def test_max_concurrency_bounds_the_requests_in_flight(make_settings, epic, limit) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    in_flight = peak = 0
    release = asyncio.Event()

    async def held(request: httpx.Request) -> httpx.Response:
        """Held until the test lets go, so the count depends on the limit alone, never on timers."""
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await release.wait()
        in_flight -= 1
        return httpx.Response(200, json=PATIENT)

    epic.get(f"{EPIC_BASE}/Patient/{PID}").mock(side_effect=held)
    connection = EpicConnection.open(make_settings(epic_max_concurrency=limit))
    try:
        reads = asyncio.gather(*(connection.fhir.read("Patient", PID) for _ in range(8)))
        for _ in range(200):
            await asyncio.sleep(0)
        admitted = in_flight
        release.set()
        await asyncio.wait_for(reads, timeout=10)
    finally:
        await connection.aclose()
    assert (admitted, peak) == (limit, limit)


# EPIC_HTTP_TIMEOUT and EPIC_CONNECT_TIMEOUT -> both HTTP clients -------------------------------------------

async def test_http_and_connect_timeouts_reach_the_fhir_and_token_clients(make_settings) -> None:
    connection = EpicConnection.open(make_settings(epic_http_timeout=12.5, epic_connect_timeout=3.5))
    try:
        for client in (connection.fhir._http, connection._token_http):
            assert (client.timeout.read, client.timeout.connect) == (12.5, 3.5)
    finally:
        await connection.aclose()


async def test_a_fhir_answer_slower_than_the_http_timeout_is_a_timeout_naming_it(make_settings, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(f"{EPIC_BASE}/Patient/{PID}").mock(side_effect=httpx.ReadTimeout("slow"))
    message = error_of(await call(build_server(make_settings(epic_http_timeout=7)), "get_patient", {"id": PID}))
    assert "did not answer within 7 s" in message and "narrower search" in message


# EPIC_CALL_DEADLINE -> the whole tool call -----------------------------------------------------------------

async def test_call_deadline_ends_a_tool_call_and_names_the_setting(make_settings, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(20)
        return httpx.Response(200, json=PATIENT)

    epic.get(f"{EPIC_BASE}/Patient/{PID}").mock(side_effect=hang)
    started = time.monotonic()
    message = error_of(await call(build_server(make_settings(epic_call_deadline=1)), "get_patient", {"id": PID}))
    assert time.monotonic() - started < 8
    assert message == ("Error executing tool get_patient: no answer within 1 s (EPIC_CALL_DEADLINE): the FHIR server "
                       "or its token endpoint is slow or not answering; try again later, or narrow the search")


# EPIC_PAGE_SIZE and EPIC_MAX_PAGE_SIZE -> the searches ------------------------------------------------------

async def test_page_size_is_the_count_sent_and_max_page_size_bounds_count(make_settings, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(scope="system/Condition.read"))
    route = epic.get(f"{EPIC_BASE}/Condition").respond(200, json=searchset([]))
    server = build_server(make_settings(epic_page_size=7, epic_max_page_size=30))
    async with Client(server) as client:
        await client.call_tool("search_conditions", {"patient_id": PID})
        assert parse_qs(route.calls.last.request.url.query.decode())["_count"] == ["7"]
        await client.call_tool("search_conditions", {"patient_id": PID, "count": 30})
        assert parse_qs(route.calls.last.request.url.query.decode())["_count"] == ["30"]
        refused = await client.call_tool("search_conditions", {"patient_id": PID, "count": 31})
    assert error_of(refused) == "Error executing tool search_conditions: count must be at most 30"
    assert route.call_count == 2

