"""Population questions end to end: sekmet-fhir's own $export of a Group of the test patients, `epic-mcp export`
on the command line, then questions over MCP (stdio); an incremental refresh; Spark's tables against DuckDB's.
Expected answers come from the data set itself."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from mcp import Client, StdioServerParameters

from epic_mcp.auth.keys import KeyRing, generate_key, write_private_key
from epic_mcp.sandbox import data_set, load_resources
from epic_mcp.sandbox.group import SANDBOX_GROUP_ID
from epic_mcp.settings import load_settings

from ..conftest import run_today
from ..sekmet_server import LOADER_TOKEN, SekmetServer
from .test_population_db import DIABETES_A1C_OVER_9, diabetics_with_a1c_over_9

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]
CLIENT = "epic-mcp-e2e-bulk"


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return data_set(run_today())


@pytest.fixture(scope="module")
def sekmet(tmp_path_factory: pytest.TempPathFactory, sandbox_data: Path) -> Iterator[tuple[SekmetServer, Path]]:
    """sekmet with the sandbox's data: the data set and the Group of its patients (sandbox_group)."""
    key = tmp_path_factory.mktemp("bulk-keys") / "client.key"
    write_private_key(generate_key(), key)
    jwks = KeyRing.from_settings(load_settings(None, private_key_path=str(key))).jwks()
    server = SekmetServer(tmp_path_factory.mktemp("bulk-sekmet"),
                          [{"client_id": CLIENT, "jwks": jwks, "scopes": "system/*.read"}], data=sandbox_data).start()
    yield server, key
    server.stop()


def env_file(sekmet: tuple[SekmetServer, Path], folder: Path, group: str | None = SANDBOX_GROUP_ID) -> Path:
    server, key = sekmet
    path = folder / "bulk.env"
    path.write_text(f"EPIC_ENV=custom\nEPIC_FHIR_BASE_URL={server.base_url}\nEPIC_CLIENT_ID={CLIENT}\n"
                    f"PRIVATE_KEY_PATH={key}\nEPIC_POPULATION_DIR={folder / 'population'}\n"
                    + (f"EPIC_BULK_GROUP_ID={group}\n" if group else "")
                    + "EPIC_BULK_POLL_SECONDS=1\nEPIC_TOOLS=population\n")
    return path


def export(settings_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "epic_mcp", "--env-file", str(settings_file), "export", *args],
                          capture_output=True, text=True, timeout=180, env={"PATH": os.environ["PATH"]}, cwd="/",
                          check=False)


def mcp_server(settings_file: Path) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "epic_mcp", "--env-file", str(settings_file)],
                                 env={"PATH": os.environ["PATH"]}, cwd="/")


@pytest.fixture(scope="module")
def exported(sekmet, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """`epic-mcp export --group <id>` as the README shows it, with no EPIC_BULK_GROUP_ID configured."""
    settings_file = env_file(sekmet, tmp_path_factory.mktemp("bulk-cli"), group=None)
    return settings_file, export(settings_file, "--group", SANDBOX_GROUP_ID)


def state_of(settings_file: Path) -> dict[str, Any]:
    return json.loads((settings_file.parent / "population" / "export.json").read_text())


async def test_export_on_the_command_line_then_a_population_question_over_mcp(exported, data) -> None:
    settings_file, run = exported
    assert run.returncode == 0, run.stderr[-3000:]
    assert "export started (group epic-mcp-test-patients)" in run.stderr and "downloaded" in run.stderr
    assert "export complete (full export" in run.stdout
    folder = settings_file.parent / "population"
    for path in [folder, *folder.rglob("*")]:
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"

    async with Client(mcp_server(settings_file)) as client:
        described = (await client.call_tool("describe_population_data", {})).structured_content
        answer = await client.call_tool("query_population", {"sql": DIABETES_A1C_OVER_9})
        refused = await client.call_tool("query_population", {"sql": "DELETE FROM observation"})
    counts = Counter(r["resourceType"] for r in data["resources"])
    assert described["tables"]["observation"]["rows"] == counts["Observation"]
    assert described["tables"]["patient"]["rows"] == len(data["patients"])
    assert described["export"]["group_id"] == SANDBOX_GROUP_ID
    expected = diabetics_with_a1c_over_9(data["resources"])
    assert answer.structured_content["rows"] == [[expected]] and expected > 0
    assert f"\n{expected}\n" in answer.content[0].text and "<patient-text>" in answer.content[0].text
    assert refused.is_error and "only SELECT" in refused.content[0].text


def test_incremental_refresh_fetches_only_what_changed(exported, sekmet, data) -> None:
    """`epic-mcp export --incremental` right after `export --group X` (README): the same group, since the last
    transactionTime."""
    settings_file, first = exported
    assert first.returncode == 0
    server, _ = sekmet
    before = state_of(settings_file)
    a1c = next(r for r in data["resources"] if r["resourceType"] == "Observation"
               and r["code"]["coding"][0]["code"] == "4548-4")
    changed = copy.deepcopy(a1c)
    changed["valueQuantity"]["value"] = 13.7
    new_condition = {"resourceType": "Condition", "id": "cond-e2e-new", "subject": a1c["subject"],
                     "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.65"}]},
                     "clinicalStatus": {"coding": [{"code": "active"}]}}
    load_resources(server.base_url, LOADER_TOKEN, [changed, new_condition])

    run = export(settings_file, "--incremental")
    assert run.returncode == 0, run.stderr[-3000:]
    after = state_of(settings_file)
    assert after["since"] == before["transaction_time"] and after["group_id"] == SANDBOX_GROUP_ID
    assert sorted(f["type"] for f in after["files"] if not f["error_file"]) == ["Condition", "Observation"]
    assert sum(f["expected"] for f in after["files"] if not f["error_file"]) == 2, "only the two changed resources"
    counts = Counter(r["resourceType"] for r in data["resources"])
    assert after["tables"]["observation"] == counts["Observation"], "the changed one replaced, not added"
    assert after["tables"]["condition"] == counts["Condition"] + 1
    with duckdb.connect(str(settings_file.parent / "population" / "population.duckdb"), read_only=True) as db:
        assert db.execute("SELECT value FROM observation WHERE id = ?", [a1c["id"]]).fetchall() == [(13.7,)]
        assert db.execute("SELECT count(*) FROM patient").fetchall() == [(len(data["patients"]),)]
        assert db.execute("SELECT icd10 FROM condition WHERE id = 'cond-e2e-new'").fetchall() == [(["E11.65"],)]


