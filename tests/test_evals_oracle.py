"""The accuracy evaluation's oracle runner in CI: every question of the bank asked through the real stdio server
on a fresh local sandbox, as evals/run does, in the compact format and with format "raw"; at least 98% of at
least 100 questions must be answered right in each."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from epic_mcp.sandbox import data_set
from evals.bank import KINDS, question_bank
from evals.oracle import Outcome, run_oracle
from evals.sandbox import local_sandbox
from evals.session import FORMATS

pytestmark = pytest.mark.e2e
QUESTIONS_AT_LEAST = 100
ACCURACY_AT_LEAST = 0.98


@pytest.fixture(scope="module")
def outcomes() -> list[Outcome]:
    with local_sandbox() as target:
        questions = question_bank(data_set(target.today), target.today)
        return asyncio.run(run_oracle(target.server, questions))


def wrong(outcomes: list[Outcome]) -> str:
    return "\n".join(f"{o.question.id} ({o.fmt}): expected {o.question.expected!r:.200}, read {o.answer!r:.200}"
                     f"{f' ({o.problem})' if o.problem else ''}" for o in outcomes if not o.correct)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_oracle_answers_at_least_98_percent_of_at_least_100_questions(outcomes, fmt) -> None:
    mine = [o for o in outcomes if o.fmt == fmt]
    assert len(mine) >= QUESTIONS_AT_LEAST
    assert sum(o.correct for o in mine) >= ACCURACY_AT_LEAST * len(mine), wrong(mine)


def test_every_kind_is_asked_of_every_patient_and_costs_tool_calls(outcomes) -> None:
    asked = Counter((o.question.kind, o.question.patient_id) for o in outcomes if o.fmt == "compact")
    patients = {o.question.patient_id for o in outcomes}
    assert len(patients) == 7
    for kind in KINDS:
        assert {p for k, p in asked if k == kind.name} == patients, kind.name
    assert all(o.calls >= 1 and o.tokens > 0 for o in outcomes)


def test_raw_costs_more_tokens_where_a_catalog_tool_answers(outcomes) -> None:
    """The raw run really sends format "raw": where the plan calls a search tool, it reads more tokens."""
    by_kind: dict[tuple[str, str], int] = Counter()
    for o in outcomes:
        by_kind[(o.question.kind, o.fmt)] += o.tokens
    for kind in ("value_in_window", "mrn_lookup", "immunization_count"):
        assert by_kind[(kind, "raw")] > by_kind[(kind, "compact")], kind
