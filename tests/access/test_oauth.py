"""OAuth access tokens as an MCP resource server checks them: every asymmetric algorithm an issuer may sign with,
keys chosen by kid, what the scopes and claims grant, and how the issuer's keys are found and fetched."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

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
    assert metadata_urls("https://login.example.org") == [
        "https://login.example.org/.well-known/oauth-authorization-server",
        "https://login.example.org/.well-known/openid-configuration"]


# What a token grants ---------------------------------------------------------------------------------------

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
