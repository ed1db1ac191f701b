"""The real server over stdio, started the way MCP clients start it, against sekmet-fhir loaded with the
sandbox's bundled data set. Expected values come from the data set itself."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from epic_mcp.access.profiles import ALL_TOOLS
from epic_mcp.auth.keys import KeyRing, generate_key, write_private_key
from epic_mcp.fhir.catalog import CATALOG, Operation
from epic_mcp.sandbox import data_set, load_resources
from epic_mcp.settings import load_settings

from ..conftest import pretended_today, run_today
from ..sekmet_server import LOADER_TOKEN, SekmetServer

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

ROOT = Path(__file__).resolve().parents[2]
INSPECTOR = ROOT / "tests" / "inspector" / "node_modules" / ".bin" / "mcp-inspector"
CAMILA = "erXuFYUfucBZaryVksYEcMg3"
FULL, PATIENT_ONLY = "epic-mcp-e2e", "epic-mcp-e2e-patient-only"


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return data_set(run_today())


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stdio-keys") / "client.key"
    write_private_key(generate_key(), path)
    return path


def jwks_of(key: Path) -> dict[str, Any]:
    return KeyRing.from_settings(load_settings(None, private_key_path=str(key))).jwks()


def env_file_for(server: SekmetServer, client_id: str, key: Path, folder: Path) -> Path:
    path = folder / f"{client_id}.env"
    path.write_text(f"EPIC_ENV=custom\nEPIC_FHIR_BASE_URL={server.base_url}\nEPIC_CLIENT_ID={client_id}\n"
                    f"PRIVATE_KEY_PATH={key}\nEPIC_TOOLS=all\n")
    return path


@pytest.fixture(scope="module")
def sekmet(tmp_path_factory: pytest.TempPathFactory, key: Path, bundled_data: Path) -> Iterator[SekmetServer]:
    server = SekmetServer(tmp_path_factory.mktemp("stdio-sekmet"), [
        {"client_id": FULL, "jwks": jwks_of(key), "scopes": "system/*.read"},
        {"client_id": PATIENT_ONLY, "jwks": jwks_of(key), "scopes": "system/Patient.read"},
    ], data=bundled_data).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def env_file(sekmet: SekmetServer, key: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return env_file_for(sekmet, FULL, key, tmp_path_factory.mktemp("stdio-env"))


def like_claude_desktop(env_file: Path) -> StdioServerParameters:
    """Minimal environment, unrelated working directory, settings named by --env-file."""
    return StdioServerParameters(command=sys.executable, args=["-m", "epic_mcp", "--env-file", str(env_file)],
                                 env={"PATH": os.environ["PATH"], **pretended_today()}, cwd="/")


# What the data set says each tool should return ----------------------------------------------------------

def linked_patient(resource: dict[str, Any]) -> str | None:
    """The patient a resource belongs to, through the element FHIR's `patient` search parameter follows."""
    links = [resource.get(field) for field in ("subject", "patient", "beneficiary")]
    links += [p.get("actor") for p in resource.get("participant", []) if resource["resourceType"] == "Appointment"]
    for link in links:
        if isinstance(link, dict) and str(link.get("reference", "")).startswith("Patient/"):
            return link["reference"].removeprefix("Patient/")
    return None


def without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    """The server adds versionId and lastUpdated; everything else must come back as loaded."""
    return {k: v for k, v in resource.items() if k != "meta"}


