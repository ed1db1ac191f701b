"""FHIR Bulk Data ($export) over HTTP: kick-off, status, resumable file downloads and cancel.

Every request that carries the access token goes through the shared TokenManager and BearerAuth (token only
under the FHIR base, one refresh on 401). Output files the manifest marks `requiresAccessToken` are fetched with
the token only when they lie under the FHIR base; anywhere else they are refused. Files that need no token are
fetched without it, from https (or loopback http) only.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
import httpx

from ..auth.token import BearerAuth, TokenManager
from ..auth.urls import is_within_base
from ..errors import EpicMcpError, FhirError, TokenError
from ..fhir.client import RETRY_STATUSES, retry_after_seconds
from ..fhir.outcome import outcome_messages
from ..settings import Settings, check_url

logger = logging.getLogger(__name__)

Level = Literal["group", "patient"]
NDJSON = "application/fhir+ndjson"
MAX_RETRY_AFTER = 3600.0
KICKOFF_ATTEMPTS = 4
DOWNLOAD_ATTEMPTS = 4


class BulkError(EpicMcpError):
    """A Bulk Data step failed; the message says what to do (often: run the same command again to resume)."""


@dataclass(frozen=True)
class ExportRequest:
    level: Level
    group_id: str | None
    types: tuple[str, ...] = ()
    since: str | None = None


@dataclass(frozen=True)
class Pending:
    """The export is still running (202), or the status endpoint asked us to come back later (429/503)."""

    progress: str | None
    retry_after: float | None
    busy: bool = False


@dataclass(frozen=True)
class OutputFile:
    type: str
    url: str
    count: int | None


@dataclass(frozen=True)
class Manifest:
    transaction_time: str
    requires_token: bool
    output: tuple[OutputFile, ...]
    errors: tuple[OutputFile, ...]


def _said(response_body: bytes) -> str:
    try:
        messages = outcome_messages(json.loads(response_body))
    except ValueError:
        return ""
    return f": {'; '.join(messages)[:300]}" if messages else ""


def _retry_after(response: httpx.Response) -> float | None:
    if "retry-after" not in response.headers:
        return None
    return retry_after_seconds(response, 0, cap=MAX_RETRY_AFTER)


def _files(items: Any, what: str) -> tuple[OutputFile, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise BulkError(f"the export manifest's {what} is not a list")
    files = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("url"), str) or not isinstance(item.get("type"), str):
            raise BulkError(f"the export manifest has a {what} entry without type and url")
        count = item.get("count")
        files.append(OutputFile(item["type"], item["url"], count if isinstance(count, int) else None))
    return tuple(files)


def parse_manifest(body: bytes) -> Manifest:
    try:
        document = json.loads(body)
    except ValueError:
        raise BulkError("the export finished but its manifest is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("transactionTime"), str):
        raise BulkError("the export manifest has no transactionTime")
    return Manifest(document["transactionTime"], document.get("requiresAccessToken") is True,
                    _files(document.get("output"), "output"), _files(document.get("error"), "error"))


class BulkClient:
    """One FHIR server's $export endpoints, on the process's shared token manager."""

    def __init__(self, settings: Settings, tokens: TokenManager, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, verify: Any = True) -> None:
        self._base = httpx.URL(settings.fhir_base_url + "/")
        self._sleep = sleep
        timeout = httpx.Timeout(settings.epic_http_timeout, connect=settings.epic_connect_timeout)
        self._authed = httpx.AsyncClient(auth=BearerAuth(tokens, settings.fhir_base_url), timeout=timeout,
                                         follow_redirects=False, verify=verify)
        self._plain = httpx.AsyncClient(timeout=timeout, follow_redirects=False, verify=verify)

    async def aclose(self) -> None:
        await self._authed.aclose()
        await self._plain.aclose()

    def kickoff_url(self, request: ExportRequest) -> httpx.URL:
        segments = ["Group", request.group_id or "", "$export"] if request.level == "group" else ["Patient", "$export"]
        return self._base.copy_with(path=self._base.path + "/".join(segments))

    async def kickoff(self, request: ExportRequest) -> str:
        """Start an export; returns the status URL (Content-Location)."""
        params = [("_type", ",".join(request.types))] if request.types else []
        if request.since:
            params.append(("_since", request.since))
        headers = {"Accept": "application/fhir+json", "Prefer": "respond-async"}
        url = self.kickoff_url(request)
        for attempt in range(KICKOFF_ATTEMPTS):
            response = await self._send(self._authed, "GET", url, headers=headers, params=params)
            if response.status_code in RETRY_STATUSES and attempt < KICKOFF_ATTEMPTS - 1:
                await self._sleep(retry_after_seconds(response, attempt))
                continue
            break
        if response.status_code != 202:
            raise self._kickoff_failure(response, request)
        location = response.headers.get("content-location", "")
        if not location or not is_within_base(httpx.URL(location), self._base):
            raise BulkError("the server accepted the export but its status URL (Content-Location) is missing or "
                            "outside the FHIR base; the access token is not sent there")
        return location

    def _kickoff_failure(self, response: httpx.Response, request: ExportRequest) -> BulkError:
        status, said = response.status_code, _said(response.content)
        if status == 404 and request.level == "group":
            return BulkError(f"the server has no Group {request.group_id}{said} (check EPIC_BULK_GROUP_ID or "
                             "--group: Epic's group ids come from the health system)")
        if status == 403:
            return BulkError(f"the app is not authorized for Bulk Data export{said} (Epic: the health system must "
                             "register the group for this client and grant system/*.read on the exported types)")
        if status == 401:
            return BulkError("authentication failed even with a fresh access token; run `epic-mcp doctor`")
        if status in (400, 422):
            return BulkError(f"the server rejected the export request{said or f' (HTTP {status})'}")
        if status in RETRY_STATUSES:
            return BulkError(f"the FHIR server is busy (HTTP {status} on {KICKOFF_ATTEMPTS} attempts){said}; start "
                             "the export again in a few minutes")
        return BulkError(f"the export could not start: HTTP {status}{said}")

    async def poll(self, status_url: str) -> Pending | Manifest:
        """One status check: Pending while running (or while the server asks us to back off), else the manifest."""
        response = await self._send(self._authed, "GET", httpx.URL(status_url),
                                    headers={"Accept": "application/json"})
        status = response.status_code
        if status == 202:
            progress = response.headers.get("x-progress")
            return Pending(progress[:100] if progress else None, _retry_after(response))
        if status == 200:
            return parse_manifest(response.content)
        if status in RETRY_STATUSES:
            return Pending(f"server busy (HTTP {status})", _retry_after(response), busy=True)
        if status in (404, 410):
            raise BulkError("the server no longer knows this export (expired or cancelled there); start a new one "
                            "with `epic-mcp export --restart`")
        if status == 401:
            raise BulkError("authentication failed even with a fresh access token; run `epic-mcp doctor`")
        raise BulkError(f"the export failed on the server: HTTP {status}{_said(response.content)}")

    async def cancel(self, status_url: str) -> bool:
        """DELETE the job (cancels it, or lets the server drop finished files); False if it was already gone."""
        response = await self._send(self._authed, "DELETE", httpx.URL(status_url))
        if response.status_code in (404, 410):
            return False
        if response.status_code >= 300:
            raise BulkError(f"the server refused to cancel the export: HTTP {response.status_code}")
        return True

    def client_for(self, url: str, requires_token: bool) -> httpx.AsyncClient:
        """The token goes only to files under the FHIR base; files that need no token come from https only."""
        target = httpx.URL(url)
        if is_within_base(target, self._base):
            return self._authed if requires_token else self._plain
        if requires_token:
            raise BulkError(f"the export manifest points to a file on another server ({target.host}) and says it "
                            "requires the access token; refusing to send the token outside the FHIR base URL")
        try:
            check_url("export file URL", url)
        except ValueError as exc:
            raise BulkError(str(exc)) from None
        return self._plain

    async def download(self, file: OutputFile, requires_token: bool, target: Path,
                       on_bytes: Callable[[int], None] = lambda _: None) -> int:
        """Fetch one output file into `target`, continuing from its current size with a Range request when the
        server supports it (206); a 200 starts the file again. Returns the file's size."""
        client = self.client_for(file.url, requires_token)
        path = anyio.Path(target)
        for attempt in range(DOWNLOAD_ATTEMPTS):
            offset = (await path.stat()).st_size if await path.exists() else 0
            headers = {"Accept": NDJSON, **({"Range": f"bytes={offset}-"} if offset else {})}
            request = client.build_request("GET", file.url, headers=headers)
            try:
                response = await client.send(request, stream=True)
            except (httpx.TransportError, FhirError, TokenError) as exc:
                raise self._broken(file, target, exc) from None
            try:
                if response.status_code in RETRY_STATUSES:  # asked again, or given up after the last attempt
                    if attempt < DOWNLOAD_ATTEMPTS - 1:
                        await self._sleep(retry_after_seconds(response, attempt, cap=MAX_RETRY_AFTER))
                    continue
                if response.status_code == 416 and offset:
                    return offset
                append = response.status_code == 206 and offset > 0 and \
                    response.headers.get("content-range", "").startswith(f"bytes {offset}-")
                if response.status_code != 200 and not append:
                    raise self._file_failure(file, response.status_code)
                async with await anyio.open_file(target, "ab" if append else "wb") as sink:
                    async for chunk in response.aiter_bytes():
                        await sink.write(chunk)
                        on_bytes(len(chunk))
            except httpx.TransportError as exc:
                raise self._broken(file, target, exc) from None
            finally:
                await response.aclose()
            return (await path.stat()).st_size
        raise BulkError(f"the server stayed busy while sending the {file.type} file; run again later to resume")

    @staticmethod
    def _file_failure(file: OutputFile, status: int) -> BulkError:
        if status in (404, 410):
            return BulkError(f"the {file.type} file is gone from the server (export files expire); start a new "
                             "export with `epic-mcp export --restart`")
        if status == 401:
            return BulkError("authentication failed for an export file even with a fresh access token")
        return BulkError(f"downloading the {file.type} file failed: HTTP {status}; run again to resume")

    @staticmethod
    def _broken(file: OutputFile, target: Path, exc: Exception) -> BulkError:
        size = target.stat().st_size if target.exists() else 0
        reason = str(exc) if isinstance(exc, EpicMcpError) else type(exc).__name__
        return BulkError(f"downloading the {file.type} file broke off after {size} bytes ({reason}); "
                         "run again to resume")

    async def _send(self, client: httpx.AsyncClient, method: str, url: httpx.URL, *,
                    headers: dict[str, str] | None = None,
                    params: Sequence[tuple[str, str]] | None = None) -> httpx.Response:
        try:
            return await client.request(method, url, headers=headers, params=list(params) if params else None)
        except httpx.TimeoutException:
            raise BulkError("the FHIR server did not answer in time; run again later to resume") from None
        except httpx.TransportError as exc:
            raise BulkError(f"could not reach the FHIR server ({type(exc).__name__}); run again to resume") from None
        except TokenError as exc:
            raise BulkError(f"could not get an access token: {exc}") from None
        except FhirError as exc:
            raise BulkError(str(exc)) from None
