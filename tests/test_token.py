"""Token manager and auth flow: Epic's token exchange, one shared cache, refresh once on 401."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
import respx

from epic_mcp.assertion import AssertionSigner
from epic_mcp.errors import FhirError, InvalidClientError, TokenError
from epic_mcp.keys import KeyRing
from epic_mcp.settings import Settings
from epic_mcp.token import BearerAuth, TokenManager

from .conftest import ACCESS_TOKEN, CLIENT_ID, EPIC_BASE, EPIC_TOKEN_URL, token_body

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def manager(settings: Settings, clock: Clock | None = None) -> TokenManager:
    signer = AssertionSigner(settings, KeyRing.from_settings(settings))
    return TokenManager(settings, signer, httpx.AsyncClient(), retry_delays=(0, 0, 0), clock=clock or Clock())


async def test_token_request_is_form_encoded_client_credentials(settings, epic: respx.MockRouter) -> None:
    route = epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    token = await manager(settings).get_token()
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert jwt.decode(form["client_assertion"], options={"verify_signature": False})["aud"] == EPIC_TOKEN_URL
    assert "scope" not in form
    assert token.value == ACCESS_TOKEN
    assert token.scopes == ("system/Patient.read", "system/Observation.read")


async def test_scope_is_sent_when_configured(make_settings, epic: respx.MockRouter) -> None:
    route = epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    await manager(make_settings(epic_scopes="system/Patient.read")).get_token()
    assert parse_qs(route.calls.last.request.content.decode())["scope"] == ["system/Patient.read"]


async def test_token_is_cached_until_shortly_before_expiry(settings, epic: respx.MockRouter) -> None:
    route = epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(expires_in=3600))
    clock = Clock()
    tokens = manager(settings, clock)
    first = await tokens.get_token()
    clock.now += 3000
    assert await tokens.get_token() is first
    clock.now += 560  # within the refresh margin before expiry
    assert await tokens.get_token() is not first
    assert route.call_count == 2


async def test_concurrent_callers_on_an_empty_cache_cause_one_token_request(settings, epic) -> None:
    async def slow_token(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.05)
        return httpx.Response(200, json=token_body())

    route = epic.post(EPIC_TOKEN_URL).mock(side_effect=slow_token)
    tokens = manager(settings)
    results = await asyncio.gather(*(tokens.get_token() for _ in range(25)))
    assert route.call_count == 1
    assert len({id(t) for t in results}) == 1


async def test_token_type_is_compared_case_insensitively(settings, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(token_type="Bearer"))
    assert (await manager(settings).get_token()).value == ACCESS_TOKEN


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(200, json=token_body(token_type="mac")), "only bearer"),
        (httpx.Response(200, json={"token_type": "bearer"}), "without an access_token"),
        (httpx.Response(200, text="<html>gateway</html>"), "not JSON"),
        (httpx.Response(400, json={"error": "invalid_scope", "error_description": None}), "invalid_scope"),
        (httpx.Response(400, json={"error": "unsupported_grant_type"}), "unsupported_grant_type"),
    ],
)
async def test_bad_token_responses_are_clear_errors(settings, epic, response, message) -> None:
    epic.post(EPIC_TOKEN_URL).mock(return_value=response)
    with pytest.raises(TokenError, match=message):
        await manager(settings).get_token()


async def test_missing_expires_in_assumes_a_short_lifetime(settings, epic) -> None:
    body = token_body()
    del body["expires_in"]
    epic.post(EPIC_TOKEN_URL).respond(200, json=body)
    assert (await manager(settings).get_token()).lifetime == 300


async def test_invalid_client_explains_the_likely_causes(settings, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(400, json={"error": "invalid_client", "error_description": None})
    tokens = manager(settings)
    with pytest.raises(InvalidClientError) as raised:
        await tokens.get_token()
    message = str(raised.value)
    assert "invalid_client" in message
    for cause in ("not synced yet", tokens._signer.kid, EPIC_TOKEN_URL, "clock", "production client id"):
        assert cause in message
    assert ACCESS_TOKEN not in message and "BEGIN" not in message


async def test_token_endpoint_5xx_is_retried_with_a_fresh_assertion(settings, epic) -> None:
    route = epic.post(EPIC_TOKEN_URL).mock(side_effect=[httpx.Response(503), httpx.Response(502),
                                                        httpx.Response(200, json=token_body())])
    assert (await manager(settings).get_token()).value == ACCESS_TOKEN
    jtis = {jwt.decode(parse_qs(c.request.content.decode())["client_assertion"][0],
                       options={"verify_signature": False})["jti"] for c in route.calls}
    assert route.call_count == 3 and len(jtis) == 3


async def test_retries_are_bounded(settings, epic) -> None:
    route = epic.post(EPIC_TOKEN_URL).respond(500)
    with pytest.raises(TokenError, match=r"unavailable \(HTTP 500\) after 4 attempts"):
        await manager(settings).get_token()
    assert route.call_count == 4


async def test_network_errors_are_retried_then_reported(settings, epic) -> None:
    epic.post(EPIC_TOKEN_URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TokenError, match="could not connect .* after 4 attempts"):
        await manager(settings).get_token()
    epic.post(EPIC_TOKEN_URL).mock(side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200, json=token_body())])
    assert (await manager(settings).get_token()).value == ACCESS_TOKEN


async def test_token_url_is_discovered_from_smart_configuration(make_settings, epic) -> None:
    base = "https://smart.example.org/fhir/r4"
    discovery = epic.get(f"{base}/.well-known/smart-configuration").mock(side_effect=[
        httpx.Response(503),
        httpx.Response(200, json={"token_endpoint": "https://smart.example.org/auth/token",
                                  "token_endpoint_auth_methods_supported": ["private_key_jwt"]}),
    ])
    token = epic.post("https://smart.example.org/auth/token").respond(200, json=token_body())
    tokens = manager(make_settings(epic_env="custom", epic_fhir_base_url=base))
    await tokens.get_token()
    await tokens.refresh(stale=tokens.cached)
    assert discovery.call_count == 2  # one 503, one success; then cached
    aud = jwt.decode(parse_qs(token.calls.last.request.content.decode())["client_assertion"][0],
                     options={"verify_signature": False})["aud"]
    assert aud == "https://smart.example.org/auth/token"


async def test_discovered_plain_http_token_endpoint_is_refused(make_settings, epic) -> None:
    base = "https://smart.example.org/fhir"
    epic.get(f"{base}/.well-known/smart-configuration").respond(
        200, json={"token_endpoint": "http://smart.example.org/token"})
    with pytest.raises(TokenError, match="plain http"):
        await manager(make_settings(epic_env="custom", epic_fhir_base_url=base)).get_token()


async def _fhir_client(tokens: TokenManager) -> httpx.AsyncClient:
    return httpx.AsyncClient(auth=BearerAuth(tokens, EPIC_BASE))


async def test_401_refreshes_once_and_retries_once(settings, epic) -> None:
    token_route = epic.post(EPIC_TOKEN_URL).mock(side_effect=[
        httpx.Response(200, json=token_body(access_token="first")),
        httpx.Response(200, json=token_body(access_token="second")),
    ])
    patient = epic.get(f"{EPIC_BASE}/Patient/abc").mock(side_effect=[
        httpx.Response(401), httpx.Response(200, json={"resourceType": "Patient", "id": "abc"})])
    client = await _fhir_client(manager(settings))
    response = await client.get(f"{EPIC_BASE}/Patient/abc")
    assert response.status_code == 200
    assert [c.request.headers["authorization"] for c in patient.calls] == ["Bearer first", "Bearer second"]
    assert token_route.call_count == 2


async def test_a_second_401_is_returned_not_looped(settings, epic) -> None:
    token_route = epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    patient = epic.get(f"{EPIC_BASE}/Patient/abc").respond(401)
    client = await _fhir_client(manager(settings))
    assert (await client.get(f"{EPIC_BASE}/Patient/abc")).status_code == 401
    assert patient.call_count == 2 and token_route.call_count == 2


async def test_concurrent_401s_share_one_refresh(settings, epic) -> None:
    token_route = epic.post(EPIC_TOKEN_URL).mock(side_effect=[
        httpx.Response(200, json=token_body(access_token="old")),
        httpx.Response(200, json=token_body(access_token="new")),
    ])

    def reply(request: httpx.Request) -> httpx.Response:
        ok = request.headers["authorization"] == "Bearer new"
        return httpx.Response(200 if ok else 401, json={"resourceType": "Patient", "id": "abc"})

    epic.get(f"{EPIC_BASE}/Patient/abc").mock(side_effect=reply)
    tokens = manager(settings)
    await tokens.get_token()
    client = await _fhir_client(tokens)
    responses = await asyncio.gather(*(client.get(f"{EPIC_BASE}/Patient/abc") for _ in range(10)))
    assert {r.status_code for r in responses} == {200}
    assert token_route.call_count == 2


@pytest.mark.parametrize("url", [
    "https://evil.example.org/interconnect-fhir-oauth/api/FHIR/R4/Patient",
    "https://fhir.epic.com:8443/interconnect-fhir-oauth/api/FHIR/R4/Patient",
    "http://fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4/Patient",
    "https://user@fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4/Patient",
    "https://fhir.epic.com/interconnect-fhir-oauth/oauth2/token",
])
async def test_token_is_never_sent_outside_the_fhir_base(settings, epic, url: str) -> None:
    token_route = epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    client = await _fhir_client(manager(settings))
    with pytest.raises(FhirError, match="outside the FHIR base"):
        await client.get(url)
    assert token_route.call_count == 0
    assert all(call.request.url.host != "evil.example.org" for call in epic.calls)


async def test_token_value_is_not_in_repr_or_status(settings, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    tokens = manager(settings)
    token = await tokens.get_token()
    assert ACCESS_TOKEN not in repr(token)
    assert ACCESS_TOKEN not in str(tokens.status())
    assert tokens.status()["granted_scopes"] == ["system/Patient.read", "system/Observation.read"]
    assert tokens.last_assertion.claims["iss"] == CLIENT_ID


# Shared failures ----------------------------------------------------------------------------------------------

async def test_concurrent_waiters_share_one_failed_exchange(settings, epic) -> None:
    async def failing(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.2)
        return httpx.Response(400, json={"error": "invalid_client", "error_description": None})

    route = epic.post(EPIC_TOKEN_URL).mock(side_effect=failing)
    tokens = manager(settings)
    outcomes = await asyncio.gather(*(tokens.get_token() for _ in range(5)), return_exceptions=True)
    assert all(isinstance(o, InvalidClientError) for o in outcomes)
    assert len({str(o) for o in outcomes}) == 1, "every waiter gets the same failure"
    assert route.call_count == 1, "one exchange for all waiters, not one each"


async def test_a_failure_is_repeated_at_once_during_the_back_off_then_retried(settings, epic) -> None:
    route = epic.post(EPIC_TOKEN_URL).mock(side_effect=[
        httpx.Response(400, json={"error": "invalid_client"}), httpx.Response(200, json=token_body())])
    clock = Clock()
    tokens = manager(settings, clock)
    with pytest.raises(InvalidClientError):
        await tokens.get_token()
    clock.now += 4.0
    with pytest.raises(InvalidClientError):
        await tokens.get_token()
    assert route.call_count == 1, "no new attempt within the back-off"
    clock.now += 1.5
    assert (await tokens.get_token()).value == ACCESS_TOKEN
    assert route.call_count == 2


async def test_a_token_exchange_longer_than_the_call_deadline_fails_with_the_deadline(make_settings, epic) -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200, json=token_body())

    epic.post(EPIC_TOKEN_URL).mock(side_effect=hang)
    tokens = manager(make_settings(epic_call_deadline=1))
    with pytest.raises(TokenError, match=r"no token within 1 s \(EPIC_CALL_DEADLINE\)"):
        await asyncio.wait_for(tokens.get_token(), 5)


async def test_a_waiter_that_gives_up_does_not_cancel_the_exchange_others_wait_for(settings, epic) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.3)
        return httpx.Response(200, json=token_body())

    route = epic.post(EPIC_TOKEN_URL).mock(side_effect=slow)
    tokens = manager(settings)
    impatient = asyncio.ensure_future(tokens.get_token())
    patient = asyncio.ensure_future(tokens.get_token())
    await asyncio.sleep(0.05)
    impatient.cancel()
    assert (await patient).value == ACCESS_TOKEN and route.call_count == 1


async def test_tokens_and_assertions_are_remembered_for_redaction(settings, epic) -> None:
    from epic_mcp.redaction import redact

    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(access_token="opaque-token-without-shape-1234"))
    tokens = manager(settings)
    await tokens.get_token()
    assert tokens.last_assertion is not None
    said = f"server echo: opaque-token-without-shape-1234 and {tokens.last_assertion.token}"
    assert redact(said) == "server echo: [redacted] and [redacted]"


@pytest.mark.parametrize("status", [404, 401, 302])
async def test_smart_discovery_that_does_not_answer_200_names_the_fix(make_settings, epic, status: int) -> None:
    base = "https://smart.example.org/fhir/r4"
    discovery = epic.get(f"{base}/.well-known/smart-configuration").respond(status, json={})
    token = epic.post(url__regex=r".*").respond(200, json=token_body())
    tokens = manager(make_settings(epic_env="custom", epic_fhir_base_url=base))
    with pytest.raises(TokenError) as refused:
        await tokens.get_token()
    assert str(refused.value) == (f"SMART discovery at {base}/.well-known/smart-configuration answered HTTP "
                                  f"{status}; set EPIC_TOKEN_URL explicitly")
    assert discovery.call_count == 1 and token.call_count == 0


@pytest.mark.parametrize(("body", "detail"), [
    ({"issuer": "x"}, "no token_endpoint"), ([], "no token_endpoint"), ({"token_endpoint": "not a url"}, None)])
async def test_smart_discovery_without_a_usable_token_endpoint_names_the_fix(make_settings, epic, body,
                                                                            detail) -> None:
    base = "https://smart.example.org/fhir/r4"
    epic.get(f"{base}/.well-known/smart-configuration").respond(200, json=body)
    with pytest.raises(TokenError) as refused:
        await manager(make_settings(epic_env="custom", epic_fhir_base_url=base)).get_token()
    message = str(refused.value)
    assert message.startswith(f"SMART discovery at {base}/.well-known/smart-configuration gave no usable "
                              "token_endpoint (") and message.endswith("); set EPIC_TOKEN_URL")
    if detail:
        assert f"({detail})" in message
