"""The private_key_jwt client assertion, exactly as Epic and SMART Backend Services specify it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..settings import Settings
from .keys import KeyRing

# iat/nbf are backdated so a server whose clock is a little behind ours still accepts them.
CLOCK_SKEW_SECONDS = 5


@dataclass(frozen=True)
class SignedAssertion:
    """A signed assertion; the compact JWT is a short-lived credential and stays out of repr."""

    header: dict[str, Any]
    claims: dict[str, Any]
    token: str = field(repr=False)


class AssertionSigner:
    """Signs assertions with the key ring's active key for one client id."""

    def __init__(self, settings: Settings, keys: KeyRing, clock: Callable[[], float] = time.time) -> None:
        self._client_id = settings.require_client_id()
        self._alg = keys.algorithm
        self._lifetime = settings.assertion_lifetime_seconds
        self._jku = settings.epic_jwks_url if settings.epic_jwt_jku else None
        self._keys = keys
        self._clock = clock

    @property
    def kid(self) -> str:
        return self._keys.active.kid

    def sign(self, audience: str) -> SignedAssertion:
        """An assertion for the token endpoint at `audience` (the exact URL it is posted to)."""
        now = int(self._clock())
        header: dict[str, Any] = {"alg": self._alg, "typ": "JWT", "kid": self._keys.active.kid}
        if self._jku:
            header["jku"] = self._jku
        claims = {
            "iss": self._client_id,
            "sub": self._client_id,
            "aud": audience,
            "jti": str(uuid.uuid4()),
            "exp": now + self._lifetime,
            "iat": now - CLOCK_SKEW_SECONDS,
            "nbf": now - CLOCK_SKEW_SECONDS,
        }
        import jwt  # here, not at import: PyJWT pulls in cryptography's x509, which tools/list never needs

        key = self._keys.active.checked_private_key()
        token = jwt.encode(claims, key, algorithm=self._alg, headers=header)
        return SignedAssertion(header=header, claims=claims, token=token)
