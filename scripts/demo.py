#!/usr/bin/env python3
"""Asks epic-mcp (over stdio, started as an MCP client starts it, on the local sandbox) what a clinician would
ask about Camila Lopez, and prints the answers. Stops the sandbox afterwards if it started it."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from mcp import Client, StdioServerParameters

from epic_mcp.sandbox import Sandbox, is_serving
from epic_mcp.settings import load_settings


def coding(concept: dict[str, Any] | None) -> str:
    concept = concept or {}
    first = (concept.get("coding") or [{}])[0]
    return concept.get("text") or first.get("display") or first.get("code") or "?"


def quantity(observation: dict[str, Any]) -> str:
    if "valueQuantity" in observation:
        value = observation["valueQuantity"]
        return f"{value.get('value')} {value.get('unit', '')}".strip()
    if observation.get("component"):
        return " / ".join(quantity(c) for c in observation["component"])
    for key in ("valueString", "valueCodeableConcept", "valueInteger"):
        if key in observation:
            return coding(observation[key]) if key == "valueCodeableConcept" else str(observation[key])
    return "-"


class Session:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        result = await self.client.call_tool(tool, arguments)
        if result.is_error:
            raise SystemExit(f"{tool} failed: {result.content[0].text}")
        return result.structured_content

    async def everything(self, tool: str, **arguments: Any) -> list[dict[str, Any]]:
        page = await self.call(tool, count=100, **arguments)
        items = list(page["items"])
        while page["next_cursor"]:
            page = await self.call("next_page", cursor=page["next_cursor"])
            items += page["items"]
        return items


def latest_per_code(observations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for observation in sorted(observations, key=lambda o: o.get("effectiveDateTime", "")):
        latest[coding(observation.get("code"))] = observation
    return sorted(latest.values(), key=lambda o: coding(o.get("code")))


def flag(observation: dict[str, Any]) -> str:
    value = observation.get("valueQuantity", {}).get("value")
    for reference in observation.get("referenceRange", [])[:1]:
        low, high = reference.get("low", {}).get("value"), reference.get("high", {}).get("value")
        if value is not None and ((low is not None and value < low) or (high is not None and value > high)):
            return "  <- outside reference range"
    return ""


async def ask(session: Session) -> None:
    found = await session.call("search_patients", family="Lopez", given="Camila", birthdate="1987-09-12")
    patient = found["items"][0]
    pid = patient["id"]
    name = patient["name"][0]
    print(f"Q: Find Camila Lopez.\nA: {' '.join(name['given'])} {name['family']}, born {patient['birthDate']}, "
          f"{patient['gender']}, MRN {patient['identifier'][0]['value']}; FHIR id {pid}\n")

    vitals = await session.everything("search_observations", patient_id=pid, category="vital-signs")
    print(f"Q: Her latest vital signs?  ({len(vitals)} vital-sign observations on file)")
    for observation in latest_per_code(vitals):
        print(f"   {coding(observation['code'])}: {quantity(observation)} "
              f"({observation.get('effectiveDateTime', '?')[:10]})")
    labs = await session.everything("search_observations", patient_id=pid, category="laboratory")
    print(f"\nQ: Her latest labs?  ({len(labs)} lab results on file)")
    for observation in latest_per_code(labs):
        print(f"   {coding(observation['code'])}: {quantity(observation)} "
              f"({observation.get('effectiveDateTime', '?')[:10]}){flag(observation)}")

    problems = await session.everything("search_conditions", patient_id=pid, clinical_status="active")
    print("\nQ: Her active problems?")
    for condition in problems:
        code = (condition["code"].get("coding") or [{}])[0]
        print(f"   {coding(condition['code'])} ({code.get('code', '?')})")
    medications = await session.everything("search_medication_requests", patient_id=pid, status="active")
    print("\nQ: Her active medications?")
    for request in medications:
        medication = request.get("medicationCodeableConcept") or {"text": request.get("medicationReference",
                                                                                      {}).get("display")}
        dosage = (request.get("dosageInstruction") or [{}])[0].get("text", "")
        print(f"   {coding(medication)}{f' - {dosage}' if dosage else ''}")
    coverage = await session.everything("search_coverage", patient_id=pid)
    print("\nQ: Her coverage?")
    for item in coverage:
        period = item.get("period", {})
        print(f"   {coding(item.get('type'))}, status {item['status']}, payor {item['payor'][0]['reference']}, "
              f"from {period.get('start', '?')} to {period.get('end', 'open')}")


async def main() -> int:
    settings = load_settings(None, epic_env="local")
    started_here = not is_serving(f"{settings.sandbox_root_url}/fhir")
    passed_on = {key: os.environ[key] for key in ("PATH", "HOME", "EPIC_SANDBOX_DIR", "EPIC_SANDBOX_PORT")
                 if key in os.environ}
    server = StdioServerParameters(command=sys.executable, args=["-m", "epic_mcp", "--env", "local"],
                                   env={**passed_on, "EPIC_LOG_LEVEL": "WARNING"})
    print(f"Starting epic-mcp on the local sandbox ({settings.sandbox_root_url}, synthetic data)...\n")
    try:
        async with Client(server) as client:
            await ask(Session(client))
    finally:
        if started_here:
            Sandbox(settings).stop()
    print("\nEvery answer came from epic-mcp's tools over MCP stdio, backed by a real FHIR server.")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
