"""The population oracle: each data set written as an export writes it (one NDJSON file per resource type, merged
the way `epic-mcp export` merges downloads), loaded into the population database, and every question's plan sent
through the query_population tool of an MCP server; the answer is read off the text the model gets and graded
against the answer the raw NDJSON gives.

Data sets: the sandbox (the seven test patients, dated for the run's today) and the unseen set (six US and six
Japanese clinosim patients with JP Core's codes: JLAC10 before LOINC, JP Core's categories, YJ and HOT drug codes;
tests/data/unseen.json.gz, moved to end just before today as the sandbox's is).
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.types import TextContent

from epic_mcp.auth.keys import generate_key, write_private_key
from epic_mcp.bulk.snapshot import merge
from epic_mcp.population.database import build
from epic_mcp.sandbox import data_set
from epic_mcp.sandbox.timeshift import reference_date, shift_for, shift_resource
from epic_mcp.serve.server import build_server
from epic_mcp.settings import load_settings

from .population_bank import Question, question_bank
from .population_truth import Export

ROOT = Path(__file__).resolve().parent.parent
UNSEEN = ROOT / "tests" / "data" / "unseen.json.gz"
MAX_ROWS = 500


def sandbox_resources(today: date) -> list[dict[str, Any]]:
    return list(data_set(today)["resources"])


def unseen_resources(today: date) -> list[dict[str, Any]]:
    resources = json.loads(gzip.decompress(UNSEEN.read_bytes()))["resources"]
    days = shift_for(reference_date(resources), today)
    return [shift_resource(resource, days) for resource in resources]


DATA_SETS: dict[str, Callable[[date], list[dict[str, Any]]]] = {"sandbox": sandbox_resources,
                                                                 "unseen": unseen_resources}


@dataclass(frozen=True)
class Outcome:
    question: Question
    answer: str | None
    correct: bool
    problem: str | None = None


def export_folder(resources: list[dict[str, Any]], folder: Path, today: date) -> Path:
    """The population folder an export of these resources leaves: resources/ (NDJSON) and population.duckdb."""
    downloads = folder / "download"
    downloads.mkdir(parents=True)
    by_type: dict[str, list[str]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(json.dumps(resource))
    files = []
    for index, (resource_type, lines) in enumerate(sorted(by_type.items())):
        path = downloads / f"{index:04d}-{resource_type}.ndjson"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        files.append((resource_type, path))
    merge(folder / "resources", files, replace=True)
    build(folder / "resources", folder / "population.duckdb",
          {"level": "group", "group_id": "evals", "transaction_time": f"{today.isoformat()}T00:00:00Z"})
    return folder


def table_of(text: str) -> list[list[str]]:
    """The rows of a query_population answer as the model reads them (header first), cells as text."""
    inside = text.split("<patient-text>\n", 1)[1].rsplit("\n</patient-text>", 1)[0] if "<patient-text>" in text \
        else ""
    return [line.split(" | ") for line in inside.splitlines()]


def read_answer(form: str, text: str) -> Any:
    """The answer in the question's form, read off the tool's text."""
    rows = table_of(text)[1:]
    if form in ("count", "number"):
        return float(rows[0][0]) if rows and rows[0][0] != "" else None
    if form == "mapping":
        return {row[0]: float(row[1]) for row in rows}
    return sorted(row[0] for row in rows)


def grade(question: Question, answer: Any) -> bool:
    expected = question.expected
    if question.form == "count":
        return answer is not None and answer == float(expected)
    if question.form == "number":
        return answer is not None and math.isclose(answer, float(expected), abs_tol=0.005)
    if question.form == "mapping":
        return answer == {"" if key is None else str(key): float(value) for key, value in expected.items()}
    return bool(answer == sorted(expected))


def settings_for(folder: Path) -> Any:
    """A server offering the population tools on this folder only; nothing from the shell's EPIC_* settings
    changes what it answers."""
    key = folder / "evals.key"
    write_private_key(generate_key(), key)
    empty = folder / "evals.env"
    empty.write_text("")
    return load_settings(empty, epic_env="custom", epic_fhir_base_url="http://127.0.0.1:9/fhir",
                         epic_token_url="http://127.0.0.1:9/token", epic_client_id="epic-mcp-evals",
                         private_key_path=str(key), epic_tools="population", epic_phi_mode="full",
                         epic_population_dir=str(folder), epic_population_query_seconds=60)


async def run_questions(folder: Path, questions: list[Question]) -> list[Outcome]:
    outcomes = []
    async with Client(build_server(settings_for(folder))) as client:
        for question in questions:
            result = await client.call_tool("query_population", {"sql": question.plan, "max_rows": MAX_ROWS})
            text = next((block.text for block in result.content if isinstance(block, TextContent)), "")
            if result.is_error:
                outcomes.append(Outcome(question, None, False, re.sub(r"\s+", " ", text)[:300]))
                continue
            answer = read_answer(question.form, text)
            outcomes.append(Outcome(question, json.dumps(answer, ensure_ascii=False)[:300], grade(question, answer)))
    return outcomes


async def run_data_set(name: str, today: date, work: Path) -> list[Outcome]:
    """Export one data set into `work`, make its questions from the raw NDJSON, and ask them."""
    folder = export_folder(DATA_SETS[name](today), work / name, today)
    questions = question_bank(Export(folder / "resources", today), name)
    return await run_questions(folder, questions)
