"""The streamable-http transport serves the public JWKS for Epic to fetch."""

from __future__ import annotations

import httpx
import pytest

from epic_mcp.keys import KeyRing
from epic_mcp.server import build_server

pytestmark = pytest.mark.anyio


async def test_jwks_is_served_with_a_cache_lifetime(settings) -> None:
    app = build_server(settings).streamable_http_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1:8000") as http:
        response = await http.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.json() == KeyRing.from_settings(settings).jwks()
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert not {"d", "p", "q"} & set(response.json()["keys"][0])
