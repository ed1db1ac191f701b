"""The streamable-http transport: DNS-rebinding protection, client authentication, and the public routes.

A client authenticates with `Authorization: Bearer <credential>`, where the credential is the shared
EPIC_MCP_HTTP_TOKEN, a named client's secret (EPIC_MCP_CLIENTS_FILE), or an OAuth access token from
EPIC_MCP_OAUTH_ISSUER. The SDK's bearer middleware does the HTTP part (401 with a `WWW-Authenticate` challenge
that points to the Protected Resource Metadata, and the authenticated client kept for the request); our
verifiers turn each kind of credential into a `ClientAccess`. The SDK's `MCPServer(auth=..., token_verifier=...)`
is not used: it needs an OAuth issuer even when clients only use static credentials, and its `required_scopes`
must all be in every token, where a token here may carry the base scope or only narrower ones.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.auth import ProtectedResourceMetadata
from pydantic import AnyHttpUrl
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from ..access.clients import NamedClients
from ..access.oauth import BASE_SCOPE, AccessTokenVerifier
from ..access.principal import ClientAccess
from ..settings import Settings
from .probes import PROBE_PATHS

PUBLIC_PATHS = ("/.well-known/jwks.json", *PROBE_PATHS)
SHARED_TOKEN_CLIENT = "shared-token"


def allowed_hosts(settings: Settings, host: str, port: int) -> list[str]:
    hosts = {f"{host}:{port}", f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}
    if settings.epic_mcp_resource_url:
        hosts.add(urlsplit(settings.epic_mcp_resource_url).netloc)
    extra = settings.epic_mcp_http_allowed_hosts or ""
    return sorted(hosts | {h.strip() for h in extra.split(",") if h.strip()})


def http_app(server: MCPServer[Any], settings: Settings, host: str, port: int) -> ASGIApp:
    hosts = allowed_hosts(settings, host, port)
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts,
        allowed_origins=[f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")],
    )
    public = set(PUBLIC_PATHS)
    metadata_url = None
    if settings.epic_mcp_oauth_issuer:
        metadata_url = _publish_resource_metadata(server, settings)
        public.add(urlsplit(str(metadata_url)).path)
    stateless = settings.epic_mcp_http_stateless
    app = server.streamable_http_app(transport_security=security, host=host, stateless_http=stateless,
                                     json_response=stateless)
    verifiers = client_verifiers(settings)
    return AccessGate(app, verifiers, public, metadata_url) if verifiers else app


def client_verifiers(settings: Settings) -> list[TokenVerifier]:
    """One verifier per configured kind of credential, tried in this order."""
    verifiers: list[TokenVerifier] = []
    if settings.epic_mcp_http_token is not None:
        verifiers.append(SharedToken(settings.epic_mcp_http_token.get_secret_value()))
    if settings.epic_mcp_clients_file is not None:
        verifiers.append(NamedClients(settings.epic_mcp_clients_file))
    if settings.epic_mcp_oauth_issuer is not None:
        verifiers.append(AccessTokenVerifier(settings))
    return verifiers


def _publish_resource_metadata(server: MCPServer[Any], settings: Settings) -> AnyHttpUrl:
    """RFC 9728 metadata at /.well-known/oauth-protected-resource<path>, by the SDK's handler; returns its URL."""
    metadata = ProtectedResourceMetadata.model_validate({
        "resource": settings.epic_mcp_resource_url, "authorization_servers": [settings.epic_mcp_oauth_issuer]})
    for route in create_protected_resource_routes(metadata.resource, metadata.authorization_servers,
                                                  scopes_supported=[BASE_SCOPE], resource_name="epic-mcp"):
        server.custom_route(route.path, methods=["GET", "OPTIONS"])(route.endpoint)
    return build_resource_metadata_url(metadata.resource)


class SharedToken:
    """EPIC_MCP_HTTP_TOKEN: one secret for every client, which then sees every tool and patient."""

    def __init__(self, token: str) -> None:
        self._expected = token.encode()

    async def verify_token(self, token: str) -> ClientAccess | None:
        if hmac.compare_digest(token.encode(), self._expected):
            return ClientAccess(token="", client_id=SHARED_TOKEN_CLIENT, scopes=[])
        return None


class AnyOf:
    """The first verifier that accepts the credential decides."""

    def __init__(self, verifiers: Sequence[TokenVerifier]) -> None:
        self._verifiers = tuple(verifiers)

    async def verify_token(self, token: str) -> ClientAccess | None:
        for verifier in self._verifiers:
            access = await verifier.verify_token(token)
            if isinstance(access, ClientAccess):
                return access
        return None


class AccessGate:
    """Every request but the public routes needs a credential one of the verifiers accepts."""

    def __init__(self, app: ASGIApp, verifiers: Sequence[TokenVerifier], public: set[str],
                 metadata_url: AnyHttpUrl | None) -> None:
        self._app = app
        self._public = frozenset(public)
        required = RequireAuthMiddleware(ToolsRequired(app, metadata_url), [], metadata_url)
        self._guarded = AuthenticationMiddleware(AuthContextMiddleware(required),
                                                 backend=BearerAuthBackend(AnyOf(verifiers)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._public:
            await self._app(scope, receive, send)
        else:
            await self._guarded(scope, receive, send)


class ToolsRequired:
    """A valid credential that grants no tool (an access token without an epic-mcp scope or tools claim) gets 403
    insufficient_scope, naming the scope to ask for (RFC 6750, section 3.1)."""

    def __init__(self, app: ASGIApp, metadata_url: AnyHttpUrl | None) -> None:
        self._app = app
        challenge = f'Bearer error="insufficient_scope", scope="{BASE_SCOPE}"'
        if metadata_url is not None:
            challenge += f', resource_metadata="{metadata_url}"'
        self._challenge = challenge.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        access = getattr(user, "access_token", None)
        if isinstance(access, ClientAccess) and access.tools is not None and not access.tools:
            body = b'{"error":"insufficient_scope","error_description":"this token grants no epic-mcp tool"}'
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", self._challenge),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self._app(scope, receive, send)
