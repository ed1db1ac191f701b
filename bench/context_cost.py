#!/usr/bin/env python3
"""Context cost: what the model reads (the tool result's text) for raw FHIR vs compact records, in bytes (UTF-8) and
in tokens, per resource type, on the sandbox data and on the unseen data (tests/data/unseen.json.gz); and for
patient_summary and tools/list per profile. Real tool calls over stdio against sekmet on loopback.

Tokens are counted with cl100k_base (bench/tokens.py; Claude's own tokenizer is not public). Japanese text takes
more tokens per byte than English, so the unseen data (half of it Japanese) has a different bytes-to-tokens ratio."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from harness import loaded_server, write_results
from mcp import Client
from patient_searches import all_pages, searches
from tokens import TOKENIZER, count_tokens

from epic_mcp.access.profiles import PROFILES
from epic_mcp.sandbox import data_set
from tests.conftest import run_today
from tests.unseen_data import unseen_data_set

PAGE = 50
TARGET = 5.0


@dataclass
class Sizes:
    bytes: Counter[str] = field(default_factory=Counter)
    tokens: Counter[str] = field(default_factory=Counter)

    def add(self, key: str, text: str) -> None:
        self.bytes[key] += len(text.encode())
        self.tokens[key] += count_tokens(text)


@dataclass
class Cost:
    raw: Sizes = field(default_factory=Sizes)
    compact: Sizes = field(default_factory=Sizes)
    records: Counter[str] = field(default_factory=Counter)
    summaries: list[tuple[str, int, int, int]] = field(default_factory=list)  # name, records, bytes, tokens


async def measure(data: dict[str, Any]) -> Cost:
    """Every patient-scoped search that finds something, all pages of PAGE, in both formats; patient_summary."""
    cost = Cost()
    with loaded_server(data["resources"]) as server:
        async with Client(server.params()) as client:
            for search in searches(data["resources"], [p["id"] for p in data["patients"]]):
                if not search.expected:
                    continue
                for fmt, sizes in (("raw", cost.raw), ("compact", cost.compact)):
                    for page in await all_pages(client, search, fmt, PAGE):
                        sizes.add(search.op.resource, page.text)
                        if fmt == "compact":
                            cost.records[search.op.resource] += page.structured["returned"]
            for patient in data["patients"]:
                result = await client.call_tool("patient_summary", {"patient_id": patient["id"]})
                text = result.content[0].text
                shown = sum(len(s["items"]) for s in result.structured_content["sections"])
                cost.summaries.append((patient["name"], shown, len(text.encode()), count_tokens(text)))
    return cost


async def tools_list(data: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
    found = {}
    with loaded_server(data["resources"][:1]) as server:
        for name in PROFILES:
            async with Client(server.params("--tools", name)) as client:
                tools = (await client.list_tools()).tools
            listing = json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools])
            found[name] = (len(tools), len(listing.encode()), count_tokens(listing))
    return found


def ratio(raw: int, compact: int) -> str:
    return f"{raw / compact:.1f}x" if compact else "-"


def search_table(cost: Cost) -> list[str]:
    lines = ["| resource type | records | raw bytes | compact bytes | bytes raw / compact | raw tokens | "
             "compact tokens | tokens raw / compact |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    raw, compact = cost.raw, cost.compact
    for t in sorted(raw.bytes, key=lambda t: -raw.bytes[t]):
        lines.append(f"| {t} | {cost.records[t]:,} | {raw.bytes[t]:,} | {compact.bytes[t]:,} | "
                     f"{ratio(raw.bytes[t], compact.bytes[t])} | {raw.tokens[t]:,} | {compact.tokens[t]:,} | "
                     f"{ratio(raw.tokens[t], compact.tokens[t])} |")
    rb, cb, rt, ct = (sum(c.values()) for c in (raw.bytes, compact.bytes, raw.tokens, compact.tokens))
    lines.append(f"| **all** | {sum(cost.records.values()):,} | {rb:,} | {cb:,} | **{ratio(rb, cb)}** | {rt:,} | "
                 f"{ct:,} | **{ratio(rt, ct)}** |")
    return lines


def totals(cost: Cost) -> tuple[float, float]:
    return (sum(cost.raw.bytes.values()) / sum(cost.compact.bytes.values()),
            sum(cost.raw.tokens.values()) / sum(cost.compact.tokens.values()))


def report(costs: dict[str, Cost], profiles: dict[str, tuple[int, int, int]]) -> str:
    lines = [f"Tokens: {TOKENIZER}. Bytes: UTF-8 bytes of the text content the model reads.", "",
             "| data set | bytes raw / compact | tokens raw / compact | target (bytes) | met |",
             "|---|---:|---:|---:|---|"]
    for name, cost in costs.items():
        by_bytes, by_tokens = totals(cost)
        lines.append(f"| {name} | {by_bytes:.1f}x | {by_tokens:.1f}x | >= {TARGET:.0f}x | "
                     f"{'yes' if by_bytes >= TARGET else 'NO'} |")
    for name, cost in costs.items():
        lines += ["", f"## Search results, {name}: raw FHIR vs compact, per resource type", "",
                  f"Every patient-scoped search of the catalog that finds records, for every patient of the data set "
                  f"(every category where Epic requires one), all pages of {PAGE}.", "", *search_table(cost)]
    for name, cost in costs.items():
        lines += ["", f"## patient_summary, {name}", "", "| patient | records shown | bytes | tokens |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {who} | {shown} | {size:,} | {tokens:,} |" for who, shown, size, tokens in cost.summaries]
    lines += ["", "## tools/list per profile (`EPIC_TOOLS`)", "", "| profile | tools | bytes | tokens |",
              "|---|---:|---:|---:|"]
    lines += [f"| {name} | {count} | {size:,} | {tokens:,} |" for name, (count, size, tokens) in profiles.items()]
    return "\n".join(lines)


def main() -> None:
    sandbox_data = data_set(run_today())
    unseen = unseen_data_set()
    costs = {"sandbox data": asyncio.run(measure(sandbox_data)), "unseen data": asyncio.run(measure(unseen))}
    body = report(costs, asyncio.run(tools_list(sandbox_data)))
    print(body)
    path = write_results("bench-context-cost", "Context cost: raw vs compact", "python bench/context_cost.py", body)
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
