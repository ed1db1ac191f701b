"""Access tokens: discovery, the client_credentials exchange, one shared cache, and the httpx auth flow."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..errors import FhirError, FhirErrorKind, InvalidClientError, TokenError
from ..redaction import redact, remember_secret
from ..settings import Settings, check_url
from .assertion import AssertionSigner, SignedAssertion
from .urls import is_within_base

logger = logging.getLogger(__name__)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEFAULT_EXPIRES_IN = 300
RETRY_DELAYS = (0.5, 1.0, 2.0)
# After a failed exchange, calls in the next few seconds get the same failure at once instead of queueing up
# behind new attempts against an endpoint that is down.
FAILURE_BACKOFF_SECONDS = 5.0


@dataclass(frozen=True)
class AccessToken:
    """An opaque bearer token; its value never appears in repr, logs or errors."""

    value: str = field(repr=False)
    expires_at: float
    lifetime: int
    scopes: tuple[str, ...]

    def is_fresh(self, now: float) -> bool:
        # Renew early so a token never expires between our check and the server's.
        margin = min(60.0, self.lifetime * 0.1)
        return now < self.expires_at - margin


def _describe_transport_error(exc: httpx.TransportError) -> str:
    return "timed out" if isinstance(exc, httpx.TimeoutException) else f"could not connect ({type(exc).__name__})"


@dataclass(frozen=True)
class _Failure:
    error: TokenError
    until: float

    def again(self) -> TokenError:
        """A fresh exception with the same type and message, for the next caller."""
        return type(self.error)(str(self.error))


class TokenManager:
    """One per process: every tool shares its cached token. Concurrent callers share one exchange and its
    outcome: its token, or its failure (which is then repeated at once for a short back-off)."""

    def __init__(
        self,
        settings: Settings,
        signer: AssertionSigner,
        http: httpx.AsyncClient,
        *,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        clock: Callable[[], float] = time.monotonic,
        failure_backoff: float = FAILURE_BACKOFF_SECONDS,
    ) -> None:
        self._settings = settings
        self._signer = signer
        self._http = http
        self._retry_delays = tuple(retry_delays)
        self._clock = clock
        self._token: AccessToken | None = None
        self._token_url: str | None = settings.configured_token_url
        self._deadline = settings.epic_call_deadline
        self._failure_backoff = failure_backoff
        self._exchange: asyncio.Future[AccessToken] | None = None
        self._failure: _Failure | None = None
        self.token_requests = 0
        self.last_assertion: SignedAssertion | None = None

    @property
    def cached(self) -> AccessToken | None:
        return self._token

    async def token_url(self) -> str:
        if self._token_url is None:
            self._token_url = await self._discover_token_url()
        return self._token_url

    async def get_token(self) -> AccessToken:
        token = self._token
        if token is not None and token.is_fresh(self._clock()):
            return token
        return await self.refresh(stale=token)

    async def refresh(self, stale: AccessToken | None) -> AccessToken:
        """Replace `stale` with a new token. Callers that race share one exchange; a caller that gives up (its call
        was cancelled) does not cancel the exchange the others wait for."""
        current = self._token
        if current is not None and current is not stale and current.is_fresh(self._clock()):
            return current
        failure = self._failure
        if failure is not None and self._clock() < failure.until:
            raise failure.again()
        if self._exchange is None:
            self._exchange = asyncio.ensure_future(self._exchange_once())
            self._exchange.add_done_callback(_retrieve)
        return await asyncio.shield(self._exchange)

    async def _exchange_once(self) -> AccessToken:
        try:
            async with asyncio.timeout(self._deadline):
                token = await self._request_token()
        except TimeoutError:
            error = TokenError(f"the token endpoint gave no token within {self._deadline:g} s (EPIC_CALL_DEADLINE); "
                               "it is slow or unreachable: run `epic-mcp doctor`, or try again later")
            self._failure = _Failure(error, self._clock() + self._failure_backoff)
            raise error from None
        except TokenError as exc:
            self._failure = _Failure(exc, self._clock() + self._failure_backoff)
            raise
        finally:
            self._exchange = None
        self._token, self._failure = token, None
        return token

    def status(self) -> dict[str, Any]:
        token = self._token
        if token is None:
            return {"token_cached": False, "token_requests": self.token_requests}
        return {
            "token_cached": True,
            "token_requests": self.token_requests,
            "expires_in_seconds": max(0, int(token.expires_at - self._clock())),
            "granted_scopes": list(token.scopes),
        }

    async def _discover_token_url(self) -> str:
        return await discover_token_url(self._settings, self._http, self._retry_delays)

    async def _request_token(self) -> AccessToken:
        token_url = await self.token_url()
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
        }
        if self._settings.epic_scopes:
            form["scope"] = self._settings.epic_scopes

        def fresh_form() -> dict[str, str]:
            # A new assertion per attempt: a jti must never be reused.
            self.last_assertion = self._signer.sign(token_url)
            remember_secret(self.last_assertion.token)
            return {**form, "client_assertion": self.last_assertion.token}

        self.token_requests += 1
        response = await send_with_retry(self._http, self._retry_delays, "POST", token_url, "the token endpoint",
                                         form_factory=fresh_form)
        token = self._parse_token_response(response)
        logger.info("access token obtained (expires in %ss, %d scopes)", token.lifetime, len(token.scopes))
        return token

    def _parse_token_response(self, response: httpx.Response) -> AccessToken:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise TokenError(f"the token endpoint answered HTTP {response.status_code} with a body that is not JSON")
        if response.status_code != 200:
            raise self._token_failure(response.status_code, body)
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise TokenError("the token endpoint answered without an access_token")
        remember_secret(value)
        token_type = body.get("token_type")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise TokenError(f"the token endpoint gave token_type {redact(str(token_type))[:20]!r}; only bearer is "
                             "supported")
        expires_in = body.get("expires_in")
        if not isinstance(expires_in, (int, float)) or isinstance(expires_in, bool) or expires_in <= 0:
            logger.warning("token response has no usable expires_in; assuming %ss", DEFAULT_EXPIRES_IN)
            expires_in = DEFAULT_EXPIRES_IN
        scope = body.get("scope")
        scopes = tuple(scope.split()) if isinstance(scope, str) else ()
        lifetime = int(expires_in)
        return AccessToken(value=value, expires_at=self._clock() + lifetime, lifetime=lifetime, scopes=scopes)

    def _token_failure(self, status: int, body: dict[str, Any]) -> TokenError:
        error = redact(str(body.get("error") or "unknown_error"))[:60]
        description = body.get("error_description")
        said = f" The server said: {redact(str(description))[:200]}" if description else ""
        if error == "invalid_client":
            return InvalidClientError(self._explain_invalid_client() + said)
        if error == "invalid_scope":
            return TokenError(f"the token endpoint refused the requested scopes (invalid_scope); check EPIC_SCOPES "
                              f"against the APIs registered on the app.{said}")
        return TokenError(f"the token endpoint refused the request: HTTP {status} {error}.{said}")

    def _explain_invalid_client(self) -> str:
        settings = self._settings
        causes = [
            "the app or its keys changed recently and Epic has not synced yet (30 minutes to several hours "
            "after registration or a key change)",
            f"kid {self._signer.kid} is not in the JWKS hosted at "
            f"{settings.epic_jwks_url or 'your registered JWKS URL'} (compare with `epic-mcp jwks`)",
            f"aud {self._token_url} is not the exact token URL the server expects (set EPIC_TOKEN_URL)",
            "this machine's clock is ahead of the server's (exp must be at most 5 minutes after its time)",
            f"a production client id used against the sandbox or the reverse (EPIC_ENV={settings.epic_env})",
        ]
        if settings.epic_jwt_alg.startswith("ES"):
            causes.append("ES384 keys are only accepted with a registered JWKS URL (JKU)")
        numbered = "; ".join(f"({i}) {cause}" for i, cause in enumerate(causes, 1))
        return f"the token endpoint rejected our client assertion (invalid_client). Likely causes: {numbered}."


async def send_with_retry(
    http: httpx.AsyncClient,
    retry_delays: Sequence[float],
    method: str,
    url: str,
    what: str,
    *,
    headers: dict[str, str] | None = None,
    form_factory: Callable[[], dict[str, str]] | None = None,
) -> httpx.Response:
    """One request to the token endpoint or its discovery, retried after a transport error or a 5xx."""
    attempts = len(retry_delays) + 1
    for attempt in range(attempts):
        last = attempt == attempts - 1
        try:
            data = form_factory() if form_factory else None
            response = await http.request(method, url, headers=headers, data=data)
        except httpx.TransportError as exc:
            if last:
                raise TokenError(f"{what} {_describe_transport_error(exc)} after {attempts} attempts") from None
            logger.warning("%s %s; retrying", what, _describe_transport_error(exc))
        else:
            if response.status_code < 500 or last:
                if response.status_code >= 500:
                    raise TokenError(f"{what} is unavailable (HTTP {response.status_code}) "
                                     f"after {attempts} attempts; try again later")
                return response
            logger.warning("%s answered HTTP %d; retrying", what, response.status_code)
        await asyncio.sleep(retry_delays[attempt])
    raise AssertionError("unreachable")


async def discover_token_url(settings: Settings, http: httpx.AsyncClient,
                             retry_delays: Sequence[float] = RETRY_DELAYS) -> str:
    """The token endpoint from SMART discovery at the FHIR base; needs neither key nor client id (doctor checks it
    when those are broken too)."""
    url = f"{settings.fhir_base_url}/.well-known/smart-configuration"
    response = await send_with_retry(http, retry_delays, "GET", url, "SMART discovery",
                                     headers={"Accept": "application/json"})
    if response.status_code != 200:
        raise TokenError(
            f"SMART discovery at {url} answered HTTP {response.status_code}; set EPIC_TOKEN_URL explicitly"
        )
    try:
        endpoint = response.json()["token_endpoint"]
        return check_url("token_endpoint (discovered)", str(endpoint))
    except (ValueError, KeyError, TypeError) as exc:
        detail = exc.args[0] if isinstance(exc, ValueError) and exc.args else "no token_endpoint"
        raise TokenError(f"SMART discovery at {url} gave no usable token_endpoint ({detail}); "
                         "set EPIC_TOKEN_URL") from None


def _retrieve(exchange: asyncio.Future[AccessToken]) -> None:
    """Mark an exchange's failure as seen even when every caller gave up waiting (no 'never retrieved' noise)."""
    if not exchange.cancelled():
        exchange.exception()


class BearerAuth(httpx.Auth):
    """Attaches the shared token, only for URLs under the FHIR base; on a 401 refreshes once and retries once."""

    def __init__(self, tokens: TokenManager, base_url: str) -> None:
        self._tokens = tokens
        self._base = httpx.URL(base_url)

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("BearerAuth works with httpx.AsyncClient only")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if not is_within_base(request.url, self._base):
            raise FhirError(FhirErrorKind.REFUSED, "refused to send the access token outside the FHIR base URL")
        token = await self._tokens.get_token()
        request.headers["Authorization"] = f"Bearer {token.value}"
        response = yield request
        if response.status_code == 401:
            logger.info("FHIR server answered 401; refreshing the token once")
            token = await self._tokens.refresh(stale=token)
            request.headers["Authorization"] = f"Bearer {token.value}"
            yield request
