"""The population question bank in CI: both data sets exported (NDJSON, merged, loaded into DuckDB), every
question's oracle plan sent through query_population, each answer read off the tool's text and graded against the
raw NDJSON's answer. At least 98% on each data set, at least 30 questions. The known answers must not come from
the code under test. (Spark's tables against DuckDB's are compared in tests/test_e2e_population.py.)"""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

from evals import population_report
from evals.population_bank import KINDS, Question
from evals.population_oracle import DATA_SETS, Outcome, grade, read_answer, run_data_set

from ..conftest import run_today

QUESTIONS_AT_LEAST = 30
ACCURACY_AT_LEAST = 0.98
EVALS = Path(__file__).resolve().parents[2] / "evals"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Outcome]]:
    work = tmp_path_factory.mktemp("evals-population")
    return {name: asyncio.run(run_data_set(name, run_today(), work)) for name in DATA_SETS}


def test_the_bank_asks_every_kind_of_population_question_with_its_plan(outcomes) -> None:
    every = [o.question for found in outcomes.values() for o in found]
    assert len(every) >= QUESTIONS_AT_LEAST
    assert len({q.id for q in every}) == len(every)
    assert {q.kind for q in every} == {kind.name for kind in KINDS}
    assert all(q.plan.upper().startswith(("SELECT", "WITH")) for q in every)
    unseen = [o.question for o in outcomes["unseen"]]
    assert {"jlac10", "condition_and_lab", "latest_above", "medication", "encounters"} <= {q.kind for q in unseen}
    by_country = next(q for q in unseen if q.id == "unseen/patients/by-country")
    assert by_country.expected == {"US": 6, "JP": 6}


@pytest.mark.parametrize("data_set", list(DATA_SETS))
def test_population_answers_are_right_on_each_data_set(outcomes, data_set: str) -> None:
    found = outcomes[data_set]
    wrong = [(o.question.id, o.question.expected, o.answer, o.problem) for o in found if not o.correct]
    assert sum(o.correct for o in found) >= ACCURACY_AT_LEAST * len(found), wrong
    assert len(found) >= 15


def test_the_known_answers_do_not_come_from_the_code_under_test() -> None:
    """The truth reads the NDJSON itself; the bank only picks questions from it. Neither may use the views, the
    code-system table or the database they grade."""
    for module, allowed in (("population_truth.py", set()), ("population_bank.py", {"population_truth"})):
        tree = ast.parse((EVALS / module).read_text())
        imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        assert not {name for name in imported if name.startswith("epic_mcp")}, module
        assert {name for name in imported if name and not name.startswith(("__", "collections", "dataclasses",
                                                                           "datetime", "json", "pathlib", "typing",
                                                                           "statistics"))} <= allowed, module


def question(form: str, expected: object) -> Question:
    return Question("set/kind/key", "kind", "set", "?", form, expected, "SELECT 1")


@pytest.mark.parametrize("form, text, expected, right", [
    ("count", "1 row(s), 3 ms\n<patient-text>\ncount_star()\n4\n</patient-text>", 4, True),
    ("count", "1 row(s), 3 ms\n<patient-text>\ncount_star()\n5\n</patient-text>", 4, False),
    ("mapping", "2 row(s), 3 ms\n<patient-text>\ncountry | n\nJP | 6\n | 1\n</patient-text>", {"JP": 6, None: 1}, True),
    ("mapping", "1 row(s), 3 ms\n<patient-text>\ncountry | n\nJP | 6\n</patient-text>", {"JP": 6, "US": 6}, False),
    ("ids", "2 row(s), 3 ms\n<patient-text>\npatient_id\nb\na\n</patient-text>", ["a", "b"], True),
    ("ids", "1 row(s), 3 ms\n<patient-text>\npatient_id\na\n</patient-text>", ["a", "b"], False),
    ("number", "1 row(s), 3 ms\n<patient-text>\nmean\n4.33\n</patient-text>", 4.33, True),
    ("number", "1 row(s), 3 ms\n<patient-text>\nmean\n4.4\n</patient-text>", 4.33, False),
    ("count", "0 row(s), 3 ms\n<patient-text>\ncount_star()\n</patient-text>", 0, False),
])
def test_answers_are_read_off_the_tool_text_and_graded_exactly(form: str, text: str, expected: object,
                                                               right: bool) -> None:
    assert grade(question(form, expected), read_answer(form, text)) is right


def test_the_report_has_one_scoreboard_row_pointing_to_the_details(outcomes) -> None:
    run = population_report.summarize([o for found in outcomes.values() for o in found], measured="2026-12-06 10:00",
                                      commit="abc", today="2026-12-06")
    board = population_report.scoreboard(run).splitlines()
    assert len(board) == 3 and population_report.DOC in board[2]
    readme = f"x\n{population_report.BEGIN}\nold\n{population_report.END}\ny"
    assert population_report.with_scoreboard(readme, run) == f"x\n{population_report.BEGIN}\n" \
        + "\n".join(board) + f"\n{population_report.END}\ny"
    page = population_report.markdown(run)
    assert all(o.question.plan in page for found in outcomes.values() for o in found), "every oracle plan is shown"
