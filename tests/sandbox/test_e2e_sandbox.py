"""`epic-mcp sandbox` and EPIC_ENV=local, as a new user runs them: from nothing to answers over stdio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from epic_mcp.sandbox import data_set, is_serving

from ..conftest import pretended_today, run_today
from ..sekmet_server import free_port
from ..terminal import run_on_a_terminal

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]
CAMILA = "erXuFYUfucBZaryVksYEcMg3"
EPIC_TEST_PATIENT_IDS = {"erXuFYUfucBZaryVksYEcMg3", "eq081-VQEgP8drUUqCWzHfw3", "eAB3mDIBBcyUKviyzrxsnAw3",
                         "egqBHVfQlt4Bw3XGXoxVxHg3", "eIXesllypH3M9tAA5WdJftQ3", "eh2xYHuzl9nkSFVvV3osUHg3",
                         "e0w0LEDCYtfckT6N.CkJKCw3"}


@pytest.fixture
def sandbox_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"),
           "EPIC_SANDBOX_DIR": str(tmp_path / "sandbox"), "EPIC_SANDBOX_PORT": str(free_port()), **pretended_today()}
    yield env
    subprocess.run([sys.executable, "-m", "epic_mcp", "sandbox", "--stop"], env=env, capture_output=True,
                   timeout=60, check=False)


def epic_mcp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "epic_mcp", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


async def test_env_local_takes_a_new_user_from_nothing_to_answers(sandbox_env: dict[str, str]) -> None:
    base = f"http://127.0.0.1:{sandbox_env['EPIC_SANDBOX_PORT']}/fhir"
    assert not is_serving(base)
    server = StdioServerParameters(command=sys.executable, args=["-m", "epic_mcp", "--env", "local"],
                                   env=sandbox_env, cwd="/")
    async with Client(server) as client:
        patients = (await client.call_tool("find_test_patients", {})).structured_content
        status = json.loads((await client.read_resource("epic://status")).contents[0].text)
        labs = (await client.call_tool("search_observations", {"patient_id": "erXuFYUfucBZaryVksYEcMg3",
                                                               "category": "laboratory"})).structured_content
    assert {p["id"] for p in patients["patients"]} == EPIC_TEST_PATIENT_IDS
    assert status["synthetic_data"] is True and status["environment"] == "local"
    dates = data_set(run_today())["dates"]
    assert (status["data_reference_date"], status["date_shift_days"]) == (dates["reference_date"], dates["shift_days"])
    assert labs["total"] > 0
    assert is_serving(base), "the sandbox keeps running for the next MCP client"
    assert (Path(sandbox_env["EPIC_SANDBOX_DIR"]) / "keys" / "client.key").stat().st_mode & 0o077 == 0

    # Two years later, the same running sandbox: the next client's start moves every date (same ids, in place).
    later = run_today() + timedelta(days=730)
    server = StdioServerParameters(command=sys.executable, args=["-m", "epic_mcp", "--env", "local"],
                                   env={**sandbox_env, "EPIC_TODAY": later.isoformat()}, cwd="/")
    async with Client(server) as client:
        status = json.loads((await client.read_resource("epic://status")).contents[0].text)
        summary = (await client.call_tool("patient_summary", {"patient_id": CAMILA})).structured_content
    assert status["date_shift_days"] == dates["shift_days"] + 730
    sections = {s["name"]: s for s in summary["sections"]}
    assert sections["appointments"]["items"], "a booked appointment is still ahead"
    assert all(date.fromisoformat(a["start"][:10]) >= later for a in sections["appointments"]["items"])
    newest_vital = max(date.fromisoformat(v["effective"][:10]) for v in sections["vital_signs"]["items"])
    assert later - timedelta(days=90) <= newest_vital < later

    stopped = epic_mcp(sandbox_env, "sandbox", "--stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not is_serving(base)


def test_restart_keeps_the_data_and_reset_rebuilds_it(sandbox_env: dict[str, str]) -> None:
    folder = Path(sandbox_env["EPIC_SANDBOX_DIR"])
    started = epic_mcp(sandbox_env, "sandbox", "--background")
    assert started.returncode == 0, started.stderr
    assert "EPIC_ENV=local" in started.stdout and "epic-mcp sandbox --stop" in started.stdout
    marker = folder / "data" / "loaded.json"
    loaded_at = marker.stat().st_mtime_ns
    assert "already serving" in epic_mcp(sandbox_env, "sandbox", "--background").stderr

    assert epic_mcp(sandbox_env, "sandbox", "--stop").returncode == 0
    restarted = epic_mcp(sandbox_env, "sandbox", "--background")
    assert restarted.returncode == 0 and "loaded" not in restarted.stderr
    assert marker.stat().st_mtime_ns == loaded_at

    # After an upgrade that changes the data set or its search parameters, a restart loads and re-indexes it.
    assert epic_mcp(sandbox_env, "sandbox", "--stop").returncode == 0
    marker.write_text("indexed-by-an-older-epic-mcp")
    upgraded = epic_mcp(sandbox_env, "sandbox", "--background")
    assert upgraded.returncode == 0 and "synthetic resources" in upgraded.stderr
    assert marker.read_text() != "indexed-by-an-older-epic-mcp"
    doctor = epic_mcp(sandbox_env, "--env", "local", "doctor")
    assert doctor.returncode == 0, doctor.stdout
    assert "ok    sandbox: serving FHIR R4 at" in doctor.stdout and "ok    read: Patient/" in doctor.stdout

    # Someone types `epic-mcp --env local` in a terminal: one line on stderr says what it waits for.
    typed = run_on_a_terminal([sys.executable, "-m", "epic_mcp", "--env", "local"], sandbox_env, "/",
                              wait_for="Ctrl-C stops it")
    assert typed.returncode == 0 and typed.stdout == ""
    assert len(typed.stderr.splitlines()) == 1, typed.stderr
    assert typed.stderr.startswith("epic-mcp: waiting for an MCP client on stdin (this is an MCP server")
    assert f"-e EPIC_SANDBOX_PORT={sandbox_env['EPIC_SANDBOX_PORT']}" in typed.stderr

    reset = epic_mcp(sandbox_env, "sandbox", "--reset")
    assert reset.returncode == 0 and "data deleted" in reset.stdout
    assert not (folder / "data").exists() and (folder / "keys" / "client.key").exists()
    again = epic_mcp(sandbox_env, "sandbox", "--background")
    resources = len(data_set(run_today())["resources"]) + 1  # and the Group of the test patients
    assert again.returncode == 0 and f"loaded {resources} synthetic resources" in again.stderr