def of_type(data: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [r for r in data["resources"] if r["resourceType"] == resource_type]


def has_code(concepts: Any, code: str) -> bool:
    concepts = concepts if isinstance(concepts, list) else [concepts]
    return any(c.get("code") == code for concept in concepts for c in (concept or {}).get("coding", []))


def search_case(op: Operation, data: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """Arguments for one call of a search tool, and the ids the data set says it must find."""
    resources = of_type(data, op.resource)
    if op.tool == "search_patients":
        patient = next(r for r in resources if r["id"] == CAMILA)
        return ({"family": patient["name"][0]["family"], "given": patient["name"][0]["given"][0],
                 "birthdate": patient["birthDate"]}, {CAMILA})
    if op.tool == "search_practitioners":
        family = resources[0]["name"][0]["family"]
        return {"family": family}, {r["id"] for r in resources
                                   if any(n.get("family", "").lower().startswith(family.lower()) for n in r["name"])}
    if op.tool == "search_practitioner_roles":
        practitioner = Counter(r["practitioner"]["reference"] for r in resources).most_common(1)[0][0]
        return ({"practitioner_id": practitioner.removeprefix("Practitioner/")},
                {r["id"] for r in resources if r["practitioner"]["reference"] == practitioner})
    extra: dict[str, Any] = {}
    if op.tool == "search_observations":
        extra, resources = {"category": "laboratory"}, [r for r in resources if has_code(r["category"], "laboratory")]
    if op.tool == "search_care_plans":
        extra, resources = {"category": "longitudinal"}, [r for r in resources if has_code(r["category"], "38717003")]
    patient = Counter(linked_patient(r) for r in resources if linked_patient(r)).most_common(1)[0][0]
    return {"patient_id": patient, **extra}, {r["id"] for r in resources if linked_patient(r) == patient}


async def all_pages(client: Client, tool: str, arguments: dict[str, Any]) -> tuple[int | None, list[str]]:
    result = await client.call_tool(tool, {**arguments, "count": 50})
    assert not result.is_error, f"{tool}: {result.content[0].text}"
    page = result.structured_content
    total, ids = page["total"], [item["id"] for item in page["items"]]
    while page["next_cursor"]:
        nxt = await client.call_tool("next_page", {"cursor": page["next_cursor"]})
        assert not nxt.is_error, nxt.content[0].text
        page = nxt.structured_content
        ids += [item["id"] for item in page["items"]]
    return total, ids


# Tests --------------------------------------------------------------------------------------------------

async def test_every_catalog_tool_returns_the_data_the_fixture_holds(env_file: Path, data) -> None:
    problems: list[str] = []
    async with Client(like_claude_desktop(env_file)) as client:
        listed = {tool.name for tool in (await client.list_tools()).tools}
        assert {op.tool for op in CATALOG} <= listed
        for op in CATALOG:
            if op.interaction == "read":
                expected = of_type(data, op.resource)[0]
                result = await client.call_tool(op.tool, {"id": expected["id"], "format": "raw"})
                if result.is_error or without_meta(result.structured_content["resource"]) != without_meta(expected):
                    problems.append(f"{op.tool}: {result.content[0].text[:200]}")
                continue
            arguments, expected_ids = search_case(op, data)
            total, ids = await all_pages(client, op.tool, arguments)
            if set(ids) != expected_ids or total != len(expected_ids) or len(ids) != len(set(ids)):
                problems.append(f"{op.tool}{arguments}: total {total}, got {sorted(ids)[:5]}..., "
                                f"expected {len(expected_ids)}")
    assert not problems, "\n".join(problems)


async def test_a_multi_page_search_is_walked_to_the_end(env_file: Path, data) -> None:
    vitals = {r["id"] for r in of_type(data, "Observation")
              if linked_patient(r) == CAMILA and has_code(r["category"], "vital-signs")}
    pages = 0
    ids: list[str] = []
    async with Client(like_claude_desktop(env_file)) as client:
        result = await client.call_tool("search_observations",
                                        {"patient_id": CAMILA, "category": "vital-signs", "count": 20})
        while True:
            page = result.structured_content
            pages += 1
            ids += [item["id"] for item in page["items"]]
            if page["next_cursor"] is None:
                break
            result = await client.call_tool("next_page", {"cursor": page["next_cursor"]})
    assert pages == -(-len(vitals) // 20) and pages > 2
    assert len(ids) == page["total"] == len(vitals) and set(ids) == vitals


async def test_blood_pressure_components_arrive_intact_in_compact_form(env_file: Path, data) -> None:
    panels = [r for r in of_type(data, "Observation") if linked_patient(r) == CAMILA and has_code(r["code"],
                                                                                                  "85354-9")]
    async with Client(like_claude_desktop(env_file)) as client:
        result = await client.call_tool("search_observations", {"patient_id": CAMILA, "code": "85354-9",
                                                                "count": 100})
    got = {item["id"]: item["components"] for item in result.structured_content["items"]}
    assert set(got) == {p["id"] for p in panels}
    for panel in panels:
        systolic, diastolic = (c["valueQuantity"]["value"] for c in panel["component"])
        assert [c["value"]["value"] for c in got[panel["id"]]] == [systolic, diastolic]
        assert "Systolic blood pressure [LOINC 8480-6]" in got[panel["id"]][0]["code"]
        assert f"Systolic blood pressure [LOINC 8480-6]: {systolic} mm[Hg]" in result.content[0].text


async def test_epic_rule_is_enforced_without_a_round_trip(env_file: Path) -> None:
    async with Client(like_claude_desktop(env_file)) as client:
        result = await client.call_tool("search_observations", {"patient_id": CAMILA})
    assert result.is_error and "needs patient_id + category, or patient_id + code" in result.content[0].text


async def test_a_scope_the_client_lacks_is_refused_with_the_fix(sekmet: SekmetServer, key: Path,
                                                                 tmp_path: Path) -> None:
    env_file = env_file_for(sekmet, PATIENT_ONLY, key, tmp_path)
    async with Client(like_claude_desktop(env_file)) as client:
        patient = await client.call_tool("get_patient", {"id": CAMILA})
        labs = await client.call_tool("search_observations", {"patient_id": CAMILA, "category": "laboratory"})
    assert not patient.is_error
    assert labs.is_error
    assert "needs the Observation API (scope system/Observation.read" in labs.content[0].text
    assert "Add the Observation API to the app's registration" in labs.content[0].text


async def test_token_expiry_mid_session_costs_exactly_one_new_token(tmp_path: Path, key: Path, data) -> None:
    lifetime = 4
    server = SekmetServer(tmp_path / "short", [{"client_id": FULL, "jwks": jwks_of(key),
                                                "scopes": "system/*.read"}], token_lifetime=lifetime).start()
    try:
        load_resources(server.base_url, LOADER_TOKEN, [r for r in data["resources"] if r["id"] == CAMILA])
        env_file = env_file_for(server, FULL, key, tmp_path)
        async with Client(like_claude_desktop(env_file)) as client:
            assert not (await client.call_tool("get_patient", {"id": CAMILA})).is_error
            first = json.loads((await client.read_resource("epic://status")).contents[0].text)
            await asyncio.sleep(lifetime + 0.5)
            again = await client.call_tool("get_patient", {"id": CAMILA})
            after = json.loads((await client.read_resource("epic://status")).contents[0].text)
    finally:
        server.stop()
    assert not again.is_error and again.structured_content["id"] == CAMILA
    assert (first["token_requests"], after["token_requests"]) == (1, 2)


def _inspector(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not INSPECTOR.exists():
        if os.environ.get("EPIC_MCP_REQUIRE_E2E"):
            pytest.fail("the MCP inspector is not installed; scripts/test installs it with npm")
        pytest.skip("the MCP inspector is not installed (scripts/test installs it with npm)")
    command = [str(INSPECTOR), "--cli", sys.executable, "-m", "epic_mcp", "--env-file", str(env_file), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env={"PATH": os.environ["PATH"]},
                          check=False)


def test_inspector_strict_lists_tools(env_file: Path) -> None:
    result = _inspector(env_file, "--method", "tools/list", "--strict")
    assert result.returncode == 0, result.stderr[-2000:]
    names = {tool["name"] for tool in json.loads(result.stdout)["tools"]}
    assert names == set(ALL_TOOLS)


def test_inspector_calls_a_tool(env_file: Path, data) -> None:
    active = [r for r in of_type(data, "Condition") if linked_patient(r) == CAMILA
              and has_code(r["clinicalStatus"], "active")]
    result = _inspector(env_file, "--method", "tools/call", "--tool-name", "search_conditions",
                        "--tool-args-json", json.dumps({"patient_id": CAMILA, "clinical_status": "active"}))
    assert result.returncode == 0, result.stderr[-2000:]
    structured = json.loads(result.stdout)["structuredContent"]
    assert structured["total"] == len(active) > 0
    assert {item["id"] for item in structured["items"]} == {r["id"] for r in active}


async def test_patient_summary_matches_the_record(env_file: Path, data) -> None:
    mine = [r for r in data["resources"] if linked_patient(r) == CAMILA]
    active_problems = {r["id"] for r in mine if r["resourceType"] == "Condition"
                       and has_code(r["clinicalStatus"], "active")}
    lab_codes = {json.dumps(r["code"]["coding"][0]["code"]) for r in mine if r["resourceType"] == "Observation"
                 and has_code(r["category"], "laboratory")}
    async with Client(like_claude_desktop(env_file)) as client:
        result = await client.call_tool("patient_summary", {"patient_id": CAMILA})
    assert not result.is_error, result.content[0].text
    summary = result.structured_content
    sections = {s["name"]: s for s in summary["sections"]}
    assert summary["unavailable"] == [] and summary["patient"]["name"] == "Camila Maria Lopez"
    assert {item["id"] for item in sections["problems"]["items"]} == active_problems
    assert len(sections["labs"]["items"]) == min(len(lab_codes), 25)
    assert "## Active problems" in result.content[0].text


async def test_document_text_and_latest_values_on_the_sandbox(env_file: Path, data) -> None:
    note = next(r for r in data["resources"] if r["id"] == "note-1")
    readings = sorted((r for r in data["resources"] if r["resourceType"] == "Observation"
                       and linked_patient(r) == CAMILA and has_code(r["code"], "85354-9")),
                      key=lambda r: r["effectiveDateTime"], reverse=True)
    async with Client(like_claude_desktop(env_file)) as client:
        text = await client.call_tool("get_document_text", {"document_id": note["id"]})
        trend = await client.call_tool("get_latest_values", {"patient_id": CAMILA, "code": "85354-9", "limit": 3})
    assert text.structured_content["text"]["patient_text"].startswith("Progress note\n\nSeen on ")
    series = trend.structured_content["series"][0]
    assert [v["id"] for v in series["values"]] == [r["id"] for r in readings[:3]]
    assert series["complete"] and [t["measure"] for t in series["trend"]] == ["Systolic blood pressure",
                                                                             "Diastolic blood pressure"]
