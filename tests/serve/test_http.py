"""The streamable-http transport: the public JWKS, a bearer token for MCP clients, DNS-rebinding protection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from epic_mcp.auth.keys import KeyRing
from epic_mcp.cli import main
from epic_mcp.serve.http import http_app
from epic_mcp.serve.server import build_server

from ..conftest import CLIENT_ID

pytestmark = pytest.mark.anyio
TOKEN = "t" * 40
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "test", "version": "1"}}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@asynccontextmanager
async def http_client(settings) -> AsyncIterator[httpx.AsyncClient]:
    server = build_server(settings)
    app = http_app(server, settings, "127.0.0.1", 8000)
    async with server.session_manager.run(), httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                                               base_url="http://127.0.0.1:8000") as http:
        yield http


async def test_jwks_is_served_with_a_cache_lifetime_without_a_token(make_settings) -> None:
    settings = make_settings(epic_mcp_http_token=TOKEN)
    async with http_client(settings) as http:
        response = await http.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.json() == KeyRing.from_settings(settings).jwks()
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert not {"d", "p", "q"} & set(response.json()["keys"][0])


async def test_mcp_requests_need_the_bearer_token(make_settings) -> None:
    async with http_client(make_settings(epic_mcp_http_token=TOKEN)) as http:
        missing = await http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
        wrong = await http.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": "Bearer nope"})
        right = await http.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}"})
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert right.status_code == 200 and "epic-mcp" in right.text


async def test_dns_rebinding_is_refused(make_settings) -> None:
    async with http_client(make_settings()) as http:
        rebound = await http.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Host": "evil.example.org"})
        local = await http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
    assert rebound.status_code in (403, 421) and local.status_code == 200


def test_a_public_bind_address_needs_a_token(tmp_path, key_file, capsys) -> None:
    (tmp_path / ".env").write_text(f"EPIC_CLIENT_ID={CLIENT_ID}\nPRIVATE_KEY_PATH={key_file}\n")
    assert main(["--transport", "streamable-http", "--host", "0.0.0.0"]) == 2
    assert "without client authentication" in capsys.readouterr().err


def test_a_short_http_token_is_refused(make_settings) -> None:
    from epic_mcp.errors import ConfigError

    with pytest.raises(ConfigError, match="^EPIC_MCP_HTTP_TOKEN: use at least 32"):
        make_settings(epic_mcp_http_token="short")
