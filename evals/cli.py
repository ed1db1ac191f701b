"""evals/run: the oracle runner (default) or the model runner (--model), writing docs/evals.json, docs/evals.md
and the README scoreboard. With --phi minimum, the oracle runs in the full mode and again in the PHI-minimising
mode, and both are written, with what the minimum mode lost against the full one. With --population, the
population question bank (SQL through query_population on two exported data sets), writing
docs/evals-population.json, docs/evals-population.md and its README row."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from epic_mcp.sandbox import data_set

from . import population_report, report
from .bank import KINDS, question_bank
from .model import KEY_VARIABLE, anthropic_client, run_model
from .oracle import run_oracle
from .phi import MODE as MINIMUM
from .phi import SecretHolder, comparison, run_minimum
from .population_oracle import DATA_SETS, run_data_set
from .sandbox import local_sandbox

ROOT = Path(__file__).resolve().parent.parent
NOT_RUN = 2


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="evals/run", description=__doc__)
    parser.add_argument("--model", help="run the model runner with this Anthropic model (needs "
                                        f"{KEY_VARIABLE} and the evals extra), e.g. claude-sonnet-4-5")
    parser.add_argument("--tools", default="all", help="the server's tool profile (EPIC_TOOLS): core, clinical or "
                                                       "all (default)")
    parser.add_argument("--kinds", help="only these question kinds, comma-separated: "
                                        + ", ".join(k.name for k in KINDS))
    parser.add_argument("--limit", type=int, help="ask at most this many questions (a cheaper model run)")
    parser.add_argument("--phi", choices=("full", MINIMUM), default="full",
                        help="minimum: run the oracle in the full mode and again with EPIC_PHI_MODE=minimum (each "
                             "answer read back with the deployment secret), and report both")
    parser.add_argument("--population", action="store_true", help="run the population question bank instead: SQL "
                        "through query_population on the sandbox and the unseen data set, each as an export")
    parser.add_argument("--no-write", action="store_true", help="print the results; leave docs and README as "
                                                                "they are")
    args = parser.parse_args(argv)
    if args.phi == MINIMUM and args.model:
        parser.error("--phi minimum runs the oracle runner only (the model runner asks in the full mode)")
    if args.population and (args.model or args.phi != "full" or args.kinds or args.limit):
        parser.error("--population runs its own oracle; it takes none of --model, --phi, --kinds, --limit")
    return args


def commit() -> str:
    """The commit measured, with "+changes" when the working tree differs from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "?"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def population(args: argparse.Namespace, root: Path) -> int:
    """The population bank on every data set, dated for today (EPIC_TODAY when set)."""
    today = date.fromisoformat(os.environ["EPIC_TODAY"]) if os.environ.get("EPIC_TODAY") else date.today()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="epic-mcp-evals-population-") as work:
        for name in DATA_SETS:
            outcomes += asyncio.run(run_data_set(name, today, Path(work)))
    run = population_report.summarize(outcomes, measured=f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
                                      commit=commit(), today=today.isoformat())
    print(population_report.scoreboard(run))
    if not args.no_write:
        population_report.write(root, run)
        print(f"wrote {root / population_report.DOC} and the README row", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    args = parse(argv)
    if args.population:
        return population(args, root)
    if args.model and not os.environ.get(KEY_VARIABLE):
        print(f"model runner: not run ({KEY_VARIABLE} is not set); nothing was graded or written")
        return NOT_RUN
    wanted = set(args.kinds.split(",")) if args.kinds else None
    with local_sandbox(args.tools) as target:
        data = data_set(target.today)
        questions = [q for q in question_bank(data, target.today)
                     if wanted is None or q.kind in wanted][:args.limit]
        meta: dict[str, Any] = {"measured": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "commit": commit(),
                                "today": target.today.isoformat(), "tools_profile": args.tools}
        if args.model:
            outcomes, answered_by = asyncio.run(run_model(anthropic_client(), args.model, target.server, questions,
                                                          target.today))
            summaries = [report.summarize(outcomes, runner="model", model=answered_by, **meta)]
        else:
            full = asyncio.run(run_oracle(target.server, questions))
            summaries = [report.summarize(full, runner="oracle", model=None, **meta)]
            if args.phi == MINIMUM:
                minimum = asyncio.run(run_minimum(SecretHolder(target.today), target.server, questions,
                                                  data["patients"]))
                summaries.append(report.summarize(minimum, runner="oracle", model=None,
                                                  phi=comparison(full, minimum), **meta))
    print(report.scoreboard({report.key_of(summary): summary for summary in summaries}))
    if not args.no_write:
        write(root, *summaries)
    return 0


def write(root: Path, *summaries: dict[str, Any]) -> None:
    docs = root / "docs"
    results = report.load(docs / "evals.json")
    results |= {report.key_of(summary): summary for summary in summaries}
    report.save(docs / "evals.json", results)
    (docs / "evals.md").write_text(report.evals_markdown(results))
    readme = root / "README.md"
    readme.write_text(report.with_scoreboard(readme.read_text(), results))
    print(f"wrote {docs / 'evals.md'} and the README scoreboard", file=sys.stderr)
