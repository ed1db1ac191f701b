"""FHIR client details: Retry-After parsing and the response size cap."""

from __future__ import annotations

import email.utils

import httpx
import pytest

from epic_mcp.fhir_client import MAX_RETRY_AFTER_SECONDS, retry_after_seconds


def _response(retry_after: str | None) -> httpx.Response:
    return httpx.Response(429, headers={"Retry-After": retry_after} if retry_after is not None else {})


@pytest.mark.parametrize(("header", "expected"), [("2", 2.0), ("0", 0.0), ("3600", MAX_RETRY_AFTER_SECONDS)])
def test_retry_after_in_seconds_is_honoured_and_capped(header: str, expected: float) -> None:
    assert retry_after_seconds(_response(header), attempt=0) == expected


def test_retry_after_as_http_date_is_honoured_and_capped() -> None:
    now = 1_800_000_000.0
    soon = email.utils.formatdate(now + 4, usegmt=True)
    later = email.utils.formatdate(now + 600, usegmt=True)
    past = email.utils.formatdate(now - 60, usegmt=True)
    assert retry_after_seconds(_response(soon), attempt=0, now=now) == pytest.approx(4, abs=1)
    assert retry_after_seconds(_response(later), attempt=0, now=now) == MAX_RETRY_AFTER_SECONDS
    assert retry_after_seconds(_response(past), attempt=0, now=now) == 0.0


def test_missing_or_unreadable_retry_after_backs_off_exponentially() -> None:
    assert [retry_after_seconds(_response(None), attempt=a) for a in range(3)] == [0.5, 1.0, 2.0]
    assert retry_after_seconds(_response("soon"), attempt=1) == 1.0
