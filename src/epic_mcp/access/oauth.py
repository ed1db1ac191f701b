"""The resource-server role of the MCP authorization spec: OAuth access tokens (JWT) from an external
authorization server (EPIC_MCP_OAUTH_ISSUER).

A token is accepted when its signature verifies with a key from the issuer's JWKS, `iss` is the issuer, `aud`
names this MCP endpoint (EPIC_MCP_RESOURCE_URL, RFC 8707), and it has not expired. The Protected Resource
Metadata (RFC 9728) that tells clients where to get a token is served by the SDK's handler, and offers one
scope, `epic-mcp`: MCP clients ask for what the metadata lists, so per-client differences come from the
authorization server's policy, through what it puts in the token:

- tools: `epic-mcp:core`, `epic-mcp:clinical`, `epic-mcp:all` and `epic-mcp:tool:<name>` scopes, and the
  tools claim (EPIC_MCP_OAUTH_TOOLS_CLAIM: profile or tool names, a list or space-separated); the union of
  what they name. With none of them, scope `epic-mcp` alone means every tool the server offers; a token with
  neither grants no tool (403 insufficient_scope).
- patients: the patients claim (EPIC_MCP_OAUTH_PATIENTS_CLAIM), when present, limits the client to those ids.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from ..fhir.connection import tls_context
from ..settings import Settings, check_url
from .principal import ClientAccess
from .profiles import ALL_TOOLS, PROFILES

logger = logging.getLogger(__name__)

BASE_SCOPE = "epic-mcp"
SCOPE_PREFIX = "epic-mcp:"
TOOL_SCOPE_PREFIX = "epic-mcp:tool:"
# Asymmetric algorithms only: a shared-secret (HS*) or unsigned token could be minted by anyone holding the
# public JWKS.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
KEY_REFRESH_SECONDS = 60
FETCH_TIMEOUT_SECONDS = 10


def _tools_named(names: Iterable[str]) -> set[str]:
    """Profile names and tool names, as the tools they stand for; other names are ignored."""
    tools: set[str] = set()
    for name in names:
        if name in PROFILES:
            tools.update(PROFILES[name])
        elif name in ALL_TOOLS:
            tools.add(name)
    return tools


def tools_for(scopes: Iterable[str], tools_claim: Any = None) -> frozenset[str] | None:
    """The tools a token grants: None for every tool the server offers, an empty set for none."""
    scopes = list(scopes)
    named = [scope.removeprefix(TOOL_SCOPE_PREFIX) if scope.startswith(TOOL_SCOPE_PREFIX)
             else scope.removeprefix(SCOPE_PREFIX) for scope in scopes if scope.startswith(SCOPE_PREFIX)]
    claimed = _names(tools_claim)
    if named or claimed is not None:  # a tools claim limits the tools even when it names none we know (fail closed)
        return frozenset(_tools_named([*named, *(claimed or ())]))
    return None if BASE_SCOPE in scopes else frozenset()


def _scopes_of(claims: dict[str, Any]) -> list[str]:
    """`scope` (RFC 9068, space-separated) or `scp` (a list, as Entra ID and Okta send it)."""
    scope = claims.get("scope", claims.get("scp"))
    if isinstance(scope, str):
        return scope.split()
    return [s for s in scope if isinstance(s, str)] if isinstance(scope, list) else []


def _names(value: Any) -> frozenset[str] | None:
    """A claim that lists names: a list, or a space-separated string; None when absent."""
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(str(v) for v in value)
    return frozenset()


def metadata_urls(issuer: str) -> list[str]:
    """Where the issuer's metadata may live: RFC 8414 (path after the well-known name), then OpenID Connect (after
    the issuer, without its trailing slash)."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    root = f"{parts.scheme}://{parts.netloc}"
    return [f"{root}/.well-known/oauth-authorization-server{path}", f"{root}{path}/.well-known/openid-configuration"]


