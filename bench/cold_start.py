#!/usr/bin/env python3
"""Cold start: process spawn to a tools/list answer over stdio, epic-mcp vs a minimal one-tool mcp 2.x server,
interleaved in one run; then the biggest import costs of epic-mcp (python -X importtime)."""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import write_results
from mcp import Client, StdioServerParameters

from epic_mcp.auth.keys import generate_key, write_private_key

RUNS = 30
HERE = Path(__file__).resolve().parent


async def spawn_to_tools_list(params: StdioServerParameters) -> float:
    started = time.perf_counter()
    async with Client(params) as client:
        await client.list_tools()
        elapsed = time.perf_counter() - started
    return elapsed


def epic_env(folder: str) -> dict[str, str]:
    key = Path(folder) / "bench.key"
    if not key.exists():
        write_private_key(generate_key(), key)
    return {"PATH": os.environ["PATH"], "EPIC_CLIENT_ID": "bench", "PRIVATE_KEY_PATH": str(key),
            "EPIC_LOG_LEVEL": "WARNING"}


def import_times(code: str, env: dict[str, str]) -> dict[str, tuple[int, int]]:
    """module -> (cumulative microseconds, nesting depth), from python -X importtime."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                            env=env, check=False)
    times = {}
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            times[match.group(3)] = (int(match.group(1)), len(match.group(2)) // 2)
    return times


def extra_imports(env: dict[str, str], top: int = 10) -> list[tuple[str, int]]:
    """The biggest packages epic-mcp's server start imports that a minimal mcp server does not."""
    ours = import_times("from epic_mcp.cli import build_parser; from epic_mcp.serve.server import build_server", env)
    baseline = import_times("from mcp.server.mcpserver import MCPServer", env)
    extra = {name: us for name, (us, _) in ours.items()
             if name not in baseline and "." not in name and not name.startswith(("epic_mcp", "_"))}
    return sorted(extra.items(), key=lambda kv: -kv[1])[:top]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        env = epic_env(folder)
        epic = StdioServerParameters(command=sys.executable, args=["-m", "epic_mcp", "--tools", "all"], env=env)
        core = StdioServerParameters(command=sys.executable, args=["-m", "epic_mcp", "--tools", "core"], env=env)
        minimal = StdioServerParameters(command=sys.executable, args=[str(HERE / "minimal_server.py")],
                                        env={"PATH": os.environ["PATH"]})
        samples: dict[str, list[float]] = {"minimal mcp server": [], "epic-mcp (all tools)": [],
                                           "epic-mcp (core)": []}
        asyncio.run(spawn_to_tools_list(minimal))  # warm the file cache
        for _ in range(RUNS):
            for name, params in zip(samples, (minimal, epic, core), strict=True):
                samples[name].append(asyncio.run(spawn_to_tools_list(params)))
        imports = extra_imports(env)
    base = statistics.median(samples["minimal mcp server"])
    rows = ["| server | median (ms) | p95 (ms) | ratio to minimal |", "|---|---:|---:|---:|"]
    for name, values in samples.items():
        p95 = statistics.quantiles(values, n=20)[18]
        rows.append(f"| {name} | {statistics.median(values) * 1000:.0f} | {p95 * 1000:.0f} | "
                    f"{statistics.median(values) / base:.2f} |")
    body = "\n".join([f"Spawn to tools/list answered over stdio, {RUNS} interleaved runs each.", "", *rows, "",
                      "What epic-mcp imports before tools/list that the minimal server does not (cumulative, "
                      "python -X importtime; httpx, PyJWT and the FHIR client load with the first connection, "
                      "after tools/list):", "",
                      "| package | ms |", "|---|---:|", *(f"| {m} | {us / 1000:.0f} |" for m, us in imports)])
    print(body)
    write_results("bench-cold-start", "Cold start", "python bench/cold_start.py", body)


if __name__ == "__main__":
    main()
