"""A round-robin HTTP load balancer on loopback, for the replica tests: each request goes to the next upstream,
whatever connection it came on, and the proxy remembers which upstream answered which JSON-RPC call."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from starlette.types import Receive, Scope, Send

from .sekmet_server import free_port

HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"te", b"trailer",
              b"upgrade", b"proxy-connection"}


@dataclass(frozen=True)
class Forwarded:
    upstream: int
    method: str
    rpc_method: str | None
    tool: str | None
    status: int


class RoundRobinProxy:
    def __init__(self, upstreams: list[str], port: int | None = None) -> None:
        self.upstreams = upstreams
        self.port = port or free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.forwarded: list[Forwarded] = []
        self._turn = 0
        self._server = uvicorn.Server(uvicorn.Config(self, host="127.0.0.1", port=self.port, log_level="warning",
                                                     lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> RoundRobinProxy:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the proxy did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        upstream = self._turn % len(self.upstreams)
        self._turn += 1
        query = f"?{scope['query_string'].decode()}" if scope["query_string"] else ""
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP]
        async with httpx.AsyncClient(timeout=60) as http:
            request = http.build_request(scope["method"], f"{self.upstreams[upstream]}{scope['path']}{query}",
                                         headers=headers, content=body)
            response = await http.send(request, stream=True)
            self.forwarded.append(Forwarded(upstream, scope["method"], *_rpc(body), response.status_code))
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP]})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await response.aclose()
        await send({"type": "http.response.body", "body": b""})


def _rpc(body: bytes) -> tuple[str | None, str | None]:
    try:
        message: Any = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(message, dict):
        return None, None
    params = message.get("params")
    return message.get("method"), params.get("name") if isinstance(params, dict) else None
