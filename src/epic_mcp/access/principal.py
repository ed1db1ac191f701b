"""Who is calling: the MCP client an HTTP request authenticated as, and what it may see.

Every way a client authenticates (the shared EPIC_MCP_HTTP_TOKEN, a named client credential, an OAuth access
token) ends in a `ClientAccess`, which the SDK's bearer middleware keeps for the request; tools, the audit log
and the patient guard read it back with `current_client()`. On stdio, and on loopback HTTP without
authentication, there is none: the caller is the local user who started the server.
"""

from __future__ import annotations

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken

LOCAL_CLIENT = "local"


class ClientAccess(AccessToken):
    """An authenticated MCP client, named by `client_id`. `token` stays empty: the bearer value is never kept.

    `tools` None means every tool the server offers; `patients` None means any patient."""

    tools: frozenset[str] | None = None
    patients: frozenset[str] | None = None

    def may_use(self, tool: str) -> bool:
        return self.tools is None or tool in self.tools

    def may_see_patient(self, patient_id: str) -> bool:
        return self.patients is None or patient_id in self.patients


def current_client() -> ClientAccess | None:
    """The client of the request being handled; None on stdio and unauthenticated loopback HTTP."""
    token = get_access_token()
    return token if isinstance(token, ClientAccess) else None


def client_name() -> str:
    client = current_client()
    return client.client_id if client is not None else LOCAL_CLIENT
