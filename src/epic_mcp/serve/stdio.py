"""The stdio transport, with one addition to the SDK's: a line that is not a valid JSON-RPC message gets the parse
error JSON-RPC asks for (-32700, id null) instead of silence, so a client never waits for an answer that will not
come (a lone surrogate, or arguments nested 100,000 deep, used to be dropped without a word)."""

from __future__ import annotations

import logging
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp.types import PARSE_ERROR, ErrorData, JSONRPCError

logger = logging.getLogger(__name__)


def parse_error() -> SessionMessage:
    return SessionMessage(JSONRPCError(jsonrpc="2.0", id=None,
                                       error=ErrorData(code=PARSE_ERROR, message="Parse error")))


async def serve_stdio(server: MCPServer[Any]) -> None:
    lowlevel = server._lowlevel_server  # the SDK's own run_stdio_async drives the same object
    async with stdio_server() as (read_stream, write_stream):
        send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)

        async def sieve() -> None:
            async with send:
                async for item in read_stream:
                    if isinstance(item, Exception):
                        logger.warning("a message from the client was not valid JSON-RPC (%s); answered with a "
                                       "parse error", type(item).__name__)
                        await write_stream.send(parse_error())
                    else:
                        await send.send(item)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(sieve)
            await lowlevel.run(receive, write_stream, lowlevel.create_initialization_options())
            tasks.cancel_scope.cancel()
