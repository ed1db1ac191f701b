#!/usr/bin/env python3
"""Asks epic-mcp (over stdio, started as an MCP client starts it, on the local sandbox) what a clinician would
ask about Camila Lopez, and prints each answer exactly as the model receives it. Stops the sandbox afterwards if
it started it. The synthetic record is dated relative to today (EPIC_TODAY when a test pretends), so the checks
here are too: an appointment ahead, vital signs from the last 90 days."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import date, timedelta
from typing import Any

from mcp import Client, StdioServerParameters

from epic_mcp.errors import ConfigError, EpicMcpError
from epic_mcp.sandbox import Sandbox, is_serving
from epic_mcp.settings import load_settings

RULE = "-" * 100
PASSED_ON = ("PATH", "HOME", "XDG_DATA_HOME", "EPIC_SANDBOX_DIR", "EPIC_SANDBOX_PORT", "EPIC_TODAY")
RECENT_DAYS = 90


class DemoFailed(Exception):
    """An answer was missing or wrong: one line says which."""


async def ask(client: Client, question: str, tool: str, **arguments: Any) -> dict[str, Any]:
    print(f"{RULE}\nQ: {question}\n   -> {tool}({', '.join(f'{k}={v!r}' for k, v in arguments.items())})\n")
    result = await client.call_tool(tool, arguments)
    print(result.content[0].text)
    if result.is_error:
        raise DemoFailed(f"{tool} failed: {result.content[0].text[:200]}")
    return result.structured_content


def check_current(summary: dict[str, Any], today: date) -> None:
    """The sandbox data moves with the calendar: a booked appointment ahead, vitals from the last 90 days."""
    sections = {s["name"]: s for s in summary["sections"]}
    stale = "the sandbox data looks stale; run `.venv/bin/epic-mcp sandbox --reset` and try again"
    if not any(date.fromisoformat(a["start"][:10]) >= today for a in sections["appointments"]["items"]):
        raise DemoFailed(f"no upcoming appointment on or after {today}: {stale}")
    newest = max((date.fromisoformat(v["effective"][:10]) for v in sections["vital_signs"]["items"]
                  if "effective" in v), default=None)
    if newest is None or newest < today - timedelta(days=RECENT_DAYS):
        raise DemoFailed(f"no vital signs from the {RECENT_DAYS} days before {today}: {stale}")


async def conversation(client: Client, today: date) -> None:
    status = json.loads((await client.read_resource("epic://status")).contents[0].text)
    print(f"Synthetic data, dated relative to {today}: built with its newest event on "
          f"{status['data_reference_date']}, every date moved {status['date_shift_days']} days.")
    found = await ask(client, "Find Camila Lopez.", "search_patients", family="Lopez", given="Camila",
                      legal_sex="female")
    if not found["items"]:
        raise DemoFailed("Camila Lopez was not found: the sandbox data looks stale; run "
                         "`.venv/bin/epic-mcp sandbox --reset` and try again")
    patient_id = found["items"][0]["id"]
    summary = await ask(client, "Her latest vitals and labs, active problems and medications, allergies and "
                        "coverage, and what is coming up?", "patient_summary", patient_id=patient_id)
    check_current(summary, today)
    await ask(client, "How has her blood pressure changed?", "get_latest_values",
              patient_id=patient_id, code="85354-9", limit=5)
    latest = await ask(client, "What does her latest note say?", "get_latest_notes", patient_id=patient_id,
                       max_chars=2000)
    notes = await client.call_tool("search_documents", {"patient_id": patient_id, "category": "clinical-note",
                                                        "count": 100})
    check_newest(latest, notes.structured_content)


def check_newest(latest: dict[str, Any], notes: dict[str, Any]) -> None:
    """The latest note is the newest on file, whatever order the server lists them in."""
    if not latest["notes"]:
        raise DemoFailed("get_latest_notes found no note")
    dates = [item["date"] for item in notes["items"] if item.get("date")]
    if notes.get("next_cursor") is None and dates and latest["notes"][0]["date"] != max(dates):
        raise DemoFailed(f"the latest note is dated {latest['notes'][0]['date']}, but one of {max(dates)} exists")


async def main() -> int:
    settings = load_settings(None, epic_env="local")
    started_here = not is_serving(f"{settings.sandbox_root_url}/fhir")
    passed_on = {key: os.environ[key] for key in PASSED_ON if key in os.environ}
    server = StdioServerParameters(command=sys.executable, args=["-m", "epic_mcp", "--env", "local"],
                                   env={**passed_on, "EPIC_LOG_LEVEL": "WARNING"})
    print(f"Starting epic-mcp on the local sandbox ({settings.sandbox_root_url}, synthetic data)...")
    try:
        async with Client(server) as client:
            await conversation(client, settings.today())
    finally:
        if started_here:
            Sandbox(settings).stop()
    print(f"{RULE}\nEvery answer above came from epic-mcp's tools over MCP stdio, backed by a real FHIR server.")
    print("epic-mcp is installed in .venv: `source .venv/bin/activate` puts the `epic-mcp` command on your PATH.")
    return 0


def leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, as the MCP client's task groups raise them."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


def run() -> int:
    """The demo, ending in one clear line and an exit code, never a traceback."""
    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # every failure becomes one line
        found = leaves(error)
        ours = next((e for e in found if isinstance(e, (DemoFailed, EpicMcpError))), None)
        if isinstance(ours, ConfigError):
            print(f"demo: configuration error: {ours}", file=sys.stderr)
            return 2
        if ours is not None:
            print(f"demo: {ours}", file=sys.stderr)
            return 1
        print(f"demo: the epic-mcp server stopped before it answered ({type(found[0]).__name__}: "
              f"{str(found[0])[:200]}); its own error, if any, is on the line above", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(run())
