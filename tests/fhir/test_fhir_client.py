"""FHIR client details: Retry-After parsing, answer bounds, URL rules, hostile JSON."""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epic_mcp.auth.urls import has_path_tricks, is_within_base
from epic_mcp.fhir.client import (
    MAX_RETRY_AFTER_SECONDS,
    AnswerGate,
    Page,
    may_nest_deeper,
    nesting_depth_exceeds,
    retry_after_seconds,
    take_results,
)


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


# Answer bounds, URL rules, hostile JSON --------------------------------------------------------------------------

def test_a_page_is_cut_to_the_results_asked_for_and_outcome_entries_are_kept() -> None:
    bundle = {"resourceType": "Bundle", "entry": [
        {"resource": {"resourceType": "Observation", "id": f"o{i}"}, "search": {"mode": "match"}} for i in range(5)]
        + [{"resource": {"resourceType": "OperationOutcome", "issue": []}, "search": {"mode": "outcome"}}]}
    url = httpx.URL("https://epic.example.org/R4/Observation?patient=p")

    def ids(page: Page) -> list[str]:
        return [e["resource"]["id"] for e in page.bundle["entry"] if "id" in e["resource"]]

    first, second, last = (take_results(bundle, url, skip, 2) for skip in (0, 2, 4))
    assert (ids(first), ids(second), ids(last)) == (["o0", "o1"], ["o2", "o3"], ["o4"])
    assert [(p.results, p.skip, p.remaining) for p in (first, second, last)] == [(5, 0, 3), (5, 2, 1), (5, 4, 0)]
    assert all(p.bundle["entry"][-1]["resource"]["resourceType"] == "OperationOutcome" for p in (first, last))
    assert len(bundle["entry"]) == 6, "the server's document itself is not changed"
    whole = take_results(bundle, url, 0, None)
    assert whole.bundle is bundle and (whole.results, whole.remaining) == (5, 0)


@pytest.mark.anyio
async def test_only_one_large_answer_is_in_flight_at_a_time_and_small_ones_pass_freely() -> None:
    """Ordered by the gate alone, not by timers: a loaded CI machine once reordered a sleep-paced version."""
    gate = AnswerGate(threshold=100)
    second_read_large = asyncio.Event()

    async def second_large_answer() -> None:
        async with gate.answer() as slot:
            await slot.grown_to(60)
            await slot.grown_to(200)
            second_read_large.set()

    async with gate.answer() as first:
        await first.grown_to(150)
        second = asyncio.create_task(second_large_answer())
        for _ in range(20):
            await asyncio.sleep(0)
        assert not second_read_large.is_set(), "the second large answer waited for the first"

        async def small_answer() -> None:
            async with gate.answer() as small:
                for size in (10, 20, 90, 100):
                    await small.grown_to(size)

        await asyncio.wait_for(small_answer(), timeout=5)
        assert not second_read_large.is_set(), "a small answer passed while the large one was still in flight"
    await asyncio.wait_for(second, timeout=5)
    assert second_read_large.is_set(), "the second large answer read on once the first was done"


@pytest.mark.parametrize("path", [
    "/R4/%2e%2e/%2e%2e/oauth2/token", "/R4/%2E%2E/x", "/R4/Patient%2fx", "/R4/Patient%5Cx", "/R4/Patient\\x",
    "/R4/%2e/Patient",
])
def test_encoded_dots_slashes_and_backslashes_are_never_within_the_base(path: str) -> None:
    base = httpx.URL("https://epic.example.org/R4/")
    assert has_path_tricks(httpx.URL(f"https://epic.example.org{path}"))
    assert not is_within_base(httpx.URL(f"https://epic.example.org{path}"), base)


def test_ids_with_dots_and_queries_with_encoded_characters_stay_within_the_base() -> None:
    base = httpx.URL("https://epic.example.org/R4/")
    for url in ("https://epic.example.org/R4/Patient/e0w0LEDCYtfckT6N.CkJKCw3",
                "https://epic.example.org/R4/Observation?code=http%3A%2F%2Floinc.org%7C8480-6&x=%2e%2e"):
        assert is_within_base(httpx.URL(url), base), url


def test_nesting_depth_is_measured_without_recursion() -> None:
    deep: Any = []
    for _ in range(50_000):
        deep = [deep]
    assert nesting_depth_exceeds({"a": deep}, 100)
    assert not nesting_depth_exceeds({"a": [[{"b": 1}]]}, 4)
    assert nesting_depth_exceeds({"a": [[{"b": {}}]]}, 4)


def _depth(value: Any) -> int:
    """The nesting depth of a JSON value by its definition: a container is one deeper than its deepest child."""
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return 1 + max((_depth(child) for child in children if isinstance(child, (dict, list))), default=0)


json_trees = st.recursive(st.none() | st.integers() | st.text(alphabet="{[]}\"ab ", max_size=4),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner,
                                                                                          max_size=3),
                          max_leaves=40)


@settings(max_examples=int(os.environ.get("EPIC_MCP_PROPERTY_EXAMPLES", "300")), deadline=None)
@given(st.dictionaries(st.text(max_size=2), json_trees, max_size=3), st.integers(min_value=1, max_value=12))
def test_the_depth_guard_agrees_with_the_definition_and_the_bracket_count_bounds_it(document: Any, limit: int) -> None:
    """The level-by-level walk says what the recursive definition says; and an answer whose raw JSON has no more
    opening brackets than the limit (brackets inside strings count too) never nests deeper, so skipping the walk
    for it drops nothing."""
    deeper = _depth(document) > limit
    assert nesting_depth_exceeds(document, limit) == deeper
    for body in (json.dumps(document).encode(), json.dumps(document, ensure_ascii=False).encode("utf-16")):
        assert may_nest_deeper(body, limit) or not deeper
