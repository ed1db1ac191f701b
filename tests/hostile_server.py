"""A misbehaving FHIR server on loopback, for faults a mocked transport cannot produce: real timeouts, truncated
streams, huge bodies. It answers the SMART token endpoint normally and misbehaves on FHIR paths as told."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

TOKEN = json.dumps({"access_token": "hostile-server-token", "token_type": "bearer", "expires_in": 3600}).encode()


@dataclass
class Behaviour:
    """What FHIR requests get: `hang` seconds of silence, or a status/body, optionally cut short."""

    hang: float = 0.0
    status: int = 200
    body: bytes = b"{}"
    truncate_to: int | None = None
    requests: list[str] = field(default_factory=list)


async def _respond(writer: asyncio.StreamWriter, status: int, body: bytes, declared: int | None = None) -> None:
    head = (f"HTTP/1.1 {status} X\r\nContent-Type: application/fhir+json\r\n"
            f"Content-Length: {declared if declared is not None else len(body)}\r\nConnection: close\r\n\r\n")
    writer.write(head.encode() + body)
    await writer.drain()


@asynccontextmanager
async def hostile_server(behaviour: Behaviour) -> AsyncIterator[str]:
    """Yields the root URL (http://127.0.0.1:PORT); the FHIR base is ROOT/fhir, the token URL ROOT/token."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode()
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            if int(headers.get("content-length", 0)):
                await reader.readexactly(int(headers["content-length"]))
            path = request_line.split(" ")[1]
            if path.startswith("/token"):
                await _respond(writer, 200, TOKEN)
                return
            behaviour.requests.append(path)
            if behaviour.hang:
                await asyncio.sleep(behaviour.hang)
            body = behaviour.body
            if behaviour.truncate_to is not None:
                await _respond(writer, behaviour.status, body[:behaviour.truncate_to], declared=len(body))
            else:
                await _respond(writer, behaviour.status, body)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
