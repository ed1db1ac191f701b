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
REPRODUCE = {"oracle": "evals/run", "oracle:phi-minimum": "evals/run --phi minimum",
             "model": "ANTHROPIC_API_KEY=... evals/run --model {model}"}
FULL_MODE = "full"


def tally(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    return {"asked": len(outcomes), "correct": sum(o.correct for o in outcomes),
            "calls": sum(o.calls for o in outcomes), "tokens": sum(o.tokens for o in outcomes),
            "model_tokens": sum(getattr(o, "model_tokens", 0) for o in outcomes)}


def summarize(outcomes: Sequence[Outcome], *, runner: str, model: str | None, measured: str, commit: str,
              today: str, tools_profile: str, phi: dict[str, Any] | None = None) -> dict[str, Any]:
    """One run's results; `phi` is the comparison of a minimum-mode run with the full-mode run beside it."""
    formats = list(dict.fromkeys(o.fmt for o in outcomes))
    kinds: dict[str, Any] = {}
    for kind in dict.fromkeys(o.question.kind for o in outcomes):
        mine = [o for o in outcomes if o.question.kind == kind]
        kinds[kind] = {"title": TITLES[kind], "asked": len(mine) // len(formats),
                       "tools": sorted({tool for o in mine for tool in o.tools}),
                       "formats": {fmt: tally([o for o in mine if o.fmt == fmt]) for fmt in formats}}
    return {
        "runner": runner, "model": model, "measured": measured, "commit": commit, "today": today,
        "tokenizer": TOKENIZER, "tools_profile": tools_profile, "phi_mode": phi["mode"] if phi else FULL_MODE,
        "questions": len(outcomes) // len(formats),
        "formats": {fmt: tally([o for o in outcomes if o.fmt == fmt]) for fmt in formats},
        "kinds": kinds,
        "wrong": [{"question": o.question.id, "format": o.fmt, "question_text": o.question.text,
                   "expected": o.question.expected, "answer": (o.answer or "")[:300], "problem": o.problem}
                  for o in outcomes if not o.correct],
        **({"phi": phi} if phi else {}),
    }


def phi_mode(run: dict[str, Any]) -> str:
    return str(run.get("phi_mode", FULL_MODE))


def key_of(summary: dict[str, Any]) -> str:
    if summary["runner"] != "oracle":
        return f"model:{summary['model']}"
    return "oracle" if phi_mode(summary) == FULL_MODE else f"oracle:phi-{phi_mode(summary)}"


def in_order(results: dict[str, Any]) -> list[str]:
    """The oracle runs (full mode first), then the model runs."""
    return sorted(results, key=lambda k: (not k.startswith("oracle"), k != "oracle", k))


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
    for key in in_order(results):
        run = results[key]
        main = run["formats"].get("compact") or run["formats"]["model"]
        raw = run["formats"].get("raw")
        tokens = f"{per_correct(main)} / {per_correct(raw)}" if raw else per_correct(main)
        calls = main["calls"] / main["asked"] if main["asked"] else 0
        runner = run["runner"] + ("" if phi_mode(run) == FULL_MODE else f", PHI {phi_mode(run)}")
        rows.append(f"| {runner} | {run['model'] or '-'} | {run['measured'][:10]} | {run['questions']} | "
                    f"{percent(main)} | {percent(raw) if raw else '-'} | {tokens} | {calls:.1f} |")
    return "\n".join(rows)


def runner_section(key: str, run: dict[str, Any]) -> list[str]:
    formats = list(run["formats"])
    title = "Oracle runner" if run["runner"] == "oracle" else f"Model runner: {run['model']}"
    if phi_mode(run) != FULL_MODE:
        title += f", PHI-minimising mode (EPIC_PHI_MODE={phi_mode(run)})"
    command = REPRODUCE.get(key, REPRODUCE[run["runner"]]).format(model=run["model"])
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
    return lines + (phi_section(run) if "phi" in run else [])



def points(tally_: dict[str, int], mode: str) -> float:
    return 100 * tally_[mode] / tally_["asked"] if tally_["asked"] else 0.0


def phi_section(run: dict[str, Any]) -> list[str]:
    """The minimum mode against the full mode of the same run, kind by kind: what it lost, and what needs the
    deployment secret to read back."""
    phi = run["phi"]
    formats = list(run["formats"])
    totals = {fmt: {field: sum(kind[fmt][field] for kind in phi["kinds"].values())
                    for field in ("asked", "full", "minimum", "as_read", "same")} for fmt in formats}
    lost = ", ".join(f"{points(totals[f], 'full') - points(totals[f], 'minimum'):.1f} ({f})" for f in formats)
    lines = [f"### Against the full mode ({' / '.join(formats)})", "",
             "The same questions, asked in the same run of a server started with `EPIC_PHI_MODE=minimum` and a "
             "deployment secret (a fixed evaluation secret, `evals/phi.py`), as its holder asks them: the "
             "patient's pseudonym for its id, the MRN's pseudonym, date windows moved by the patient's offset. "
             "Each answer is read back with the server's own mapping (`epic_mcp.phi`, as `epic-mcp reidentify` "
             "does: pseudonyms to real values, dates moved back) and graded against the same known answers. "
             "*Right as read* is the answer as the text said it, before reading back (what needs the secret); "
             "*same as full* counts answers identical to the full mode's once read back (anything else the mode "
             "removed shows there).", "",
             f"Points lost against the full mode: {lost}; issue 15 allows 2, and CI checks it "
             "(`tests/evals/test_evals_oracle.py`).", "",
             "| Question kind | Asked | Right, full | Right, minimum | Right as read | Same as full | What the mode "
             "does to the answer |", "|---|---:|---:|---:|---:|---:|---|"]

    def cells(tallies: list[dict[str, int]], field: str) -> str:
        return " / ".join(str(t[field]) for t in tallies)

    for name, kind in phi["kinds"].items():
        tallies = [kind[f] for f in formats]
        lines.append(f"| {TITLES[name]} | {tallies[0]['asked']} | {cells(tallies, 'full')} | "
                     f"{cells(tallies, 'minimum')} | {cells(tallies, 'as_read')} | {cells(tallies, 'same')} | "
                     f"{phi['handling'][name]} |")
    every = [totals[f] for f in formats]
    lines += [f"| **all** | **{every[0]['asked']}** | **{cells(every, 'full')}** | **{cells(every, 'minimum')}** | "
              f"{cells(every, 'as_read')} | {cells(every, 'same')} | |", ""]
    if phi["differences"]:
        lines += ["Answers that differ from the full mode's once read back:", ""]
        lines += [f"- `{d['question']}` ({d['format']}): full `{d['full_answer'][:200]}` "
                  f"({'right' if d['full'] else 'wrong'}), minimum read `{d['read'][:200]}`, read back "
                  f"`{d['read_back'][:200]}` ({'right' if d['minimum'] else 'wrong'})"
                  + (f" ({d['problem']})" if d["problem"] else "") for d in phi["differences"]]
    else:
        lines.append("Every answer, read back, is the full mode's answer: nothing the questions ask was lost.")
    return [*lines, ""]


def evals_markdown(results: dict[str, Any]) -> str:
    tokenizer = next(iter(results.values()))["tokenizer"] if results else TOKENIZER
    lines = [
        "# Accuracy: are the answers right?", "",
        "Written by `evals/run` (see [evals/README.md](../evals/README.md)). The question bank asks MedAgentBench-"
        "style read questions about the seven sandbox patients (latest value, value in a window, counts, lookup by "
        "MRN, active problems, current medications, allergies with criticality, next appointment, the latest "
        "note, trend, abnormal or not; and issue 24's judgments: current drugs counted, the newest record listed "
        "first, a result's time with its zone, the range and shape of recent results, the patient's age, blood "
        "pressure asked by name); the known answers are computed from the raw FHIR data set dated for the run's "
        "today, by code that does not use epic-mcp's renderer. Answers are graded deterministically (numbers with "
        "units, dates to the day, times with their zone, ids, lists in any order, a key phrase of a note).", "",
        "- **Oracle runner** (CI runs it): for each question the tool calls a well-behaved agent would make, "
        "through the real stdio server, with the answer read off the text the model would get; once in the "
        "compact format and once with `format: \"raw\"` (only catalog tools take `format`; patient_summary, "
        "get_latest_values and get_document_text answer the same in both runs).",
        "- **Model runner**: a real agent loop with a model over MCP, graded by the same graders.",
        "- **PHI-minimising mode** (`evals/run --phi minimum`; CI runs it): the oracle again, over a server in "
        "`EPIC_PHI_MODE=minimum`, each answer read back with the deployment secret, beside the full mode of the "
        "same run.", "",
        f"Tokens are counted with {tokenizer}: tool tokens are the text of every tool result read for a question; "
        "tokens per correct answer are all of them divided by the questions answered right. Model tokens are "
        "what the model's API billed (input and output).", "",
        "## Scoreboard", "", scoreboard(results), "",
    ]
    for key in in_order(results):
        lines += runner_section(key, results[key])
    if not any(k.startswith("model:") for k in results):
        lines += ["## Model runner", "", "Not run yet: it needs a key (`ANTHROPIC_API_KEY=... evals/run --model "
                  "<model>`). Without one it prints \"not run\" and writes nothing.", ""]
    return "\n".join(lines)


def with_scoreboard(readme: str, results: dict[str, Any]) -> str:
    block = f"{SCOREBOARD_BEGIN}\n{scoreboard(results)}\n{SCOREBOARD_END}"
    return re.sub(re.escape(SCOREBOARD_BEGIN) + ".*?" + re.escape(SCOREBOARD_END), lambda _: block, readme,
                  flags=re.S)
