#!/usr/bin/env python3
"""Overhead of a tool call: the same FHIR request as (a) a bare httpx GET with a ready token and (b) an MCP
tools/call over stdio through epic-mcp, beside (c) a minimal mcp echo server (the protocol floor), interleaved,
against the sandbox on loopback. epic-mcp's own overhead is b - a - c.

Wall time drifts on a shared machine, so each path's CPU time per call is measured too: the bench process's own
for (a), and utime+stime of each server process (/proc/<pid>/stat) for (b) and (c); each tool row has an epic-mcp
process of its own, so its CPU time is that row's alone. Other processes on a busy machine slow every process's
CPU time too (caches, context switches), so the CPU time of each batch of runs is taken as well (the scheduler's
nanosecond count, /proc/<pid>/task/*/schedstat), and the quietest batch is the nearest this machine comes to an
idle one.

`--baseline SRC` adds (b0) rows: the same calls through epic-mcp imported from SRC (another checkout's src folder,
e.g. `git archive main src | tar -x -C /tmp/base`), interleaved with the rest, for a before/after in one run.
`--no-write` prints the results without rewriting docs/.
"""

from __future__ import annotations

import argparse
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
BATCH = 25  # runs per batch, for the quietest batch's CPU time
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
    """Wall-clock times of one path's calls, its CPU seconds over them, and its CPU seconds per call in each
    batch of runs."""

    wall: list[float] = field(default_factory=list)
    cpu: float = 0.0
    batches: list[float] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(self.wall) * 1000

    def p95(self) -> float:
        return statistics.quantiles(self.wall, n=20)[18] * 1000

    def cpu_ms(self) -> float:
        return self.cpu / len(self.wall) * 1000

    def quietest_ms(self) -> float:
        return min(self.batches) * 1000 if self.batches else float("nan")


@dataclass
class Server:
    """A server process over stdio: its client, its pid, and the samples of the calls it answers."""

    client: Client
    pid: int
    samples: Samples = field(default_factory=Samples)


def children() -> set[int]:
    """This process's child processes."""
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        text = (task / "children").read_text()
        found.update(int(pid) for pid in text.split())
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads, those ended too), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def on_cpu_seconds(pid: int) -> float | None:
    """Time on the CPU of a process's threads to the nanosecond (/proc/<pid>/task/*/schedstat), if the kernel
    keeps it."""
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        return sum(int((task / "schedstat").read_text().split()[0]) for task in tasks) / 1e9
    except (OSError, ValueError, IndexError):
        return None


async def started(stack: AsyncExitStack, params: StdioServerParameters) -> Server:
    """A connected client and the server process it started."""
    before = children()
    client = await stack.enter_async_context(Client(params))
    (pid,) = children() - before
    return Server(client, pid)


async def timed(samples: Samples, action: Callable[[], Awaitable[Any]]) -> None:
    started_at = time.perf_counter()
    await action()
    samples.wall.append(time.perf_counter() - started_at)


