"""What the views are given, for the browser tests and scripts/screenshot-views: sekmet-fhir loaded with the
sandbox data set (and its population database, exported from it by `epic-mcp export`), the real server over
stdio in both PHI modes, and what an MCP client that negotiates MCP Apps (or one that does not) sees of it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.client import advertise

from epic_mcp.auth.keys import KeyRing, generate_key, write_private_key
from epic_mcp.phi.pseudonyms import PseudonymCodec
from epic_mcp.sandbox import data_set, load_resources
from epic_mcp.sandbox.group import SANDBOX_GROUP_ID, sandbox_group
from epic_mcp.settings import load_settings

from ..conftest import run_today
from ..sekmet_server import LOADER_TOKEN, SekmetServer

CLIENT = "epic-mcp-views"
CAMILA, OLIVIA = "erXuFYUfucBZaryVksYEcMg3", "eh2xYHuzl9nkSFVvV3osUHg3"
PHI_SECRET = "views-evaluation-secret-0123456789abcdef"
APPS = advertise("io.modelcontextprotocol/ui", {"mimeTypes": ["text/html;profile=mcp-app"]})
CONDITIONS_SQL = ("SELECT display AS condition, count(DISTINCT patient_id) AS patients FROM condition "
                  "WHERE clinical_status = 'active' GROUP BY display ORDER BY patients DESC, condition LIMIT 12")
HOSTILE_SQL = ("SELECT '<img src=\"http://127.0.0.1:9/leak\" onerror=\"fetch(1)\">' AS label, 2 AS n "
               "UNION ALL SELECT '<script>alert(1)</script>', 1 ORDER BY n DESC")
QUESTIONS = {
    "a1c": ("get_latest_values", {"patient_id": CAMILA, "code": "4548-4"}),
    "blood_pressure": ("get_latest_values", {"patient_id": CAMILA, "code": "85354-9"}),
    "summary": ("patient_summary", {"patient_id": CAMILA}),
    "allergies": ("patient_summary", {"patient_id": OLIVIA}),
    "medications": ("patient_summary", {"patient_id": CAMILA, "sections": ["medications"]}),
    "population": ("query_population", {"sql": CONDITIONS_SQL}),
    "hostile": ("query_population", {"sql": HOSTILE_SQL}),
}
PHI_QUESTIONS = ("a1c", "blood_pressure", "summary", "medications")


@dataclass
class Session:
    """What one MCP client saw: tools/list, the view resources, and each question's arguments and result (JSON)."""

    tools: dict[str, dict[str, Any]]
    resources: dict[str, dict[str, Any]]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    arguments: dict[str, dict[str, Any]] = field(default_factory=dict)


@contextmanager
def sandbox_servers(folder: Path, env: dict[str, str]) -> Iterator[dict[str, StdioServerParameters]]:
    """epic-mcp over stdio against sekmet-fhir with the sandbox data: "full" (every tool, the population exported)
    and "minimum" (the PHI-minimising mode). `env` is added to the servers' (almost empty) environment."""
    key = folder / "client.key"
    write_private_key(generate_key(), key)
    jwks = KeyRing.from_settings(load_settings(None, private_key_path=str(key))).jwks()
    data = data_set(run_today())
    sekmet = SekmetServer(folder / "sekmet", [{"client_id": CLIENT, "jwks": jwks, "scopes": "system/*.read"}])
    sekmet.start()
    try:
        load_resources(sekmet.base_url, LOADER_TOKEN, [*data["resources"], sandbox_group(data["patients"])])
        common = (f"EPIC_ENV=custom\nEPIC_FHIR_BASE_URL={sekmet.base_url}\nEPIC_CLIENT_ID={CLIENT}\n"
                  f"PRIVATE_KEY_PATH={key}\n")
        full = folder / "full.env"
        full.write_text(common + f"EPIC_TOOLS=all,population\nEPIC_POPULATION_DIR={folder / 'population'}\n"
                                 f"EPIC_BULK_GROUP_ID={SANDBOX_GROUP_ID}\nEPIC_BULK_POLL_SECONDS=1\n")
        minimum = folder / "minimum.env"
        minimum.write_text(common + f"EPIC_TOOLS=all\nEPIC_PHI_MODE=minimum\nEPIC_PHI_SECRET={PHI_SECRET}\n")
        env = {"PATH": os.environ["PATH"], **env}
        export = subprocess.run([sys.executable, "-m", "epic_mcp", "--env-file", str(full), "export"],
                                capture_output=True, text=True, timeout=180, env=env, cwd="/", check=False)
        if export.returncode != 0:
            raise RuntimeError(f"the population export failed: {export.stderr[-3000:]}")
        yield {name: StdioServerParameters(command=sys.executable, args=["-m", "epic_mcp", "--env-file", str(path)],
                                           env=env, cwd="/") for name, path in (("full", full), ("minimum", minimum))}
    finally:
        sekmet.stop()


def as_json(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


async def _session(server: StdioServerParameters, questions: dict[str, tuple[str, dict[str, Any]]],
                   apps: bool) -> Session:
    async with Client(server, extensions=[APPS] if apps else None) as client:
        tools = {tool.name: as_json(tool) for tool in (await client.list_tools()).tools}
        session = Session(tools, {})
        for tool in tools.values():
            uri = ((tool.get("_meta") or {}).get("ui") or {}).get("resourceUri")
            if uri and uri not in session.resources:
                session.resources[uri] = as_json((await client.read_resource(uri)).contents[0])
        for key, (name, arguments) in questions.items():
            session.arguments[key] = arguments
            session.results[key] = as_json(await client.call_tool(name, arguments))
        return session


def minimum_questions() -> dict[str, tuple[str, dict[str, Any]]]:
    """PHI_QUESTIONS as asked in the PHI-minimising mode: of the patient's pseudonym, made from the secret."""
    pseudonym = PseudonymCodec(PHI_SECRET).pseudonym("Patient", CAMILA)
    return {key: (QUESTIONS[key][0], {**QUESTIONS[key][1], "patient_id": pseudonym}) for key in PHI_QUESTIONS}


def gather_sessions(servers: dict[str, StdioServerParameters]) -> dict[str, Session]:
    """"apps" and "plain" (a client with and without the extension) of the full server, "minimum" of the other."""

    async def gather() -> dict[str, Session]:
        return {"apps": await _session(servers["full"], QUESTIONS, True),
                "plain": await _session(servers["full"], QUESTIONS, False),
                "minimum": await _session(servers["minimum"], minimum_questions(), True)}

    with ThreadPoolExecutor(1) as thread:  # its own event loop: Playwright's sync API holds the caller's thread
        return thread.submit(asyncio.run, gather()).result()
