"""The real server over stdio, started the way MCP clients start it, against sekmet-fhir on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from epic_mcp.catalog import CATALOG
from epic_mcp.keys import KeyRing, generate_key, write_private_key
from epic_mcp.settings import load_settings

from .sekmet_server import SekmetServer

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

ROOT = Path(__file__).resolve().parent.parent
INSPECTOR = ROOT / "tests" / "inspector" / "node_modules" / ".bin" / "mcp-inspector"
CLIENT_ID = "epic-mcp-stdio"
CAMILA = "erXuFYUfucBZaryVksYEcMg3"
HEART_RATES = [72, 75, 71, 80, 77]


def _put(resource: dict[str, Any]) -> dict[str, Any]:
    return {"resource": resource, "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}}


def small_record() -> dict[str, Any]:
    subject = {"reference": f"Patient/{CAMILA}", "display": "Camila Lopez"}
    vitals = [{
        "resourceType": "Observation", "id": f"hr-{i}", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": subject, "effectiveDateTime": f"2026-0{i + 1}-15T09:00:00Z",
        "valueQuantity": {"value": value, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    } for i, value in enumerate(HEART_RATES)]
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        _put({"resourceType": "Patient", "id": CAMILA, "name": [{"family": "Lopez", "given": ["Camila", "Maria"]}],
              "gender": "female", "birthDate": "1987-09-12"}),
        *map(_put, vitals),
        _put({"resourceType": "Condition", "id": "cond-1", "subject": subject,
              "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                             "code": "active"}]},
              "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9",
                                   "display": "Type 2 diabetes mellitus without complications"}]}}),
    ]}


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("stdio")
    write_private_key(generate_key(), folder / "keys" / "client.key")
    jwks = KeyRing.from_settings(load_settings(None, private_key_path=str(folder / "keys" / "client.key"))).jwks()
    server = SekmetServer(folder / "sekmet", [{"client_id": CLIENT_ID, "jwks": jwks,
                                               "scopes": "system/*.read"}]).start()
    server.load(small_record())
    path = folder / "epic.env"
    path.write_text(f"EPIC_ENV=custom\nEPIC_FHIR_BASE_URL={server.base_url}\nEPIC_CLIENT_ID={CLIENT_ID}\n"
                    "PRIVATE_KEY_PATH=keys/client.key\nEPIC_PAGE_SIZE=2\n")
    yield path
    server.stop()


def like_claude_desktop(env_file: Path) -> StdioServerParameters:
    """Minimal environment, unrelated working directory, settings named by --env-file."""
    return StdioServerParameters(command=sys.executable, args=["-m", "epic_mcp", "--env-file", str(env_file)],
                                 env={"PATH": os.environ["PATH"]}, cwd="/")


async def test_stdio_client_lists_tools_and_reads_a_patient(env_file: Path) -> None:
    async with Client(like_claude_desktop(env_file)) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert {op.tool for op in CATALOG} | {"next_page", "find_test_patients", "check_connection"} == tools
        result = await client.call_tool("get_patient", {"id": CAMILA})
    assert not result.is_error, result.content
    patient = result.structured_content["resource"]
    assert patient["name"][0]["family"] == "Lopez" and patient["birthDate"] == "1987-09-12"


async def test_stdio_search_pages_to_the_end_with_next_page(env_file: Path) -> None:
    values: list[float] = []
    async with Client(like_claude_desktop(env_file)) as client:
        result = await client.call_tool("search_observations", {"patient_id": CAMILA, "category": "vital-signs"})
        total = result.structured_content["total"]
        while True:
            page = result.structured_content
            assert page["returned"] <= 2
            values += [item["valueQuantity"]["value"] for item in page["items"]]
            if page["next_cursor"] is None:
                break
            result = await client.call_tool("next_page", {"cursor": page["next_cursor"]})
        conditions = await client.call_tool("search_conditions", {"patient_id": CAMILA, "clinical_status": "active"})
    assert total == len(HEART_RATES) and sorted(values) == sorted(HEART_RATES)
    assert conditions.structured_content["items"][0]["code"]["coding"][0]["code"] == "E11.9"


async def test_stdio_epic_rule_is_enforced_without_a_round_trip(env_file: Path) -> None:
    async with Client(like_claude_desktop(env_file)) as client:
        result = await client.call_tool("search_observations", {"patient_id": CAMILA})
    assert result.is_error and "needs patient_id + category, or patient_id + code" in result.content[0].text


def _inspector(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not INSPECTOR.exists():
        if os.environ.get("EPIC_MCP_REQUIRE_E2E"):
            pytest.fail("the MCP inspector is not installed; scripts/test installs it with npm")
        pytest.skip("the MCP inspector is not installed (scripts/test installs it with npm)")
    command = [str(INSPECTOR), "--cli", sys.executable, "-m", "epic_mcp", "--env-file", str(env_file), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env={"PATH": os.environ["PATH"]})


def test_inspector_strict_lists_tools(env_file: Path) -> None:
    result = _inspector(env_file, "--method", "tools/list", "--strict")
    assert result.returncode == 0, result.stderr[-2000:]
    names = {tool["name"] for tool in json.loads(result.stdout)["tools"]}
    assert "search_observations" in names and "next_page" in names


def test_inspector_calls_a_tool(env_file: Path) -> None:
    result = _inspector(env_file, "--method", "tools/call", "--tool-name", "search_conditions",
                        "--tool-args-json", json.dumps({"patient_id": CAMILA}))
    assert result.returncode == 0, result.stderr[-2000:]
    structured = json.loads(result.stdout)["structuredContent"]
    assert structured["total"] == 1 and structured["items"][0]["id"] == "cond-1"
