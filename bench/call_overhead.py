#!/usr/bin/env python3
"""Overhead of a tool call: the same search as (a) a bare httpx GET with a ready token and (b) an MCP tools/call
over stdio through epic-mcp, interleaved, against the sandbox on loopback."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import httpx
from harness import sandbox, server_params, write_results
from mcp import Client, StdioServerParameters

from epic_mcp.fhir.connection import EpicConnection
from epic_mcp.settings import Settings

RUNS = 300
HERE = Path(__file__).resolve().parent
PATIENT = "erXuFYUfucBZaryVksYEcMg3"
ARGUMENTS = {"patient_id": PATIENT, "clinical_status": "active"}
QUERY = {"patient": PATIENT, "clinical-status": "active", "_count": "20"}


def stats(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples) * 1000, statistics.quantiles(samples, n=20)[18] * 1000


async def measure(settings: Settings, env: dict[str, str]) -> str:
    connection = EpicConnection.open(settings)
    token = (await connection.tokens.get_token()).value
    await connection.aclose()
    bare: list[float] = []
    tool: list[float] = []
    echo: list[float] = []
    minimal = StdioServerParameters(command=sys.executable, args=[str(HERE / "minimal_server.py")],
                                    env={"PATH": os.environ["PATH"]})
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}) \
            as http, Client(server_params(env)) as client, Client(minimal) as floor:
        url = f"{settings.fhir_base_url}/Condition"
        for _ in range(20):  # warm every path (token, connections, caches)
            await http.get(url, params=QUERY)
            await client.call_tool("search_conditions", ARGUMENTS)
            await floor.call_tool("echo", {"text": "x"})
        for _ in range(RUNS):
            started = time.perf_counter()
            response = await http.get(url, params=QUERY)
            response.json()
            bare.append(time.perf_counter() - started)
            started = time.perf_counter()
            result = await client.call_tool("search_conditions", ARGUMENTS)
            tool.append(time.perf_counter() - started)
            assert not result.is_error
            started = time.perf_counter()
            await floor.call_tool("echo", {"text": "x"})
            echo.append(time.perf_counter() - started)
    (bare_median, bare_p95), (tool_median, tool_p95) = stats(bare), stats(tool)
    echo_median, echo_p95 = stats(echo)
    return "\n".join([
        f"search_conditions (patient + clinical-status=active, 20 per page), {RUNS} interleaved runs each, "
        "against the sandbox on loopback.", "",
        "| path | median (ms) | p95 (ms) |", "|---|---:|---:|",
        f"| (a) bare httpx GET, ready token, JSON parsed | {bare_median:.2f} | {bare_p95:.2f} |",
        f"| (b) MCP tools/call over stdio through epic-mcp | {tool_median:.2f} | {tool_p95:.2f} |",
        f"| (c) protocol floor: a minimal mcp 2.x echo tool over stdio | {echo_median:.2f} | {echo_p95:.2f} |", "",
        f"Overhead of (b): median {tool_median - bare_median:.2f} ms, ratio b/a {tool_median / bare_median:.2f}; "
        f"of that, {echo_median:.2f} ms is the SDK's stdio round trip itself (c), "
        f"{tool_median - bare_median - echo_median:.2f} ms is epic-mcp's own work (validation, rendering, "
        "serialization).",
    ])


def main() -> None:
    with sandbox() as (settings, env):
        body = asyncio.run(measure(settings, env))
    print(body)
    write_results("bench-call-overhead", "Tool call overhead", "python bench/call_overhead.py", body)


if __name__ == "__main__":
    main()
