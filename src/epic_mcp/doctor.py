"""`epic-mcp doctor`: checks the whole chain step by step, the successor of /health and /config/info."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from .auth.token import TokenManager
from .errors import EpicMcpError, InvalidClientError
from .fhir.connection import EpicConnection
from .fhir.results import software_of
from .redaction import redact
from .settings import Settings, load_settings


@dataclass
class Step:
    name: str
    ok: bool
    detail: str


class Doctor:
    """Runs the checks in order, stops at the first failure that later steps depend on."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._print = emit
        self.steps: list[Step] = []

    def _emit(self, line: str) -> None:
        """Every line passes the redaction rule: steps quote what servers answered."""
        self._print(redact(line))

    def record(self, name: str, ok: bool, detail: str) -> bool:
        self.steps.append(Step(name, ok, detail))
        self._emit(f"{'ok  ' if ok else 'FAIL'}  {name}: {detail}")
        return ok

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)

    async def run(self, env_file: str | None, **overrides: str) -> bool:
        try:
            settings = load_settings(env_file, **overrides)
            settings.require_client_id()
        except EpicMcpError as exc:
            return self.record("settings", False, str(exc))
        summary = settings.public_summary()
        chosen = f", {settings.chosen_jwt_alg}" if settings.chosen_jwt_alg else ""
        self.record("settings", True, f"{summary['environment']} at {summary['fhir_base_url']}, "
                    f"client id {summary['client_id']}{chosen}")
        if not await self._check_reachable(settings):
            return False
        try:
            connection = EpicConnection.open(settings)
        except EpicMcpError as exc:
            return self.record("key", False, str(exc))
        try:
            return await self._check_chain(settings, connection)
        finally:
            await connection.aclose()

    async def _check_chain(self, settings: Settings, connection: EpicConnection) -> bool:
        active = connection.keys.active
        try:
            active.checked_private_key()
        except EpicMcpError as exc:
            return self.record("key", False, str(exc))
        self.record("key", True, f"{len(connection.keys.keys)} key(s) loaded; active kid {active.kid} "
                    f"from {active.source}, signs {connection.keys.algorithm}")
        published = {k["kid"] for k in connection.keys.jwks()["keys"]}
        self.record("jwks", active.kid in published, f"our JWKS publishes kid {active.kid}")
        if settings.epic_jwks_url:
            await self._check_hosted_jwks(settings.epic_jwks_url, active.kid)
        elif connection.keys.algorithm == "ES384":
            self.record("hosted jwks", False, "ES384 keys need a hosted JWKS URL; set EPIC_JWKS_URL")
        tokens = connection.tokens
        try:
            token_url = await tokens.token_url()
        except EpicMcpError as exc:
            return self.record("discovery", False, str(exc))
        how = "configured" if settings.configured_token_url else "discovered"
        self.record("discovery", True, f"token endpoint {token_url} ({how})")
        try:
            token = await tokens.get_token()
        except InvalidClientError as exc:
            self._show_assertion(tokens)
            return self.record("token", False, str(exc))
        except EpicMcpError as exc:
            unreachable = "could not connect" in str(exc) or "timed out" in str(exc)
            fix = f" ({token_url}); check EPIC_TOKEN_URL, the network and any proxy" if unreachable else ""
            return self.record("token", False, f"{exc}{fix}")
        self._show_assertion(tokens)
        self.record("token", True, f"access token obtained, expires in {token.lifetime} s")
        scopes = " ".join(token.scopes) or "(none listed; Epic grants the APIs registered on the app)"
        self.record("scopes", True, scopes)
        try:
            capability = await connection.fhir.metadata()
        except EpicMcpError as exc:
            return self.record("metadata", False, str(exc))
        self.record("metadata", True, f"FHIR {capability.get('fhirVersion', '?')}, "
                    f"{software_of(capability) or 'unknown software'}")
        return self.passed

    async def _check_reachable(self, settings: Settings) -> bool:
        """One request to the FHIR base before the chain: any HTTP answer will do, no answer gets one line naming
        the URL and what to change."""
        base = settings.fhir_base_url
        if settings.epic_env == "local":
            fix = ("the local sandbox is not running: start it with `epic-mcp sandbox --background` (or run "
                   "`epic-mcp --env local`, which starts it)")
        elif settings.epic_fhir_base_url or settings.epic_env != "sandbox":
            variable = "PRODUCTION_FHIR_BASE_URL" if settings.production_fhir_base_url and not \
                settings.epic_fhir_base_url else "EPIC_FHIR_BASE_URL"
            fix = f"check {variable}, the network and any proxy (HTTPS_PROXY)"
        else:
            fix = "check the network and any proxy (HTTPS_PROXY); fhir.epic.com must be reachable"
        try:
            async with httpx.AsyncClient(timeout=settings.epic_connect_timeout) as http, \
                    http.stream("GET", f"{base}/metadata") as response:
                status = response.status_code
        except httpx.TransportError as exc:
            return self.record("server", False, f"no answer from {base} ({type(exc).__name__}); {fix}")
        return self.record("server", True, f"{base} answers (HTTP {status})")

    def _show_assertion(self, tokens: TokenManager) -> None:
        assertion = tokens.last_assertion
        if assertion is not None:
            self._emit(f"      assertion header {json.dumps(assertion.header)}")
            self._emit(f"      assertion claims {json.dumps(assertion.claims)}")

    async def _check_hosted_jwks(self, url: str, kid: str) -> None:
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                response = await http.get(url)
            kids = {k.get("kid") for k in response.json().get("keys", []) if isinstance(k, dict)}
        except (httpx.HTTPError, ValueError, AttributeError):
            self.record("hosted jwks", False, f"could not read a JWKS from {url}; Epic must be able to fetch it")
            return
        if kid in kids:
            self.record("hosted jwks", True, f"{url} publishes kid {kid}")
        else:
            self.record("hosted jwks", False, f"{url} does not publish kid {kid}; upload the output of "
                        "`epic-mcp jwks` there (Epic re-fetches it within 29 h, or on an unknown kid)")
