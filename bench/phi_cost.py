#!/usr/bin/env python3
"""What the PHI-minimising mode costs: latency and context (the text the model reads) of the same calls in the
full and the minimum mode, over stdio against the sandbox data, for every sandbox patient.

Tokens are estimated as characters / 4 (as in context_cost.py; no tokenizer is shipped). Pseudonyms are longer
than Epic's ids, so answers full of ids cost more."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from harness import sandbox, server_params, write_results
from mcp import Client

from epic_mcp.phi.pseudonyms import PseudonymCodec
from epic_mcp.sandbox import data_set

SECRET = "benchmark-phi-secret-0123456789abcdef0123"
ROUNDS = 3
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("patient_summary", {}),
    ("search_observations", {"category": "laboratory", "count": 50}),
    ("search_encounters", {"count": 50}),
    ("get_latest_values", {"code": "85354-9", "limit": 10}),
]


async def measure(env: dict[str, str], minimum: bool) -> dict[str, tuple[list[float], int]]:
    codec = PseudonymCodec(SECRET)
    settings = {"EPIC_PHI_MODE": "minimum", "EPIC_PHI_SECRET": SECRET} if minimum else {}
    results: dict[str, tuple[list[float], int]] = {}
    async with Client(server_params({**env, **settings})) as client:
        for patient in data_set()["patients"]:
            pid = codec.pseudonym("Patient", patient["id"]) if minimum else patient["id"]
            for tool, arguments in CALLS:
                for _ in range(ROUNDS):
                    started = time.perf_counter()
                    result = await client.call_tool(tool, {"patient_id": pid, **arguments})
                    elapsed = (time.perf_counter() - started) * 1000
                    assert not result.is_error, result.content[0].text
                    times, size = results.get(tool, ([], 0))
                    results[tool] = ([*times, elapsed], size + len(result.content[0].text) // ROUNDS)
    return results


def report(full: dict[str, tuple[list[float], int]], minimum: dict[str, tuple[list[float], int]]) -> str:
    lines = [f"Each call for each of the 7 sandbox patients, {ROUNDS} rounds; median latency over stdio, and the "
             "characters of the text the model reads (all patients together).", "",
             "| call | median ms, full | median ms, minimum | chars, full | chars, minimum | tokens (est.), full | "
             "tokens (est.), minimum | context |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for tool, _ in CALLS:
        (full_times, full_size), (min_times, min_size) = full[tool], minimum[tool]
        lines.append(f"| {tool} | {statistics.median(full_times):.0f} | {statistics.median(min_times):.0f} | "
                     f"{full_size:,} | {min_size:,} | {full_size // 4:,} | {min_size // 4:,} | "
                     f"{min_size / full_size:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    with sandbox() as (_, env):
        full = asyncio.run(measure(env, minimum=False))
        minimum = asyncio.run(measure(env, minimum=True))
    body = report(full, minimum)
    print(body)
    path = write_results("bench-phi-cost", "Cost of the PHI-minimising mode", "python bench/phi_cost.py", body)
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
