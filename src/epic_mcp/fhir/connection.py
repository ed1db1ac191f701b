"""Wires settings, keys, the token manager and the FHIR client together, once per process."""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass

import httpx

from ..auth.assertion import AssertionSigner
from ..auth.keys import KeyRing
from ..auth.token import TokenManager
from ..settings import Settings
from .client import FhirClient


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One certificate-verifying TLS context per process (loading the CA bundle costs ~50 ms each time)."""
    return httpx.create_ssl_context()


@dataclass
class EpicConnection:
    settings: Settings
    keys: KeyRing
    signer: AssertionSigner
    tokens: TokenManager
    fhir: FhirClient
    _token_http: httpx.AsyncClient

    @classmethod
    def open(cls, settings: Settings, keys: KeyRing | None = None) -> EpicConnection:
        """Validate keys and settings (no network I/O: the first token comes with the first call)."""
        keys = keys or KeyRing.from_settings(settings)
        signer = AssertionSigner(settings, keys)
        token_http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.epic_http_timeout, connect=settings.epic_connect_timeout),
            follow_redirects=False, verify=tls_context(),
        )
        tokens = TokenManager(settings, signer, token_http)
        fhir = FhirClient(settings, tokens, verify=tls_context())
        return cls(settings, keys, signer, tokens, fhir, token_http)

    async def aclose(self) -> None:
        await self.fhir.aclose()
        await self._token_http.aclose()
