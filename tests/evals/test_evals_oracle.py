"""The accuracy evaluation's oracle runner in CI: every question of the bank asked through the real stdio server
on a fresh local sandbox, as evals/run does, in the compact format and with format "raw"; at least 98% of at
least 100 questions must be answered right in each. Then the same bank again over the server in the
PHI-minimising mode (evals/run --phi minimum), each answer read back with the deployment secret: it may lose at
most 2 points against the full mode of the same run (issue 15)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from epic_mcp.sandbox import data_set
from evals.bank import KINDS, Question, question_bank
from evals.oracle import Outcome, run_oracle
from evals.phi import MinimumOutcome, SecretHolder, comparison, run_minimum
from evals.sandbox import Target, local_sandbox
from evals.session import FORMATS

pytestmark = pytest.mark.e2e
QUESTIONS_AT_LEAST = 100
ACCURACY_AT_LEAST = 0.98
POINTS_THE_PHI_MODE_MAY_LOSE = 2


@pytest.fixture(scope="module")
def target(sandbox_data: Path) -> Iterator[Target]:
    with local_sandbox(data=sandbox_data) as target:
        yield target


@pytest.fixture(scope="module")
def questions(target: Target) -> list[Question]:
    return question_bank(data_set(target.today), target.today)


@pytest.fixture(scope="module")
def outcomes(target: Target, questions: list[Question]) -> list[Outcome]:
    return asyncio.run(run_oracle(target.server, questions))


@pytest.fixture(scope="module")
def holder(target: Target) -> SecretHolder:
    return SecretHolder(target.today)


@pytest.fixture(scope="module")
def minimum(target: Target, questions: list[Question], holder: SecretHolder) -> list[MinimumOutcome]:
    return asyncio.run(run_minimum(holder, target.server, questions, data_set(target.today)["patients"]))


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


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_minimum_phi_mode_loses_at_most_2_points_against_the_full_mode(outcomes, minimum, fmt) -> None:
    full = [o for o in outcomes if o.fmt == fmt]
    mine = [o for o in minimum if o.fmt == fmt]
    assert [o.question.id for o in mine] == [o.question.id for o in full]
    lost = 100 * (sum(o.correct for o in full) - sum(o.correct for o in mine)) / len(full)
    assert lost <= POINTS_THE_PHI_MODE_MAY_LOSE, "\n".join(
        f"{d['question']} ({d['format']}): full {d['full_answer']!r:.100}, minimum read {d['read']!r:.100}, read "
        f"back {d['read_back']!r:.100} {d['problem'] or ''}" for d in comparison(full, mine)["differences"])


def test_every_question_is_asked_in_the_minimum_mode_and_none_is_left_out(questions, minimum) -> None:
    for fmt in FORMATS:
        assert [o.question for o in minimum if o.fmt == fmt] == questions
    assert all(o.calls >= 1 and o.tokens > 0 for o in minimum)


def test_the_minimum_mode_answers_in_pseudonyms_and_shifted_dates_that_the_secret_reads_back(minimum, holder
                                                                                              ) -> None:
    """The server really was in the minimum mode: an MRN finds a patient pseudonym, not the id, and the next
    appointment is the patient's offset away from the real one; read back, both are right."""
    by_kind: dict[str, list[MinimumOutcome]] = {}
    for o in minimum:
        by_kind.setdefault(o.question.kind, []).append(o)
    for o in by_kind["mrn_lookup"]:
        assert o.read != o.question.expected and o.correct
        assert holder.deid.codec.real("Patient", o.read or "") == o.question.expected
    for o in by_kind["next_appointment"]:
        shifted = date.fromisoformat((o.read or "")[:10])
        assert shifted - date.fromisoformat(o.question.expected) == timedelta(days=holder.offset(
            o.question.patient_id)) != timedelta(0)
        assert o.correct
