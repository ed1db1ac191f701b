"""Opaque paging cursors: the model never sees a URL, and a cursor only ever leads back to our FHIR base."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets

import httpx

from .urls import is_within_base

CURSOR_KEY_CONTEXT = b"epic-mcp paging cursors v1"


def cursor_key(shared_secret: str | None) -> bytes | None:
    """The signing key derived from EPIC_MCP_CURSOR_KEY (the same on every replica), or None for a per-process
    random key."""
    if shared_secret is None:
        return None
    return hmac.new(shared_secret.encode(), CURSOR_KEY_CONTEXT, hashlib.sha256).digest()


class InvalidCursor(ValueError):
    """The cursor was forged, truncated, or issued by another server process."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Signs (resource type, next-page path, patient scope) with `key` (shared by replicas) or a per-process key;
    no host in the cursor."""

    def __init__(self, base_url: str, key: bytes | None = None) -> None:
        self._base = httpx.URL(base_url.rstrip("/") + "/")
        self._key = key or secrets.token_bytes(32)

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:16]

    def encode(self, resource_type: str, next_url: httpx.URL, patient_id: str | None = None) -> str:
        if not is_within_base(next_url, self._base):
            raise InvalidCursor("next link is outside the FHIR base")
        payload = json.dumps({"t": resource_type, "p": next_url.raw_path.decode("ascii"), "pt": patient_id},
                             separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def decode(self, cursor: str) -> tuple[str, httpx.URL, str | None]:
        """(resource type, next-page URL, the patient the search was scoped to)."""
        try:
            body, signature = cursor.split(".")
            payload = _unb64(body)
            valid = hmac.compare_digest(_unb64(signature), self._sign(payload))
        except (ValueError, TypeError):
            valid = False
        if not valid:
            raise InvalidCursor("this cursor is not valid here (altered, truncated, or from an earlier server run); "
                                "run the search again")
        data = json.loads(payload)
        url = self._base.copy_with(raw_path=data["p"].encode("ascii"))
        if not is_within_base(url, self._base):
            raise InvalidCursor("this cursor does not lead to the configured FHIR server; run the search again")
        return data["t"], url, data.get("pt")
