#!/usr/bin/env python3
"""Population data: Bulk Data export and flatten throughput (resources per second), query latency in DuckDB, and
the same views on Spark, on the sandbox export and on a data set 100x its size (the export replicated with new
ids and consistent references). Also what the population tools add to tools/list.

tools/list tokens are estimated as characters / 4 (as in context_cost.py); describe_population_data's answer is
counted with cl100k_base (bench/tokens.py)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from harness import sandbox, server_params, write_results
from mcp import Client
from mcp.types import TextContent
from tokens import TOKENIZER, count_tokens

from epic_mcp.access.profiles import POPULATION_TOOLS
from epic_mcp.bulk.client import BulkClient
from epic_mcp.bulk.export import Exporter, ExportOptions
from epic_mcp.bulk.snapshot import merge
from epic_mcp.fhir.connection import EpicConnection
from epic_mcp.population.database import build, query
from epic_mcp.population.viewdef import shipped_views

COPIES = int(os.environ.get("EPIC_MCP_BENCH_COPIES", "100"))
QUERY_RUNS = 20
QUERIES = {
    "diabetics with an HbA1c above 9": """
        WITH diabetic AS (SELECT DISTINCT patient_id FROM condition WHERE clinical_status = 'active' AND id IN
                          (SELECT condition_id FROM condition_coding WHERE system_name = 'icd10' AND code LIKE 'E11%'))
        SELECT count(DISTINCT o.patient_id) FROM observation o JOIN diabetic USING (patient_id)
        WHERE list_contains(o.loinc, '4548-4') AND o.value > 9""",
    "latest HbA1c per patient (window)": """
        SELECT count(*) FROM (SELECT patient_id, value, row_number() OVER (PARTITION BY patient_id
                              ORDER BY effective DESC) AS n FROM observation WHERE list_contains(loinc, '4548-4'))
        WHERE n = 1""",
    "top 10 active conditions": """
        SELECT display, count(DISTINCT patient_id) AS patients FROM condition WHERE clinical_status = 'active'
        GROUP BY display ORDER BY patients DESC LIMIT 10""",
    "encounters per class and year": """
        SELECT class_code, left(period_start, 4) AS year, count(*) FROM encounter GROUP BY ALL ORDER BY ALL""",
    "systolic BP over 140 (components)": """
        SELECT count(DISTINCT patient_id) FROM observation_component WHERE list_contains(loinc, '8480-6')
        AND value > 140""",
    "observations by LOINC code (coding table)": """
        SELECT code, count(*) FROM observation_coding WHERE system_name = 'loinc' GROUP BY code ORDER BY 2 DESC
        LIMIT 10""",
}


async def real_export(settings: Any, folder: Path) -> dict[str, float]:
    """The sandbox's own Group $export through epic-mcp's client, timed by phase."""
    settings = settings.model_copy(update={"epic_population_dir": folder, "epic_bulk_poll_seconds": 1.0})
    connection = EpicConnection.open(settings)
    client = BulkClient(settings, connection.tokens)
    marks: dict[str, float] = {}
    exporter = Exporter(settings, client,
                        report=lambda state, event: marks.setdefault(event, time.perf_counter()))
    started = time.perf_counter()
    await exporter.start(ExportOptions())
    state = await exporter.follow()
    finished = time.perf_counter()
    await client.aclose()
    await connection.aclose()
    resources = sum(state.resources.values())
    return {"resources": resources, "total": finished - started,
            "server": marks.get("downloading", marks["loading"]) - started,
            "download": marks["loading"] - marks.get("downloading", marks["loading"]),
            "merge_and_flatten": finished - marks["loading"]}


def replicate(snapshot: Path, target: Path, copies: int) -> int:
    """Every resource `copies` times with the id suffixed -rN, and every reference to a resource of the data set
    rewritten the same way, so each copy is a self-consistent population of its own."""
    resources = [json.loads(line) for path in sorted(snapshot.glob("*.ndjson")) for line in path.open()]
    resources = [r for r in resources if r["resourceType"] != "Group"]
    known = {f"{r['resourceType']}/{r['id']}" for r in resources}
    target.mkdir(parents=True)
    handles = {t: (target / f"{t}.ndjson").open("w") for t in {r["resourceType"] for r in resources}}
    for copy in range(copies):
        suffix = f"-r{copy}"
        for resource in resources:
            text = json.dumps(resource)
            for reference in _references(resource, known):
                text = text.replace(f'"{reference}"', f'"{reference}{suffix}"')
            moved = json.loads(text)
            moved["id"] = resource["id"] + suffix
            handles[resource["resourceType"]].write(json.dumps(moved) + "\n")
    for handle in handles.values():
        handle.close()
    return len(resources) * copies


def _references(node: Any, known: set[str]) -> set[str]:
    if isinstance(node, dict):
        found = {node["reference"]} if node.get("reference") in known else set()
        return found.union(*(_references(v, known) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_references(v, known) for v in node))
    return set()


def query_latency(database: Path) -> list[tuple[str, float, float, Any]]:
    rows = []
    for name, sql in QUERIES.items():
        samples = []
        for _ in range(QUERY_RUNS):
            started = time.perf_counter()
            result = query(database, sql, 50, 60)
            samples.append((time.perf_counter() - started) * 1000)
        samples.sort()
        rows.append((name, statistics.median(samples), samples[int(len(samples) * 0.95) - 1],
                     result.rows[0][-1] if result.rows else None))
    return rows


def spark_flatten(resources: Path) -> tuple[float, float, dict[str, int]] | None:
    try:
        from epic_mcp.population.spark import local_session, view_frames
    except ImportError:
        return None
    started = time.perf_counter()
    spark = local_session("local[2]")
    session = time.perf_counter() - started
    started = time.perf_counter()
    counts = {}
    for name, frame in view_frames(spark, str(resources)).items():
        frame.write.mode("overwrite").parquet(str(resources.parent / "spark" / name))
        counts[name] = spark.read.parquet(str(resources.parent / "spark" / name)).count()
    flatten = time.perf_counter() - started
    spark.stop()
    return session, flatten, counts


async def tools_list_cost(env: dict[str, str]) -> tuple[int, int, int, int]:
    """tools/list sizes, and the tokens of describe_population_data's answer on the exported sandbox."""
    async with Client(server_params(env)) as client:
        tools = (await client.list_tools()).tools
        described = await client.call_tool("describe_population_data", {})
    sizes = {t.name: len(json.dumps(t.model_dump(mode="json", by_alias=True, exclude_none=True))) for t in tools}
    text = next((block.text for block in described.content if isinstance(block, TextContent)), "")
    return sum(sizes.values()), sum(sizes[n] for n in POPULATION_TOOLS if n in sizes), len(sizes), count_tokens(text)


