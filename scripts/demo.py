#!/usr/bin/env python3
"""Asks epic-mcp (over stdio, started as an MCP client starts it, on the local sandbox) what a clinician would
ask about Camila Lopez, and prints each answer exactly as the model receives it. Stops the sandbox afterwards if
it started it."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from mcp import Client, StdioServerParameters

from epic_mcp.sandbox import Sandbox, is_serving
from epic_mcp.settings import load_settings

RULE = "-" * 100


async def ask(client: Client, question: str, tool: str, **arguments: Any) -> dict[str, Any]:
    print(f"{RULE}\nQ: {question}\n   -> {tool}({', '.join(f'{k}={v!r}' for k, v in arguments.items())})\n")
    result = await client.call_tool(tool, arguments)
    print(result.content[0].text)
    if result.is_error:
        raise SystemExit(f"{tool} failed")
    return result.structured_content


async def conversation(client: Client) -> None:
    found = await ask(client, "Find Camila Lopez.", "search_patients", family="Lopez", given="Camila",
                      legal_sex="female")
    if not found["items"]:
        raise SystemExit("Camila Lopez was not found: the sandbox data looks stale; run "
                         "`.venv/bin/epic-mcp sandbox --reset` and try again")
    patient_id = found["items"][0]["id"]
    await ask(client, "Her latest vitals and labs, active problems and medications, allergies and coverage?",
              "patient_summary", patient_id=patient_id)
    await ask(client, "How has her blood pressure changed?", "get_latest_values",
              patient_id=patient_id, code="85354-9", limit=5)
    notes = await ask(client, "What clinical notes are on file?", "search_documents",
                      patient_id=patient_id, category="clinical-note", count=5)
    await ask(client, "What does the first note say?", "get_document_text",
              document_id=notes["items"][0]["id"], max_chars=2000)


async def main() -> int:
    settings = load_settings(None, epic_env="local")
    started_here = not is_serving(f"{settings.sandbox_root_url}/fhir")
    passed_on = {key: os.environ[key] for key in ("PATH", "HOME", "EPIC_SANDBOX_DIR", "EPIC_SANDBOX_PORT")
                 if key in os.environ}
    server = StdioServerParameters(command=sys.executable, args=["-m", "epic_mcp", "--env", "local"],
                                   env={**passed_on, "EPIC_LOG_LEVEL": "WARNING"})
    print(f"Starting epic-mcp on the local sandbox ({settings.sandbox_root_url}, synthetic data)...")
    try:
        async with Client(server) as client:
            await conversation(client)
    finally:
        if started_here:
            Sandbox(settings).stop()
    print(f"{RULE}\nEvery answer above came from epic-mcp's tools over MCP stdio, backed by a real FHIR server.")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
