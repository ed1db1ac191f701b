"""The one FHIR client per process: auth, timeouts, a concurrency bound, retries, and error mapping."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

from .errors import FhirError, FhirErrorKind, TokenError
from .outcome import EPIC_INVALID_ID, EPIC_MESSAGES, is_error_outcome, outcome_codes, outcome_messages
from .settings import Settings
from .token import BearerAuth, TokenManager
from .urls import is_within_base

logger = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
RETRY_STATUSES = {429, 502, 503, 504}
MAX_RETRIES = 2
MAX_RETRY_AFTER_SECONDS = 10.0
MAX_RESPONSE_BYTES = 32 * 1024 * 1024


def retry_after_seconds(response: httpx.Response, attempt: int, now: float | None = None,
                        cap: float = MAX_RETRY_AFTER_SECONDS) -> float:
    """Retry-After as seconds or an HTTP date, capped; exponential backoff when absent or unreadable."""
    backoff = min(cap, 0.5 * 2**attempt)
    header = response.headers.get("retry-after")
    if not header:
        return backoff
    header = header.strip()
    if header.isdigit():
        return min(cap, float(header))
    try:
        when = email.utils.parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        return backoff
    return max(0.0, min(cap, when - (time.time() if now is None else now)))


def software_of(capability: dict[str, Any] | None) -> str | None:
    """'name version' of the server software a CapabilityStatement names, if it names any."""
    software = (capability or {}).get("software")
    if not isinstance(software, dict):
        return None
    return " ".join(str(v) for v in (software.get("name"), software.get("version")) if v) or None


class FhirClient:
    """Reads and searches one FHIR server; every failure becomes a FhirError with a usable message."""

    def __init__(
        self,
        settings: Settings,
        tokens: TokenManager,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.base_url = settings.fhir_base_url
        self._base = httpx.URL(self.base_url + "/")
        self._client_id = settings.client_id or ""
        self._sleep = sleep
        self._limit = asyncio.Semaphore(settings.epic_max_concurrency)
        self._http = httpx.AsyncClient(
            auth=BearerAuth(tokens, self.base_url),
            headers={"Accept": FHIR_JSON},
            timeout=httpx.Timeout(settings.epic_http_timeout, connect=settings.epic_connect_timeout),
            follow_redirects=False,
            verify=verify,
        )
        self.timeout = settings.epic_http_timeout

    async def aclose(self) -> None:
        await self._http.aclose()

    def url_for(self, *segments: str) -> httpx.URL:
        """A URL under the base. Segments are appended, never resolved, so '..' cannot climb out."""
        return self._base.copy_with(path=self._base.path + "/".join(segments))

    def contains(self, url: httpx.URL) -> bool:
        return is_within_base(url, self._base)

    def masked_path(self, url: httpx.URL) -> str:
        """The path for logs: the resource type, then '*' for ids (which may identify a patient); no query."""
        below = url.path[len(self._base.path):].split("/")
        return "/".join([below[0], *("*" for _ in below[1:])])

    async def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        return await self.get(self.url_for(resource_type, resource_id), resource_type, "read")

    async def search(self, resource_type: str, params: Sequence[tuple[str, str]]) -> dict[str, Any]:
        return await self.get(self.url_for(resource_type), resource_type, "search", params=params)

    async def metadata(self) -> dict[str, Any]:
        # Epic asks for Epic-Client-ID on metadata calls: customers may route endpoints per client.
        return await self.get(self.url_for("metadata"), "CapabilityStatement", "read",
                              headers={"Epic-Client-ID": self._client_id} if self._client_id else None)

    async def get(
        self,
        url: httpx.URL,
        resource_type: str,
        interaction: str,
        *,
        params: Sequence[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        status, _, body = await self._fetch(url, params, headers)
        return self._interpret(status, body, resource_type, interaction)

    async def fetch_binary(self, url: httpx.URL) -> tuple[bytes, str | None]:
        """A Binary's content and type, whether the server sends a FHIR Binary or the content itself."""
        status, headers, body = await self._fetch(url, None, None)
        content_type = headers.get("content-type", "")
        if status == 200 and "json" not in content_type:
            return body, content_type.split(";")[0].strip() or None
        binary = self._interpret(status, body, "Binary", "read")
        try:
            return base64.b64decode(binary.get("data") or ""), binary.get("contentType")
        except (ValueError, TypeError):
            raise FhirError(FhirErrorKind.INVALID_RESPONSE, "the Binary's data is not valid base64") from None

    async def _fetch(
        self, url: httpx.URL, params: Sequence[tuple[str, str]] | None, headers: dict[str, str] | None
    ) -> tuple[int, httpx.Headers, bytes]:
        """One GET under the base, with the concurrency bound and retries for 429/502/503/504."""
        if not self.contains(url):
            raise FhirError(FhirErrorKind.REFUSED, "refused a URL outside the configured FHIR base URL")
        async with self._limit:
            for attempt in range(MAX_RETRIES + 1):
                status, response_headers, body = await self._send(url, params, headers)
                if status in RETRY_STATUSES and attempt < MAX_RETRIES:
                    delay = retry_after_seconds(httpx.Response(status, headers=response_headers), attempt)
                    logger.info("FHIR server answered HTTP %d; retrying in %.1fs", status, delay)
                    await self._sleep(delay)
                    continue
                return status, response_headers, body
        raise AssertionError("unreachable")

    async def _send(
        self, url: httpx.URL, params: Sequence[tuple[str, str]] | None, headers: dict[str, str] | None
    ) -> tuple[int, httpx.Headers, bytes]:
        request = self._http.build_request("GET", url, params=list(params) if params else None, headers=headers)
        started = time.perf_counter()
        try:
            response = await self._http.send(request, stream=True)
            try:
                body = await self._read_capped(response)
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            raise FhirError(FhirErrorKind.TIMEOUT, f"the FHIR server did not answer within {self.timeout:g} s; "
                            "try a narrower search or again later") from None
        except httpx.TransportError as exc:
            raise FhirError(FhirErrorKind.UNREACHABLE, f"could not reach the FHIR server ({type(exc).__name__}); "
                            "check the network and EPIC_FHIR_BASE_URL, or run `epic-mcp doctor`") from None
        except TokenError as exc:
            raise FhirError(FhirErrorKind.UNAUTHORIZED, f"could not get an access token: {exc}") from None
        logger.debug("GET %s -> %d in %.0f ms", self.masked_path(request.url), response.status_code,
                     (time.perf_counter() - started) * 1000)
        return response.status_code, response.headers, body

    @staticmethod
    async def _read_capped(response: httpx.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise FhirError(FhirErrorKind.INVALID_RESPONSE,
                                f"the FHIR server's answer exceeded {MAX_RESPONSE_BYTES // (1024 * 1024)} MB; "
                                "ask for fewer results with a smaller count")
            chunks.append(chunk)
        return b"".join(chunks)

    def _interpret(self, status: int, body: bytes, resource_type: str, interaction: str) -> dict[str, Any]:
        try:
            document = json.loads(body) if body else None
        except ValueError:
            document = None
        if status == 200:
            if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
                raise FhirError(FhirErrorKind.INVALID_RESPONSE,
                                "the FHIR server answered with something that is not a FHIR JSON resource", status)
            if document["resourceType"] == "OperationOutcome" and is_error_outcome(document):
                raise FhirError(FhirErrorKind.BAD_REQUEST, self._outcome_text(document, "the request failed"), status)
            return document
        raise self._failure(status, document, resource_type, interaction)

    @staticmethod
    def _outcome_text(document: Any, fallback: str) -> str:
        return "; ".join(outcome_messages(document)) or fallback

    def _failure(self, status: int, document: Any, resource_type: str, interaction: str) -> FhirError:
        codes = outcome_codes(document)
        if status == 404 or (status == 400 and codes & EPIC_INVALID_ID):
            what = "no such resource" if interaction == "search" else f"no {resource_type} with that id"
            return FhirError(FhirErrorKind.NOT_FOUND, f"{what} (check the id, or find it with a search)", status)
        if status == 401:
            return FhirError(FhirErrorKind.UNAUTHORIZED, "authentication failed even with a fresh access token; "
                             "run `epic-mcp doctor`", status)
        if status == 403:
            known = next((EPIC_MESSAGES[c] for c in sorted(codes) if c in ("4130", "4131")), None)
            message = known or (f"the app is not authorized for {resource_type} (needs system/{resource_type}.read "
                                "on the app registration)")
            return FhirError(FhirErrorKind.FORBIDDEN, message, status)
        if status == 410:
            return FhirError(FhirErrorKind.GONE, f"that {resource_type} was deleted", status)
        if status in RETRY_STATUSES or status >= 500:
            return FhirError(FhirErrorKind.BUSY, f"the FHIR server is busy or failing (HTTP {status}) after "
                             f"{MAX_RETRIES + 1} attempts; try again in a minute", status)
        if 300 <= status < 400:
            return FhirError(FhirErrorKind.REFUSED, f"the FHIR server redirected (HTTP {status}); redirects are not "
                             "followed so the access token stays on the configured server", status)
        if status == 400 or status == 422:
            return FhirError(FhirErrorKind.BAD_REQUEST, "the FHIR server rejected the request: "
                             + self._outcome_text(document, f"HTTP {status}"), status)
        return FhirError(FhirErrorKind.INVALID_RESPONSE, f"unexpected HTTP {status} from the FHIR server", status)
