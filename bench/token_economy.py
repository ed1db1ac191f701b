#!/usr/bin/env python3
"""Token economy: 200 sequential and 50 concurrent tool calls, each on a cold token cache (a fresh server);
how many token requests each run made (from epic://status) and the first call's latency vs the rest."""

from __future__ import annotations

import asyncio
import json
import statistics
import time

import anyio
from harness import sandbox, server_params, write_results
from mcp import Client

PATIENT = "erXuFYUfucBZaryVksYEcMg3"


async def timed_call(client: Client, latencies: list[float]) -> None:
    started = time.perf_counter()
    result = await client.call_tool("get_patient", {"id": PATIENT})
    latencies.append(time.perf_counter() - started)
    assert not result.is_error


async def token_requests(client: Client) -> int:
    return json.loads((await client.read_resource("epic://status")).contents[0].text)["token_requests"]


async def sequential(env: dict[str, str], calls: int) -> tuple[int, list[float]]:
    latencies: list[float] = []
    async with Client(server_params(env)) as client:
        await client.list_tools()  # as clients do at connect (the SDK client also needs it to validate results)
        for _ in range(calls):
            await timed_call(client, latencies)
        return await token_requests(client), latencies


async def concurrent(env: dict[str, str], calls: int) -> tuple[int, list[float]]:
    latencies: list[float] = []
    async with Client(server_params(env)) as client:
        await client.list_tools()
        async with anyio.create_task_group() as group:
            for _ in range(calls):
                group.start_soon(timed_call, client, latencies)
        return await token_requests(client), latencies


def main() -> None:
    rows = ["| run | calls | token requests | first call (ms) | median of the rest (ms) |", "|---|---:|---:|---:|---:|"]
    with sandbox() as (_, env):
        for name, run, calls in (("sequential", sequential, 200), ("concurrent", concurrent, 50)):
            requests, latencies = asyncio.run(run(env, calls))
            first, rest = (latencies[0], latencies[1:]) if name == "sequential" else (max(latencies), latencies)
            median = statistics.median(rest) * 1000
            rows.append(f"| {name} | {calls} | {requests} | {first * 1000:.1f} | {median:.1f} |")
    body = "\n".join(["Each run starts a fresh epic-mcp over stdio (no token cached) against the sandbox; "
                      "get_patient calls. For the concurrent run, 'first call' is the slowest of the 50, which "
                      "waited for the single token request.", "", *rows])
    print(body)
    write_results("bench-token-economy", "Token economy", "python bench/token_economy.py", body)


if __name__ == "__main__":
    main()
