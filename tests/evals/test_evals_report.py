"""docs/evals.md and the README scoreboard are made from docs/evals.json by evals/run, and say what the issue
asks: accuracy in compact and raw, tokens per correct answer, the tokenizer, date, commit, runner and model."""

from __future__ import annotations

from pathlib import Path

from evals import report
from evals.bank import Question
from evals.model import ModelOutcome
from evals.oracle import Outcome

ROOT = Path(__file__).resolve().parents[2]
RESULTS = report.load(ROOT / "docs" / "evals.json")
META = {"measured": "2030-01-02 03:04 UTC", "commit": "abc1234", "today": "2030-01-02", "tools_profile": "all"}


def question(number: int, kind: str = "trend") -> Question:
    return Question(f"{kind}/p/{number}", kind, "p", "Is it rising?", "choice", "rising")


def test_docs_and_readme_are_generated_from_the_results() -> None:
    assert (ROOT / "docs" / "evals.md").read_text() == report.evals_markdown(RESULTS), "run evals/run"
    readme = (ROOT / "README.md").read_text()
    assert f"{report.SCOREBOARD_BEGIN}\n{report.scoreboard(RESULTS)}\n{report.SCOREBOARD_END}" in readme
    assert "[docs/evals.md](docs/evals.md)" in readme


def test_the_published_oracle_run_meets_the_bar() -> None:
    oracle = RESULTS["oracle"]
    assert oracle["questions"] >= 100 and set(oracle["formats"]) == {"compact", "raw"}
    for tally in oracle["formats"].values():
        assert tally["correct"] >= 0.98 * tally["asked"] and tally["tokens"] > 0
    assert "cl100k_base" in oracle["tokenizer"] and oracle["commit"] and oracle["measured"]


def test_tokens_per_correct_answer_divide_all_tokens_by_the_right_answers() -> None:
    outcomes = [Outcome(question(1), "compact", "rising", True, 1, 100),
                Outcome(question(2), "compact", "x", False, 2, 50),
                Outcome(question(1), "raw", "rising", True, 1, 400),
                Outcome(question(2), "raw", "rising", True, 1, 200)]
    summary = report.summarize(outcomes, runner="oracle", model=None, **META)
    board = report.scoreboard({"oracle": summary})
    assert "| 1/2 (50.0%) | 2/2 (100.0%) | 150 / 300 | 1.5 |" in board
    assert summary["wrong"][0]["question"] == "trend/p/2"


def test_a_model_run_is_kept_beside_the_oracle_run_with_its_model_and_billed_tokens() -> None:
    model_run = report.summarize([ModelOutcome(question(1), "model", "rising", True, 3, 900, ("get_latest_values",),
                                               model_tokens=20_000)], runner="model", model="claude-x-1", **META)
    results = {"oracle": RESULTS["oracle"], report.key_of(model_run): model_run}
    markdown = report.evals_markdown(results)
    assert "## Model runner: claude-x-1" in markdown
    assert "| model | claude-x-1 | 2030-01-02 | 1 | 1/1 (100.0%)" in markdown
    assert "| 20,000 |" in markdown and "Not run yet" not in markdown
    assert "## Oracle runner" in markdown


def test_the_published_minimum_phi_mode_run_loses_at_most_2_points_against_the_full_mode_of_its_run() -> None:
    """The comparison is kept with the minimum run (a later full-mode-only run does not change what it says)."""
    minimum = RESULTS["oracle:phi-minimum"]
    assert minimum["phi_mode"] == "minimum" and minimum["questions"] >= 100
    assert set(minimum["phi"]["kinds"]) == set(minimum["kinds"])
    for fmt, tally in minimum["formats"].items():
        asked, full, right = (sum(kind[fmt][field] for kind in minimum["phi"]["kinds"].values())
                              for field in ("asked", "full", "minimum"))
        assert (asked, right) == (tally["asked"], tally["correct"])
        assert 100 * (full - right) / asked <= 2, fmt
