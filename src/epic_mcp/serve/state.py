"""ServerState: what the tools, resources and probes of one server share (settings, keys, the PHI layer, the
connection opened on first use)."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver.exceptions import ToolError

from ..access.patient_scope import for_current_client
from ..auth.keys import KeyRing
from ..errors import EpicMcpError
from ..fhir.paging import CursorCodec, cursor_key
from ..settings import Settings
from .tools import Runtime

if TYPE_CHECKING:
    from ..fhir.client import FhirClient
    from ..fhir.connection import EpicConnection
    from ..phi import PhiLayer

CAPABILITY_RETRY_SECONDS = 300.0


class ServerState:
    """Per-server state shared by tools and resources. The connection (token manager and FHIR client) lives
    within the lifespan and is opened on first use, so answering tools/list never waits for it."""

    def __init__(self, settings: Settings, keys: KeyRing) -> None:
        self.settings = settings
        self.keys = keys
        self.phi = phi_layer(settings)
        shared_key = settings.epic_mcp_cursor_key.get_secret_value() if settings.epic_mcp_cursor_key else None
        self.runtime = Runtime(CursorCodec(settings.fhir_base_url, cursor_key(shared_key)), settings.epic_page_size,
                               settings.epic_max_page_size, self.fhir_client, self.today_for,
                               settings.epic_answer_max_kb * 1024, self.capability_statement)
        self.connection: EpicConnection | None = None
        self.running = False
        self.capability: dict[str, Any] | None = None
        self._capability_read: tuple[float, asyncio.Future[dict[str, Any] | None]] | None = None

    def require_connection(self) -> EpicConnection:
        if not self.running:
            raise ToolError("the server is not running; try again")
        if self.connection is None:
            from ..fhir.connection import EpicConnection  # with httpx, on first use: tools/list does not wait for it

            self.connection = EpicConnection.open(self.settings, self.keys)
        return self.connection

    def granted_scopes(self) -> tuple[str, ...] | None:
        """The FHIR scopes of the current access token; None before the first token exchange."""
        token = self.connection.tokens.cached if self.connection is not None else None
        return token.scopes if token is not None else None

    def fhir_client(self) -> FhirClient:
        """The client every tool and resource reads through: limited to the calling MCP client's patients, and
        de-identifying in the minimum PHI mode."""
        fhir = for_current_client(self.require_connection().fhir)
        return self.phi.client(fhir) if self.phi else fhir

    async def capability_statement(self) -> dict[str, Any] | None:
        """The server's CapabilityStatement, read once and shared by concurrent callers; None when it cannot be
        read (nothing it might say is then assumed), and not asked again for CAPABILITY_RETRY_SECONDS."""
        if self.capability is not None:
            return self.capability
        reading = self._capability_read
        if reading is None or (reading[1].done() and time.monotonic() - reading[0] > CAPABILITY_RETRY_SECONDS):
            reading = self._capability_read = (time.monotonic(), asyncio.ensure_future(self._read_capability()))
        return await asyncio.shield(reading[1])

    async def _read_capability(self) -> dict[str, Any] | None:
        try:
            self.capability = await self.require_connection().fhir.metadata()
        except EpicMcpError:
            return None
        return self.capability

    def today_for(self, patient_id: str) -> date:
        """Today, in the frame of the patient's (possibly shifted) dates."""
        today = self.settings.today()
        return self.phi.today_for(patient_id, today) if self.phi else today

    async def close(self) -> None:
        self.running = False
        connection, self.connection = self.connection, None
        if connection is not None:
            await connection.aclose()

    @property
    def has_test_patients(self) -> bool:
        """Epic's sandbox, or the local sandbox that carries the same patients."""
        return self.settings.has_test_patients


def phi_layer(settings: Settings) -> PhiLayer | None:
    """The minimum PHI mode's layer, imported only in that mode (it brings httpx, which tools/list does not)."""
    if settings.epic_phi_mode != "minimum":
        return None
    from ..phi import PhiLayer

    return PhiLayer(settings)
