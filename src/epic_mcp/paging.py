"""Opaque paging cursors: the model never sees a URL, and a cursor only ever leads back to our FHIR base.

A cursor is encrypted and authenticated (AES-GCM): the next-page link and the patient the search was scoped to
can be neither read (they may hold patient ids, names and dates of the query) nor altered by whoever holds it.
"""

from __future__ import annotations

import base64
import json
import secrets

import httpx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .urls import is_within_base

AAD = b"epic-mcp cursor v2"
NONCE_BYTES = 12


class InvalidCursor(ValueError):
    """The cursor was forged, truncated, or issued by another server process."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Encrypts (resource type, next-page path, patient scope) with a per-process key; no host in the cursor."""

    def __init__(self, base_url: str, key: bytes | None = None) -> None:
        self._base = httpx.URL(base_url.rstrip("/") + "/")
        self._key = key or secrets.token_bytes(32)
        self._aead = AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                                 info=b"epic-mcp paging cursors").derive(self._key))

    def encode(self, resource_type: str, next_url: httpx.URL, patient_id: str | None = None) -> str:
        if not is_within_base(next_url, self._base):
            raise InvalidCursor("next link is outside the FHIR base")
        payload = json.dumps({"t": resource_type, "p": next_url.raw_path.decode("ascii"), "pt": patient_id},
                             separators=(",", ":")).encode()
        nonce = secrets.token_bytes(NONCE_BYTES)
        return _b64(nonce + self._aead.encrypt(nonce, payload, AAD))

    def decode(self, cursor: str) -> tuple[str, httpx.URL, str | None]:
        """(resource type, next-page URL, the patient the search was scoped to)."""
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
        return data["t"], url, data.get("pt")
