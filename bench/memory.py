#!/usr/bin/env python3
"""Memory: the server process's RSS after start and after 2,000 tool calls (a mix of searches, reads, paging and
summaries) against the sandbox; growth should stay within a small bound."""

from __future__ import annotations

import asyncio
import shlex
import tempfile
from pathlib import Path

from harness import sandbox, server_params, write_results
from mcp import Client

CALLS = 2000
PATIENT = "erXuFYUfucBZaryVksYEcMg3"
MIX = [("search_observations", {"patient_id": PATIENT, "category": "vital-signs", "count": 50}),
       ("get_patient", {"id": PATIENT}),
       ("search_conditions", {"patient_id": PATIENT}),
       ("search_medication_requests", {"patient_id": PATIENT, "status": "active"}),
       ("patient_summary", {"patient_id": PATIENT})]


def rss_mb(pid: int) -> float:
    line = next(row for row in Path(f"/proc/{pid}/status").read_text().splitlines()
                if row.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


async def measure(env: dict[str, str], pid_file: Path) -> list[tuple[int, float]]:
    params = server_params(env)
    command = " ".join(shlex.quote(part) for part in [params.command, *params.args])
    params = params.model_copy(update={"command": "sh",
                                       "args": ["-c", f"echo $$ > {shlex.quote(str(pid_file))}; exec {command}"]})
    points = []
    async with Client(params) as client:
        await client.list_tools()
        pid = int(pid_file.read_text())
        points.append((0, rss_mb(pid)))
        for done in range(1, CALLS + 1):
            tool, arguments = MIX[done % len(MIX)]
            result = await client.call_tool(tool, arguments)
            assert not result.is_error
            if tool == "search_observations" and result.structured_content["next_cursor"]:
                await client.call_tool("next_page", {"cursor": result.structured_content["next_cursor"]})
            if done in (100, 500, 1000, 1500, 2000):
                points.append((done, rss_mb(pid)))
    return points


def main() -> None:
    with sandbox() as (_, env), tempfile.TemporaryDirectory() as folder:
        points = asyncio.run(measure(env, Path(folder) / "server.pid"))
    rows = ["| tool calls | RSS (MB) |", "|---:|---:|", *(f"| {calls} | {rss:.1f} |" for calls, rss in points)]
    growth_after_warmup = points[-1][1] - points[1][1]
    body = "\n".join([f"The epic-mcp server process over stdio, {CALLS} calls cycling through "
                      f"{', '.join(t for t, _ in MIX)} (and next_page), against the sandbox.", "", *rows, "",
                      f"Growth from start to {CALLS} calls: {points[-1][1] - points[0][1]:.1f} MB; "
                      f"after the first 100 calls (warm-up): {growth_after_warmup:.1f} MB."])
    print(body)
    write_results("bench-memory", "Memory", "python bench/memory.py", body)


if __name__ == "__main__":
    main()
