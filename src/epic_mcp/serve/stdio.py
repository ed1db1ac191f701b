"""The stdio transport, with one addition to the SDK's: a message that cannot be answered normally still gets the
error JSON-RPC asks for instead of silence, so a client never waits for an answer that will not come.

- A line that is not valid JSON-RPC (a lone surrogate such as \\ud800 in a value or an id, an id nested
  100,000 arrays deep): a parse error (-32700, id null).
- A request whose id is not a string or a number (an array, an object): the SDK reads it as a notification,
  which is never answered; MCP sends notifications only as `notifications/...`, so any other method without a
  usable id gets an invalid-request error (-32600, id null)."""

from __future__ import annotations

import logging
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp.types import INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError, JSONRPCNotification

logger = logging.getLogger(__name__)


def parse_error() -> SessionMessage:
    return SessionMessage(JSONRPCError(jsonrpc="2.0", id=None,
                                       error=ErrorData(code=PARSE_ERROR, message="Parse error")))


def invalid_request() -> SessionMessage:
    return SessionMessage(JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(
        code=INVALID_REQUEST, message="Invalid Request: a request needs an id that is a string or a number")))


def is_request_without_id(item: SessionMessage) -> bool:
    """A request method sent without a usable id (the SDK takes it for a notification and would stay silent)."""
    message = item.message
    return isinstance(message, JSONRPCNotification) and not message.method.startswith("notifications/")


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
                    elif is_request_without_id(item):
                        logger.warning("a request from the client had no usable id; answered with an invalid-request "
                                       "error")
                        await write_stream.send(invalid_request())
                    else:
                        await send.send(item)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(sieve)
            await lowlevel.run(receive, write_stream, lowlevel.create_initialization_options())
            tasks.cancel_scope.cancel()