def flatten_inputs(resources: Path) -> int:
    """Resources the views read: each resource once per view over its type (an observation is read by four)."""
    counts = Counter({p.stem: sum(1 for _ in p.open()) for p in resources.glob("*.ndjson")})
    return sum(counts[view.resource] for view in shipped_views())


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="epic-mcp-bench-population-"))
    os.chmod(work, 0o700)
    try:
        with sandbox() as (settings, env):
            exported = asyncio.run(real_export(settings, work / "sandbox"))
            total, population, count, describe_tokens = asyncio.run(tools_list_cost(
                {**env, "EPIC_POPULATION_DIR": str(work / "sandbox"), "EPIC_TOOLS": "all,population"}))
        snapshot = work / "sandbox" / "resources"

        started = time.perf_counter()
        replicated = replicate(snapshot, work / "big" / "download", COPIES)
        made = time.perf_counter() - started

        started = time.perf_counter()
        merge(work / "big" / "resources", [(p.stem, p) for p in (work / "big" / "download").glob("*.ndjson")],
              replace=True)
        merged = time.perf_counter() - started
        started = time.perf_counter()
        tables = build(work / "big" / "resources", work / "big" / "population.duckdb", {"group_id": "bench"})
        flattened = time.perf_counter() - started
        started = time.perf_counter()
        main_views = [view for view in shipped_views() if not view.name.endswith("_coding")]
        build(work / "big" / "resources", work / "big" / "main-views.duckdb", {"group_id": "bench"}, views=main_views)
        flattened_main = time.perf_counter() - started
        size_mb = sum(p.stat().st_size for p in (work / "big" / "resources").glob("*.ndjson")) / 1e6
        inputs = flatten_inputs(work / "big" / "resources")
        latency_small = query_latency(work / "sandbox" / "population.duckdb")
        latency_big = query_latency(work / "big" / "population.duckdb")
        spark = spark_flatten(work / "big" / "resources")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    lines = [
        "## Export of the sandbox group (sekmet-fhir's own Group $export, loopback)", "",
        "| resources | total s | server (kick-off to manifest) s | download s | merge + flatten + load s | "
        "resources/s end to end |", "|---:|---:|---:|---:|---:|---:|",
        f"| {exported['resources']:,} | {exported['total']:.2f} | {exported['server']:.2f} | "
        f"{exported['download']:.2f} | {exported['merge_and_flatten']:.2f} | "
        f"{exported['resources'] / exported['total']:,.0f} |", "",
        "The server part includes sekmet's own pause before it reports a job complete (up to 1 s) and one poll "
        "interval (Retry-After: 1).", "",
        f"## {COPIES}x the sandbox export ({replicated:,} resources, {size_mb:,.0f} MB of NDJSON, new ids)", "",
        "| step | seconds | resources/s |", "|---|---:|---:|",
        f"| replicate (bench set-up, not product code) | {made:.1f} | - |",
        f"| merge into the NDJSON snapshot | {merged:.1f} | {replicated / merged:,.0f} |",
        f"| flatten with the {len(tables)} views and load DuckDB | {flattened:.1f} | {inputs / flattened:,.0f} "
        f"(view inputs: {inputs:,}) |",
        f"| the same without the {len(tables) - len(main_views)} coding tables (same run) | {flattened_main:.1f} | "
        f"- ({flattened / flattened_main:.2f}x the time with them) |",
    ]
    if spark is not None:
        session, spark_seconds, counts = spark
        same = counts == tables
        lines.append(f"| Spark local[2]: flatten and write Parquet | {spark_seconds:.1f} (+{session:.1f} session "
                     f"start) | {inputs / spark_seconds:,.0f} |")
        lines += ["", f"Spark's row counts equal DuckDB's for every view: {'yes' if same else 'NO'}."]
    lines += ["", "Rows per table: " + ", ".join(f"{k} {v:,}" for k, v in tables.items()), "",
              f"## query_population latency (DuckDB: a cursor on the shared read-only connection, {QUERY_RUNS} "
              "runs)", "",
              "| query | sandbox median ms | sandbox p95 ms | 100x median ms | 100x p95 ms | 100x answer |",
              "|---|---:|---:|---:|---:|---:|"]
    for (name, small_median, small_p95, _), (_, big_median, big_p95, answer) in zip(latency_small, latency_big,
                                                                                  strict=True):
        lines.append(f"| {name} | {small_median:.1f} | {small_p95:.1f} | {big_median:.1f} | {big_p95:.1f} | "
                     f"{answer} |")
    lines += ["", "## What the population tools add to tools/list", "",
              "The tools are opt-in (`EPIC_TOOLS=population`, or `all,population`); the default profile (core) "
              "and `all` are unchanged.",
              "", "| tools/list | tools | chars | tokens (est.) |", "|---|---:|---:|---:|",
              f"| the population tools alone | {len(POPULATION_TOOLS)} | {population:,} | {population // 4:,} |",
              f"| all,population | {count} | {total:,} | {total // 4:,} |", "",
              f"describe_population_data's answer on the sandbox export (the tables, their columns and how to ask "
              f"them): {describe_tokens:,} tokens ({TOKENIZER})."]
    lines += ["", f"Notes: load average {os.getloadavg()[0]:.1f} at the end of the run on {os.cpu_count()} cores (the "
              "machine is shared; throughput moves with it). \"View inputs\" counts each resource once per view "
              "that reads it (an observation is read by observation, observation_component and observation_coding)."]
    body = "\n".join(lines)
    print(body)
    write_results("bench-population", "Population data: export, flatten, query", "python bench/population.py", body)


if __name__ == "__main__":
    sys.exit(main())
