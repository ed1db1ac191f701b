"""The client assertion, checked against every rule in epic-reference.md section 2."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import jwt
import pytest

from epic_mcp.auth.assertion import AssertionSigner
from epic_mcp.auth.keys import KeyRing, generate_key, write_private_key

from ..conftest import CLIENT_ID, EPIC_TOKEN_URL


def _verify(token: str, ring: KeyRing, alg: str) -> tuple[dict, dict]:
    header = jwt.get_unverified_header(token)
    jwk = next(k for k in ring.jwks()["keys"] if k["kid"] == header["kid"])
    public = jwt.PyJWK(jwk).key
    claims = jwt.decode(token, public, algorithms=[alg], audience=EPIC_TOKEN_URL)
    return header, claims


@pytest.mark.parametrize("alg", ["RS384", "RS256", "RS512", "ES384"])
def test_assertion_follows_epic_rules_and_verifies_with_the_published_jwks(tmp_path: Path, make_settings,
                                                                           alg: str) -> None:
    key_path = tmp_path / "signing.key"
    write_private_key(generate_key("ES384" if alg == "ES384" else "RS384"), key_path)
    settings = make_settings(private_key_path=str(key_path), epic_jwt_alg=alg)
    ring = KeyRing.from_settings(settings)
    before = int(time.time())
    signed = AssertionSigner(settings, ring).sign(EPIC_TOKEN_URL)
    header, claims = _verify(signed.token, ring, alg)

    assert header == {"alg": alg, "typ": "JWT", "kid": ring.active.kid}
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == EPIC_TOKEN_URL
    assert isinstance(claims["jti"], str) and len(claims["jti"]) <= 151
    uuid.UUID(claims["jti"])
    assert before < claims["exp"] <= int(time.time()) + 240
    assert claims["iat"] <= time.time() and claims["nbf"] <= time.time()
    assert claims["exp"] - claims["iat"] <= 300 and claims["exp"] - claims["nbf"] <= 300
    assert all(isinstance(claims[c], int) for c in ("exp", "iat", "nbf"))


def test_every_assertion_has_a_fresh_jti(settings) -> None:
    signer = AssertionSigner(settings, KeyRing.from_settings(settings))
    jtis = {signer.sign(EPIC_TOKEN_URL).claims["jti"] for _ in range(50)}
    assert len(jtis) == 50


def test_lifetime_is_configurable_but_never_above_300_seconds(make_settings) -> None:
    settings = make_settings(jwt_expiry_minutes=5)
    claims = AssertionSigner(settings, KeyRing.from_settings(settings)).sign(EPIC_TOKEN_URL).claims
    assert claims["exp"] - int(time.time()) <= 300


def test_jku_header_only_when_enabled(make_settings) -> None:
    url = "https://keys.example.org/epic/jwks.json"
    plain = make_settings(epic_jwks_url=url)
    assert "jku" not in AssertionSigner(plain, KeyRing.from_settings(plain)).sign(EPIC_TOKEN_URL).header
    with_jku = make_settings(epic_jwks_url=url, epic_jwt_jku=True)
    assert AssertionSigner(with_jku, KeyRing.from_settings(with_jku)).sign(EPIC_TOKEN_URL).header["jku"] == url


def test_signed_assertion_repr_hides_the_jwt(settings) -> None:
    signed = AssertionSigner(settings, KeyRing.from_settings(settings)).sign(EPIC_TOKEN_URL)
    assert signed.token not in repr(signed)
