"""Stateless scale-out: two real epic-mcp replicas behind a round-robin proxy, one sekmet-fhir, the SDK's HTTP
client paging a search across them with cursors signed by the shared EPIC_MCP_CURSOR_KEY."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest

from ..http_servers import EpicMcpHttp, LoadedSekmet, connect, write_env
from ..round_robin_proxy import RoundRobinProxy
from ..sekmet_server import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

CAMILA = "erXuFYUfucBZaryVksYEcMg3"
CURSOR_KEY = "c" * 48
PAGES = 4


def add_client(env_file: Path, name: str) -> str:
    added = subprocess.run([sys.executable, "-m", "epic_mcp", "--env-file", str(env_file), "clients", "add", name],
                           env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, timeout=60, check=True)
    return added.stdout.splitlines()[-1]


async def test_a_cursor_from_one_replica_pages_on_another(loaded_sekmet: LoadedSekmet, tmp_path: Path) -> None:
    proxy_port = free_port()
    shared = {**loaded_sekmet.settings(), "epic_mcp_http_stateless": "true", "epic_mcp_clients_file": "clients.json",
              "epic_mcp_http_allowed_hosts": f"127.0.0.1:{proxy_port}"}
    env_file = write_env(tmp_path / ".env", **shared, epic_mcp_cursor_key=CURSOR_KEY)
    own_key_env = write_env(tmp_path / "own-key.env", **shared)
    secret = add_client(env_file, "assistant")
    replicas = [EpicMcpHttp(env_file, tmp_path / f"replica-{i}.log") for i in range(2)]
    stranger = EpicMcpHttp(own_key_env, tmp_path / "stranger.log")
    proxy = RoundRobinProxy([r.root for r in replicas], proxy_port)
    try:
        for server in (*replicas, stranger):
            server.start()
        proxy.start()
        pages = []
        async with connect(f"http://127.0.0.1:{proxy_port}/mcp", token=secret) as client:
            page = await client.call_tool("search_observations", {"patient_id": CAMILA, "category": "laboratory",
                                                                  "count": 3})
            pages.append(page)
            for _ in range(PAGES - 1):
                page = await client.call_tool("next_page", {"cursor": page.structured_content["next_cursor"]})
                pages.append(page)
        async with connect(stranger.url, token=secret) as client:
            elsewhere = await client.call_tool("next_page", {"cursor": pages[0].structured_content["next_cursor"]})
    finally:
        proxy.stop()
        for server in (*replicas, stranger):
            server.stop()

    calls = [f for f in proxy.forwarded if f.rpc_method == "tools/call"]
    assert [c.tool for c in calls] == ["search_observations", *["next_page"] * (PAGES - 1)]
    assert all(c.status == 200 for c in calls)
    served_by = [c.upstream for c in calls]
    assert {0, 1} <= set(served_by), "both replicas answered tool calls"
    assert any(a != b for a, b in pairwise(served_by)), \
        "a cursor minted by one replica was redeemed by the other"
    assert all(not p.is_error for p in pages), [p.content[0].text for p in pages if p.is_error]
    ids = [json.dumps(item, sort_keys=True) for p in pages for item in p.structured_content["items"]]
    assert len(ids) == 3 * PAGES and len(set(ids)) == len(ids), "every page is new"
    assert elsewhere.is_error and "not valid here" in elsewhere.content[0].text, \
        "without the shared key a replica refuses another's cursor"
    assert not any(f.method == "GET" and f.status == 200 for f in proxy.forwarded), "no session stream"
