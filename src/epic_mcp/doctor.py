"""`epic-mcp doctor`: every check of the sign-in chain, one line each with the fix for each failure (the successor
of /health and /config/info).

Every check runs, so one run shows every problem: a missing key is reported on a machine that is offline, and a
settings typo beside an unreachable server. A step that needs one that failed says so in a `skip` line instead
of failing for the same reason again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from .access.profiles import select_tools
from .auth.keys import KeyRing, key_file_problems
from .auth.token import AccessToken, TokenManager, discover_token_url
from .errors import ConfigError, EpicMcpError, InvalidClientError
from .fhir.connection import EpicConnection, tls_context
from .fhir.results import software_of
from .redaction import redact
from .sandbox import Sandbox, another_port, is_serving, lifecycle, port_taken, require_sekmet
from .serve.granted import needs, unauthorized_tools
from .serve.helper_tools import EPIC_TEST_PATIENTS
from .settings import InvalidSettings, Settings, load_settings, unknown_settings

Outcome = Literal["ok", "FAIL", "skip"]
LABEL = {"ok": "ok  ", "FAIL": "FAIL", "skip": "skip"}


@dataclass
class Step:
    name: str
    outcome: Outcome
    detail: str

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class Doctor:
    """Runs every check; `passed` when none failed."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._print = emit
        self.steps: list[Step] = []

    def _emit(self, line: str) -> None:
        """Every line passes the redaction rule: steps quote what servers answered."""
        self._print(redact(line))

    def _add(self, name: str, outcome: Outcome, detail: str) -> None:
        self.steps.append(Step(name, outcome, detail))
        self._emit(f"{LABEL[outcome]}  {name}: {detail}")

    def record(self, name: str, ok: bool, detail: str) -> bool:
        self._add(name, "ok" if ok else "FAIL", detail)
        return ok

    def skip(self, name: str, why: str) -> None:
        self._add(name, "skip", why)

    @property
    def passed(self) -> bool:
        return bool(self.steps) and not any(step.outcome == "FAIL" for step in self.steps)

    async def run(self, env_file: str | None, **overrides: Any) -> bool:
        settings, client_id_set = self._check_settings(env_file, overrides)
        if settings is None:
            self.skip("the other checks", "they need settings that load; fix the lines above")
            return False
        answered = await self._check_server(settings)
        keys = self._check_key(settings)
        if keys is not None:
            await self._check_jwks(settings, keys)
        token_url = await self._check_discovery(settings, answered)
        missing = [what for what, ready in (("EPIC_CLIENT_ID", client_id_set), ("a key that loads", keys is not None),
                                            ("a token endpoint", token_url is not None)) if not ready]
        if token_url and not answered and _origin(token_url) == _origin(settings.fhir_base_url):
            missing.append(f"{_origin(token_url)} to answer")
        if missing:
            self.skip("token", f"needs {' and '.join(missing)} (see above)")
            self.skip("scopes, metadata, read", "need a token")
            return False
        assert keys is not None
        connection = EpicConnection.open(settings, keys)
        try:
            await self._check_token_and_reads(settings, connection)
        finally:
            await connection.aclose()
        return self.passed

    def _check_settings(self, env_file: str | None, overrides: dict[str, Any]) -> tuple[Settings | None, bool]:
        """Names that are no setting, every invalid value, the client id, the tool profile. Settings with invalid
        values are checked further with those values at their defaults."""
        for unknown in unknown_settings(env_file):
            self.record("settings", False, str(unknown))
        settings: Settings | None
        try:
            settings = load_settings(env_file, **overrides)
            valid = True
        except InvalidSettings as exc:
            for problem in exc.problems:
                self.record("settings", False, problem)
            settings = _with_defaults(env_file, overrides, exc.variables)
            valid = False
        except ConfigError as exc:
            self.record("settings", False, str(exc))
            return None, False
        if settings is None:
            return None, False
        try:
            select_tools(settings.epic_tools)
        except ConfigError as exc:
            self.record("settings", False, str(exc))
            valid = False
        try:
            settings.require_client_id()
        except ConfigError as exc:
            self.record("settings", False, str(exc))
            return settings, False
        if valid:
            summary = settings.public_summary()
            chosen = f", {settings.chosen_jwt_alg}" if settings.chosen_jwt_alg else ""
            self.record("settings", True, f"{summary['environment']} at {summary['fhir_base_url']}, "
                        f"client id {summary['client_id']}{chosen}")
        return settings, True

    async def _check_server(self, settings: Settings) -> bool:
        """Whether the FHIR server answers at all (the local sandbox: whether it is the sandbox that answers)."""
        if settings.epic_env == "local":
            return self._check_sandbox(settings)
        base = settings.fhir_base_url
        variable = "PRODUCTION_FHIR_BASE_URL" if settings.epic_env == "production" and not \
            settings.epic_fhir_base_url else "EPIC_FHIR_BASE_URL"
        if settings.epic_fhir_base_url or settings.epic_env != "sandbox":
            fix = f"check {variable}, the network and any proxy (HTTPS_PROXY)"
        else:
            fix = "check the network and any proxy (HTTPS_PROXY); fhir.epic.com must be reachable"
        try:
            async with httpx.AsyncClient(timeout=settings.epic_connect_timeout, verify=tls_context()) as http:
                response = await http.get(f"{base}/metadata", headers={"Accept": "application/fhir+json"})
        except httpx.TransportError as exc:
            return self.record("server", False, f"no answer from {base} ({type(exc).__name__}); {fix}")
        status = response.status_code
        if status in (401, 403):
            self.record("server", True, f"{base} answers (HTTP {status}: its metadata needs a token)")
        elif status == 200 and _resource_type(response) == "CapabilityStatement":
            self.record("server", True, f"{base} answers (HTTP 200)")
        else:
            what = "not a FHIR CapabilityStatement" if status == 200 else f"HTTP {status}"
            self.record("server", False, f"{base}/metadata answered {what}: this is not the FHIR base; check "
                        f"{variable} (the FHIR R4 base URL, at Epic ending in /api/FHIR/R4)")
        return True

    def _check_sandbox(self, settings: Settings) -> bool:
        """The local sandbox's port: our sandbox serving, another folder's, another program, or nothing."""
        sandbox = Sandbox(settings)
        start = "start it with `epic-mcp sandbox --background` (or run `epic-mcp --env local`, which starts it)"
        if is_serving(sandbox.base_url):
            if sandbox.running_pid() is not None:
                return self.record("sandbox", True, f"serving FHIR R4 at {sandbox.base_url} (folder {sandbox.folder})")
            self.record("sandbox", False, f"a sandbox started with another EPIC_SANDBOX_DIR serves port "
                        f"{sandbox.port}; it does not know this folder's ({sandbox.folder}) key: stop it with "
                        f"`epic-mcp sandbox --stop` and the EPIC_SANDBOX_DIR it was started with, or {another_port()}")
            return True
        if lifecycle.port_in_use(sandbox.port):
            return self.record("sandbox", False, port_taken(sandbox.port, f" ({_what_answers(sandbox.base_url)})"))
        try:
            require_sekmet()
        except EpicMcpError as exc:
            return self.record("sandbox", False, f"the local sandbox is not running on port {sandbox.port}, and {exc}; "
                               f"then {start}")
        return self.record("sandbox", False, f"the local sandbox is not running on port {sandbox.port}: {start}")

    def _check_key(self, settings: Settings) -> KeyRing | None:
        if settings.epic_env == "local" and not settings.sandbox_key_path.exists():
            self.record("key", False, f"no sandbox client key at {settings.sandbox_key_path} yet: the sandbox makes "
                        "it at its first start (`epic-mcp sandbox --background`, or `epic-mcp --env local`)")
            return None
        problems = key_file_problems(settings)
        for problem in problems:
            self.record("key", False, problem)
        if problems:
            return None
        try:
            keys = KeyRing.from_settings(settings)
            keys.active.checked_private_key()
        except EpicMcpError as exc:
            self.record("key", False, str(exc))
            return None
        self.record("key", True, f"{len(keys.keys)} key(s) loaded; active kid {keys.active.kid} "
                    f"from {keys.active.source}, signs {keys.algorithm}")
        return keys

    async def _check_jwks(self, settings: Settings, keys: KeyRing) -> None:
        published = {k["kid"] for k in keys.jwks()["keys"]}
        self.record("jwks", keys.active.kid in published, f"our JWKS publishes kid {keys.active.kid}")
        if settings.epic_jwks_url:
            await self._check_hosted_jwks(settings.epic_jwks_url, keys.active.kid)
        elif keys.algorithm == "ES384":
            self.record("hosted jwks", False, "ES384 keys need a hosted JWKS URL; set EPIC_JWKS_URL")

    async def _check_discovery(self, settings: Settings, answered: bool) -> str | None:
        if settings.configured_token_url:
            self.record("discovery", True, f"token endpoint {settings.configured_token_url} (configured)")
            return settings.configured_token_url
        if not answered:
            self.skip("discovery", "needs the FHIR server to answer (see above); or set EPIC_TOKEN_URL")
            return None
        try:
            async with httpx.AsyncClient(timeout=settings.epic_connect_timeout, verify=tls_context()) as http:
                token_url = await discover_token_url(settings, http, retry_delays=())
        except EpicMcpError as exc:
            self.record("discovery", False, str(exc))
            return None
        self.record("discovery", True, f"token endpoint {token_url} (discovered)")
        return token_url

    async def _check_token_and_reads(self, settings: Settings, connection: EpicConnection) -> None:
        tokens = connection.tokens
        token_url = await tokens.token_url()
        try:
            token = await tokens.get_token()
        except InvalidClientError as exc:
            self._show_assertion(tokens)
            self.record("token", False, str(exc))
            self.skip("scopes, metadata, read", "need a token")
            return
        except EpicMcpError as exc:
            unreachable = "could not connect" in str(exc) or "timed out" in str(exc)
            fix = f" ({token_url}); check EPIC_TOKEN_URL, the network and any proxy" if unreachable else ""
            self.record("token", False, f"{exc}{fix}")
            self.skip("scopes, metadata, read", "need a token")
            return
        self._show_assertion(tokens)
        self.record("token", True, f"access token obtained, expires in {token.lifetime} s")
        self._check_scopes(settings, token)
        try:
            capability = await connection.fhir.metadata()
        except EpicMcpError as exc:
            self.record("metadata", False, str(exc))
        else:
            self.record("metadata", True, f"FHIR {capability.get('fhirVersion', '?')}, "
                        f"{software_of(capability) or 'unknown software'}")
        if settings.has_test_patients:
            await self._check_read(connection)

    def _check_scopes(self, settings: Settings, token: AccessToken) -> None:
        """The token's scopes cover the APIs of the tools EPIC_TOOLS enables (tools they do not cover are hidden)."""
        if not token.scopes:
            self.record("scopes", True, "(none listed; Epic grants the APIs registered on the app)")
            return
        hidden = sorted(unauthorized_tools(token.scopes) & _enabled_tools(settings))
        if not hidden:
            self.record("scopes", True, " ".join(token.scopes))
            return
        apis = sorted({need[0] for tool in hidden if (need := needs(tool)) is not None})
        self.record("scopes", False, f"the token grants no {', '.join(apis)} API, which {', '.join(hidden)} "
                    f"need{'s' if len(hidden) == 1 else ''} (hidden from the MCP client until it does): add "
                    "those APIs to the app's registration (at fhir.epic.com: the app's incoming APIs) and wait for "
                    "Epic to sync them, or leave those tools out of EPIC_TOOLS")

    async def _check_read(self, connection: EpicConnection) -> None:
        """One FHIR read with the token: a test patient (the first of Epic's that reads: the sandbox's change)."""
        problem: EpicMcpError | None = None
        for _, patient_id, _ in EPIC_TEST_PATIENTS:
            try:
                await connection.fhir.read("Patient", patient_id)
            except EpicMcpError as exc:
                problem = problem or exc
                continue
            self.record("read", True, f"Patient/{patient_id} read with the token")
            return
        self.record("read", False, f"none of Epic's test patients could be read with the token; the first said: "
                    f"{problem}")

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


def _with_defaults(env_file: str | None, overrides: dict[str, Any], variables: list[str]) -> Settings | None:
    """The settings with the invalid values at their defaults, to check the rest; None when that does not load."""
    defaults = {name: Settings.model_fields[name].get_default(call_default_factory=True)
                for name in variables if name in Settings.model_fields}
    if not defaults:
        return None
    try:
        return load_settings(env_file, **{**overrides, **defaults})
    except ConfigError:
        return None


def _enabled_tools(settings: Settings) -> frozenset[str]:
    """The tools EPIC_TOOLS enables; the default profile's when it names an unknown tool (a settings failure)."""
    try:
        return select_tools(settings.epic_tools)
    except ConfigError:
        return select_tools(str(Settings.model_fields["epic_tools"].default))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _resource_type(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("resourceType") if isinstance(body, dict) else None


def _what_answers(base_url: str) -> str:
    """What the program on the sandbox's port says where the sandbox would serve its metadata."""
    try:
        status = httpx.get(f"{base_url}/metadata", timeout=2).status_code
    except httpx.HTTPError as exc:
        return f"it does not answer HTTP ({type(exc).__name__})"
    return f"it answers HTTP {status} at /fhir/metadata, not as the sandbox"
