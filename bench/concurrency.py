#!/usr/bin/env python3
"""Concurrency: patient_summary's wall time vs the sum of the FHIR requests it makes (from the server's DEBUG
log, which times every request), for each sandbox patient."""

from __future__ import annotations

import asyncio
import re
import shlex
import tempfile
import time
from datetime import date
from pathlib import Path

from harness import sandbox, server_params, write_results
from mcp import Client

from epic_mcp.sandbox import data_set

REQUEST = re.compile(r"GET \S+ -> \d+ in (\d+) ms")


async def measure(env: dict[str, str], log: Path) -> list[tuple[str, float, float, int]]:
    rows = []
    params = server_params(env)
    command = " ".join(shlex.quote(part) for part in [params.command, *params.args])
    params = params.model_copy(update={"command": "sh", "args": ["-c", f"exec {command} 2>>{shlex.quote(str(log))}"],
                                       "env": {**(params.env or {}), "EPIC_LOG_LEVEL": "DEBUG"}})
    log.touch()
    async with Client(params) as client:
        await client.call_tool("get_patient", {"id": data_set(date.today())["patients"][0]["id"]})
        for patient in data_set(date.today())["patients"]:
            before = log.stat().st_size
            started = time.perf_counter()
            result = await client.call_tool("patient_summary", {"patient_id": patient["id"]})
            wall = time.perf_counter() - started
            assert not result.is_error
            await asyncio.sleep(0.2)
            with open(log) as handle:
                handle.seek(before)
                durations = [int(m.group(1)) for m in REQUEST.finditer(handle.read())]
            rows.append((patient["name"], wall * 1000, sum(durations), len(durations)))
    return rows


def main() -> None:
    with sandbox() as (_, env), tempfile.TemporaryDirectory() as folder:
        rows = asyncio.run(measure(env, Path(folder) / "server.log"))
    lines = ["| patient | FHIR requests | sum of request times (ms) | wall time (ms) | wall / sum |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {name} | {count} | {total:.0f} | {wall:.0f} | {wall / total:.2f} |"
              for name, wall, total, count in rows]
    ratio = sum(r[1] for r in rows) / sum(r[2] for r in rows)
    body = "\n".join(["patient_summary over stdio against the sandbox; request times from the server's DEBUG log.",
                      "", *lines, "", f"Overall wall / sum: {ratio:.2f}."])
    print(body)
    write_results("bench-concurrency", "Concurrency of patient_summary", "python bench/concurrency.py", body)


if __name__ == "__main__":
    main()
