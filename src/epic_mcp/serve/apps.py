"""MCP Apps (SEP-1865, extension `io.modelcontextprotocol/ui`, specification 2026-01-26): the interactive views of
ui/, offered only to clients that negotiate the extension.

A client that declares the extension with the `text/html;profile=mcp-app` MIME type (in its initialize
capabilities, or per request on the 2026-07-28 protocol) sees each viewed tool's `_meta.ui.resourceUri` in
tools/list, the ui:// resources in resources/list, and may read them. Any other client sees exactly what it saw
before: the same tools/list (the published listing), the same resources/list, and a ui:// read fails as for any
unknown resource. Tool answers are the same for every client: a view draws the structured content all get.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID, client_supports_apps
from mcp.server.context import CallNext, ServerRequestContext
from mcp.server.extension import Extension
from mcp.types import ReadResourceResult, TextResourceContents
from pydantic import BaseModel

from .ui import VIEW_OF_TOOL, VIEWS, View, document

# The views fetch nothing: no origin for connections or resources (scripts, styles, images, fonts), no frames.
VIEW_META = {"ui": {"csp": {"connectDomains": [], "resourceDomains": [], "frameDomains": [], "baseUriDomains": []},
                    "prefersBorder": True}}
VIEWED_METHODS = ("tools/list", "resources/list", "resources/read")


class AppsExtension(Extension):
    """Advertises the extension in the server's capabilities (SEP-2133). The views themselves are offered by
    ViewOffer, client by client: the SDK's own Apps extension would list them to every client."""

    identifier = EXTENSION_ID

    def settings(self) -> dict[str, Any]:
        return {"mimeTypes": [APP_MIME_TYPE]}


def view_resource(view: View) -> dict[str, Any]:
    """The resources/list entry of a view."""
    return {"uri": view.uri, "name": view.name, "title": view.title, "description": view.description,
            "mimeType": APP_MIME_TYPE, "_meta": VIEW_META}


def view_contents(view: View) -> ReadResourceResult:
    """The resources/read answer of a view: its whole document, and the CSP the host is to enforce."""
    return ReadResourceResult(contents=[TextResourceContents(uri=view.uri, mime_type=APP_MIME_TYPE, text=document(view),
                                                             _meta=VIEW_META)])


def _plain(result: Any) -> Any:
    return result.model_dump(by_alias=True, exclude_none=True, mode="json") if isinstance(result, BaseModel) else result


def _with_views(tools: list[Any]) -> list[Any]:
    linked = []
    for tool in tools:
        view = VIEW_OF_TOOL.get(str(tool.get("name"))) if isinstance(tool, dict) else None
        if view is not None:
            meta = tool.get("_meta") if isinstance(tool.get("_meta"), dict) else {}
            tool = {**tool, "_meta": {**meta, "ui": {"resourceUri": view.uri}}}
        linked.append(tool)
    return linked


class ViewOffer:
    """Server middleware: the views of this server's tools for clients that negotiated MCP Apps; nothing changes
    for any other client."""

    def __init__(self, tools: frozenset[str]) -> None:
        self.views = tuple(view for view in VIEWS if view.tool in tools)
        self.by_uri = {view.uri: view for view in self.views}

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        if ctx.method not in VIEWED_METHODS or not client_supports_apps(ctx):
            return await call_next(ctx)
        params = ctx.params if isinstance(ctx.params, Mapping) else {}
        if ctx.method == "resources/read":
            view = self.by_uri.get(str(params.get("uri")))
            return view_contents(view) if view is not None else await call_next(ctx)
        result = _plain(await call_next(ctx))
        if not isinstance(result, dict):
            return result
        if ctx.method == "tools/list" and isinstance(result.get("tools"), list):
            return {**result, "tools": _with_views(result["tools"])}
        if ctx.method == "resources/list" and isinstance(result.get("resources"), list) and not params.get("cursor"):
            return {**result, "resources": [*result["resources"], *(view_resource(view) for view in self.views)]}
        return result
