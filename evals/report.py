"""Results of a run as data (docs/evals.json, one entry per runner and model, so an oracle run keeps the last
model run and the other way round), and the Markdown made from them: docs/evals.md and the README scoreboard."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.tokens import TOKENIZER

from .bank import TITLES
from .oracle import Outcome

SCOREBOARD_BEGIN, SCOREBOARD_END = "<!-- evals-scoreboard:begin -->", "<!-- evals-scoreboard:end -->"
REPRODUCE = {"oracle": "evals/run", "model": "ANTHROPIC_API_KEY=... evals/run --model {model}"}


def tally(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    return {"asked": len(outcomes), "correct": sum(o.correct for o in outcomes),
            "calls": sum(o.calls for o in outcomes), "tokens": sum(o.tokens for o in outcomes),
            "model_tokens": sum(getattr(o, "model_tokens", 0) for o in outcomes)}


def summarize(outcomes: Sequence[Outcome], *, runner: str, model: str | None, measured: str, commit: str,
              today: str, tools_profile: str) -> dict[str, Any]:
    formats = list(dict.fromkeys(o.fmt for o in outcomes))
    kinds: dict[str, Any] = {}
    for kind in dict.fromkeys(o.question.kind for o in outcomes):
        mine = [o for o in outcomes if o.question.kind == kind]
        kinds[kind] = {"title": TITLES[kind], "asked": len(mine) // len(formats),
                       "tools": sorted({tool for o in mine for tool in o.tools}),
                       "formats": {fmt: tally([o for o in mine if o.fmt == fmt]) for fmt in formats}}
    return {
        "runner": runner, "model": model, "measured": measured, "commit": commit, "today": today,
        "tokenizer": TOKENIZER, "tools_profile": tools_profile,
        "questions": len(outcomes) // len(formats),
        "formats": {fmt: tally([o for o in outcomes if o.fmt == fmt]) for fmt in formats},
        "kinds": kinds,
        "wrong": [{"question": o.question.id, "format": o.fmt, "question_text": o.question.text,
                   "expected": o.question.expected, "answer": (o.answer or "")[:300], "problem": o.problem}
                  for o in outcomes if not o.correct],
    }


def key_of(summary: dict[str, Any]) -> str:
    return summary["runner"] if summary["runner"] == "oracle" else f"model:{summary['model']}"


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def save(path: Path, results: dict[str, Any]) -> None:
    path.write_text(json.dumps(results, indent=1) + "\n")


# Markdown ----------------------------------------------------------------------------------------------------

def percent(tally_: dict[str, Any]) -> str:
    return f"{tally_['correct']}/{tally_['asked']} ({100 * tally_['correct'] / tally_['asked']:.1f}%)" \
        if tally_["asked"] else "-"


def per_correct(tally_: dict[str, Any], field: str = "tokens") -> str:
    return f"{tally_[field] / tally_['correct']:,.0f}" if tally_["correct"] else "-"


def scoreboard(results: dict[str, Any]) -> str:
    rows = ["| Runner | Model | Date | Questions | Right, compact | Right, raw | Tool tokens per correct answer, "
            "compact / raw | Calls per question |",
            "|---|---|---|---:|---:|---:|---:|---:|"]
    for key in sorted(results, key=lambda k: (k != "oracle", k)):
        run = results[key]
        main = run["formats"].get("compact") or run["formats"]["model"]
        raw = run["formats"].get("raw")
        tokens = f"{per_correct(main)} / {per_correct(raw)}" if raw else per_correct(main)
        calls = main["calls"] / main["asked"] if main["asked"] else 0
        rows.append(f"| {run['runner']} | {run['model'] or '-'} | {run['measured'][:10]} | {run['questions']} | "
                    f"{percent(main)} | {percent(raw) if raw else '-'} | {tokens} | {calls:.1f} |")
    return "\n".join(rows)


def runner_section(run: dict[str, Any]) -> list[str]:
    formats = list(run["formats"])
    title = "Oracle runner" if run["runner"] == "oracle" else f"Model runner: {run['model']}"
    command = REPRODUCE[run["runner"]].format(model=run["model"])
    lines = [f"## {title}", "",
             f"Measured {run['measured']}, commit {run['commit']}, data dated for {run['today']}, tools profile "
             f"`{run['tools_profile']}`. Reproduce: `{command}`.", ""]
    head = "| Question kind | Asked | " + " | ".join(f"Right, {f}" for f in formats) + " | Calls per question | " \
        + " | ".join(f"Tool tokens per correct answer, {f}" for f in formats)
    if run["runner"] == "model":
        head += " | Model tokens per correct answer"
    lines += [head + " | Tools called |", "|---|---:|" + "---:|" * (2 * len(formats) + 1)
              + ("---:|" if run["runner"] == "model" else "") + "---|"]
    for kind in run["kinds"].values():
        tallies = [kind["formats"][f] for f in formats]
        row = f"| {kind['title']} | {kind['asked']} | " + " | ".join(percent(t) for t in tallies) \
            + f" | {tallies[0]['calls'] / max(tallies[0]['asked'], 1):.1f} | " \
            + " | ".join(per_correct(t) for t in tallies)
        if run["runner"] == "model":
            row += f" | {per_correct(tallies[0], 'model_tokens')}"
        lines.append(row + f" | {', '.join(kind['tools'])} |")
    totals = [run["formats"][f] for f in formats]
    row = f"| **all** | **{run['questions']}** | " + " | ".join(f"**{percent(t)}**" for t in totals) \
        + f" | {totals[0]['calls'] / max(totals[0]['asked'], 1):.1f} | " + " | ".join(per_correct(t) for t in totals)
    if run["runner"] == "model":
        row += f" | {per_correct(totals[0], 'model_tokens')}"
    lines += [row + " | |", ""]
    if run["wrong"]:
        lines += ["Wrong answers:", ""]
        lines += [f"- `{w['question']}` ({w['format']}): expected `{json.dumps(w['expected'])[:200]}`, answered "
                  f"`{(w['answer'] or '(nothing)')[:200]}`" + (f" ({w['problem']})" if w["problem"] else "")
                  for w in run["wrong"]]
        lines.append("")
    return lines


def evals_markdown(results: dict[str, Any]) -> str:
    tokenizer = next(iter(results.values()))["tokenizer"] if results else TOKENIZER
    lines = [
        "# Accuracy: are the answers right?", "",
        "Written by `evals/run` (see [evals/README.md](../evals/README.md)). The question bank asks MedAgentBench-"
        "style read questions about the seven sandbox patients (latest value, value in a window, counts, lookup by "
        "MRN, active problems, current medications, allergies with criticality, next appointment, the latest "
        "note, trend, abnormal or not); the known answers are computed from the raw FHIR data set dated for the "
        "run's today, by code that does not use epic-mcp's renderer. Answers are graded deterministically (numbers "
        "with units, dates to the day, ids, lists in any order, a key phrase of a note).", "",
        "- **Oracle runner** (CI runs it): for each question the tool calls a well-behaved agent would make, "
        "through the real stdio server, with the answer read off the text the model would get; once in the "
        "compact format and once with `format: \"raw\"` (only catalog tools take `format`; patient_summary, "
        "get_latest_values and get_document_text answer the same in both runs).",
        "- **Model runner**: a real agent loop with a model over MCP, graded by the same graders.", "",
        f"Tokens are counted with {tokenizer}: tool tokens are the text of every tool result read for a question; "
        "tokens per correct answer are all of them divided by the questions answered right. Model tokens are "
        "what the model's API billed (input and output).", "",
        "## Scoreboard", "", scoreboard(results), "",
    ]
    for key in sorted(results, key=lambda k: (k != "oracle", k)):
        lines += runner_section(results[key])
    if not any(k.startswith("model:") for k in results):
        lines += ["## Model runner", "", "Not run yet: it needs a key (`ANTHROPIC_API_KEY=... evals/run --model "
                  "<model>`). Without one it prints \"not run\" and writes nothing.", ""]
    return "\n".join(lines)


def with_scoreboard(readme: str, results: dict[str, Any]) -> str:
    block = f"{SCOREBOARD_BEGIN}\n{scoreboard(results)}\n{SCOREBOARD_END}"
    return re.sub(re.escape(SCOREBOARD_BEGIN) + ".*?" + re.escape(SCOREBOARD_END), lambda _: block, readme,
                  flags=re.S)