async def measure(settings: Settings, env: dict[str, str], baseline: Path | None) -> str:
    connection = EpicConnection.open(settings)
    token = (await connection.tokens.get_token()).value
    await connection.aclose()
    minimal = StdioServerParameters(command=sys.executable, args=[str(HERE / "minimal_server.py")],
                                    env={"PATH": os.environ["PATH"]})
    bare = {call.tool: Samples() for call in CALLS}
    load_before = os.getloadavg()
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}))
        servers = {call.tool: await started(stack, server_params(env)) for call in CALLS}
        baseline_servers = {call.tool: await started(stack, server_params({**env, "PYTHONPATH": str(baseline)}))
                            for call in CALLS} if baseline else {}
        floor = await started(stack, minimal)
        processes = [*servers.values(), *baseline_servers.values(), floor]

        async def get(call: Call) -> None:
            response = await http.get(f"{settings.fhir_base_url}/{call.path}", params=call.query)
            response.raise_for_status()
            response.json()

        async def call_tool(server: Server, call: Call) -> None:
            result = await server.client.call_tool(call.tool, call.arguments)
            assert not result.is_error, result

        async def call_echo() -> None:
            await floor.client.call_tool("echo", {"text": "x"})

        async def one_run(timing: bool, run: int) -> dict[str, float]:
            """Each path once, interleaved; the bench's own CPU seconds for each bare GET. epic-mcp and the
            baseline take turns at going first (the one after the other finds the shared libraries' code warm)."""
            bare_cpu = {}
            for call in CALLS:
                own_cpu = time.process_time()
                await (timed(bare[call.tool], functools.partial(get, call)) if timing else get(call))
                bare_cpu[call.tool] = time.process_time() - own_cpu
                for group in (servers, baseline_servers)[::1 if run % 2 else -1]:
                    if call.tool in group:
                        server = group[call.tool]
                        action = functools.partial(call_tool, server, call)
                        await (timed(server.samples, action) if timing else action())
            await (timed(floor.samples, call_echo) if timing else call_echo())
            return bare_cpu

        for run in range(WARM_UP):  # warm every path (token, connections, the deferred tools, caches)
            await one_run(timing=False, run=run)
        at_start = [cpu_seconds(server.pid) for server in processes]
        for _ in range(RUNS // BATCH):
            batch_start = [on_cpu_seconds(server.pid) for server in processes]
            bare_cpu = {call.tool: 0.0 for call in CALLS}
            for run in range(BATCH):
                for name, seconds in (await one_run(timing=True, run=run)).items():
                    bare_cpu[name] += seconds
            for server, batch_started in zip(processes, batch_start, strict=True):
                batch_ended = on_cpu_seconds(server.pid)
                if batch_started is not None and batch_ended is not None:
                    server.samples.batches.append((batch_ended - batch_started) / BATCH)
            for name, seconds in bare_cpu.items():
                bare[name].cpu += seconds
                bare[name].batches.append(seconds / BATCH)
        for server, process_started in zip(processes, at_start, strict=True):
            server.samples.cpu = cpu_seconds(server.pid) - process_started
    load_after = os.getloadavg()
    tool = {name: server.samples for name, server in servers.items()}
    before = {name: server.samples for name, server in baseline_servers.items()}
    return report(bare, tool, before, floor.samples, load_before, load_after, baseline)


def report(bare: dict[str, Samples], tool: dict[str, Samples], before: dict[str, Samples], echo: Samples,
           load_before: tuple[float, ...], load_after: tuple[float, ...], baseline: Path | None) -> str:
    lines = [f"{RUNS} interleaved runs of each path against the sandbox on loopback (after {WARM_UP} warm-up runs). "
             "Wall: median and p95 of each call as the client sees it. CPU: per call, of the process doing the "
             "work: the bench's own for (a), each server process's utime+stime (/proc/<pid>/stat) for (b) and (c); "
             f"quietest batch: the least CPU per call in a batch of {BATCH} runs (/proc/<pid>/task/*/schedstat), "
             "what the same work takes with the least interference from other processes. "
             f"Load average (1 min) {load_before[0]:.2f} before the run, {load_after[0]:.2f} after, on "
             f"{os.cpu_count()} cores.", "",
             "| path | wall median (ms) | wall p95 (ms) | CPU per call (ms) | CPU, quietest batch (ms) |",
             "|---|---:|---:|---:|---:|"]

    def row(label: str, samples: Samples) -> str:
        return (f"| {label} | {samples.median():.2f} | {samples.p95():.2f} | {samples.cpu_ms():.2f} | "
                f"{samples.quietest_ms():.2f} |")

    for call in CALLS:
        lines += [row(f"{call.label}: (a) bare httpx GET, ready token, JSON parsed", bare[call.tool]),
                  row(f"{call.label}: (b) MCP tools/call over stdio through epic-mcp", tool[call.tool])]
        if call.tool in before:
            lines.append(row(f"{call.label}: (b0) the same through epic-mcp from {baseline}", before[call.tool]))
    lines += [row("(c) protocol floor: a minimal mcp 2.x echo tool over stdio", echo), "",
              "epic-mcp's own overhead per call, b - a - c (argument checks, access checks, the deadline, redaction, "
              "the answer budget, the URL and depth guards, rendering, serialization):", "",
              "| call | own overhead, wall median (ms) | own overhead, CPU (ms) | own overhead, CPU, quietest batches "
              "(ms) | b - a, wall (ms) | ratio b/a |", "|---|---:|---:|---:|---:|---:|"]

    def own(name: str, b: Samples, a: Samples) -> str:
        return (f"| {name} | {b.median() - a.median() - echo.median():.2f} | "
                f"{b.cpu_ms() - a.cpu_ms() - echo.cpu_ms():.2f} | "
                f"{b.quietest_ms() - a.quietest_ms() - echo.quietest_ms():.2f} | {b.median() - a.median():.2f} | "
                f"{b.median() / a.median():.2f} |")

    for call in CALLS:
        lines.append(own(call.tool, tool[call.tool], bare[call.tool]))
        if call.tool in before:
            lines.append(own(f"{call.tool} (b0: {baseline})", before[call.tool], bare[call.tool]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="another checkout's src folder, measured side by side")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/ as it is")
    options = parser.parse_args()
    with sandbox() as (settings, env):
        body = asyncio.run(measure(settings, env, options.baseline.resolve() if options.baseline else None))
    print(body)
    if not options.no_write:
        command = "python bench/call_overhead.py" + (f" --baseline {options.baseline}" if options.baseline else "")
        write_results("bench-call-overhead", "Tool call overhead", command, body)


if __name__ == "__main__":
    main()
