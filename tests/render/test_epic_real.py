"""Real Epic sandbox bodies (../shared/epic-real, captured by others, CC BY 4.0: read there, never copied here)
replayed through a real MCP session: every code, value, unit, component, range, interpretation, dosage and
reaction a body holds reaches the text the model reads, and Epic's error bodies become clear one-line errors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from epic_mcp.render.terminology import system_label
from epic_mcp.serve.server import build_server

from ..conftest import EPIC_BASE, EPIC_TOKEN_URL, token_body

REAL = Path(__file__).resolve().parents[3] / "shared" / "epic-real"
CASES = json.loads((REAL / "index.json").read_text())["cases"] if (REAL / "index.json").exists() else []

pytestmark = [pytest.mark.anyio,
              pytest.mark.skipif(not CASES, reason="../shared/epic-real is not present on this machine")]

# Codings that are bookkeeping, not clinical content: identifier types, attachment format codes, Epic's
# flowsheet template ids, and language-proficiency details.
BOOKKEEPING = ("meta", "identifier", "format", "template-id", "patient-proficiency", "patient-preferenceType")


def case_id(case: dict[str, Any]) -> str:
    return str(case["name"])


def results_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    if body.get("resourceType") != "Bundle":
        return [body]
    entries = [e for e in body.get("entry", []) if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    return [e["resource"] for e in entries if e["resource"].get("resourceType") != "OperationOutcome"
            and e.get("search", {}).get("mode") != "outcome"]


def walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            label = str(node.get("url")) if key == "extension" and isinstance(node.get("url"), str) else key
            yield from walk(value, (*path, label))
    elif isinstance(node, list):
        for item in node:
            yield from walk(item, (*path, str(item.get("url")) if isinstance(item, dict) and "url" in item else ""))


def facts(resource: dict[str, Any]) -> set[tuple[str, ...]]:
    """Each fact as the texts it may appear as: 'LOINC 4548-4' for a code, the display or the code of an HL7 code,
    '118' and 'mm[Hg]' for a quantity."""
    found: set[tuple[str, ...]] = set()
    for path, node in walk(resource):
        if any(part.endswith(BOOKKEEPING) or part in BOOKKEEPING for part in path):
            continue
        if isinstance(node.get("code"), str) and isinstance(node.get("system"), str) and "value" not in node:
            label = system_label(node["system"])
            # A category shows its bare code; a code that is itself a word ('Rash') may stand as the name.
            bare = "category" in path[-2:] or re.search(r"[A-Za-z]{3}", node["code"]) is not None
            found.add((node["code"],) if label and bare else (f"{label} {node['code']}",) if label
                      else tuple(v for v in (node.get("display"), node["code"]) if isinstance(v, str)))
        value = node.get("value")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            found.add((str(value),))
            if node.get("unit") or node.get("code"):
                found.add((str(node.get("unit") or node.get("code")),))
    return found


def present(fact: tuple[str, ...], text: str) -> bool:
    return any(_shown(form, text) for form in fact)


def _shown(form: str, text: str) -> bool:
    if re.fullmatch(r"-?\d+(\.\d+)?", form):
        return re.search(rf"(?<![\d.]){re.escape(form)}(?![\d])", text) is not None
    return form.lower() in text.lower()


@pytest.fixture
def replay(epic, settings):
    def serve(case: dict[str, Any]) -> bytes:
        body = (REAL / case["file"]).read_bytes()
        path = (case.get("replay_as") or case["request"])["path"]
        epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
        epic.get(url__regex=rf"^{re.escape(EPIC_BASE)}/{re.escape(path)}(\?.*)?$").mock(return_value=httpx.Response(
            case["status"], content=body, headers={"content-type": case.get("content_type", "application/fhir+json")}))
        return body

    return serve, build_server(settings)


@pytest.mark.parametrize("case", [c for c in CASES if c["status"] == 200], ids=case_id)
async def test_every_fact_of_a_real_epic_body_reaches_the_model(replay, case: dict[str, Any]) -> None:
    serve, server = replay
    body = json.loads(serve(case))
    texts: list[str] = []
    async with Client(server) as client:
        arguments = {**case["args"], **({"count": 100} if case["tool"].startswith("search_") else {})}
        result = await client.call_tool(case["tool"], arguments)
        seen: set[str] = set()
        while True:
            assert not result.is_error, result.content[0].text
            ids = {item["id"] for item in (result.structured_content or {}).get("items", [])}
            if ids and ids <= seen:
                break  # the stub answers Epic's next link with the captured page again: the body is done
            seen |= ids
            texts.append(result.content[0].text)
            cursor = (result.structured_content or {}).get("next_cursor")
            if not cursor or body.get("resourceType") != "Bundle":
                break
            result = await client.call_tool("next_page", {"cursor": cursor})
    text = "\n".join(texts)
    missing = {f"{r['resourceType']}/{r.get('id')}: {' or '.join(fact)}" for r in results_of(body) for fact in facts(r)
               if not present(fact, text)}
    assert not missing, f"{len(missing)} facts missing, e.g. {sorted(missing)[:8]}"
    for resource in results_of(body):
        assert f"{resource.get('id')}" in text


@pytest.mark.parametrize("case", [c for c in CASES if c["status"] != 200], ids=case_id)
async def test_real_epic_error_bodies_become_clear_one_line_errors(replay, case: dict[str, Any]) -> None:
    serve, server = replay
    serve(case)
    async with Client(server) as client:
        result = await client.call_tool(case["tool"], case["args"])
    text = result.content[0].text
    assert result.is_error and "\n" not in text and len(text) < 400, text
    expected = {"error-patient-read-not-found": "no Patient with that id",
                "error-patient-search-business-rule": "requires demographics or _id parameter",
                "error-unknown-resource-type": "does not offer Consent search"}[case["name"]]
    assert expected in text and "<html" not in text.lower()


async def test_epics_page_size_in_bundle_total_is_not_shown_as_a_count(replay) -> None:
    serve, server = replay
    case = next(c for c in CASES if c["name"] == "observation-search-vital-signs-derrick-lin-page1")
    serve(case)
    async with Client(server) as client:
        result = await client.call_tool(case["tool"], case["args"])
    data = result.structured_content
    assert (data["total"], data["total_at_least"], data["returned"]) == (None, 1000, 20)
    assert "total at least 1000" in result.content[0].text and data["next_cursor"]
