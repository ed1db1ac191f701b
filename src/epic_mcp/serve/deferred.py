"""Tools listed from the published listing (tool_listing.json) and built on their first call.

Generating the argument models and JSON schemas of ~60 tools with pydantic was most of the server's start-up
(issue 13: cold start to tools/list). The schemas are a pure function of the code, so they are generated once,
kept in tool_listing.json (tests/serve/test_tool_listing.py fails when it is stale;
`python scripts/refresh-tool-listing` rewrites it), and each tool's real argument model, validation and output
check are built on its first call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, PrivateAttr

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

LISTING_PATH = Path(__file__).with_name("tool_listing.json")
Listing = dict[str, Any]


@cache
def published_listing() -> Listing:
    """The tool listing as generated from the code: {"max_page_size": n, "tools": {name: {...}}}."""
    with LISTING_PATH.open(encoding="utf-8") as file:
        listing: Listing = json.load(file)
    return listing


async def generate_listing(server: MCPServer[Any], max_page_size: int) -> Listing:
    """What the server's tools/list publishes of each tool: the listing file's content (for a server built
    without the listing, with the page-size limit given)."""
    return {"max_page_size": max_page_size,
            "tools": {tool.name: {"title": tool.title, "description": tool.description, "input": tool.input_schema,
                                  "output": tool.output_schema} for tool in await server.list_tools()}}


class DeferredMetadata(FuncMetadata):
    """Function metadata whose real argument model and output check are built on first use; until then it
    holds only the published output schema. Validation, the call and the result check are the real tool's."""

    _build: Callable[[], Tool] = PrivateAttr()
    _tool: Tool | None = PrivateAttr(default=None)
    _listed: Tool | None = PrivateAttr(default=None)

    def real(self) -> Tool:
        """The real tool, built on first use; from then on the listed tool calls it directly (its function and
        metadata become the real tool's), so later calls do not come through here."""
        if self._tool is None:
            self._tool = self._build()
            if self._listed is not None:
                self._listed.fn, self._listed.fn_metadata = self._tool.fn, self._tool.fn_metadata
        return self._tool

    def validate_arguments(self, arguments_to_validate: dict[str, Any]) -> dict[str, Any]:
        return self.real().fn_metadata.validate_arguments(arguments_to_validate)

    async def call_fn(self, fn: Callable[..., Any], fn_is_async: bool, arguments: dict[str, Any],
                      arguments_to_pass_directly: dict[str, Any] | None = None) -> Any:
        tool = self.real()
        return await tool.fn_metadata.call_fn(tool.fn, tool.is_async, arguments, arguments_to_pass_directly)

    def convert_result(self, result: Any) -> Any:
        return self.real().fn_metadata.convert_result(result)


def deferred_tool(name: str, entry: Mapping[str, Any], annotations: ToolAnnotations,
                  build: Callable[[], Tool]) -> Tool:
    """A tool listed from its listing entry; `build` makes the real one (same name and schemas) on first call."""
    metadata = DeferredMetadata(arg_model=ArgModelBase, output_schema=entry["output"])
    metadata._build = build

    async def run(**arguments: Any) -> CallToolResult:
        return await metadata.real().fn(**arguments)

    run.__name__ = name
    listed = Tool(fn=run, name=name, title=entry["title"], description=entry["description"],
                  parameters=entry["input"], fn_metadata=metadata, is_async=True, context_kwarg=None,
                  annotations=annotations)
    metadata._listed = listed
    return listed


class ArgumentModels(Mapping[str, type[BaseModel]]):
    """Each tool's argument model by name, built when first asked for (a deferred tool's on its first call)."""

    def __init__(self, tools: list[Tool]) -> None:
        self._tools = {tool.name: tool for tool in tools}

    def __getitem__(self, name: str) -> type[BaseModel]:
        metadata = self._tools[name].fn_metadata
        real = metadata.real().fn_metadata if isinstance(metadata, DeferredMetadata) else metadata
        return real.arg_model

    def __iter__(self) -> Iterator[str]:
        return iter(self._tools)

    def __len__(self) -> int:
        return len(self._tools)


def listed_tools(max_page_size: int) -> Mapping[str, Any]:
    """The listed tools by name; none when the page-size limit (in the search tools' `count` schema) is not the
    one the listing was generated with."""
    listing = published_listing()
    return listing["tools"] if listing["max_page_size"] == max_page_size else {}
