"""Health probes for orchestrators, served over HTTP without authentication and without details that matter.

/healthz: the process answers. /readyz: the server is running (its lifespan started) and the connection to the
FHIR server can be built (keys and settings load). Neither calls the FHIR server or its token endpoint: probes
every few seconds from every replica must not hammer Epic, and a replica is no less ready than its siblings
when Epic itself is down. The body names each check and its state, never a secret, URL or patient datum.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.requests import Request
from starlette.responses import JSONResponse

from ..errors import EpicMcpError

if TYPE_CHECKING:
    from .state import ServerState

NO_STORE = {"Cache-Control": "no-store"}
PROBE_PATHS = ("/healthz", "/readyz")


def readiness(state: ServerState) -> tuple[bool, dict[str, str]]:
    checks = {"server": "running" if state.running else "not running"}
    try:
        connection = state.require_connection()
    except (ToolError, EpicMcpError):
        checks["connection"] = "cannot be built"
        return False, checks
    checks["connection"] = "built"
    checks["access_token"] = "cached" if connection.tokens.cached is not None else "not requested yet"
    return True, checks


def add_probe_routes(server: MCPServer[Any], state: ServerState) -> None:
    @server.custom_route("/healthz", methods=["GET"])
    async def healthz(request: Request) -> JSONResponse:
        """Liveness: the process is up and answering."""
        return JSONResponse({"status": "ok"}, headers=NO_STORE)

    @server.custom_route("/readyz", methods=["GET"])
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: 200 when this replica can serve tool calls, else 503."""
        ready, checks = readiness(state)
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503, headers=NO_STORE)
