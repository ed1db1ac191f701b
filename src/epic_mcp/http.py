"""The streamable-http transport's guards: DNS-rebinding protection, and a bearer token for MCP clients."""

from __future__ import annotations

import hmac
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from .settings import Settings

PUBLIC_PATHS = ("/.well-known/jwks.json",)


def allowed_hosts(settings: Settings, host: str, port: int) -> list[str]:
    hosts = {f"{host}:{port}", f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}
    extra = settings.epic_mcp_http_allowed_hosts or ""
    return sorted(hosts | {h.strip() for h in extra.split(",") if h.strip()})


def http_app(server: MCPServer[Any], settings: Settings, host: str, port: int) -> ASGIApp:
    hosts = allowed_hosts(settings, host, port)
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts,
        allowed_origins=[f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")],
    )
    app = server.streamable_http_app(transport_security=security, host=host)
    token = settings.epic_mcp_http_token
    return BearerGuard(app, token.get_secret_value()) if token is not None else app


class BearerGuard:
    """Every request but the public JWKS needs `Authorization: Bearer <EPIC_MCP_HTTP_TOKEN>`."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in PUBLIC_PATHS:
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"www-authenticate", b'Bearer realm="epic-mcp"')]})
                await send({"type": "http.response.body", "body": b'{"error":"unauthorized"}'})
                return
        await self._app(scope, receive, send)
