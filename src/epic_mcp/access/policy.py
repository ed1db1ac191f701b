"""Per-client access over HTTP, as SDK middleware: a client sees and may call only its tools, and may name only
its patients.

tools/list drops the tools the client may not use; tools/call refuses them, and refuses a patient argument
outside the client's allowlist, before anything is sent. resources/read of fhir://Type/id needs the client's
read tool for that type, and fhir://Patient/id an allowed patient. What the FHIR server sends back is checked
by patient_scope.AllowlistGuard. Without an authenticated client (stdio, loopback HTTP) nothing changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult, TextContent
from pydantic import BaseModel

from ..fhir.catalog import READ_BY_RESOURCE
from .principal import ClientAccess, current_client

# Tool arguments that name a patient: every patient_id, and get_patient's id.
PATIENT_ARGUMENTS = ("patient_id",)
PATIENT_ID_TOOLS = ("get_patient",)
FHIR_URI = re.compile(r"fhir://([A-Za-z]+)/([^/?#]+)")


def refused_call(tool: str, message: str) -> CallToolResult:
    """A tool error shaped like the SDK's own, so clients and the audit log treat it the same way."""
    return CallToolResult(content=[TextContent(type="text", text=f"Error executing tool {tool}: {message}")],
                          is_error=True)


def listed_tools(result: Any, keep: Any) -> Any:
    """A tools/list result with only the tools `keep(name)` accepts (the result may be a model or a dict)."""
    tools = getattr(result, "tools", None)
    if isinstance(result, BaseModel) and isinstance(tools, list):
        return result.model_copy(update={"tools": [t for t in tools if keep(t.name)]})
    if isinstance(result, dict) and isinstance(result.get("tools"), list):
        return {**result, "tools": [t for t in result["tools"] if isinstance(t, dict) and keep(t.get("name"))]}
    return result


def _patients_named(tool: str, arguments: Mapping[str, Any]) -> list[str]:
    names = [*PATIENT_ARGUMENTS, *(("id",) if tool in PATIENT_ID_TOOLS else ())]
    return [str(arguments[name]) for name in names if arguments.get(name) is not None]


def _call_refusal(client: ClientAccess, tool: str, arguments: Mapping[str, Any]) -> str | None:
    if not client.may_use(tool):
        return (f"this MCP client ({client.client_id}) may not use {tool}; ask the server's operator to add it to "
                "the client's tools")
    if any(not client.may_see_patient(pid) for pid in _patients_named(tool, arguments)):
        return ("this MCP client may only see the records of the patients it is allowed, and that patient is not "
                "one of them (ask the server's operator to add the patient to this client's allowlist)")
    return None


def _resource_refusal(client: ClientAccess, uri: str) -> str | None:
    match = FHIR_URI.fullmatch(uri)
    if match is None:
        return None
    resource_type, resource_id = match.groups()
    read = READ_BY_RESOURCE.get(resource_type)
    if read is not None and not client.may_use(read.tool):
        return f"this MCP client may not read {resource_type} records (it may not use {read.tool})"
    if resource_type == "Patient" and not client.may_see_patient(resource_id):
        return "this MCP client may only see the records of the patients it is allowed"
    return None


async def client_policy(ctx: Any, call_next: Any) -> Any:
    """Server middleware enforcing the authenticated client's tools and patients."""
    client = current_client()
    params = ctx.params if isinstance(ctx.params, Mapping) else {}
    if client is None:
        return await call_next(ctx)
    if ctx.method == "tools/list":
        return listed_tools(await call_next(ctx), client.may_use)
    if ctx.method == "tools/call":
        tool = str(params.get("name"))
        arguments = params.get("arguments")
        refusal = _call_refusal(client, tool, arguments if isinstance(arguments, Mapping) else {})
        if refusal is not None:
            return refused_call(tool, refusal)
    if ctx.method == "resources/read":
        refusal = _resource_refusal(client, str(params.get("uri")))
        if refusal is not None:
            raise MCPError(code=INVALID_PARAMS, message=refusal)
    return await call_next(ctx)
