"""OAuth access tokens as an MCP resource server checks them: every asymmetric algorithm an issuer may sign with,
keys chosen by kid, what the scopes and claims grant, and how the issuer's keys are found and fetched."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from epic_mcp.access import oauth
from epic_mcp.access.oauth import (
    FETCH_TIMEOUT_SECONDS,
    AccessTokenVerifier,
    SigningKey,
    metadata_urls,
    tools_for,
)
from epic_mcp.access.profiles import ALL_TOOLS, CLINICAL, CORE

pytestmark = pytest.mark.anyio
ISSUER, RESOURCE = "https://login.example.org/tenant-1", "https://mcp.example.org/mcp"
METADATA = "https://login.example.org/.well-known/oauth-authorization-server/tenant-1"
JWKS = "https://login.example.org/tenant-1/keys"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
CURVES = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
EC_KEYS = {alg: ec.generate_private_key(curve) for alg, curve in CURVES.items()}
ED_KEY = ed25519.Ed25519PrivateKey.generate()


def private_key(alg: str) -> Any:
    return EC_KEYS.get(alg, ED_KEY if alg == "EdDSA" else RSA_KEY)


def public_jwk(algorithm: str, **extra: Any) -> dict[str, Any]:
    key = private_key(algorithm).public_key()
    maker = ECAlgorithm if algorithm in EC_KEYS else OKPAlgorithm if algorithm == "EdDSA" else RSAAlgorithm
    return {**maker.to_jwk(key, as_dict=True), "kid": algorithm, **extra}


def token(alg: str, kid: str | None = None, **claims: Any) -> str:
    body = {"iss": ISSUER, "aud": RESOURCE, "exp": int(time.time()) + 300, "sub": "user-7", "scope": "epic-mcp",
            **claims}
    body = {name: value for name, value in body.items() if value is not None}  # None: leave the claim out
    return jwt.encode(body, private_key(alg), algorithm=alg, headers={"kid": kid or alg})


ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


@pytest.fixture
def issuer(make_settings, epic):
    """An issuer at a path (a tenant) publishing RFC 8414 metadata and one key per algorithm."""
    epic.get(METADATA).respond(200, json={"issuer": ISSUER, "jwks_uri": JWKS})
    keys = epic.get(JWKS).respond(200, json={"keys": [public_jwk(alg) for alg in ALGORITHMS]})
    return AccessTokenVerifier(make_settings(epic_mcp_oauth_issuer=ISSUER, epic_mcp_resource_url=RESOURCE)), keys


@pytest.mark.parametrize("alg", ALGORITHMS)
async def test_a_token_signed_with_any_asymmetric_algorithm_is_accepted(issuer, alg: str) -> None:
    verifier, _ = issuer
    access = await verifier.verify_token(token(alg))
    assert access is not None and access.client_id == "user-7" and access.subject == "user-7"


async def test_the_keys_are_fetched_once_with_a_timeout_and_no_redirect(issuer) -> None:
    verifier, keys = issuer
    for alg in ALGORITHMS:
        assert await verifier.verify_token(token(alg)) is not None
    assert keys.call_count == 1
    assert keys.calls.last.request.extensions["timeout"]["read"] == FETCH_TIMEOUT_SECONDS == 10
    assert keys.calls.last.request.headers["Accept"] == "application/json"


async def test_a_key_declared_for_one_algorithm_is_not_used_for_another(make_settings, epic) -> None:
    epic.get(METADATA).respond(200, json={"issuer": ISSUER, "jwks_uri": JWKS})
    epic.get(JWKS).respond(200, json={"keys": [public_jwk("RS256", alg="RS256", kid="k")]})
    verifier = AccessTokenVerifier(make_settings(epic_mcp_oauth_issuer=ISSUER, epic_mcp_resource_url=RESOURCE))
    assert await verifier.verify_token(token("RS256", kid="k")) is not None
    assert await verifier.verify_token(token("PS256", kid="k")) is None, "the key says RS256"


async def test_an_encryption_key_or_a_key_of_unknown_type_is_never_used_to_verify(make_settings, epic) -> None:
    epic.get(METADATA).respond(200, json={"issuer": ISSUER, "jwks_uri": JWKS})
    epic.get(JWKS).respond(200, json={"keys": [public_jwk("RS256", use="enc", kid="enc"),
                                               {"kty": "unknown", "kid": "odd"}, public_jwk("ES256", use="sig")]})
    verifier = AccessTokenVerifier(make_settings(epic_mcp_oauth_issuer=ISSUER, epic_mcp_resource_url=RESOURCE))
    assert await verifier.verify_token(token("RS256", kid="enc")) is None
    assert await verifier.verify_token(token("ES256")) is not None
    assert SigningKey.of({"kty": "unknown"}) is None
    assert SigningKey.of(public_jwk("RS256", use="enc")) is None


async def test_a_token_without_a_kid_uses_the_issuer_s_only_key(make_settings, epic) -> None:
    epic.get(METADATA).respond(200, json={"issuer": ISSUER, "jwks_uri": JWKS})
    epic.get(JWKS).respond(200, json={"keys": [{k: v for k, v in public_jwk("ES256").items() if k != "kid"}]})
    verifier = AccessTokenVerifier(make_settings(epic_mcp_oauth_issuer=ISSUER, epic_mcp_resource_url=RESOURCE))
    body = {"iss": ISSUER, "aud": RESOURCE, "exp": int(time.time()) + 300, "client_id": "ward", "scope": "epic-mcp"}
    assert await verifier.verify_token(jwt.encode(body, EC_KEYS["ES256"], algorithm="ES256")) is not None


async def test_the_issuer_s_keys_are_found_by_openid_discovery_too(make_settings, epic) -> None:
    epic.get(METADATA).respond(404)
    epic.get(f"{ISSUER}/.well-known/openid-configuration").respond(200, json={"issuer": ISSUER, "jwks_uri": JWKS})
    epic.get(JWKS).respond(200, json={"keys": [public_jwk("RS256")]})
    verifier = AccessTokenVerifier(make_settings(epic_mcp_oauth_issuer=ISSUER, epic_mcp_resource_url=RESOURCE))
    assert await verifier.verify_token(token("RS256")) is not None


async def test_an_issuer_without_metadata_or_keys_accepts_no_token(make_settings, epic) -> None:
    epic.get(METADATA).respond(404)
    epic.get(f"{ISSUER}/.well-known/openid-configuration").respond(404)
    verifier = AccessTokenVerifier(make_settings(epic_mcp_oauth_issuer=ISSUER, epic_mcp_resource_url=RESOURCE))
    assert await verifier.verify_token(token("RS256")) is None
    epic.get(METADATA).mock(side_effect=httpx.ConnectError("down"))
    verifier._fetched_at -= 61
    assert await verifier.verify_token(token("RS256")) is None


async def test_a_configured_jwks_url_is_used_without_discovery(make_settings, epic) -> None:
    metadata = epic.get(METADATA).respond(500)
    epic.get("https://keys.example.org/jwks").respond(200, json={"keys": [public_jwk("ES384")]})
    verifier = AccessTokenVerifier(make_settings(epic_mcp_oauth_issuer=ISSUER, epic_mcp_resource_url=RESOURCE,
                                                 epic_mcp_oauth_jwks_url="https://keys.example.org/jwks"))
    assert await verifier.verify_token(token("ES384")) is not None and not metadata.called


def test_metadata_is_looked_for_where_rfc_8414_and_openid_connect_put_it() -> None:
    assert metadata_urls(ISSUER) == [METADATA, f"{ISSUER}/.well-known/openid-configuration"]
    assert metadata_urls(ISSUER + "/") == [METADATA, f"{ISSUER}/.well-known/openid-configuration"], \
        "a terminating slash is removed before the well-known names (RFC 8414, OpenID Connect Discovery 4)"
    assert metadata_urls("https://login.example.org") == [
        "https://login.example.org/.well-known/oauth-authorization-server",
        "https://login.example.org/.well-known/openid-configuration"]


async def test_the_metadata_is_asked_for_as_json_and_a_redirect_is_not_followed(make_settings, epic) -> None:
    metadata = epic.get(METADATA).respond(302, headers={"Location": "https://evil.example.org/metadata"})
    oidc = epic.get(f"{ISSUER}/.well-known/openid-configuration").respond(200, json={"issuer": ISSUER,
                                                                                     "jwks_uri": JWKS})
    evil = epic.get("https://evil.example.org/metadata").respond(200, json={"issuer": ISSUER, "jwks_uri": JWKS})
    epic.get(JWKS).respond(200, json={"keys": [public_jwk("RS256")]})
    verifier = AccessTokenVerifier(make_settings(epic_mcp_oauth_issuer=ISSUER, epic_mcp_resource_url=RESOURCE))
    assert await verifier.verify_token(token("RS256")) is not None
    assert not evil.called, "the redirect was not followed: OpenID discovery was asked next"
    assert metadata.calls.last.request.headers["Accept"] == "application/json"
    assert oidc.calls.last.request.headers["Accept"] == "application/json"


async def test_keys_behind_a_redirect_are_not_taken(make_settings, epic) -> None:
    epic.get(METADATA).respond(200, json={"issuer": ISSUER, "jwks_uri": JWKS})
    epic.get(JWKS).respond(301, headers={"Location": "https://evil.example.org/keys"})
    evil = epic.get("https://evil.example.org/keys").respond(200, json={"keys": [public_jwk("RS256")]})
    verifier = AccessTokenVerifier(make_settings(epic_mcp_oauth_issuer=ISSUER, epic_mcp_resource_url=RESOURCE))
    assert await verifier.verify_token(token("RS256")) is None and not evil.called


# When the keys are fetched again ------------------------------------------------------------------------------

@pytest.fixture
def clock(monkeypatch) -> list[float]:
    """The verifier's monotonic clock (the module's own name for it: the event loop keeps the real one)."""
    now = [5000.0]
    monkeypatch.setattr(oauth, "time", SimpleNamespace(monotonic=lambda: now[0]))
    return now


async def test_a_known_key_needs_no_fetch_and_an_unknown_one_a_fetch_a_minute_after_the_last(issuer, clock) -> None:
    verifier, keys = issuer
    assert await verifier.verify_token(token("RS256")) is not None
    clock[0] += 600
    assert await verifier.verify_token(token("RS256")) is not None
    assert keys.call_count == 1, "a known kid is used however old the keys are"
    clock[0] += 1
    await verifier.verify_token(token("RS256", kid="rotated"))
    assert keys.call_count == 2
    clock[0] += 60
    await verifier.verify_token(token("RS256", kid="rotated"))
    assert keys.call_count == 2, "not again within a minute (60 s is not more than a minute)"
    clock[0] += 0.5
    await verifier.verify_token(token("RS256", kid="rotated"))
    assert keys.call_count == 3


async def test_a_token_without_kid_is_refused_when_the_issuer_has_several_keys(issuer) -> None:
    verifier, _ = issuer
    body = {"iss": ISSUER, "aud": RESOURCE, "exp": int(time.time()) + 300, "sub": "s", "scope": "epic-mcp"}
    assert await verifier.verify_token(jwt.encode(body, RSA_KEY, algorithm="RS256")) is None


async def test_a_token_naming_another_kid_is_refused_even_when_the_issuer_has_one_key(make_settings, epic) -> None:
    epic.get(METADATA).respond(200, json={"issuer": ISSUER, "jwks_uri": JWKS})
    epic.get(JWKS).respond(200, json={"keys": [public_jwk("RS256")]})
    verifier = AccessTokenVerifier(make_settings(epic_mcp_oauth_issuer=ISSUER, epic_mcp_resource_url=RESOURCE))
    assert await verifier.verify_token(token("RS256", kid="someone-else")) is None


# What a token grants ---------------------------------------------------------------------------------------

async def test_the_clock_skew_allowed_is_added_to_the_expiry(make_settings, epic) -> None:
    epic.get(METADATA).respond(200, json={"issuer": ISSUER, "jwks_uri": JWKS})
    epic.get(JWKS).respond(200, json={"keys": [public_jwk("ES256")]})
    verifier = AccessTokenVerifier(make_settings(epic_mcp_oauth_issuer=ISSUER, epic_mcp_resource_url=RESOURCE,
                                                 epic_mcp_oauth_leeway_seconds=120))
    expired = int(time.time()) - 60
    access = await verifier.verify_token(token("ES256", exp=expired))
    assert access is not None and access.expires_at == expired + 120
    assert await verifier.verify_token(token("ES256", exp=int(time.time()) - 200)) is None


async def test_a_client_is_named_by_client_id_azp_or_sub_and_the_name_is_cut_to_128(issuer) -> None:
    verifier, _ = issuer
    unnamed = await verifier.verify_token(token("RS256", sub=None))
    assert unnamed is not None and unnamed.client_id == "unnamed" and unnamed.subject is None
    long = await verifier.verify_token(token("RS256", client_id="c" * 200))
    assert long is not None and long.client_id == "c" * 128
    assert long.claims == {"iss": ISSUER}, "the issuer is kept for the audit log; no other claim"


@pytest.mark.parametrize("scope", [42, {"a": 1}, None])
async def test_a_scope_claim_that_is_no_text_or_list_grants_nothing(issuer, scope) -> None:
    verifier, _ = issuer
    access = await verifier.verify_token(token("RS256", scope=scope, scp=None if scope is not None else 7))
    assert access is not None and access.scopes == [] and access.tools == frozenset()


async def test_the_claims_name_the_client_its_tools_and_its_patients(issuer) -> None:
    verifier, _ = issuer
    access = await verifier.verify_token(token("RS256", client_id="ward-app", azp="other", scope="epic-mcp:clinical",
                                               patients="p1 p2"))
    assert access is not None and access.client_id == "ward-app" and access.tools == frozenset(CLINICAL)
    assert access.patients == {"p1", "p2"} and access.scopes == ["epic-mcp:clinical"]
    assert access.expires_at is not None and access.resource == RESOURCE
    by_azp = await verifier.verify_token(token("RS256", azp="portal", scp=["epic-mcp", "openid"], scope=None))
    assert by_azp is not None and by_azp.client_id == "portal" and by_azp.tools is None
    assert by_azp.scopes == ["epic-mcp", "openid"] and by_azp.patients is None


@pytest.mark.parametrize(("scopes", "claim", "tools"), [
    (["epic-mcp"], None, None),
    (["epic-mcp:core"], None, frozenset(CORE)),
    (["epic-mcp:all"], None, frozenset(ALL_TOOLS)),
    (["epic-mcp:tool:get_patient", "epic-mcp:tool:no_such_tool"], None, {"get_patient"}),
    (["epic-mcp"], ["core", "get_coverage"], frozenset(CORE) | {"get_coverage"}),
    (["openid"], "search_observations get_patient", {"search_observations", "get_patient"}),
    (["openid", "profile"], None, frozenset()),
    (["epic-mcp"], 42, frozenset()),
    (["epic-mcp"], [], frozenset()),
    (["epic-mcp"], "typo", frozenset()),
])
def test_scopes_and_the_tools_claim_grant_the_union_of_what_they_name(scopes, claim, tools) -> None:
    """A tools claim that names nothing usable (a typo, an empty list, a number) grants nothing: it never widens
    to every tool."""
    assert tools_for(scopes, claim) == tools
