"""Opaque paging cursors: the model never sees a URL, and a cursor only ever leads back to our FHIR base.

A cursor is encrypted and authenticated (AES-GCM): the next-page link and the patient the search was scoped to
can be neither read (they may hold patient ids, names and dates of the query) nor altered by whoever holds it. The
key is per process, or derived from EPIC_MCP_CURSOR_KEY so that replicas behind a load balancer share it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..auth.urls import is_within_base

if TYPE_CHECKING:
    import httpx

AAD = b"epic-mcp cursor v3"
NONCE_BYTES = 12
CURSOR_KEY_CONTEXT = b"epic-mcp paging cursors v1"


def cursor_key(shared_secret: str | None) -> bytes | None:
    """The key derived from EPIC_MCP_CURSOR_KEY (the same on every replica), or None for a per-process random key."""
    if shared_secret is None:
        return None
    return hmac.new(shared_secret.encode(), CURSOR_KEY_CONTEXT, hashlib.sha256).digest()


class InvalidCursor(ValueError):
    """The cursor was forged, truncated, or issued by another server process."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Position:
    """Where a search continues: a page URL under the base, how many of its results were already shown (`skip`,
    when a server sent more than asked), how many results came on earlier pages (`seen`, for totals), and
    whether the server was asked to sort them newest first (`server_sorted`)."""

    resource_type: str
    url: httpx.URL
    patient_id: str | None
    limit: int
    skip: int = 0
    seen: int = 0
    server_sorted: bool = False


class CursorCodec:
    """Seals a Position with `key` (shared by replicas) or a per-process key; the cursor holds a path, never a
    host."""

    def __init__(self, base_url: str, key: bytes | None = None) -> None:
        self._base_url = base_url
        self._aead = AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                                 info=b"epic-mcp paging cursors").derive(key or secrets.token_bytes(32)))

    @cached_property
    def _base(self) -> httpx.URL:
        import httpx  # on first use: the server answers tools/list without loading httpx

        return httpx.URL(self._base_url)

    def encode(self, position: Position) -> str:
        if not is_within_base(position.url, self._base):
            raise InvalidCursor("next link is outside the FHIR base")
        fields = {"t": position.resource_type, "p": position.url.raw_path.decode("ascii"), "pt": position.patient_id,
                  "n": position.limit, "s": position.skip, "c": position.seen}
        if position.server_sorted:  # only then, so cursors of earlier versions and replicas read the same
            fields["o"] = True
        payload = json.dumps(fields, separators=(",", ":")).encode()
        nonce = secrets.token_bytes(NONCE_BYTES)
        return _b64(nonce + self._aead.encrypt(nonce, payload, AAD))

    def decode(self, cursor: str) -> Position:
        try:
            sealed = _unb64(cursor)
            payload: bytes | None = self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], AAD)
        except (ValueError, TypeError, InvalidTag):
            payload = None
        if payload is None:
            raise InvalidCursor("this cursor is not valid here (altered, truncated, or from an earlier server run); "
                                "run the search again")
        data = json.loads(payload)
        url = self._base.copy_with(raw_path=data["p"].encode("ascii"))
        if not is_within_base(url, self._base):
            raise InvalidCursor("this cursor does not lead to the configured FHIR server; run the search again")
        return Position(data["t"], url, data.get("pt"), int(data["n"]), int(data["s"]), int(data["c"]),
                        data.get("o") is True)
