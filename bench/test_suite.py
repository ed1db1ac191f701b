#!/usr/bin/env python3
"""The test suite's own speed: `./scripts/test` as a developer or CI runs it (ruff, mypy, import-linter, then pytest
on every core), timed from start to end, with its CPU time (user+sys of every process it waited for) and the
machine's load average before and after, so that a run on a shared machine can be told from one on an idle one.
Writes docs/bench-test-suite.md.

Usage: .venv/bin/python bench/test_suite.py [pytest arguments]   (e.g. `-n 0` for one process, `-m "not e2e"`)
"""

from __future__ import annotations

import os
import re
import resource
import shlex
import subprocess
import sys
import time

from harness import ROOT, write_results


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(arguments: list[str]) -> int:
    load_before = os.getloadavg()
    cpu_before, started = cpu_of_children(), time.perf_counter()
    run = subprocess.run([str(ROOT / "scripts" / "test"), "-q", *arguments], cwd=ROOT, capture_output=True,
                         text=True, check=False)
    wall, cpu = time.perf_counter() - started, cpu_of_children() - cpu_before
    load_after = os.getloadavg()
    outcome = next((line.strip("= ") for line in reversed(run.stdout.splitlines())
                    if re.search(r"\d+ (passed|failed|error)", line)), f"no pytest summary (exit {run.returncode})")
    command = " ".join(["./scripts/test", *map(shlex.quote, arguments)])
    rows = [("command", f"`{command}`"), ("exit code", str(run.returncode)), ("pytest", outcome),
            ("wall time", f"{wall:.0f} s ({wall / 60:.1f} min)"), ("CPU time (user+sys)", f"{cpu:.0f} s"),
            ("CPU time / wall time", f"{cpu / wall:.2f} of {os.cpu_count()} cores"),
            ("load average before (1, 5, 15 min)", ", ".join(f"{x:.2f}" for x in load_before)),
            ("load average after", ", ".join(f"{x:.2f}" for x in load_after))]
    table = "\n".join(["| What | Measured |", "|---|---|", *(f"| {what} | {value} |" for what, value in rows)])
    print(table)
    if run.returncode != 0:
        print(run.stdout[-3000:], run.stderr[-3000:], sep="\n", file=sys.stderr)
        return run.returncode
    note = ("CPU time counts every process the run waited for (pytest, its workers, the servers the tests start); "
            "a sandbox a test leaves to `epic-mcp sandbox --stop` is not counted. A load average above 0 before the "
            "run means other work shared the cores: the wall time is then longer than on an idle machine.")
    write_results("bench-test-suite", "Test suite wall time", "python bench/test_suite.py " +
                  " ".join(map(shlex.quote, arguments)), f"{table}\n\n{note}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
