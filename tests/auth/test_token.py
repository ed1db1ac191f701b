"""Token manager and auth flow: Epic's token exchange, one shared cache, refresh once on 401."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
import respx

from epic_mcp.auth.assertion import AssertionSigner
from epic_mcp.auth.keys import KeyRing
from epic_mcp.auth.token import BearerAuth, TokenManager
from epic_mcp.errors import FhirError, FhirErrorKind, InvalidClientError, TokenError
from epic_mcp.settings import Settings

from ..conftest import ACCESS_TOKEN, CLIENT_ID, EPIC_BASE, EPIC_TOKEN_URL, token_body

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


# Every message a token failure can give: the whole text, which names the cause and the fix ----------------

async def token_failure(settings, epic, response: httpx.Response) -> str:
    epic.post(EPIC_TOKEN_URL).mock(return_value=response)
    with pytest.raises(TokenError) as raised:
        await manager(settings).get_token()
    return str(raised.value)


def invalid_client_causes(kid: str, jwks: str, env: str) -> str:
    return ("the token endpoint rejected our client assertion (invalid_client). Likely causes: (1) the app or its "
            "keys changed recently and Epic has not synced yet (30 minutes to several hours after registration or a "
            f"key change); (2) kid {kid} is not in the JWKS hosted at {jwks} (compare with `epic-mcp jwks`); (3) aud "
            f"{EPIC_TOKEN_URL} is not the exact token URL the server expects (set EPIC_TOKEN_URL); (4) this "
            "machine's clock is ahead of the server's (exp must be at most 5 minutes after its time); (5) a "
            f"production client id used against the sandbox or the reverse (EPIC_ENV={env})")


async def test_invalid_client_lists_every_cause_in_order(settings, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(400, json={"error": "invalid_client", "error_description": "Client auth failed"})
    tokens = manager(settings)
    with pytest.raises(InvalidClientError) as raised:
        await tokens.get_token()
    assert str(raised.value) == (invalid_client_causes(tokens._signer.kid, "your registered JWKS URL", "sandbox")
                                 + ". The server said: Client auth failed")


async def test_invalid_client_with_an_ec_key_adds_the_jku_cause(tmp_path, make_settings, epic) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from epic_mcp.auth.keys import write_private_key

    path = tmp_path / "ec.key"
    write_private_key(ec.generate_private_key(ec.SECP384R1()), path)
    settings = make_settings(private_key_path=str(path), epic_jwt_alg="ES384",
                             epic_jwks_url="https://keys.example.org/jwks.json")
    epic.post(EPIC_TOKEN_URL).respond(401, json={"error": "invalid_client"})
    tokens = manager(settings)
    with pytest.raises(InvalidClientError) as raised:
        await tokens.get_token()
    assert str(raised.value) == (invalid_client_causes(tokens._signer.kid, "https://keys.example.org/jwks.json",
                                                       "sandbox")
                                 + "; (6) ES384 keys are only accepted with a registered JWKS URL (JKU).")


@pytest.mark.parametrize(("body", "message"), [
    ({"error": "invalid_scope", "error_description": "system/Foo.read"},
     "the token endpoint refused the requested scopes (invalid_scope); check EPIC_SCOPES against the APIs registered "
     "on the app. The server said: system/Foo.read"),
    ({"error": "invalid_scope"}, "the token endpoint refused the requested scopes (invalid_scope); check EPIC_SCOPES "
     "against the APIs registered on the app."),
    ({"error": "unsupported_grant_type", "error_description": ""},
     "the token endpoint refused the request: HTTP 400 unsupported_grant_type."),
    ({}, "the token endpoint refused the request: HTTP 400 unknown_error."),
    ({"error": "e" * 100, "error_description": "d" * 300},
     f"the token endpoint refused the request: HTTP 400 {'e' * 60}. The server said: {'d' * 200}"),
])
async def test_a_refused_token_request_says_what_the_server_said(settings, epic, body, message) -> None:
    assert await token_failure(settings, epic, httpx.Response(400, json=body)) == message


@pytest.mark.parametrize(("body", "message"), [
    ({"token_type": "bearer"}, "the token endpoint answered without an access_token"),
    (token_body(access_token=""), "the token endpoint answered without an access_token"),
    (token_body(access_token=42), "the token endpoint answered without an access_token"),
    (token_body(token_type="mac"), "the token endpoint gave token_type 'mac'; only bearer is supported"),
    (token_body(token_type="x" * 40), f"the token endpoint gave token_type '{'x' * 20}'; only bearer is supported"),
    (token_body(token_type=None), "the token endpoint gave token_type 'None'; only bearer is supported"),
])
async def test_an_unusable_token_answer_says_what_is_wrong(settings, epic, body, message) -> None:
    assert await token_failure(settings, epic, httpx.Response(200, json=body)) == message


async def test_an_answer_that_is_not_json_names_the_status(settings, epic) -> None:
    message = await token_failure(settings, epic, httpx.Response(402, text="<html>"))
    assert message == "the token endpoint answered HTTP 402 with a body that is not JSON"
    message = await token_failure(settings, epic, httpx.Response(200, json=["not", "an", "object"]))
    assert message == "the token endpoint answered HTTP 200 with a body that is not JSON"


@pytest.mark.parametrize(("expires_in", "lifetime"), [
    (1, 1), (59.9, 59), (7200, 7200), (0, 300), (-5, 300), (True, 300), ("3600", 300), (None, 300)])
async def test_the_token_lifetime_is_the_servers_when_usable_else_five_minutes(settings, epic, expires_in,
                                                                              lifetime) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(expires_in=expires_in))
    clock = Clock()
    token = await manager(settings, clock).get_token()
    assert (token.lifetime, token.expires_at) == (lifetime, clock.now + lifetime)


async def test_status_says_whether_a_token_is_cached_and_for_how_long(settings, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(expires_in=600))
    clock = Clock()
    tokens = manager(settings, clock)
    assert tokens.status() == {"token_cached": False, "token_requests": 0}
    assert tokens.last_assertion is None, "no assertion for doctor to show before the first exchange"
    await tokens.get_token()
    clock.now += 100.5
    assert tokens.status() == {"token_cached": True, "token_requests": 1, "expires_in_seconds": 499,
                               "granted_scopes": ["system/Patient.read", "system/Observation.read"]}
    clock.now += 1000
    assert tokens.status()["expires_in_seconds"] == 0


@pytest.mark.parametrize(("failure", "message"), [
    (httpx.ConnectError("refused"), "the token endpoint could not connect (ConnectError) after 4 attempts"),
    (httpx.ReadTimeout("slow"), "the token endpoint timed out after 4 attempts"),
    (httpx.ConnectTimeout("slow"), "the token endpoint timed out after 4 attempts"),
    (httpx.Response(503), "the token endpoint is unavailable (HTTP 503) after 4 attempts; try again later"),
])
async def test_an_unreachable_token_endpoint_says_how_it_failed(settings, epic, failure, message) -> None:
    if isinstance(failure, httpx.Response):
        epic.post(EPIC_TOKEN_URL).mock(return_value=failure)
    else:
        epic.post(EPIC_TOKEN_URL).mock(side_effect=failure)
    tokens = manager(settings)
    with pytest.raises(TokenError) as first:
        await tokens.get_token()
    assert str(first.value) == message
    with pytest.raises(TokenError) as again:
        await tokens.get_token()
    assert str(again.value) == message and again.value is not first.value, "the back-off repeats the message"


async def test_smart_discovery_asks_for_json_and_names_itself_when_unreachable(make_settings, epic) -> None:
    base = "https://smart.example.org/fhir/r4"
    discovery = epic.get(f"{base}/.well-known/smart-configuration").mock(side_effect=httpx.ConnectError("down"))
    with pytest.raises(TokenError) as raised:
        await manager(make_settings(epic_env="custom", epic_fhir_base_url=base)).get_token()
    assert str(raised.value) == "SMART discovery could not connect (ConnectError) after 4 attempts"
    assert discovery.calls.last.request.headers["accept"] == "application/json"
    assert discovery.calls.last.request.method == "GET"


async def test_a_discovered_token_endpoint_is_checked_like_a_setting(make_settings, epic) -> None:
    base = "https://smart.example.org/fhir"
    epic.get(f"{base}/.well-known/smart-configuration").respond(200, json={"token_endpoint": "http://smart.example.org/t"})
    with pytest.raises(TokenError) as raised:
        await manager(make_settings(epic_env="custom", epic_fhir_base_url=base)).get_token()
    assert str(raised.value) == (
        f"SMART discovery at {base}/.well-known/smart-configuration gave no usable token_endpoint (token_endpoint "
        "(discovered): plain http to smart.example.org would expose tokens and patient data; use https (http is only "
        "allowed for 127.0.0.1/localhost)); set EPIC_TOKEN_URL")


async def test_the_token_is_refused_outside_the_base_with_a_refused_error(settings, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    client = httpx.AsyncClient(auth=BearerAuth(manager(settings), EPIC_BASE))
    with pytest.raises(FhirError) as raised:
        await client.get("https://evil.example.org/steal")
    assert str(raised.value) == "refused to send the access token outside the FHIR base URL"
    assert raised.value.kind is FhirErrorKind.REFUSED


# Sharing one token, and one failure, between callers ---------------------------------------------------------

async def test_a_caller_holding_the_old_token_gets_the_one_another_caller_just_renewed(settings, epic) -> None:
    route = epic.post(EPIC_TOKEN_URL).mock(side_effect=[httpx.Response(200, json=token_body(access_token=f"tok-{i}"))
                                                        for i in range(1, 4)])
    tokens = manager(settings)
    old = await tokens.get_token()
    renewed = await tokens.refresh(stale=old)
    assert renewed.value == "tok-2"
    assert await tokens.refresh(stale=old) is renewed, "a second 401 with the old token reuses the renewed one"
    assert await tokens.get_token() is renewed
    assert route.call_count == 2
    assert tokens.status()["token_requests"] == 2


async def test_a_token_exchange_past_the_deadline_is_repeated_at_once_then_retried(make_settings, epic) -> None:
    attempts: list[int] = []

    async def first_hangs(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        if len(attempts) == 1:
            await asyncio.sleep(30)
        return httpx.Response(200, json=token_body())

    epic.post(EPIC_TOKEN_URL).mock(side_effect=first_hangs)
    clock = Clock()
    tokens = manager(make_settings(epic_call_deadline=1), clock)
    message = ("the token endpoint gave no token within 1 s (EPIC_CALL_DEADLINE); it is slow or unreachable: run "
               "`epic-mcp doctor`, or try again later")
    for _ in range(2):
        with pytest.raises(TokenError) as raised:
            await asyncio.wait_for(tokens.get_token(), 5)
        assert str(raised.value) == message
    assert len(attempts) == 1, "the failure is repeated during the back-off, not tried again"
    clock.now += 5.0  # exactly the back-off later
    assert (await tokens.get_token()).value == ACCESS_TOKEN
    assert len(attempts) == 2


async def test_a_token_answer_without_scopes_grants_none(settings, epic) -> None:
    for scope in (None, ["system/Patient.read"], 7):
        epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(scope=scope))
        assert (await manager(settings).get_token()).scopes == ()


def test_the_bearer_token_is_never_attached_by_a_synchronous_client(settings) -> None:
    client = httpx.Client(auth=BearerAuth(manager(settings), EPIC_BASE))
    with pytest.raises(RuntimeError) as raised:
        client.get(f"{EPIC_BASE}/Patient/e1")
    assert str(raised.value) == "BearerAuth works with httpx.AsyncClient only"


async def test_a_failed_exchange_nobody_waits_for_any_more_leaves_no_never_retrieved_noise(settings, epic,
                                                                                            caplog) -> None:
    import gc

    async def fails_late(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.05)
        return httpx.Response(400, json={"error": "invalid_client"})

    epic.post(EPIC_TOKEN_URL).mock(side_effect=fails_late)
    tokens = manager(settings)
    waiter = asyncio.ensure_future(tokens.get_token())
    await asyncio.sleep(0.01)
    waiter.cancel()
    await asyncio.sleep(0.15)
    gc.collect()
    await asyncio.sleep(0)
    assert "never retrieved" not in caplog.text