@dataclass(frozen=True)
class SigningKey:
    """One key of the issuer's JWKS, and the algorithm it is declared for (`alg`), if any."""

    jwk: jwt.PyJWK
    declared_alg: str | None

    @classmethod
    def of(cls, data: dict[str, Any]) -> SigningKey | None:
        """The key, or None for one this server cannot verify with (another key type, an encryption key). PyJWK
        reads the key's own `alg`, and refuses one it does not know."""
        try:
            jwk = jwt.PyJWK(data)
        except jwt.PyJWTError:
            return None
        return cls(jwk, data.get("alg")) if jwk.public_key_use in (None, "sig") else None


class AccessTokenVerifier:
    """A TokenVerifier for the SDK's bearer middleware: a valid JWT from the issuer becomes its client."""

    def __init__(self, settings: Settings) -> None:
        assert settings.epic_mcp_oauth_issuer is not None and settings.epic_mcp_resource_url is not None
        self.issuer = settings.epic_mcp_oauth_issuer
        self.audience = settings.epic_mcp_resource_url
        self._jwks_url = settings.epic_mcp_oauth_jwks_url
        self._patients_claim = settings.epic_mcp_oauth_patients_claim
        self._tools_claim = settings.epic_mcp_oauth_tools_claim
        self._leeway = settings.epic_mcp_oauth_leeway_seconds
        self._keys: dict[str | None, SigningKey] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def verify_token(self, token: str) -> ClientAccess | None:
        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            key = await self._key(header.get("kid"))
            if key is None or algorithm not in ALGORITHMS or key.declared_alg not in (None, algorithm):
                return None
            claims = jwt.decode(token, key.jwk.key, algorithms=[algorithm], audience=self.audience, issuer=self.issuer,
                                leeway=self._leeway, options={"require": ["exp", "iss", "aud"]})
        except (jwt.PyJWTError, ValueError, TypeError) as exc:  # a key of the wrong type raises TypeError
            logger.info("access token refused: %s", type(exc).__name__)
            return None
        scopes = _scopes_of(claims)
        name = claims.get("client_id") or claims.get("azp") or claims.get("sub") or "unnamed"
        return ClientAccess(token="", client_id=str(name)[:128], scopes=scopes,
                            expires_at=int(claims["exp"]) + self._leeway, resource=self.audience,
                            subject=str(claims["sub"]) if "sub" in claims else None, claims={"iss": self.issuer},
                            tools=tools_for(scopes, claims.get(self._tools_claim)),
                            patients=_names(claims.get(self._patients_claim)))

    async def _key(self, kid: str | None) -> SigningKey | None:
        """The issuer's key for `kid`, fetching the JWKS again (at most once a minute) when it is unknown."""
        if kid not in self._keys and time.monotonic() - self._fetched_at > KEY_REFRESH_SECONDS:
            async with self._lock:
                if kid not in self._keys and time.monotonic() - self._fetched_at > KEY_REFRESH_SECONDS:
                    self._fetched_at = time.monotonic()
                    await self._fetch_keys()
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    async def _fetch_keys(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS, verify=tls_context(),
                                         follow_redirects=False) as http:
                jwks_url = self._jwks_url or await self._discover_jwks_url(http)
                response = await http.get(jwks_url, headers={"Accept": "application/json"})
                response.raise_for_status()
                keys = [SigningKey.of(item) for item in response.json()["keys"] if isinstance(item, dict)]
        except (httpx.HTTPError, ValueError, KeyError, TypeError, jwt.PyJWTError) as exc:
            logger.warning("could not fetch the OAuth issuer's signing keys (%s); access tokens are refused until "
                           "it answers", type(exc).__name__)
            return
        self._keys = {key.jwk.key_id: key for key in keys if key is not None}

    async def _discover_jwks_url(self, http: httpx.AsyncClient) -> str:
        for url in metadata_urls(self.issuer):
            response = await http.get(url, headers={"Accept": "application/json"})
            if response.status_code != 200:
                continue
            metadata = response.json()
            if not isinstance(metadata, dict) or metadata.get("issuer") != self.issuer:
                raise ValueError("the issuer's metadata names another issuer")
            return check_url("jwks_uri (discovered)", str(metadata["jwks_uri"]))
        raise ValueError("the issuer publishes no metadata")
