#!/usr/bin/env python3
"""Context cost: what the model reads (the tool result's text) for raw FHIR vs compact records, per resource type,
for patient_summary, and for tools/list per profile. Real tool calls over stdio against the sandbox data.

Tokens are estimated as characters / 4 (a common rule of thumb for JSON and English; no tokenizer is shipped)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import date
from typing import Any

from harness import sandbox, server_params, write_results
from mcp import Client

from epic_mcp.catalog import CATALOG
from epic_mcp.profiles import PROFILES
from epic_mcp.sandbox import data_set

PAGE = 50


def patients_with(resource_type: str, data: dict[str, Any]) -> list[str]:
    from epic_mcp.results import linked_patients

    return sorted({pid for r in data["resources"] if r["resourceType"] == resource_type
                   for pid in linked_patients(r)})


def required_choices(tool: str) -> list[dict[str, str]]:
    """Searches Epic requires a category for are measured once per category, so every record counts."""
    if tool == "search_observations":
        return [{"category": c} for c in ("laboratory", "vital-signs", "social-history", "survey")]
    if tool == "search_care_plans":
        return [{"category": "longitudinal"}]
    return [{}]


async def text_of_all_pages(client: Client, tool: str, arguments: dict[str, Any], fmt: str) -> tuple[int, int]:
    result = await client.call_tool(tool, {**arguments, "count": PAGE, "format": fmt})
    size, items = len(result.content[0].text), result.structured_content["returned"]
    while result.structured_content["next_cursor"]:
        result = await client.call_tool("next_page", {"cursor": result.structured_content["next_cursor"],
                                                      "format": fmt})
        size += len(result.content[0].text)
        items += result.structured_content["returned"]
    return size, items


async def measure(env: dict[str, str]) -> str:
    data = data_set(date.today())
    raw: Counter[str] = Counter()
    compact: Counter[str] = Counter()
    counted: Counter[str] = Counter()
    async with Client(server_params(env)) as client:
        for op in CATALOG:
            if op.interaction != "search" or op.params[0].arg != "patient_id":
                continue
            for extra in required_choices(op.tool):
                for pid in patients_with(op.resource, data):
                    for fmt, bucket in (("raw", raw), ("compact", compact)):
                        size, items = await text_of_all_pages(client, op.tool, {"patient_id": pid, **extra}, fmt)
                        bucket[op.resource] += size
                    counted[op.resource] += items
        summaries = []
        for patient in data["patients"]:
            result = await client.call_tool("patient_summary", {"patient_id": patient["id"]})
            summaries.append((patient["name"], len(result.content[0].text),
                              sum(len(s["items"]) for s in result.structured_content["sections"])))
    profiles = {}
    for name in PROFILES:
        async with Client(server_params(env, "--tools", name)) as client:
            tools = (await client.list_tools()).tools
        listing = json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools])
        profiles[name] = (len(tools), len(listing))
    return report(raw, compact, counted, summaries, profiles)


def report(raw: Counter[str], compact: Counter[str], counted: Counter[str], summaries: list[tuple[str, int, int]],
           profiles: dict[str, tuple[int, int]]) -> str:
    lines = ["## Search results: raw FHIR vs compact, per resource type", "",
             f"Every patient-scoped search of the catalog, for every sandbox patient who has such records, all pages "
             f"of {PAGE}; characters of the text content the model reads.", "",
             "| resource type | records | raw chars | compact chars | raw / compact | compact tokens (est.) |",
             "|---|---:|---:|---:|---:|---:|"]
    for resource_type in sorted(raw, key=lambda t: -raw[t]):
        lines.append(f"| {resource_type} | {counted[resource_type]} | {raw[resource_type]:,} | "
                     f"{compact[resource_type]:,} | {raw[resource_type] / compact[resource_type]:.1f}x | "
                     f"{compact[resource_type] // 4:,} |")
    total_raw, total_compact = sum(raw.values()), sum(compact.values())
    lines += [f"| **all** | {sum(counted.values())} | {total_raw:,} | {total_compact:,} | "
              f"**{total_raw / total_compact:.1f}x** | {total_compact // 4:,} |", "",
              "## patient_summary", "", "| patient | records shown | chars | tokens (est.) |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {items} | {size:,} | {size // 4:,} |" for name, size, items in summaries]
    lines += ["", "## tools/list per profile (`EPIC_TOOLS`)", "", "| profile | tools | chars | tokens (est.) |",
              "|---|---:|---:|---:|"]
    lines += [f"| {name} | {count} | {size:,} | {size // 4:,} |" for name, (count, size) in profiles.items()]
    return "\n".join(lines)


def main() -> None:
    with sandbox() as (_, env):
        body = asyncio.run(measure(env))
    print(body)
    path = write_results("bench-context-cost", "Context cost: raw vs compact", "python bench/context_cost.py", body)
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