def _spark_available() -> None:
    missing = []
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing.append("pyspark (pip install 'epic-mcp[spark]')")
    if shutil.which("java") is None:
        missing.append("Java 17+ (apt-get install openjdk-17-jre-headless)")
    if missing:
        message = f"the Spark e2e test needs {' and '.join(missing)}"
        if os.environ.get("EPIC_MCP_REQUIRE_E2E"):
            pytest.fail(message)
        pytest.skip(message)


def hashable(row: Any) -> tuple[Any, ...]:
    """A row with its code lists as tuples, so rows can be counted."""
    return tuple(tuple(value) if isinstance(value, list) else value for value in row)


def test_spark_tables_equal_duckdb_tables(exported, tmp_path) -> None:
    """On the sandbox export, and on the Epic-shaped records (OIDs, Epic's codes first, referenced Medications)."""
    _spark_available()
    from epic_mcp.bulk.snapshot import merge
    from epic_mcp.population.database import build
    from epic_mcp.population.spark import local_session, view_frames

    from .epic_shaped import synthetic_resources
    from .test_population_db import write_ndjson

    settings_file, run = exported
    assert run.returncode == 0
    exported_folder = settings_file.parent / "population"
    epic_folder = tmp_path / "epic-shaped"
    merge(epic_folder / "resources", write_ndjson(tmp_path / "download", synthetic_resources()), replace=True)
    build(epic_folder / "resources", epic_folder / "population.duckdb", {"transaction_time": "2026-12-06T00:00:00Z"})
    folders = {exported_folder: date.fromisoformat(state_of(settings_file)["transaction_time"][:10]),
               epic_folder: date(2026, 12, 6)}
    spark = local_session("local[2]")
    try:
        frames = {folder: {name: Counter(hashable(row) for row in frame.collect())
                           for name, frame in view_frames(spark, str(folder / "resources"), as_of=day).items()}
                  for folder, day in folders.items()}
    finally:
        spark.stop()
    for folder in folders:
        with duckdb.connect(str(folder / "population.duckdb"), read_only=True) as db:
            tables = {name: Counter(hashable(row) for row in db.execute(f'SELECT * FROM "{name}"').fetchall())
                      for name in frames[folder]}
        assert set(frames[folder]) >= {"patient", "observation", "observation_coding", "condition", "condition_coding",
                                       "medication_request", "medication", "encounter", "immunization", "allergy"}
        for name in frames[folder]:
            assert frames[folder][name] == tables[name], f"{name}: Spark and DuckDB differ ({folder.name})"
        filled = ("patient", "observation", "observation_coding", "condition_coding",
                  *(("medication", "medication_coding") if folder == epic_folder else ()))
        assert all(sum(tables[name].values()) > 0 for name in filled), folder.name


async def test_start_export_over_mcp_runs_in_the_background_and_can_be_cancelled(sekmet, tmp_path, data) -> None:
    settings_file = env_file(sekmet, tmp_path)
    async with Client(mcp_server(settings_file)) as client:
        started = await client.call_tool("start_export", {})
        assert not started.is_error, started.content[0].text
        status: dict[str, Any] = {}
        for _ in range(120):
            status = (await client.call_tool("export_status", {})).structured_content
            if status["phase"] in ("complete", "failed"):
                break
            await asyncio.sleep(0.5)
        patients = await client.call_tool("query_population", {"sql": "SELECT count(*) AS n FROM patient"})

        again = await client.call_tool("start_export", {"restart": True})
        cancelled = (await client.call_tool("cancel_export", {})).structured_content
    assert status["phase"] == "complete" and status["summary"]["error"] is None
    assert patients.structured_content["rows"] == [[len(data["patients"])]]
    assert not again.is_error
    assert cancelled["phase"] == "cancelled" and not cancelled["followed"]
    assert "HTTP 403" in cancelled["summary"]["error"], "sekmet lets read-only clients not DELETE; said plainly"
    assert not (tmp_path / "population" / "download").exists()
