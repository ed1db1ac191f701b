"""A hostile FHIR server on loopback driven through a real MCP stdio session: each fault ends within the call
deadline with a clear error, and the same session then answers a normal call. Named after the hazard each guards."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from ..hostile_server import Behaviour, hostile_server

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

PID = "eCamila3"
DEADLINE = 4.0
SLACK = 6.0  # what a loaded 2-core CI machine may add to a call that ends at the deadline; the hangs last 30 s+
PATIENT = json.dumps({"resourceType": "Patient", "id": "eNormal1", "name": [{"family": "Lopez"}]}).encode()
NORMAL = {"/fhir/Patient/eNormal1": PATIENT}


def observation(i: int) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": f"o{i}", "status": "final",
            "subject": {"reference": f"Patient/{PID}"}, "code": {"text": "Heart rate"},
            "category": [{"coding": [{"code": "vital-signs"}]}], "effectiveDateTime": "2026-01-01T10:00:00Z",
            "valueQuantity": {"value": 60 + i % 40, "unit": "/min", "system": "http://unitsofmeasure.org",
                              "code": "/min"},
            "referenceRange": [{"low": {"value": 60, "unit": "/min"}, "high": {"value": 100, "unit": "/min"}}],
            "interpretation": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpr"
                                            "etation", "code": "N", "display": "Normal"}]}],
            "performer": [{"reference": f"Practitioner/p{i % 7}", "display": "Nurse"}]}


def flood(entries: int) -> bytes:
    """One searchset page far beyond what was asked for (a server that ignores _count)."""
    return json.dumps({"resourceType": "Bundle", "type": "searchset", "total": entries,
                       "entry": [{"resource": observation(i), "search": {"mode": "match"}}
                                 for i in range(entries)]}).encode()


def settings_file(folder: Path, root: str, key: Path, **extra: str) -> Path:
    values = {"EPIC_ENV": "custom", "EPIC_FHIR_BASE_URL": f"{root}/fhir", "EPIC_TOKEN_URL": f"{root}/token",
              "EPIC_CLIENT_ID": "hostile-test", "PRIVATE_KEY_PATH": str(key), "EPIC_CALL_DEADLINE": str(DEADLINE),
              "EPIC_HTTP_TIMEOUT": "2", "EPIC_LOG_LEVEL": "DEBUG", **extra}
    path = folder / "hostile.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


@pytest.fixture
def key(tmp_path: Path) -> Path:
    from epic_mcp.auth.keys import generate_key, write_private_key

    path = tmp_path / "client.key"
    write_private_key(generate_key(), path)
    return path


@asynccontextmanager
async def session(behaviour: Behaviour, tmp_path: Path, key: Path,
                  **extra: str) -> AsyncIterator[tuple[Client, str]]:
    """The real server over stdio, started as an MCP client starts it, against the hostile server; its log (stderr,
    at DEBUG) is kept in tmp_path/server.log and must hold no traceback, whatever the fault."""
    async with hostile_server(behaviour) as root:
        env_file = settings_file(tmp_path, root, key, **extra)
        params = StdioServerParameters(command=sys.executable, args=["-m", "epic_mcp", "--env-file", str(env_file)],
                                       env={"PATH": os.environ["PATH"]}, cwd="/")
        with (tmp_path / "server.log").open("w") as log:
            async with Client(stdio_client(params, errlog=log)) as client:
                yield client, root
    assert "Traceback" not in (tmp_path / "server.log").read_text()


async def timed_error(client: Client, tool: str, arguments: dict[str, Any]) -> tuple[str, float]:
    started = time.monotonic()
    result = await client.call_tool(tool, arguments)
    elapsed = time.monotonic() - started
    assert result.is_error, result.content
    return result.content[0].text, elapsed


async def still_answers(client: Client) -> None:
    result = await client.call_tool("get_patient", {"id": "eNormal1"})
    assert not result.is_error and result.structured_content["id"] == "eNormal1", result.content


async def test_a_hanging_token_endpoint_ends_within_the_deadline_and_waiters_share_the_failure(tmp_path,
                                                                                              key) -> None:
    behaviour = Behaviour(token_hang=30, normal=NORMAL)
    async with session(behaviour, tmp_path, key) as (client, _):
        timings: list[float] = []
        errors: list[str] = []

        async def one() -> None:
            text, elapsed = await timed_error(client, "get_patient", {"id": PID})
            errors.append(text)
            timings.append(elapsed)

        async with anyio.create_task_group() as calls:
            for _ in range(3):
                calls.start_soon(one)
        assert max(timings) < DEADLINE + SLACK, timings
        assert all("token" in e and f"within {DEADLINE:g} s" in e for e in errors), errors
        assert behaviour.token_requests <= 4, "one shared exchange (with its retries), not one per waiter"
        text, elapsed = await timed_error(client, "get_patient", {"id": PID})
        assert elapsed < DEADLINE / 2 and "token" in text, "within the back-off the failure is repeated at once"
        behaviour.token_hang = 0
        await anyio.sleep(6)
        await still_answers(client)


async def test_a_body_trickled_a_byte_a_second_is_ended_by_the_call_deadline(tmp_path, key) -> None:
    behaviour = Behaviour(body=PATIENT, trickle=1.0, normal=NORMAL)
    async with session(behaviour, tmp_path, key) as (client, _):
        text, elapsed = await timed_error(client, "get_patient", {"id": PID})
        assert elapsed < DEADLINE + SLACK and "no answer within 4 s (EPIC_CALL_DEADLINE)" in text
        await still_answers(client)


async def test_a_page_that_ignores_count_is_cut_to_what_was_asked_in_compact_and_raw(tmp_path, key) -> None:
    behaviour = Behaviour(body=flood(2000), normal=NORMAL)
    async with session(behaviour, tmp_path, key) as (client, _):
        for fmt in ("compact", "raw"):
            result = await client.call_tool("search_observations", {"patient_id": PID, "category": "vital-signs",
                                                                   "count": 20, "format": fmt})
            data = result.structured_content
            assert not result.is_error and data["returned"] == 20 and len(data["items"]) == 20
            assert "the server sent 2000 results on one page although 20 were asked for; these are results 1-20" \
                in data["warnings"][0]
            assert len(result.content[0].text) < 60_000
        following = await client.call_tool("next_page", {"cursor": data["next_cursor"]})
        assert [item["id"] for item in following.structured_content["items"]] == [f"o{i}" for i in range(20, 40)]
        await still_answers(client)


async def test_a_next_link_with_encoded_dot_segments_is_refused_without_sending_the_token(tmp_path, key) -> None:
    escape = "/fhir/%2e%2e/token"
    page: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": [], "link": [{"relation": "next"}]}
    behaviour = Behaviour(normal=NORMAL)
    async with session(behaviour, tmp_path, key) as (client, root):
        page["link"][0]["url"] = root + escape
        behaviour.body = json.dumps(page).encode()
        result = await client.call_tool("search_observations", {"patient_id": PID, "category": "vital-signs"})
        assert result.structured_content["next_cursor"] is None
        assert any("pointed outside the configured FHIR server" in w for w in result.structured_content["warnings"])
        await still_answers(client)


async def test_json_nested_100000_deep_is_one_clear_error_and_no_traceback(tmp_path, key) -> None:
    deep = b'{"resourceType":"Patient","id":"x","extension":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    behaviour = Behaviour(body=deep, normal=NORMAL)
    async with session(behaviour, tmp_path, key) as (client, _):
        text, elapsed = await timed_error(client, "get_patient", {"id": PID})
        assert "nests deeper than 100 levels" in text and elapsed < DEADLINE
        await still_answers(client)
    log = (tmp_path / "server.log").read_text()
    assert "get_patient" in log, "the server did log at DEBUG"
    assert PID not in log and "Traceback" not in log


def tools_call(request_id: str, tool: str, arguments: str) -> bytes:
    return ('{"jsonrpc":"2.0","id":' + request_id + ',"method":"tools/call","params":{"name":"' + tool +
            '","arguments":' + arguments + "}}").encode()


DEEP = "[" * 100_000 + "]" * 100_000
# Each line a hostile client might send over stdio, and the JSON-RPC error it must get (id null: none is usable).
HOSTILE_LINES = {
    "a lone surrogate in a search value": (tools_call("2", "search_patients",
                                                      '{"family":"\\ud800","given":"Ann","birthdate":"1990-01-01"}'),
                                           -32700),
    "a lone surrogate in a get_patient id": (tools_call("3", "get_patient", '{"id":"\\ud800"}'), -32700),
    "a lone surrogate as the request id": (b'{"jsonrpc":"2.0","id":"\\ud800","method":"tools/list"}', -32700),
    "arguments nested 100,000 arrays deep": (tools_call("4", "get_patient", DEEP), -32700),
    "an id nested 100,000 arrays deep": (('{"jsonrpc":"2.0","id":' + DEEP + ',"method":"tools/list"}').encode(),
                                         -32700),
    "an id that is an array": (b'{"jsonrpc":"2.0","id":[5],"method":"tools/list"}', -32600),
    "an id that is an object": (tools_call('{"n":6}', "get_patient", '{"id":"eNormal1"}'), -32600),
}


@pytest.mark.parametrize("hostile", list(HOSTILE_LINES), ids=list(HOSTILE_LINES))
async def test_a_hostile_jsonrpc_line_gets_a_jsonrpc_error_and_the_session_goes_on(hostile: str, tmp_path,
                                                                                   key) -> None:
    line, code = HOSTILE_LINES[hostile]
    behaviour = Behaviour(normal=NORMAL)
    async with hostile_server(behaviour) as root:
        env_file = settings_file(tmp_path, root, key)
        process = await anyio.open_process([sys.executable, "-m", "epic_mcp", "--env-file", str(env_file)],
                                           env={"PATH": os.environ["PATH"]}, cwd="/")
        lines = [
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
            json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        ]
        assert process.stdin is not None and process.stdout is not None
        try:
            for message in lines:
                await process.stdin.send((message + "\n").encode())
            await process.stdin.send(line + b"\n")
            await process.stdin.send((json.dumps({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {
                "name": "get_patient", "arguments": {"id": "eNormal1"}}}) + "\n").encode())
            answers: list[dict[str, Any]] = []
            buffer = b""
            with anyio.fail_after(20):
                while not any(a.get("id") == 9 for a in answers):
                    buffer += await process.stdout.receive()
                    *complete, buffer = buffer.split(b"\n")
                    answers += [json.loads(line) for line in complete if line.strip()]
        finally:
            process.terminate()
            await process.wait()
    errors = [a for a in answers if "error" in a]
    assert [(e["id"], e["error"]["code"]) for e in errors] == [(None, code)], answers
    final = next(a for a in answers if a.get("id") == 9)
    assert final["result"]["structuredContent"]["id"] == "eNormal1", "the session answers normally afterwards"


def peak_rss_mb(marker: str) -> float:
    """VmHWM of the process whose command line contains `marker`."""
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker in (proc / "cmdline").read_bytes().decode(errors="replace"):
                line = next(row for row in (proc / "status").read_text().splitlines() if row.startswith("VmHWM"))
                return int(line.split()[1]) / 1024
        except (OSError, StopIteration):
            continue
    raise AssertionError("server process not found")


async def test_four_concurrent_oversized_answers_keep_peak_memory_under_300_mb(tmp_path, key) -> None:
    behaviour = Behaviour(body=flood(21000), normal=NORMAL)  # ~15 MB: just under the 16 MB answer cap
    assert 14_000_000 < len(behaviour.body) < 16 * 1024 * 1024
    async with session(behaviour, tmp_path, key, EPIC_CALL_DEADLINE="60") as (client, _):
        async def four_at_once() -> list[Any]:
            results: list[Any] = []

            async def one(fmt: str) -> None:
                results.append(await client.call_tool("search_observations", {
                    "patient_id": PID, "category": "vital-signs", "format": fmt}))

            async with anyio.create_task_group() as calls:
                for fmt in ("raw", "raw", "compact", "compact"):
                    calls.start_soon(one, fmt)
            return results

        assert all(not r.is_error and r.structured_content["returned"] == 20 for r in await four_at_once())
        behaviour.body = flood(42000)  # ~30 MB, as the server sent: over the cap
        assert all("exceeded 16 MB" in r.content[0].text for r in await four_at_once())
        peak = peak_rss_mb(str(tmp_path / "hostile.env"))
        assert peak < 300, f"peak RSS {peak:.0f} MB"
        await still_answers(client)
