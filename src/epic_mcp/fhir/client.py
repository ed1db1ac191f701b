"""The one FHIR client per process: auth, timeouts, a concurrency bound, retries, and error mapping."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from ..auth.token import BearerAuth, TokenManager
from ..auth.urls import is_within_base
from ..errors import FhirError, FhirErrorKind, TokenError
from ..settings import Settings
from .outcome import EPIC_INVALID_ID, EPIC_MESSAGES, error_text, is_error_outcome, outcome_codes

logger = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
RETRY_STATUSES = {429, 502, 503, 504}
MAX_RETRIES = 2
MAX_RETRY_AFTER_SECONDS = 10.0
# No FHIR resource nests this deep; deeper JSON is hostile, and would exhaust recursion in the renderer.
MAX_JSON_DEPTH = 100
# Answers past this size are read and parsed one at a time, process-wide (a parsed answer takes ~5x its size).
LARGE_ANSWER_BYTES = 2 * 1024 * 1024


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



def nesting_depth_exceeds(document: Any, limit: int) -> bool:
    """True when a parsed JSON value nests deeper than `limit` (checked level by level, without recursion)."""
    level = [document]
    for _ in range(limit):
        level = [child for node in level for child in (node.values() if isinstance(node, dict) else node)
                 if isinstance(child, (dict, list))]
        if not level:
            return False
    return True


def may_nest_deeper(body: bytes, limit: int) -> bool:
    """False when an answer's raw JSON has no more than `limit` opening brackets: every object or array parsed from
    it takes one, so nothing in it can nest deeper than `limit` (most single resources), and it need not be walked."""
    return body.count(b"{") + body.count(b"[") > limit


@dataclass
class Page:
    """One page of search results as the server sent it, cut to the results asked for.

    `results` counts the results the server put on this page; `skip` of them were shown by earlier calls and
    `remaining` are left after this cut, for the next call (a server that ignores _count sends more than asked)."""

    bundle: dict[str, Any]
    url: httpx.URL
    results: int = 0
    skip: int = 0
    remaining: int = 0
    countable: bool = True  # False when what was withheld from the page would make counting it reveal too much


def _is_outcome(entry: Any) -> bool:
    resource = entry.get("resource") if isinstance(entry, dict) else None
    search = entry.get("search") if isinstance(entry, dict) else None
    return (isinstance(search, dict) and search.get("mode") == "outcome") or (
        isinstance(resource, dict) and resource.get("resourceType") == "OperationOutcome")


def take_results(bundle: dict[str, Any], url: httpx.URL, skip: int = 0, limit: int | None = None) -> Page:
    """Outcome entries and results skip+1 .. skip+limit: whatever a server sends, an answer holds no more than
    was asked for, and the rest of the page stays reachable."""
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return Page(bundle, url)
    results = sum(1 for entry in entries if not _is_outcome(entry))
    if limit is None and not skip:
        return Page(bundle, url, results)
    end = results if limit is None else skip + limit
    kept, index = [], 0
    for entry in entries:
        if not _is_outcome(entry):
            index += 1
            if not skip < index <= end:
                continue
        kept.append(entry)
    return Page({**bundle, "entry": kept}, url, results, skip, max(0, results - end))


class AnswerGate:
    """Process-wide bound on the memory answers take: an answer that grows past LARGE_ANSWER_BYTES waits for the
    one large-answer slot before reading on, and keeps it until it has been parsed and cut down, so concurrent
    calls cannot multiply the per-answer cap."""

    def __init__(self, threshold: int = LARGE_ANSWER_BYTES) -> None:
        self.threshold = threshold
        self._large = asyncio.Lock()

    @asynccontextmanager
    async def answer(self) -> AsyncIterator[AnswerSlot]:
        slot = AnswerSlot(self)
        try:
            yield slot
        finally:
            slot.release()


class AnswerSlot:
    def __init__(self, gate: AnswerGate) -> None:
        self._gate = gate
        self._holding = False

    async def grown_to(self, size: int) -> None:
        if size > self._gate.threshold and not self._holding:
            await self._gate._large.acquire()
            self._holding = True

    def release(self) -> None:
        if self._holding:
            self._holding = False
            self._gate._large.release()


class FhirClient:
    """Reads and searches one FHIR server; every failure becomes a FhirError with a usable message."""

    def __init__(
        self,
        settings: Settings,
        tokens: TokenManager,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        verify: ssl.SSLContext | bool = True,
        gate: AnswerGate | None = None,
    ) -> None:
        self.base_url = settings.fhir_base_url
        self._base = httpx.URL(self.base_url + "/")
        self._client_id = settings.client_id or ""
        self._sleep = sleep
        self._limit = asyncio.Semaphore(settings.epic_max_concurrency)
        self._gate = gate or AnswerGate()
        self.max_response_bytes = settings.epic_max_response_mb * 1024 * 1024
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
        return await self._document(self.url_for(resource_type, resource_id), resource_type, "read")

    async def search(self, resource_type: str, params: Sequence[tuple[str, str]], limit: int | None) -> Page:
        """The first page of a search, at most `limit` results (None: the whole page)."""
        url = self.url_for(resource_type).copy_merge_params(tuple(params))
        return await self.follow(url, resource_type, limit)

    async def follow(self, url: httpx.URL, resource_type: str, limit: int | None, skip: int = 0) -> Page:
        """A search page by URL (a next link under the base): results skip+1 .. skip+limit of it."""
        async with self._gate.answer() as slot:
            status, _, body = await self._fetch(url, None, slot)
            document = self._interpret(status, body, resource_type, "search")
            may_nest = may_nest_deeper(body, MAX_JSON_DEPTH)
            del body
            page = take_results(document, url, skip, limit)
        if may_nest:
            self._check_depth(page.bundle)
        return page

    async def metadata(self) -> dict[str, Any]:
        # Epic asks for Epic-Client-ID on metadata calls: customers may route endpoints per client.
        headers = {"Epic-Client-ID": self._client_id} if self._client_id else None
        return await self._document(self.url_for("metadata"), "CapabilityStatement", "read", headers=headers)

    async def fetch_binary(self, url: httpx.URL) -> tuple[bytes, str | None]:
        """A Binary's content and type, whether the server sends a FHIR Binary or the content itself."""
        async with self._gate.answer() as slot:
            status, headers, body = await self._fetch(url, None, slot)
            content_type = headers.get("content-type", "")
            if status == 200 and "json" not in content_type:
                return body, content_type.split(";")[0].strip() or None
            binary = self._interpret(status, body, "Binary", "read")
        try:
            return base64.b64decode(binary.get("data") or ""), binary.get("contentType")
        except (ValueError, TypeError):
            raise FhirError(FhirErrorKind.INVALID_RESPONSE, "the Binary's data is not valid base64") from None

    async def _document(self, url: httpx.URL, resource_type: str, interaction: str, *,
                        headers: dict[str, str] | None = None) -> dict[str, Any]:
        async with self._gate.answer() as slot:
            status, _, body = await self._fetch(url, headers, slot)
            document = self._interpret(status, body, resource_type, interaction)
        if may_nest_deeper(body, MAX_JSON_DEPTH):
            self._check_depth(document)
        return document

    @staticmethod
    def _check_depth(document: Any) -> None:
        if nesting_depth_exceeds(document, MAX_JSON_DEPTH):
            raise FhirError(FhirErrorKind.INVALID_RESPONSE, f"the FHIR server's answer nests deeper than "
                            f"{MAX_JSON_DEPTH} levels, which no FHIR resource does; it was not used")

    async def _fetch(self, url: httpx.URL, headers: dict[str, str] | None,
                     slot: AnswerSlot) -> tuple[int, httpx.Headers, bytes]:
        """One GET under the base, with the concurrency bound and retries for 429/502/503/504."""
        if not self.contains(url):
            raise FhirError(FhirErrorKind.REFUSED, "refused a URL outside the configured FHIR base URL")
        async with self._limit:
            for attempt in range(MAX_RETRIES + 1):
                status, response_headers, body = await self._send(url, headers, slot)
                if status in RETRY_STATUSES and attempt < MAX_RETRIES:
                    delay = retry_after_seconds(httpx.Response(status, headers=response_headers), attempt)
                    logger.info("FHIR server answered HTTP %d; retrying in %.1fs", status, delay)
                    await self._sleep(delay)
                    continue
                return status, response_headers, body
        raise AssertionError("unreachable")

    async def _send(self, url: httpx.URL, headers: dict[str, str] | None,
                    slot: AnswerSlot) -> tuple[int, httpx.Headers, bytes]:
        request = self._http.build_request("GET", url, headers=headers)
        started = time.perf_counter()
        try:
            response = await self._http.send(request, stream=True)
            try:
                body = await self._read_capped(response, slot)
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
        if logger.isEnabledFor(logging.DEBUG):  # the masked path is worked out only for a line that is written
            logger.debug("GET %s -> %d in %.0f ms", self.masked_path(request.url), response.status_code,
                         (time.perf_counter() - started) * 1000)
        return response.status_code, response.headers, body

    async def _read_capped(self, response: httpx.Response, slot: AnswerSlot) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_response_bytes:
                raise FhirError(FhirErrorKind.INVALID_RESPONSE,
                                f"the FHIR server's answer exceeded {self.max_response_bytes // (1024 * 1024)} MB "
                                "(EPIC_MAX_RESPONSE_MB); ask for fewer results with a smaller count or a "
                                "narrower date range")
            await slot.grown_to(size)
            chunks.append(chunk)
        return b"".join(chunks)

    def _interpret(self, status: int, body: bytes, resource_type: str, interaction: str) -> dict[str, Any]:
        try:
            document = json.loads(body) if body else None
        except RecursionError:
            raise FhirError(FhirErrorKind.INVALID_RESPONSE, f"the FHIR server's answer nests deeper than "
                            f"{MAX_JSON_DEPTH} levels, which no FHIR resource does; it was not used", status) from None
        except ValueError:
            document = None
        if status == 200:
            if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
                raise FhirError(FhirErrorKind.INVALID_RESPONSE,
                                "the FHIR server answered with something that is not a FHIR JSON resource", status)
            if document["resourceType"] == "OperationOutcome" and is_error_outcome(document):
                raise FhirError(FhirErrorKind.BAD_REQUEST, error_text(document, "the request failed"), status)
            return document
        raise self._failure(status, document, resource_type, interaction)

    def _failure(self, status: int, document: Any, resource_type: str, interaction: str) -> FhirError:
        codes = outcome_codes(document)
        is_outcome = isinstance(document, dict) and document.get("resourceType") == "OperationOutcome"
        if status == 404 and not is_outcome and interaction == "search":
            # A search never 404s for lack of results; a 404 without an OperationOutcome (Epic's is an IIS HTML
            # page) comes from the web server in front of the FHIR server: the endpoint itself is missing.
            return FhirError(FhirErrorKind.UNSUPPORTED, f"this FHIR server does not offer {resource_type} search "
                             "(HTTP 404 from the web server, not a FHIR answer): the API is not enabled on this Epic "
                             "instance or for this app", status)
        if status == 404 and not is_outcome:
            return FhirError(FhirErrorKind.NOT_FOUND, f"no {resource_type} with that id (check the id, or find it with "
                             f"a search); a 404 without a FHIR answer can also mean this server does not offer "
                             f"{resource_type} read", status)
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
                             + error_text(document, f"HTTP {status}"), status)
        return FhirError(FhirErrorKind.INVALID_RESPONSE, f"unexpected HTTP {status} from the FHIR server", status)
