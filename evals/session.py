"""One MCP client session as the oracle uses it: tool calls with their cost (calls, and tokens of the text the
model receives), format "raw" where a tool takes it, and what the server offers (so plans use newer tools and
arguments when the server has them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcp import Client
from mcp.types import TextContent

from bench.tokens import count_tokens

FORMATS = ("compact", "raw")


class ToolFailed(Exception):
    """A tool answered with an error: the question is answered wrong, with this text as the reason."""


@dataclass
class Cost:
    calls: int = 0
    tokens: int = 0
    tools: list[str] = field(default_factory=list)


def result_text(result: Any) -> str:
    """All text blocks of a tool result: what an MCP client hands the model."""
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


class Session:
    def __init__(self, client: Client, tools: dict[str, dict[str, Any]], fmt: str) -> None:
        self.client = client
        self.tools = tools
        self.fmt = fmt
        self.cost = Cost()

    @classmethod
    async def open(cls, client: Client, fmt: str) -> Session:
        listed = await client.list_tools()
        return cls(client, {tool.name: tool.input_schema for tool in listed.tools}, fmt)

    def has(self, tool: str, argument: str | None = None) -> bool:
        """Whether the server offers the tool (and the argument)."""
        schema = self.tools.get(tool)
        return schema is not None and (argument is None or argument in schema.get("properties", {}))

    async def call(self, tool: str, **arguments: Any) -> str:
        """The first text block of the tool's answer (the one the tools write for the model)."""
        if self.fmt == "raw" and self.has(tool, "format"):
            arguments["format"] = "raw"
        result = await self.client.call_tool(tool, arguments)
        self.cost.calls += 1
        self.cost.tools.append(tool)
        self.cost.tokens += count_tokens(result_text(result))
        first = next((block.text for block in result.content if isinstance(block, TextContent)), "")
        if result.is_error:
            raise ToolFailed(f"{tool}: {first[:300]}")
        return first

    def take_cost(self) -> Cost:
        cost, self.cost = self.cost, Cost()
        return cost
