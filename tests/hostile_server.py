"""A misbehaving FHIR server on loopback, for faults a mocked transport cannot produce: real timeouts, truncated
streams, bodies trickled a byte at a time, a hanging token endpoint, huge bodies. It answers as told; paths listed
in `normal` are answered at once, so a test can check that the same session still works after a fault."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

TOKEN = json.dumps({"access_token": "hostile-server-token", "token_type": "bearer", "expires_in": 3600}).encode()


@dataclass
class Behaviour:
    """What FHIR requests get: `hang` seconds of silence, then status/body, optionally cut short or trickled."""

    hang: float = 0.0
    status: int = 200
    body: bytes = b"{}"
    truncate_to: int | None = None
    trickle: float = 0.0  # seconds between single bytes of the body
    token_hang: float = 0.0  # seconds of silence from the token endpoint
    token_body: bytes = TOKEN
    normal: dict[str, bytes] = field(default_factory=dict)  # path prefix -> body served at once with 200
    requests: list[str] = field(default_factory=list)
    token_requests: int = 0


def _head(status: int, length: int) -> bytes:
    return (f"HTTP/1.1 {status} X\r\nContent-Type: application/fhir+json\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n").encode()


async def _respond(writer: asyncio.StreamWriter, status: int, body: bytes, declared: int | None = None) -> None:
    writer.write(_head(status, declared if declared is not None else len(body)) + body)
    await writer.drain()


async def _trickle(writer: asyncio.StreamWriter, status: int, body: bytes, interval: float) -> None:
    writer.write(_head(status, len(body)))
    for byte in body:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(interval)


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
                behaviour.token_requests += 1
                await asyncio.sleep(behaviour.token_hang)
                await _respond(writer, 200, behaviour.token_body)
                return
            normal = next((body for prefix, body in behaviour.normal.items() if path.startswith(prefix)), None)
            if normal is not None:
                await _respond(writer, 200, normal)
                return
            behaviour.requests.append(path)
            if behaviour.hang:
                await asyncio.sleep(behaviour.hang)
            body = behaviour.body
            if behaviour.trickle:
                await _trickle(writer, behaviour.status, body, behaviour.trickle)
            elif behaviour.truncate_to is not None:
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
