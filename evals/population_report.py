"""The population bank's results as data (docs/evals-population.json) and as Markdown: docs/evals-population.md,
with every question, its oracle plan and the answer, and the README's one-row scoreboard."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .population_bank import TITLES
from .population_oracle import DATA_SETS, Outcome

BEGIN, END = "<!-- population-scoreboard:begin -->", "<!-- population-scoreboard:end -->"
DOC = "docs/evals-population.md"
DESCRIPTIONS = {
    "sandbox": "the seven sandbox patients (clinosim, US), dated for the run's today",
    "unseen": "six US and six Japanese clinosim patients (JP Core: JLAC10 before LOINC, JP Core categories, YJ and "
              "HOT drug codes), moved to end just before today",
}


def summarize(outcomes: Sequence[Outcome], *, measured: str, commit: str, today: str) -> dict[str, Any]:
    data_sets: dict[str, Any] = {}
    for name in DATA_SETS:
        mine = [o for o in outcomes if o.question.data_set == name]
        kinds: dict[str, Any] = {}
        for o in mine:
            kind = kinds.setdefault(o.question.kind, {"title": TITLES[o.question.kind], "asked": 0, "correct": 0})
            kind["asked"] += 1
            kind["correct"] += o.correct
        data_sets[name] = {
            "asked": len(mine), "correct": sum(o.correct for o in mine), "kinds": kinds,
            "questions": [{"id": o.question.id, "question": o.question.text, "plan": o.question.plan,
                           "expected": o.question.expected, "answer": o.answer, "correct": o.correct,
                           **({"problem": o.problem} if o.problem else {})} for o in mine],
        }
    return {"runner": "oracle", "measured": measured, "commit": commit, "today": today, "data_sets": data_sets}


def percent(correct: int, asked: int) -> str:
    return f"{correct}/{asked} ({100 * correct / asked:.1f}%)" if asked else "-"


def scoreboard(run: dict[str, Any]) -> str:
    sets = run["data_sets"]
    asked = sum(s["asked"] for s in sets.values())
    return "\n".join([
        "| Population questions | Date | Questions | Right, sandbox | Right, unseen (US + JP) | Details |",
        "|---|---|---:|---:|---:|---|",
        f"| oracle SQL through query_population | {run['measured'][:10]} | {asked} | "
        f"{percent(sets['sandbox']['correct'], sets['sandbox']['asked'])} | "
        f"{percent(sets['unseen']['correct'], sets['unseen']['asked'])} | [{DOC}]({DOC}) |"])


def markdown(run: dict[str, Any]) -> str:
    lines = [
        "# Accuracy of population answers", "",
        "Written by `evals/run --population` (see [evals/README.md](../evals/README.md)). Each data set is written as "
        "`epic-mcp export` leaves it (one NDJSON file per resource type, merged, loaded into the population "
        "database); the questions are drawn from the data (its most common conditions, tests, drugs and vaccines, "
        "thresholds at the median of the patients' latest values) and their known answers are computed from the "
        "raw NDJSON by `evals/population_truth.py`, which does not use the views, their code-system table or the "
        "database. Each question's oracle plan is the one SQL statement an agent sends through `query_population` "
        "after reading `describe_population_data`; the answer is read off the text the model gets and graded "
        "exactly (counts, per-group counts, patient ids; a mean to 0.005). CI runs the bank "
        "(`tests/test_evals_population.py`) and requires at least 98% on each data set.", "",
        f"Measured {run['measured']}, commit {run['commit']}, data dated for {run['today']}.", "",
        "## Scoreboard", "", scoreboard(run), "",
    ]
    for name, data in run["data_sets"].items():
        lines += [f"## {name}: {DESCRIPTIONS[name]}", "",
                  "| Question kind | Asked | Right |", "|---|---:|---:|"]
        lines += [f"| {kind['title']} | {kind['asked']} | {percent(kind['correct'], kind['asked'])} |"
                  for kind in data["kinds"].values()]
        lines += [f"| **all** | **{data['asked']}** | **{percent(data['correct'], data['asked'])}** |", ""]
        wrong = [q for q in data["questions"] if not q["correct"]]
        if wrong:
            lines += ["Wrong answers:", ""]
            lines += [f"- `{q['id']}`: expected `{json.dumps(q['expected'])[:200]}`, answered `{q['answer']}`"
                      + (f" ({q['problem']})" if q.get("problem") else "") for q in wrong]
            lines.append("")
        lines += ["Questions and oracle plans:", ""]
        for q in data["questions"]:
            lines += [f"- `{q['id']}` ({'right' if q['correct'] else 'wrong'}): {q['question']}", "",
                      f"  ```sql\n  {q['plan']}\n  ```", ""]
    return "\n".join(lines)


def with_scoreboard(readme: str, run: dict[str, Any]) -> str:
    block = f"{BEGIN}\n{scoreboard(run)}\n{END}"
    return re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, readme, flags=re.S)


def write(root: Path, run: dict[str, Any]) -> None:
    (root / "docs" / "evals-population.json").write_text(json.dumps(run, indent=1, ensure_ascii=False) + "\n")
    (root / DOC).write_text(markdown(run))
    readme = root / "README.md"
    readme.write_text(with_scoreboard(readme.read_text(), run))
