#!/usr/bin/env python3
"""Overhead of a tool call: the same FHIR request as (a) a bare httpx GET with a ready token and (b) an MCP
tools/call over stdio through epic-mcp, beside (c) a minimal mcp echo server (the protocol floor), interleaved,
against the sandbox on loopback. epic-mcp's own overhead is b - a - c.

Wall time drifts on a shared machine, so each path's CPU time per call is measured too: the bench process's own
for (a), and utime+stime of each server process (/proc/<pid>/stat) for (b) and (c); each tool row has an epic-mcp
process of its own, so its CPU time is that row's alone."""

from __future__ import annotations

import asyncio
import functools
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from harness import sandbox, server_params, write_results
from mcp import Client, StdioServerParameters

from epic_mcp.fhir.connection import EpicConnection
from epic_mcp.settings import Settings

RUNS = 600
WARM_UP = 30
HERE = Path(__file__).resolve().parent
PATIENT = "erXuFYUfucBZaryVksYEcMg3"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Call:
    """One tool call and the bare request it makes."""

    tool: str
    arguments: dict[str, Any]
    path: str
    query: dict[str, str]
    label: str


CALLS = (
    Call("get_patient", {"id": PATIENT}, f"Patient/{PATIENT}", {}, "get_patient (read one Patient)"),
    Call("search_conditions", {"patient_id": PATIENT, "clinical_status": "active"}, "Condition",
         {"patient": PATIENT, "clinical-status": "active", "_count": "20"},
         "search_conditions (patient + clinical-status=active, 20 per page)"),
)


@dataclass
class Samples:
    """Wall-clock times of one path's calls, and its CPU seconds over them."""

    wall: list[float] = field(default_factory=list)
    cpu: float = 0.0

    def median(self) -> float:
        return statistics.median(self.wall) * 1000

    def p95(self) -> float:
        return statistics.quantiles(self.wall, n=20)[18] * 1000

    def cpu_ms(self) -> float:
        return self.cpu / len(self.wall) * 1000


def children() -> set[int]:
    """This process's child processes."""
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        text = (task / "children").read_text()
        found.update(int(pid) for pid in text.split())
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def started(stack: AsyncExitStack, params: StdioServerParameters) -> tuple[Client, int]:
    """A connected client and the pid of the server process it started."""
    before = children()
    client = await stack.enter_async_context(Client(params))
    (pid,) = children() - before
    return client, pid


async def timed(path: Samples, action: Callable[[], Awaitable[Any]]) -> Any:
    started_at = time.perf_counter()
    result = await action()
    path.wall.append(time.perf_counter() - started_at)
    return result


async def measure(settings: Settings, env: dict[str, str]) -> str:
    connection = EpicConnection.open(settings)
    token = (await connection.tokens.get_token()).value
    await connection.aclose()
    minimal = StdioServerParameters(command=sys.executable, args=[str(HERE / "minimal_server.py")],
                                    env={"PATH": os.environ["PATH"]})
    bare = {call.tool: Samples() for call in CALLS}
    tool = {call.tool: Samples() for call in CALLS}
    echo = Samples()
    load_before = os.getloadavg()
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}))
        servers = {call.tool: await started(stack, server_params(env)) for call in CALLS}
        floor, floor_pid = await started(stack, minimal)

        async def get(call: Call) -> None:
            response = await http.get(f"{settings.fhir_base_url}/{call.path}", params=call.query)
            response.raise_for_status()
            response.json()

        async def call_tool(call: Call) -> None:
            result = await servers[call.tool][0].call_tool(call.tool, call.arguments)
            assert not result.is_error, result

        async def call_echo() -> None:
            await floor.call_tool("echo", {"text": "x"})

        for _ in range(WARM_UP):  # warm every path (token, connections, the deferred tools, caches)
            for call in CALLS:
                await get(call)
                await call_tool(call)
            await call_echo()
        server_cpu = {name: cpu_seconds(pid) for name, (_, pid) in servers.items()}
        floor_cpu = cpu_seconds(floor_pid)
        for _ in range(RUNS):
            for call in CALLS:
                own_cpu = time.process_time()
                await timed(bare[call.tool], functools.partial(get, call))
                bare[call.tool].cpu += time.process_time() - own_cpu
                await timed(tool[call.tool], functools.partial(call_tool, call))
            await timed(echo, call_echo)
        for name, (_, pid) in servers.items():
            tool[name].cpu = cpu_seconds(pid) - server_cpu[name]
        echo.cpu = cpu_seconds(floor_pid) - floor_cpu
    load_after = os.getloadavg()
    return report(bare, tool, echo, load_before, load_after)


def report(bare: dict[str, Samples], tool: dict[str, Samples], echo: Samples, load_before: tuple[float, ...],
           load_after: tuple[float, ...]) -> str:
    lines = [f"{RUNS} interleaved runs of each path against the sandbox on loopback (after {WARM_UP} warm-up runs). "
             "Wall: median and p95 of each call as the client sees it. CPU: per call, of the process doing the "
             "work: the bench's own for (a), each server process's utime+stime (/proc/<pid>/stat) for (b) and (c). "
             f"Load average (1 min) {load_before[0]:.2f} before the run, {load_after[0]:.2f} after, on "
             f"{os.cpu_count()} cores.", "",
             "| path | wall median (ms) | wall p95 (ms) | CPU per call (ms) |", "|---|---:|---:|---:|"]
    for call in CALLS:
        lines += [
            f"| {call.label}: (a) bare httpx GET, ready token, JSON parsed | {bare[call.tool].median():.2f} | "
            f"{bare[call.tool].p95():.2f} | {bare[call.tool].cpu_ms():.2f} |",
            f"| {call.label}: (b) MCP tools/call over stdio through epic-mcp | {tool[call.tool].median():.2f} | "
            f"{tool[call.tool].p95():.2f} | {tool[call.tool].cpu_ms():.2f} |",
        ]
    lines += [f"| (c) protocol floor: a minimal mcp 2.x echo tool over stdio | {echo.median():.2f} | {echo.p95():.2f} "
              f"| {echo.cpu_ms():.2f} |", "",
              "epic-mcp's own overhead per call, b - a - c (validation, access checks, redaction, the answer budget, "
              "rendering, serialization):", "",
              "| call | own overhead, wall median (ms) | own overhead, CPU (ms) | b - a, wall (ms) | ratio b/a |",
              "|---|---:|---:|---:|---:|"]
    for call in CALLS:
        b, a = tool[call.tool], bare[call.tool]
        lines.append(f"| {call.tool} | {b.median() - a.median() - echo.median():.2f} | "
                     f"{b.cpu_ms() - a.cpu_ms() - echo.cpu_ms():.2f} | {b.median() - a.median():.2f} | "
                     f"{b.median() / a.median():.2f} |")
    return "\n".join(lines)


def main() -> None:
    with sandbox() as (settings, env):
        body = asyncio.run(measure(settings, env))
    print(body)
    if "--no-write" not in sys.argv[1:]:  # while iterating: print only
        write_results("bench-call-overhead", "Tool call overhead", "python bench/call_overhead.py", body)


if __name__ == "__main__":
    main()
