"""Many clients over real HTTP: named clients with their own tools and patients, scope-aware tools, probes.

Each test starts epic-mcp over streamable HTTP as a real process against sekmet-fhir loaded with the sandbox's
bundled data, and talks to it with the SDK's HTTP client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp.shared.exceptions import MCPError
from mcp.types import ToolListChangedNotification

from epic_mcp.access.profiles import CORE

from ..http_servers import PATIENT_ONLY, EpicMcpHttp, LoadedSekmet, connect, write_env

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

CAMILA, DERRICK = "erXuFYUfucBZaryVksYEcMg3", "eq081-VQEgP8drUUqCWzHfw3"
AUDIT_KEY = "k" * 40
LABS_TOOLS = ("search_observations", "get_observation", "get_latest_values", "next_page", "search_patients",
              "get_patient")


def epic_mcp_cli(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "epic_mcp", "--env-file", str(env_file), *args],
                          env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, timeout=60, check=False)


def add_client(env_file: Path, name: str, *options: str) -> str:
    added = epic_mcp_cli(env_file, "clients", "add", name, *options)
    assert added.returncode == 0, added.stderr
    return added.stdout.splitlines()[-1]


def first_id(data: dict[str, Any], resource_type: str, patient_id: str) -> str:
    return next(r["id"] for r in data["resources"] if r["resourceType"] == resource_type
                and r.get("subject", {}).get("reference") == f"Patient/{patient_id}")


async def test_named_clients_see_and_may_call_only_their_tools_and_patients(loaded_sekmet: LoadedSekmet,
                                                                             tmp_path: Path) -> None:
    data = loaded_sekmet.data
    env_file = write_env(tmp_path / ".env", **loaded_sekmet.settings(), epic_mcp_clients_file="clients.json",
                         epic_audit_log=tmp_path / "audit.jsonl", epic_audit_hmac_key=AUDIT_KEY)
    labs = add_client(env_file, "labs", "--tools", ",".join(LABS_TOOLS), "--patients", CAMILA)
    front_desk = add_client(env_file, "front-desk", "--tools", "core")
    listed = epic_mcp_cli(env_file, "clients", "list")
    assert "labs\ttools=search_observations" in listed.stdout and "1 patient(s)" in listed.stdout
    assert labs not in listed.stdout and labs not in (tmp_path / "clients.json").read_text()
    server = EpicMcpHttp(env_file, tmp_path / "epic-mcp.log").start()
    try:
        async with connect(server.url, token=labs) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            other_tool = await client.call_tool("search_conditions", {"patient_id": CAMILA})
            other_patient = await client.call_tool("search_observations", {"patient_id": DERRICK,
                                                                           "category": "laboratory"})
            own = await client.call_tool("search_observations", {"patient_id": CAMILA, "category": "laboratory"})
            others_record = await client.call_tool("get_observation", {"id": first_id(data, "Observation", DERRICK)})
            found_other = await client.call_tool("search_patients", {"family": "Lin", "given": "Derrick",
                                                                     "legal_sex": "male"})
            found_own = await client.call_tool("search_patients", {"family": "Lopez", "given": "Camila",
                                                                   "legal_sex": "female"})
            with pytest.raises(MCPError, match="may only see the records of the patients it is allowed"):
                await client.read_resource(f"fhir://Patient/{DERRICK}")
            with pytest.raises(MCPError, match="may not read Condition records"):
                await client.read_resource(f"fhir://Condition/{first_id(data, 'Condition', CAMILA)}")
        async with connect(server.url, token=front_desk) as client:
            front_desk_tools = {tool.name for tool in (await client.list_tools()).tools}
            anyone = await client.call_tool("search_conditions", {"patient_id": DERRICK})
        async with httpx.AsyncClient() as http:
            initialize = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
            headers = {"Accept": "application/json, text/event-stream"}
            anonymous = await http.post(server.url, json=initialize, headers=headers)
            wrong = await http.post(server.url, json=initialize,
                                    headers={**headers, "Authorization": "Bearer " + "x" * 40})
            ready = await http.get(f"{server.root}/readyz")
            removed = epic_mcp_cli(env_file, "clients", "remove", "labs")
            after_removal = await http.post(server.url, json=initialize,
                                            headers={**headers, "Authorization": f"Bearer {labs}"})
    finally:
        server.stop()

    assert tools == set(LABS_TOOLS)
    assert other_tool.is_error and "may not use search_conditions" in other_tool.content[0].text
    assert other_patient.is_error and "allowlist" in other_patient.content[0].text
    assert not own.is_error and own.structured_content["total"] > 0
    assert own.structured_content["warnings"] == []
    assert others_record.is_error and "belongs to another patient" in others_record.content[0].text
    assert found_other.structured_content["returned"] == 0 and found_other.structured_content["total"] is None
    assert "were withheld" in found_other.structured_content["warnings"][0]
    assert [p["id"] for p in found_own.structured_content["items"]] == [CAMILA]
    assert front_desk_tools == set(CORE)
    assert not anyone.is_error
    assert (anonymous.status_code, wrong.status_code, after_removal.status_code) == (401, 401, 401)
    assert removed.returncode == 0
    assert ready.status_code == 200 and ready.json()["ready"] is True, "probes need no credential"
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert {line["client"] for line in audit} == {"labs", "front-desk"}
    assert [line["outcome"] for line in audit if line["client"] == "labs"][:2] == ["error", "error"]
    logs = (tmp_path / "audit.jsonl").read_text() + (tmp_path / "epic-mcp.log").read_text()
    assert labs not in logs and front_desk not in logs


SCOPE_HIDDEN = {"search_observations", "get_observation", "get_latest_values", "search_conditions",
                "get_document_text", "search_documents"}
STILL_SHOWN = {"get_patient", "search_patients", "find_test_patients", "patient_summary", "next_page",
               "check_connection"}


@pytest.mark.parametrize("era", ["legacy", "auto"])
async def test_tools_the_token_does_not_authorize_are_hidden_with_a_notification(loaded_sekmet: LoadedSekmet,
                                                                                 tmp_path: Path, era: str) -> None:
    env_file = write_env(tmp_path / ".env", **loaded_sekmet.settings(PATIENT_ONLY))
    server = EpicMcpHttp(env_file, tmp_path / "epic-mcp.log").start()
    changed = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, ToolListChangedNotification):
            changed.set()

    try:
        async with connect(server.url, mode=era, message_handler=on_message) as client:
            before = {tool.name for tool in (await client.list_tools()).tools}
            async with AsyncExitStack() as stack:
                if era == "auto":  # 2026-07-28: change events arrive on a subscriptions/listen stream
                    subscription = await stack.enter_async_context(client.listen(tools_list_changed=True))
                patient = await client.call_tool("get_patient", {"id": CAMILA})
                with anyio.fail_after(10):
                    if era == "auto":
                        await anext(aiter(subscription))
                    else:
                        await changed.wait()
            after = {tool.name for tool in (await client.list_tools()).tools}
            refused = await client.call_tool("search_observations", {"patient_id": CAMILA, "category": "laboratory"})
            summary = await client.call_tool("patient_summary", {"patient_id": CAMILA})
    finally:
        server.stop()

    assert before >= SCOPE_HIDDEN | STILL_SHOWN
    assert not patient.is_error
    assert after >= STILL_SHOWN and not SCOPE_HIDDEN & after
    assert refused.is_error
    assert "needs the Observation API" in refused.content[0].text
    assert "Add the Observation API to the app's registration" in refused.content[0].text
    assert not summary.is_error and summary.structured_content["patient"] is not None
    assert summary.structured_content["unavailable"]
