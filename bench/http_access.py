#!/usr/bin/env python3
"""What client authentication and per-client access cost: a tool call over streamable HTTP through epic-mcp with
no authentication, as a named client limited to one patient, and the same in stateless (replica) mode, interleaved,
against the sandbox on loopback; and the cost of checking each kind of credential, in process."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from harness import free_port, sandbox, write_results
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from epic_mcp.access.clients import ClientStore, NamedClients
from epic_mcp.access.oauth import AccessTokenVerifier, SigningKey
from epic_mcp.serve.http import SharedToken
from epic_mcp.settings import load_settings

RUNS = 200
VERIFY_RUNS = 2000
PATIENT = "erXuFYUfucBZaryVksYEcMg3"
ARGUMENTS = {"patient_id": PATIENT, "clinical_status": "active"}
RESOURCE = "http://127.0.0.1:1/mcp"
ISSUER = "https://login.example.org"


def stats(samples: list[float], unit: float = 1000) -> tuple[float, float]:
    return statistics.median(samples) * unit, statistics.quantiles(samples, n=20)[18] * unit


def start(env: dict[str, str], extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "epic_mcp", "--env", "local", "--transport", "streamable-http",
                                "--port", str(port)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"),
                                    "EPIC_LOG_LEVEL": "WARNING", **env, **extra})
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{root}/healthz", timeout=1).status_code == 200:
                return process, f"{root}/mcp"
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("epic-mcp did not start")


async def over_http(env: dict[str, str], folder: Path) -> list[tuple[str, float, float]]:
    clients = folder / "clients.json"
    secret = ClientStore(clients).add("bench", "core", [PATIENT])
    named = {"EPIC_MCP_CLIENTS_FILE": str(clients)}
    configs = [("loopback, no client authentication, sessions", {}, None),
               ("named client limited to one patient, sessions", named, secret),
               ("named client limited to one patient, stateless (replica mode)",
                {**named, "EPIC_MCP_HTTP_STATELESS": "true", "EPIC_MCP_CURSOR_KEY": "k" * 40}, secret)]
    processes = []
    samples: list[list[float]] = [[] for _ in configs]
    try:
        async with AsyncExitStack() as stack:
            sessions = []
            for _, extra, token in configs:
                process, url = start(env, extra)
                processes.append(process)
                headers = {"Authorization": f"Bearer {token}"} if token else None
                http = await stack.enter_async_context(create_mcp_http_client(headers=headers))
                sessions.append(await stack.enter_async_context(
                    Client(streamable_http_client(url, http_client=http))))
            for _ in range(20):
                for client in sessions:
                    await client.call_tool("search_conditions", ARGUMENTS)
            for _ in range(RUNS):
                for index, client in enumerate(sessions):
                    started = time.perf_counter()
                    result = await client.call_tool("search_conditions", ARGUMENTS)
                    samples[index].append(time.perf_counter() - started)
                    assert not result.is_error
    finally:
        for process in processes:
            process.terminate()
            process.wait()
    return [(name, *stats(s)) for (name, _, _), s in zip(configs, samples, strict=True)]


async def verifiers(folder: Path) -> list[tuple[str, float, float]]:
    shared = SharedToken("s" * 40)
    secret = ClientStore(folder / "verify.json").add("bench", "core", [PATIENT])
    named = NamedClients(folder / "verify.json")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings = load_settings(None, epic_mcp_oauth_issuer=ISSUER, epic_mcp_resource_url=RESOURCE)
    oauth = AccessTokenVerifier(settings)
    jwk = {**jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1", "alg": "RS256"}
    oauth._keys = {"k1": SigningKey.of(jwk)}  # as if fetched from the issuer's JWKS
    oauth._fetched_at = time.monotonic()
    token = jwt.encode({"iss": ISSUER, "aud": RESOURCE, "exp": int(time.time()) + 3600, "client_id": "bench",
                        "scope": "epic-mcp"}, key, algorithm="RS256", headers={"kid": "k1"})
    rows = []
    for name, verifier, credential in (("shared token (EPIC_MCP_HTTP_TOKEN)", shared, "s" * 40),
                                       ("named client (hash lookup, file stat)", named, secret),
                                       ("OAuth JWT, RS256, key cached", oauth, token)):
        assert await verifier.verify_token(credential) is not None
        samples = []
        for _ in range(VERIFY_RUNS):
            started = time.perf_counter()
            await verifier.verify_token(credential)
            samples.append(time.perf_counter() - started)
        rows.append((name, *stats(samples, 1_000_000)))
    return rows


async def main() -> None:
    with sandbox() as (_, env), tempfile.TemporaryDirectory(prefix="epic-mcp-bench-http-") as folder:
        calls = await over_http(env, Path(folder))
        checks = await verifiers(Path(folder))
    body = [f"search_conditions (patient + clinical-status=active) over streamable HTTP, {RUNS} interleaved runs "
            "per configuration, against the sandbox on loopback; the SDK's HTTP client.", "",
            "| configuration | median (ms) | p95 (ms) |", "|---|---:|---:|"]
    body += [f"| {name} | {median:.2f} | {p95:.2f} |" for name, median, p95 in calls]
    body += ["", f"Checking one credential, in process, {VERIFY_RUNS} runs each:", "",
             "| credential | median (µs) | p95 (µs) |", "|---|---:|---:|"]
    body += [f"| {name} | {median:.1f} | {p95:.1f} |" for name, median, p95 in checks]
    path = write_results("bench-http-access", "Client authentication and per-client access over HTTP",
                         "python bench/http_access.py", "\n".join(body))
    print(path.read_text())


if __name__ == "__main__":
    asyncio.run(main())
